"""Drift detectors on generated traffic: false alarms when nothing changes, delay when it does.

For each detector, on the latency signal and on the question signal:
- false alarms per 10,000 events of a stationary stream (goal <= 1);
- detection delay in events after a step change (latency x1.5; a change of question topic)
  (goal <= 300), over several trials; a trial with no detection in 2,000 events is a miss.

River detectors see the question signal as the cosine distance of each question to the
reference centroid; `ks_projections` is the windowed KS test the drift worker runs on it.

    python -m bench.drift_bench [--runs 3] [--trials 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from workers.drift.detectors import EmbeddingMonitor, ScalarMonitor
from workers.drift.embedding import HashedNgramEmbedder
from workers.drift.synthetic import Regime, question, traffic

REFERENCE = 300
STATIONARY = 10_000
PRE_CHANGE = 500
HORIZON = 2_000
BASE = Regime()
SLOW = BASE.shifted(latency_ms=BASE.latency_ms * 1.5)
NEW_TOPIC = BASE.shifted(topics=("sazonalidade", "logistica"))
RIVER = ("page_hinkley", "adwin", "kswin")


@dataclass
class Row:
    signal: str
    detector: str
    false_alarms_per_10k: float
    delays: list[int]
    misses: int
    seconds: float

    def cells(self) -> list[str]:
        fa_ok = "ok" if self.false_alarms_per_10k <= 1 else "OVER"
        if self.delays:
            p50 = statistics.median(self.delays)
            p90 = sorted(self.delays)[int(0.9 * (len(self.delays) - 1))]
            delay = f"{p50:.0f} / {p90:.0f}"
            delay_ok = "ok" if p50 <= 300 and not self.misses else "OVER"
        else:
            delay, delay_ok = "-", "OVER"
        trials = len(self.delays) + self.misses
        return [
            self.signal,
            self.detector,
            f"{self.false_alarms_per_10k:.2f} {fa_ok}",
            f"{delay} {delay_ok}",
            f"{self.misses}/{trials}",
            f"{self.seconds:.1f}",
        ]


def latency_stream(regime: Regime, n: int, seed: int) -> list[float]:
    return [q.latency_ms for q in traffic(regime, n, seed=seed)]


def question_stream(regime: Regime, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [question(rng, rng.choice(regime.topics)) for _ in range(n)]


def count_fires(monitor_update: Callable[[object], object], values: Iterable[object]) -> int:
    return sum(1 for v in values if monitor_update(v) is not None)


def first_fire(monitor_update: Callable[[object], object], values: list[object]) -> int | None:
    for i, v in enumerate(values):
        if monitor_update(v) is not None:
            return i + 1
    return None


def scalar_monitor(detector: str, *, log_scale: bool, seed: int) -> ScalarMonitor:
    return ScalarMonitor(
        "x", detector, log_scale=log_scale, reference_size=REFERENCE, cooldown=200, seed=seed
    )


class DistanceMonitor:
    """A river detector on the distance of each question to the reference centroid."""

    def __init__(self, detector: str, seed: int) -> None:
        self.centroid = EmbeddingMonitor(reference_size=REFERENCE, seed=seed)
        self.scalar = ScalarMonitor(
            "question_distance", detector, reference_size=REFERENCE, cooldown=200, seed=seed
        )

    def update(self, text: object) -> object:
        distance = self.centroid.distance(str(text))
        if distance is None:
            self.centroid.update(str(text))  # still learning the reference centroid
            return None
        return self.scalar.update(distance)


def run_latency(detector: str, runs: int, trials: int) -> Row:
    started = time.perf_counter()
    fires = 0
    for seed in range(runs):
        monitor = scalar_monitor(detector, log_scale=True, seed=seed)
        fires += count_fires(monitor.update, latency_stream(BASE, REFERENCE + STATIONARY, seed))
    delays, misses = [], 0
    for trial in range(trials):
        seed = 1000 + trial
        monitor = scalar_monitor(detector, log_scale=True, seed=seed)
        # Alarms before the change are not delays; they are counted in the stationary runs.
        for value in latency_stream(BASE, REFERENCE + PRE_CHANGE, seed):
            monitor.update(value)
        monitor.quiet_for = 0
        hit = first_fire(monitor.update, list(latency_stream(SLOW, HORIZON, seed + 1)))
        delays.append(hit) if hit else None
        misses += hit is None
    per_10k = fires / runs * 10_000 / STATIONARY
    return Row("latency x1.5", detector, per_10k, delays, misses, time.perf_counter() - started)


def run_topic(detector: str, runs: int, trials: int) -> Row:
    started = time.perf_counter()

    def build(seed: int) -> Callable[[object], object]:
        if detector == "ks_projections":
            monitor = EmbeddingMonitor(reference_size=REFERENCE, seed=seed)
            return lambda text: monitor.update(str(text))
        return DistanceMonitor(detector, seed).update

    fires = 0
    for seed in range(runs):
        fires += count_fires(build(seed), question_stream(BASE, REFERENCE + STATIONARY, seed))
    delays, misses = [], 0
    for trial in range(trials):
        seed = 2000 + trial
        update = build(seed)
        for text in question_stream(BASE, REFERENCE + PRE_CHANGE, seed):
            update(text)
        hit = first_fire(update, list(question_stream(NEW_TOPIC, HORIZON, seed + 1)))
        delays.append(hit) if hit else None
        misses += hit is None
    per_10k = fires / runs * 10_000 / STATIONARY
    return Row("question topic", detector, per_10k, delays, misses, time.perf_counter() - started)


def table(rows: list[Row]) -> str:
    head = ["signal", "detector", "false alarms/10k", "delay p50 / p90", "missed", "s"]
    body = [r.cells() for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    return "\n".join(lines + [fmt.format(*r) for r in body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="stationary streams of 10k events")
    parser.add_argument("--trials", type=int, default=20, help="change points per detector")
    args = parser.parse_args(argv)
    HashedNgramEmbedder()  # fail early on a bad configuration
    rows = [run_latency(d, args.runs, args.trials) for d in RIVER]
    rows += [run_topic(d, args.runs, args.trials) for d in (*RIVER, "ks_projections")]
    print(
        f"drift detectors: reference {REFERENCE} events, {args.runs} x {STATIONARY} stationary "
        f"events, {args.trials} change points (goals: <= 1 false alarm/10k, delay <= 300)"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
