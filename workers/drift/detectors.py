"""Drift monitors: a reference, a detector, a cooldown, and what a detection reports.

A `ScalarMonitor` learns a reference (mean and spread, on a log scale for timings) from its
first events, then feeds standardized, clipped values to a river detector, so one set of
detector parameters (tuned in `bench/drift_bench.py`) holds for every signal. An
`EmbeddingMonitor` keeps a reference window of question embeddings and compares the latest
window against it with two-sample Kolmogorov-Smirnov tests on random projections and on the
distance to the reference centroid (Bonferroni over the tests).

Both stay quiet for `cooldown` events after a detection. The reference is not moved by a
detection, so a drift that persists is detected again after the cooldown (the retrain policy
counts those: a scalar monitor checks the latest events against its reference then, since river
detectors adapt to the new level), and `rebaseline()` starts a new reference (after a new model
is promoted).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from river import drift

from workers.drift.embedding import HashedNgramEmbedder

Z_CLIP = 6.0
STAT_WINDOW = 30  # a detection's statistic: the mean shift of this many latest events
PERSIST_Z = 1.0  # still this far from the reference after the cooldown: the drift persists

# Detector parameters in units of the reference standard deviation (see the benchmark).
DETECTOR_PARAMS: dict[str, dict[str, Any]] = {
    "page_hinkley": {"min_instances": 30, "delta": 0.5, "threshold": 25.0, "alpha": 1 - 1e-4},
    "adwin": {"delta": 0.002, "clock": 16},
    "kswin": {"alpha": 1e-5, "window_size": 200, "stat_size": 50},
}


def make_detector(name: str, seed: int = 0, **overrides: Any) -> Any:
    """A fresh river detector by name, with the tuned parameters."""
    if name not in DETECTOR_PARAMS:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTOR_PARAMS)}")
    params = {**DETECTOR_PARAMS[name], **overrides}
    if name == "page_hinkley":
        return drift.PageHinkley(**params)
    if name == "adwin":
        return drift.ADWIN(**params)
    return drift.KSWIN(seed=seed, **params)


def threshold_of(name: str) -> float:
    params = DETECTOR_PARAMS[name]
    return float(params.get("threshold", params.get("delta", params.get("alpha", 0.0))))


@dataclass
class Detection:
    """What a monitor reports when it fires (becomes a `drift.detected` payload)."""

    signal: str
    model: str | None
    detector: str
    statistic: float
    threshold: float | None
    reference_window: int
    current_window: int
    events_seen: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class ScalarMonitor:
    """One numeric signal (of one model) watched by one river detector."""

    def __init__(
        self,
        signal: str,
        detector: str,
        *,
        model: str | None = None,
        log_scale: bool = False,
        standardize: bool = True,
        reference_size: int = 300,
        current_window: int = 100,
        cooldown: int = 200,
        seed: int = 0,
    ) -> None:
        self.signal, self.detector_name, self.model = signal, detector, model
        self.log_scale, self.standardize = log_scale, standardize
        self.reference_size, self.cooldown, self.seed = reference_size, cooldown, seed
        self.recent: deque[tuple[float, float, dict[str, Any]]] = deque(maxlen=current_window)
        self.events_seen = 0
        self.rebaseline()

    def rebaseline(self) -> None:
        """Forget the reference and the detector; the next events form a new reference."""
        self.reference: list[float] = []
        self.mean = 0.0
        self.std = 1.0
        self.detector = make_detector(self.detector_name, seed=self.seed)
        self.quiet_for = 0
        self.drifted = False
        self.recent.clear()

    @property
    def ready(self) -> bool:
        return len(self.reference) >= self.reference_size

    def _scale(self, value: float) -> float:
        return math.log1p(max(value, 0.0)) if self.log_scale else value

    def _z(self, x: float) -> float:
        z = (x - self.mean) / self.std if self.standardize else x
        return max(-Z_CLIP, min(Z_CLIP, z))

    def update(self, value: float, example: dict[str, Any] | None = None) -> Detection | None:
        self.events_seen += 1
        x = self._scale(value)
        if not self.ready:
            self.reference.append(x)
            if self.ready:
                ref = np.asarray(self.reference)
                self.mean = float(ref.mean())
                # A floor on the spread: a constant reference must not turn noise into drift.
                self.std = max(float(ref.std()), 1e-3 * max(abs(self.mean), 1.0))
                # The detector starts from the reference, so a change that begins right after
                # it is a change to the detector too (Page-Hinkley tracks its own running mean).
                for value in self.reference:
                    self.detector.update(self._z(value))
            return None
        z = self._z(x)
        self.recent.append((value, z, example or {}))
        self.detector.update(z)
        if self.quiet_for > 0:
            self.quiet_for -= 1
            if self.quiet_for == 0 and self.drifted:
                return self._still_drifted()
            return None
        if not self.detector.drift_detected:
            return None
        self.quiet_for = self.cooldown
        self.drifted = True
        return self._detection()

    def level(self) -> tuple[float, float | None] | None:
        """How far the latest events sit from the reference, and the level that counts as drift.

        Standardized signals: |mean z| of the latest STAT_WINDOW events against PERSIST_Z, the
        shift at which a drift persists; raw ones (a rate): |mean - reference mean|, with no
        threshold. None while the reference is being learned.
        """
        if not self.ready or not self.recent:
            return None
        latest = list(self.recent)[-STAT_WINDOW:]
        mean = sum(z for _, z, _ in latest) / len(latest)
        if self.standardize:
            return abs(mean), PERSIST_Z
        return abs(mean - self.mean), None

    def _still_drifted(self) -> Detection | None:
        # River detectors adapt to the new level after they fire; the fixed reference is what
        # tells a drift that persists (detected again, for the retrain policy) from a blip.
        latest = [z for _, z, _ in list(self.recent)[-STAT_WINDOW:]]
        if self.standardize and abs(float(np.mean(latest))) >= PERSIST_Z:
            self.quiet_for = self.cooldown
            detection = self._detection()
            detection.details["persistent"] = True
            return detection
        self.drifted = False
        return None

    def _detection(self) -> Detection:
        latest = list(self.recent)[-STAT_WINDOW:]
        zs = np.asarray([z for _, z, _ in latest])
        values = np.asarray([v for v, _, _ in latest])
        effect = float(zs.mean()) if self.standardize else float(zs.mean() - self.mean)
        reference_value = float(np.expm1(self.mean)) if self.log_scale else self.mean
        examples = [{"value": round(v, 3), **ex} for v, _, ex in latest[-5:]]
        return Detection(
            signal=self.signal,
            model=self.model,
            detector=self.detector_name,
            statistic=round(effect, 4),
            threshold=threshold_of(self.detector_name),
            reference_window=self.reference_size,
            current_window=len(latest),
            events_seen=self.events_seen,
            examples=examples,
            details={
                "direction": "up" if effect > 0 else "down",
                "reference_typical": round(reference_value, 4),
                "current_median": round(float(np.median(values)), 4),
                "statistic_meaning": "mean shift of the latest events, in reference std",
            },
        )


def ks_statistic(reference_sorted: np.ndarray, current: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance (reference already sorted)."""
    current_sorted = np.sort(current)
    points = np.concatenate([reference_sorted, current_sorted])
    cdf_ref = np.searchsorted(reference_sorted, points, side="right") / len(reference_sorted)
    cdf_cur = np.searchsorted(current_sorted, points, side="right") / len(current_sorted)
    return float(np.max(np.abs(cdf_ref - cdf_cur)))


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sided p-value of a KS distance (Stephens' small-sample correction)."""
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 0.3:
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = math.exp(-2 * j * j * lam * lam)
        total += term if j % 2 else -term
        if term < 1e-16:
            break
    return min(1.0, max(0.0, 2 * total))


def ks_critical(alpha: float, n: int, m: int) -> float:
    """The KS distance whose p-value is alpha for samples of n and m (larger distances: lower)."""
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if ks_pvalue(middle, n, m) > alpha:
            low = middle
        else:
            high = middle
    return high


class EmbeddingMonitor:
    """Input drift on questions: the latest window against a reference window."""

    detector_name = "ks_projections"

    def __init__(
        self,
        signal: str = "question_embedding",
        *,
        embedder: HashedNgramEmbedder | None = None,
        reference_size: int = 300,
        window: int = 100,
        check_every: int = 10,
        projections: int = 16,
        alpha: float = 1e-4,
        cooldown: int = 200,
        seed: int = 7,
    ) -> None:
        self.signal = signal
        self.model: str | None = None
        self.embedder = embedder or HashedNgramEmbedder()
        self.reference_size, self.window, self.check_every = reference_size, window, check_every
        self.alpha, self.cooldown = alpha, cooldown
        rng = np.random.default_rng(seed)
        self.directions = rng.standard_normal((self.embedder.dim, projections)).astype(np.float32)
        self.events_seen = 0
        self.current: deque[tuple[np.ndarray, dict[str, Any]]] = deque(maxlen=window)
        self.rebaseline()

    def rebaseline(self) -> None:
        self._reference: list[np.ndarray] = []
        self.centroid: np.ndarray | None = None
        self.reference_features: np.ndarray | None = None  # sorted per column
        self.quiet_for = 0
        self.since_check = 0
        self.current.clear()
        self.last_statistic: float | None = None
        self.last_critical: float | None = None

    @property
    def ready(self) -> bool:
        return self.reference_features is not None

    def _features(self, vectors: np.ndarray) -> np.ndarray:
        """Per vector: its random projections and its cosine distance to the centroid."""
        assert self.centroid is not None
        distance = 1.0 - vectors @ self.centroid
        return np.column_stack([vectors @ self.directions, distance])

    def level(self) -> tuple[float, float | None] | None:
        """The largest KS distance of the latest test and the distance the test fires above."""
        # getattr: states checkpointed before these were recorded lack them until a test runs.
        statistic = getattr(self, "last_statistic", None)
        if statistic is None:
            return None
        return statistic, getattr(self, "last_critical", None)

    def distance(self, text: str) -> float | None:
        """Cosine distance of a question to the reference centroid (None before the reference)."""
        if self.centroid is None:
            return None
        return float(1.0 - self.embedder.embed(text) @ self.centroid)

    def update(self, text: str, example: dict[str, Any] | None = None) -> Detection | None:
        self.events_seen += 1
        vector = self.embedder.embed(text)
        if not self.ready:
            self._reference.append(vector)
            if len(self._reference) >= self.reference_size:
                ref = np.vstack(self._reference)
                centroid = ref.mean(axis=0)
                self.centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
                self.reference_features = np.sort(self._features(ref), axis=0)
                self._reference = []
            return None
        self.current.append((vector, {"question": text[:200], **(example or {})}))
        self.since_check += 1
        if self.quiet_for > 0:
            self.quiet_for -= 1
            return None
        if len(self.current) < self.window or self.since_check < self.check_every:
            return None
        fresh, self.since_check = self.since_check, 0
        return self._test(fresh)

    def _test(self, fresh: int) -> Detection | None:
        """Test the window; fresh: how many of its latest questions arrived since the last test."""
        assert self.reference_features is not None
        current = self._features(np.vstack([v for v, _ in self.current]))
        n, tests = self.reference_features.shape
        stats = [ks_statistic(self.reference_features[:, j], current[:, j]) for j in range(tests)]
        p_min = ks_pvalue(max(stats), n, len(current))  # same sample sizes: p falls as D grows
        self.last_statistic = max(stats)
        self.last_critical = ks_critical(self.alpha / tests, n, len(current))
        if p_min * tests >= self.alpha:
            return None
        self.quiet_for = self.cooldown
        distances = current[:, -1]
        # Examples: the most unusual of the questions that arrived since the last test (which
        # did not fire, or fired and began the cooldown): these tipped the window over; the
        # older ones in it had passed a test already.
        latest = len(distances) - min(fresh, len(distances))  # fresh >= 1: this update counts
        farthest = latest + np.argsort(distances[latest:])[::-1][:5]
        examples = [
            {"distance": round(float(distances[i]), 4), **self.current[int(i)][1]} for i in farthest
        ]
        reference_distance = float(np.median(self.reference_features[:, -1]))
        return Detection(
            signal=self.signal,
            model=None,
            detector=self.detector_name,
            statistic=round(max(stats), 4),
            threshold=self.alpha,
            reference_window=n,
            current_window=len(current),
            events_seen=self.events_seen,
            examples=examples,
            details={
                "p_value_bonferroni": min(1.0, p_min * tests),
                "tests": tests,
                "distance_ks": round(stats[-1], 4),
                "reference_median_distance": round(reference_distance, 4),
                "current_median_distance": round(float(np.median(distances)), 4),
                "statistic_meaning": "largest KS distance over projections and centroid distance",
            },
        )
