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


async def test_drift_and_retrain_events_reach_the_webhook() -> None:
    with webhook_receiver() as receiver:
        settings = AlertsSettings(alerts_webhook_url=receiver.url, alerts_backoff_s=0.01)
        app, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
        drift = DriftDetected(
            detector="ks_projections",
            signal="question_embedding",
            statistic=0.4,
            reference_window=300,
            current_window=100,
            events_seen=700,
        )
        manual = TrainingRequested(job_id=f"j-{uuid.uuid4().hex[:6]}", base_model="t", dataset_version="d")
        policy = manual.model_copy(update={"requested_by": "drift-policy", "reason": "drift: 3"})
        async with TestKafkaBroker(broker) as br:
            async with app.lifespan_context():  # type: ignore[attr-defined]
                ...
            from workers.alerts.notifier import WebhookNotifier

            runtime.notifier = WebhookNotifier(receiver.url, metrics=runtime.metrics, backoff_s=0.01)
            await runtime.notifier.start()
            await emit(br, DRIFT_DETECTED, make_event(drift, source="drift"), key="q")
            await emit(br, TRAINING_REQUESTED, make_event(manual, source="gw"), key=manual.job_id)
            await emit(br, TRAINING_REQUESTED, make_event(policy, source="drift"), key=policy.job_id)
            bodies = receiver.wait_for(2)
            await runtime.notifier.stop()
    texts = [b["text"] for b in bodies]
    assert len(texts) == 2
    assert "question_embedding" in texts[0] and policy.job_id in texts[1]
