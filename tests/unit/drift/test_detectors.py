"""Drift monitors without a broker: quiet when nothing changes, fast when something does."""

import itertools
import pickle
import random

import numpy as np
import pytest

from workers.drift.detectors import (
    EmbeddingMonitor,
    ScalarMonitor,
    ks_pvalue,
    ks_statistic,
    make_detector,
)
from workers.drift.embedding import HashedNgramEmbedder, normalize
from workers.drift.synthetic import Regime, question, traffic

BASE = Regime()


def latencies(regime: Regime, n: int, seed: int) -> list[float]:
    return [q.latency_ms for q in traffic(regime, n, seed=seed)]


def questions(topics: tuple[str, ...], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [question(rng, rng.choice(topics)) for _ in range(n)]


@pytest.mark.parametrize("detector", ["page_hinkley", "adwin", "kswin"])
def test_a_stationary_latency_stream_raises_no_alarm(detector: str) -> None:
    monitor = ScalarMonitor("latency_ms", detector, log_scale=True, reference_size=200)
    fired = [d for d in map(monitor.update, latencies(BASE, 2200, seed=3)) if d is not None]
    assert fired == []


@pytest.mark.parametrize("detector", ["page_hinkley", "adwin", "kswin"])
def test_a_latency_step_is_detected_within_300_events(detector: str) -> None:
    monitor = ScalarMonitor("latency_ms", detector, log_scale=True, reference_size=200)
    for value in latencies(BASE, 500, seed=4):
        assert monitor.update(value, {"query_id": "before"}) is None
    slow = BASE.shifted(latency_ms=BASE.latency_ms * 1.5)
    for i, value in enumerate(latencies(slow, 300, seed=5), 1):
        detection = monitor.update(value, {"query_id": f"after-{i}"})
        if detection is not None:
            break
    assert detection is not None, "no detection within 300 events"
    assert detection.signal == "latency_ms" and detection.detector == detector
    assert detection.details["direction"] == "up"
    assert detection.statistic > 0.5  # the latest events sit well above the reference
    assert detection.examples[-1]["query_id"] == f"after-{i}"
    assert detection.reference_window == 200


def test_a_monitor_is_quiet_during_its_cooldown_and_fires_again_if_drift_persists() -> None:
    monitor = ScalarMonitor(
        "latency_ms", "page_hinkley", log_scale=True, reference_size=200, cooldown=100
    )
    for value in latencies(BASE, 300, seed=6):
        monitor.update(value)
    shifted = latencies(BASE.shifted(latency_ms=5000), 1500, seed=7)
    fired_at = [i for i, v in enumerate(shifted) if monitor.update(v) is not None]
    assert len(fired_at) >= 2
    assert all(b - a >= 100 for a, b in itertools.pairwise(fired_at))


def test_a_detector_survives_pickling_with_its_state() -> None:
    monitor = ScalarMonitor("latency_ms", "adwin", log_scale=True, reference_size=100)
    values = latencies(BASE, 400, seed=8)
    for value in values[:300]:
        monitor.update(value)
    copy = pickle.loads(pickle.dumps(monitor))
    tail = values[300:] + latencies(BASE.shifted(latency_ms=4000), 200, seed=9)
    assert [monitor.update(v) is None for v in tail] == [copy.update(v) is None for v in tail]
    assert copy.events_seen == monitor.events_seen


def test_ks_statistic_and_pvalue_agree_with_the_textbook() -> None:
    rng = np.random.default_rng(0)
    a = np.sort(rng.normal(size=400))
    same = ks_statistic(a, rng.normal(size=200))
    shifted = ks_statistic(a, rng.normal(loc=1.0, size=200))
    assert same < 0.15 < shifted
    assert ks_pvalue(same, 400, 200) > 0.01
    assert ks_pvalue(shifted, 400, 200) < 1e-6
    assert ks_pvalue(0.0, 400, 200) == 1.0


def test_the_embedding_is_deterministic_normalised_and_folds_accents_and_numbers() -> None:
    embedder = HashedNgramEmbedder(dim=256)
    a = embedder.embed("Qual o ACOS de R$ 1.234?")
    assert a.shape == (256,)
    assert np.isclose(np.linalg.norm(a), 1.0)
    assert np.allclose(a, HashedNgramEmbedder(dim=256).embed("qual o acos de r$ 9.999?"))
    assert normalize("Promoção  DE 20%") == "promocao de 0%"
    with pytest.raises(ValueError):
        HashedNgramEmbedder(dim=300)


def test_question_topics_stay_quiet_then_a_new_topic_is_detected_with_examples() -> None:
    monitor = EmbeddingMonitor(reference_size=200, window=80, check_every=10)
    stationary = questions(BASE.topics, 1500, seed=10)
    assert [d for d in (monitor.update(q) for q in stationary) if d is not None] == []
    for i, text in enumerate(questions(("logistica",), 300, seed=11), 1):
        detection = monitor.update(text, {"query_id": f"new-{i}"})
        if detection is not None:
            break
    assert detection is not None and i <= 150
    assert detection.signal == "question_embedding"
    assert detection.details["p_value_bonferroni"] < 1e-4
    assert any(ex["query_id"].startswith("new-") for ex in detection.examples)


def test_make_detector_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError):
        make_detector("cusum")


class AxisEmbedder:
    """Questions as unit vectors near one axis per kind ("base", "new") and an outlier
    opposite the base axis: a detection whose timing and distances are known."""

    dim = 8

    def embed(self, text: str) -> np.ndarray:
        kind, _, number = text.partition("-")
        rng = np.random.default_rng(int(number))
        vector = 0.05 * rng.standard_normal(self.dim)
        vector[{"base": 0, "new": 1}.get(kind, 0)] += 1.0 if kind != "odd" else -1.0
        return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_question_examples_come_from_the_questions_since_the_last_test() -> None:
    # An outlier just before the shift passes the test that follows it (one of 30); the
    # detection a few tests later names the new questions that tipped the window, though the
    # outlier is still in it and farther from the reference than any of them.
    monitor = EmbeddingMonitor(embedder=AxisEmbedder(), reference_size=200, window=30)
    before = [f"base-{i}" for i in range(229)] + ["odd-1"]
    assert [monitor.update(q, {"query_id": q}) for q in before] == [None] * len(before)
    found = [monitor.update(q, {"query_id": q}) for q in (f"new-{i}" for i in range(1, 21))]
    fired = [i for i, d in enumerate(found, 1) if d is not None]
    assert fired and fired[0] % 10 == 0, fired  # tests run every 10 questions
    detection = found[fired[0] - 1]
    assert detection is not None
    examples = [ex["query_id"] for ex in detection.examples]
    assert len(examples) == 5
    assert set(examples) <= {f"new-{i}" for i in range(fired[0] - 9, fired[0] + 1)}, examples
