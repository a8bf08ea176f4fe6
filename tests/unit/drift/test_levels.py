"""Drift statistic and threshold gauges: comparable, per signal, reset by a rebaseline."""

from prometheus_client import CollectorRegistry

from schemas.query import FeedbackSubmitted
from workers.drift.detectors import PERSIST_Z, ks_critical, ks_pvalue
from workers.drift.engine import DriftEngine, EngineConfig
from workers.drift.metrics import DriftMetrics
from workers.drift.settings import SIGNALS
from workers.drift.synthetic import Regime, traffic


def engine() -> DriftEngine:
    config = EngineConfig(signals=SIGNALS, reference_size=100, cooldown=50)
    return DriftEngine(config)


def sample(registry: CollectorRegistry, name: str, signal: str, detector: str) -> float | None:
    return registry.get_sample_value(name, {"signal": signal, "detector": detector})


def test_the_ks_critical_distance_is_where_the_pvalue_crosses_alpha() -> None:
    d = ks_critical(1e-4, 300, 100)
    assert ks_pvalue(d, 300, 100) <= 1e-4 < ks_pvalue(d - 0.01, 300, 100)


def test_a_shift_pushes_the_statistic_above_its_threshold_and_a_rebaseline_drops_it() -> None:
    registry = CollectorRegistry()
    metrics = DriftMetrics(registry)
    e = engine()

    def observe(regime: Regime, n: int, seed: int) -> None:
        for q in traffic(regime, n, seed=seed):
            e.observe_query(q)
            metrics.record_levels(e.levels())

    observe(Regime(), 60, seed=1)
    # Still learning the references: nothing to report yet.
    assert sample(registry, "melancia_drift_statistic", "latency_ms", "page_hinkley") is None

    observe(Regime(), 200, seed=2)
    calm = sample(registry, "melancia_drift_statistic", "latency_ms", "page_hinkley")
    assert calm is not None and calm < PERSIST_Z
    threshold = sample(registry, "melancia_drift_threshold", "latency_ms", "page_hinkley")
    assert threshold == PERSIST_Z
    questions = ("question_embedding", "ks_projections")
    assert sample(registry, "melancia_drift_statistic", *questions) is not None

    observe(Regime(latency_ms=4000, topics=("logistica",)), 300, seed=3)
    shifted = sample(registry, "melancia_drift_statistic", "latency_ms", "page_hinkley")
    assert shifted is not None and shifted > PERSIST_Z
    ks = sample(registry, "melancia_drift_statistic", *questions)
    critical = sample(registry, "melancia_drift_threshold", *questions)
    assert ks is not None and critical is not None and ks > critical

    e.rebaseline()
    metrics.record_levels(e.levels())
    assert sample(registry, "melancia_drift_statistic", "latency_ms", "page_hinkley") is None
    assert sample(registry, "melancia_drift_threshold", *questions) is None


def test_feedback_is_a_raw_rate_with_no_threshold() -> None:
    registry = CollectorRegistry()
    e = engine()
    for i in range(130):
        e.observe_feedback(FeedbackSubmitted(query_id=f"unknown-{i}", rating=-1 if i >= 100 else 1))
    levels = e.levels()
    DriftMetrics(registry).record_levels(levels)
    assert levels[("feedback_negative", "adwin")] == (1.0, None)
    assert sample(registry, "melancia_drift_statistic", "feedback_negative", "adwin") == 1.0
    assert sample(registry, "melancia_drift_threshold", "feedback_negative", "adwin") is None
