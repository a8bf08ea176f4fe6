"""Drift subscribers under TestKafkaBroker: detections, the retrain policy, restarts."""

from pathlib import Path

from faststream.kafka import TestKafkaBroker

from events.bus import emit
from events.settings import BusSettings
from events.topics import (
    FEEDBACK_SUBMITTED,
    MODEL_PROMOTED,
    QUERY_COMPLETED,
    TRAINING_REQUESTED,
)
from schemas.envelope import Envelope, make_event
from schemas.ops import DriftDetected
from schemas.query import FeedbackSubmitted
from schemas.registry import ModelPromoted
from schemas.training import Hyperparameters, TrainingRequested
from workers.drift.app import create_app, load_state
from workers.drift.settings import DriftSettings
from workers.drift.synthetic import Regime, traffic

SHIFTED = Regime(latency_ms=4000, topics=("logistica", "sazonalidade"))


def handler_mock(broker, title: str):  # type: ignore[no-untyped-def]
    """The mock of one of the worker's own handlers (a second subscriber on the same topic in
    the same service would be skipped as a duplicate by the idempotency middleware)."""
    [subscriber] = [s for s in broker.subscribers if s.specification.config.title_ == title]
    return subscriber.calls[0].handler.mock


def drift_app(home: Path, **overrides: object):  # type: ignore[no-untyped-def]
    settings = DriftSettings(
        home=home,
        drift_reference_size=100,
        retrain_detections=2,
        retrain_hyperparameters=Hyperparameters(max_steps=2, train_limit=8),
        **overrides,  # type: ignore[arg-type]
    )
    _, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
    runtime.state = load_state(settings)
    runtime.dataset_version = lambda: "ds-test"
    return settings, broker, runtime


async def feed(br, regime: Regime, n: int, seed: int, prefix: str) -> list:  # type: ignore[no-untyped-def]
    events = [make_event(q, source="w") for q in traffic(regime, n, seed=seed, prefix=prefix)]
    for event in events:
        await emit(br, QUERY_COMPLETED, event, key=event.data.query_id)
    return events


async def test_shifted_traffic_publishes_drift_and_a_small_retrain_request(tmp_path: Path) -> None:
    _, broker, _ = drift_app(tmp_path)

    @broker.subscriber(TRAINING_REQUESTED)
    async def training(event: Envelope[TrainingRequested]) -> None: ...

    async with TestKafkaBroker(broker) as br:
        drifts = handler_mock(broker, "drift.retrain_policy")
        await feed(br, Regime(), 200, seed=1, prefix="base")
        drifts.assert_not_called()
        await feed(br, SHIFTED, 150, seed=2, prefix="shift")

        found = [Envelope[DriftDetected].model_validate(c.args[0]) for c in drifts.call_args_list]
        assert {"latency_ms", "question_embedding"} <= {d.data.signal for d in found}
        assert all(ex["query_id"].startswith("shift-") for d in found for ex in d.data.examples)
        [request] = [
            Envelope[TrainingRequested].model_validate(c.args[0]).data
            for c in training.mock.call_args_list
        ]
        assert request.requested_by == "drift-policy" and request.dataset_version == "ds-test"
        assert request.hyperparameters.max_steps == 2
        assert len(request.evidence["detections"]) == 2
    assert (tmp_path / "drift" / "state.pkl").exists()


async def test_a_restart_from_the_checkpoint_neither_resets_nor_refires(tmp_path: Path) -> None:
    _, broker, runtime = drift_app(tmp_path)
    async with TestKafkaBroker(broker) as br:
        seen = await feed(br, Regime(), 200, seed=1, prefix="base")
        seen += await feed(br, SHIFTED, 150, seed=2, prefix="shift")
    runtime.save()

    _, broker2, runtime2 = drift_app(tmp_path)
    assert runtime2.state is not None and runtime2.state.engine.events == 350
    async with TestKafkaBroker(broker2) as br:
        drifts = handler_mock(broker2, "drift.retrain_policy")
        for event in seen:  # the broker redelivers what the checkpoint already holds
            await emit(br, QUERY_COMPLETED, event, key=event.data.query_id)
        drifts.assert_not_called()
        assert runtime2.metrics.skipped.labels("already_applied")._value.get() == 350
        # The references survived: once the cooldown is over the persisting shift is reported
        # again (a reset worker would have learnt the shifted traffic as its reference).
        await feed(br, SHIFTED, 250, seed=3, prefix="more")
        found = [Envelope[DriftDetected].model_validate(c.args[0]) for c in drifts.call_args_list]
        assert any(d.data.details.get("persistent") for d in found)


async def test_retrain_disabled_only_reports_and_a_new_model_rebaselines(tmp_path: Path) -> None:
    _, broker, runtime = drift_app(tmp_path, retrain_enabled=False)

    @broker.subscriber(TRAINING_REQUESTED)
    async def training(event: Envelope[TrainingRequested]) -> None: ...

    async with TestKafkaBroker(broker) as br:
        await feed(br, Regime(), 200, seed=1, prefix="base")
        await feed(br, SHIFTED, 150, seed=2, prefix="shift")
        training.mock.assert_not_called()
        rating = make_event(FeedbackSubmitted(query_id="shift-3", rating=-1), source="g")
        await emit(br, FEEDBACK_SUBMITTED, rating, key="shift-3")
        assert runtime.state is not None
        engine = runtime.state.engine
        assert engine.monitors[("feedback_negative", SHIFTED.model)].reference == [1.0]
        gauges = runtime.metrics.registry
        latency = {"signal": "latency_ms", "detector": "page_hinkley"}
        statistic = gauges.get_sample_value("melancia_drift_statistic", latency)
        threshold = gauges.get_sample_value("melancia_drift_threshold", latency)
        assert statistic is not None and threshold is not None and statistic > threshold
        promoted = ModelPromoted(model_name="melancia", version="2", base_model="tiny")
        await emit(br, MODEL_PROMOTED, make_event(promoted, source="registry"), key="melancia")
        assert not engine.monitors[("latency_ms", SHIFTED.model)].ready
        # A new reference is being learnt: nothing to compare with it yet.
        assert gauges.get_sample_value("melancia_drift_statistic", latency) is None
    decisions = {s.labels["action"] for s in runtime.metrics.decisions.collect()[0].samples}
    assert "disabled" in decisions
