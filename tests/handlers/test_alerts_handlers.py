"""The alerts subscriber under TestKafkaBroker, delivering to a local webhook receiver."""

import uuid

from faststream.kafka import TestKafkaBroker

from events.bus import emit
from events.settings import BusSettings
from events.topics import DRIFT_DETECTED, TRAINING_REQUESTED
from schemas.envelope import make_event
from schemas.ops import DriftDetected
from schemas.training import TrainingRequested
from tests.servers import webhook_receiver
from workers.alerts.app import create_app
from workers.alerts.settings import AlertsSettings

DRIFT = DriftDetected(
    detector="ks_projections",
    signal="question_embedding",
    statistic=0.4,
    reference_window=300,
    current_window=100,
    events_seen=700,
)


async def test_drift_and_retrain_decisions_reach_the_webhook_but_manual_jobs_do_not() -> None:
    manual = TrainingRequested(
        job_id=f"j-{uuid.uuid4().hex[:6]}", base_model="tiny", dataset_version="ds-1"
    )
    decided = manual.model_copy(update={"requested_by": "drift-policy", "reason": "drift: 3"})
    with webhook_receiver() as receiver:
        settings = AlertsSettings(alerts_webhook_url=receiver.url, alerts_backoff_s=0.01)
        app, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
        async with TestKafkaBroker(broker) as br, app.lifespan_context():
            await emit(br, DRIFT_DETECTED, make_event(DRIFT, source="drift"), key="q")
            await emit(br, TRAINING_REQUESTED, make_event(manual, source="gw"), key=manual.job_id)
            await emit(
                br, TRAINING_REQUESTED, make_event(decided, source="drift"), key=decided.job_id
            )
            bodies = await receiver.received(2)
        assert runtime.notifier is None  # stopped with the app
    texts = [b["text"] for b in bodies]
    assert len(texts) == 2
    assert "question_embedding" in texts[0] and decided.job_id in texts[1]
    assert runtime.metrics.queued.labels("drift")._value.get() == 1


async def test_without_a_webhook_alerts_are_only_logged() -> None:
    app, broker, runtime = create_app(AlertsSettings(), BusSettings(bootstrap="localhost:9092"))
    async with TestKafkaBroker(broker) as br, app.lifespan_context():
        await emit(br, DRIFT_DETECTED, make_event(DRIFT, source="drift"), key="q")
        assert runtime.notifier is None
    assert runtime.metrics.queued.labels("drift")._value.get() == 1
