"""The drift engine (signals, feedback join, replay guards, checkpoints) and the retrain policy."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.ops import DriftDetected
from schemas.query import FeedbackSubmitted
from schemas.training import Hyperparameters
from workers.drift import checkpoint
from workers.drift.engine import DriftEngine, EngineConfig, detection_id, to_payload
from workers.drift.policy import PolicyConfig, RetrainPolicy
from workers.drift.settings import RETRAIN_DEFAULTS, SIGNALS, DriftSettings
from workers.drift.synthetic import Regime, traffic

T0 = datetime(2025, 11, 28, 12, tzinfo=UTC)


def engine(**overrides: object) -> DriftEngine:
    config = {"signals": SIGNALS, "reference_size": 100, "cooldown": 50, **overrides}
    return DriftEngine(EngineConfig(**config))  # type: ignore[arg-type]


def test_output_signals_are_watched_per_model_and_questions_globally() -> None:
    e = engine()
    for q in traffic(Regime(model="a"), 10, seed=1):
        e.observe_query(q)
    for q in traffic(Regime(model="b"), 10, seed=2):
        e.observe_query(q)
    assert {("latency_ms", "a"), ("latency_ms", "b"), ("retrieval_score", "a")} <= set(e.monitors)
    assert e.questions is not None and e.questions.events_seen == 20


def test_feedback_is_joined_to_the_model_that_answered() -> None:
    e = engine()
    [q] = list(traffic(Regime(model="m1"), 1, seed=1))
    e.observe_query(q)
    e.observe_feedback(FeedbackSubmitted(query_id=q.query_id, rating=-1))
    e.observe_feedback(FeedbackSubmitted(query_id="never-seen", rating=1))
    assert e.monitors[("feedback_negative", "m1")].reference == [1.0]
    assert e.monitors[("feedback_negative", None)].reference == [0.0]


def test_disabled_signals_are_not_watched() -> None:
    e = engine(signals=("latency_ms",))
    for q in traffic(Regime(), 5, seed=1):
        e.observe_query(q)
    assert set(e.monitors) == {("latency_ms", "gemma3-270m")}
    assert e.questions is None


def test_a_persistent_shift_is_detected_on_several_signals() -> None:
    e = engine()
    for q in traffic(Regime(), 300, seed=1):
        assert e.observe_query(q) == []
    shifted = Regime(latency_ms=4000, topics=("logistica",))
    found = [d for q in traffic(shifted, 300, seed=2) for d in e.observe_query(q)]
    assert {"latency_ms", "ttft_ms", "question_embedding"} <= {d.signal for d in found}
    payload = to_payload(found[0])
    assert payload.examples and payload.reference_window == 100


def test_applied_events_are_remembered_by_id_and_offsets_survive_a_checkpoint(
    tmp_path: Path,
) -> None:
    e = engine()
    e.mark_applied("id-1", "query.completed", 0, 41)
    e.mark_applied("id-2", "query.completed", 0, 40)
    assert e.already_applied("id-1") and not e.already_applied("id-3")
    path = tmp_path / "drift" / "state.pkl"
    checkpoint.save(path, checkpoint.DriftState(e, RetrainPolicy(PolicyConfig())))
    restored = checkpoint.load(path)
    assert restored is not None
    assert restored.engine.offsets == {("query.completed", 0): 41}
    assert restored.engine.already_applied("id-2")


def test_a_restored_engine_continues_where_it_stopped_without_refiring(tmp_path: Path) -> None:
    """Run A: uninterrupted. Run B: checkpoint at 350, restart, same events: same detections."""
    events = list(traffic(Regime(), 300, seed=1)) + list(
        traffic(Regime(latency_ms=4000), 200, seed=2, prefix="s")
    )
    a = engine()
    fired_a = [(i, d.signal) for i, q in enumerate(events) for d in a.observe_query(q)]
    b = engine()
    path = tmp_path / "state.pkl"
    fired_b = []
    for i, q in enumerate(events[:350]):
        fired_b += [(i, d.signal) for d in b.observe_query(q)]
        b.mark_applied(f"e{i}", "query.completed", 0, i)
    checkpoint.save(path, checkpoint.DriftState(b, RetrainPolicy(PolicyConfig())))
    restored = checkpoint.load(path)
    assert restored is not None
    for i, q in enumerate(events):  # the broker redelivers from an earlier offset
        if restored.engine.already_applied(f"e{i}"):
            continue
        fired_b += [(i, d.signal) for d in restored.engine.observe_query(q)]
    assert fired_b == fired_a and fired_a


def test_an_unreadable_checkpoint_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    path.write_bytes(b"garbage")
    assert checkpoint.load(path) is None
    assert not path.exists() and (tmp_path / "state.pkl.unreadable").exists()


def detection(signal: str = "latency_ms", model: str | None = "m") -> DriftDetected:
    return DriftDetected(
        detector="page_hinkley",
        signal=signal,
        statistic=2.0,
        reference_window=300,
        current_window=30,
        events_seen=500,
        model=model,
    )


def version() -> str:
    return "ds-test"


def test_the_policy_requests_a_retrain_after_n_detections_within_the_window() -> None:
    small = Hyperparameters(max_steps=5, train_limit=16)
    policy = RetrainPolicy(PolicyConfig(detections=3, window_s=600, hyperparameters=small))
    assert policy.observe("d1", T0, detection(), dataset_version=version).action == "wait"
    # d2 is outside the window of d3, so it takes one more detection.
    assert policy.observe("d2", T0, detection("ttft_ms"), dataset_version=version).action == "wait"
    late = T0 + timedelta(seconds=700)
    assert policy.observe("d3", late, detection(), dataset_version=version).action == "wait"
    assert policy.observe("d3", late, detection(), dataset_version=version).action == "duplicate"
    d4 = policy.observe("d4", late, detection("question_embedding", None), dataset_version=version)
    d5 = policy.observe("d5", late, detection(), dataset_version=version)
    assert (d4.action, d5.action) == ("wait", "request")
    request = d5.request
    assert request is not None
    assert request.base_model == "m" and request.dataset_version == "ds-test"
    assert request.hyperparameters.max_steps == 5 and request.requested_by == "drift-policy"
    assert [d["event_id"] for d in request.evidence["detections"]] == ["d3", "d4", "d5"]
    assert request.reason.startswith("drift: 3 detections")


def test_the_policy_keeps_a_cooldown_and_its_key_is_stable_across_replays() -> None:
    config = PolicyConfig(detections=1, window_s=60, cooldown_s=3600, base_model="gemma3-270m")
    first = RetrainPolicy(config).observe("d1", T0, detection(), dataset_version=version)
    again = RetrainPolicy(config).observe("d1", T0, detection(), dataset_version=version)
    assert first.request and again.request
    assert first.request.idempotency_key == again.request.idempotency_key
    assert first.request.base_model == "gemma3-270m"
    policy = RetrainPolicy(config)
    policy.observe("d1", T0, detection(), dataset_version=version)
    soon = policy.observe("d2", T0 + timedelta(minutes=30), detection(), dataset_version=version)
    later = policy.observe("d3", T0 + timedelta(hours=2), detection(), dataset_version=version)
    assert (soon.action, later.action) == ("cooldown", "request")


def test_a_disabled_policy_only_reports() -> None:
    policy = RetrainPolicy(PolicyConfig(enabled=False, detections=1))
    decision = policy.observe("d1", T0, detection(), dataset_version=version)
    assert decision.action == "disabled" and decision.request is None


def test_a_detection_id_depends_on_the_detection_and_its_trigger_only() -> None:
    e = engine()
    for q in traffic(Regime(), 100, seed=1):
        e.observe_query(q)
    [found, *_] = [
        d for q in traffic(Regime(latency_ms=5000), 100, seed=2) for d in e.observe_query(q)
    ]
    assert detection_id(found, "ev-1") == detection_id(found, "ev-1") != detection_id(found, "x")


def test_a_partial_retrain_config_overrides_the_drift_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MELANCIA_RETRAIN_HYPERPARAMETERS", '{"max_steps": 2, "rank": 4}')
    hp = DriftSettings().retrain_hyperparameters
    assert (hp.max_steps, hp.rank) == (2, 4)
    assert hp.model_dump(exclude={"max_steps", "rank"}) == RETRAIN_DEFAULTS.model_dump(
        exclude={"max_steps", "rank"}
    )
    # Long enough for the system prompt and an answer with every shipped tokenizer.
    assert hp.max_seq_len >= 512
