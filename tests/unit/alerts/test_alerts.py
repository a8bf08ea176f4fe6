"""Alert payloads, and the webhook notifier against a local HTTP receiver."""

import asyncio
import time

from schemas.envelope import make_event
from schemas.ops import DriftDetected
from schemas.registry import EvaluationCompleted, ModelRolledBack
from schemas.training import TrainingRequested
from tests.servers import webhook_receiver
from workers.alerts.messages import alert_for
from workers.alerts.metrics import AlertMetrics
from workers.alerts.notifier import WebhookNotifier

DRIFT = DriftDetected(
    detector="page_hinkley",
    signal="latency_ms",
    statistic=3.2,
    threshold=25.0,
    reference_window=300,
    current_window=30,
    events_seen=900,
    model="gemma3-270m",
    examples=[{"query_id": "q9", "value": 4100.0}],
)


def body(payload: object) -> dict[str, object]:
    return make_event(payload, source="t").model_dump(mode="json")  # type: ignore[arg-type]


def assert_slack_shape(payload: dict[str, object]) -> None:
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0]["type"] == "header"
    assert all(b["type"] in {"header", "section", "context"} for b in blocks)


def test_a_drift_alert_names_the_signal_detector_model_and_an_example() -> None:
    alert = alert_for(body(DRIFT), regression=0.02)
    assert alert is not None and alert.kind == "drift"
    assert_slack_shape(alert.payload)
    text = str(alert.payload)
    assert "latency_ms" in alert.payload["text"] and "gemma3-270m" in alert.payload["text"]
    assert "page_hinkley" in text and "q9" in text


def test_only_retrains_the_drift_policy_decided_are_alerted() -> None:
    by_policy = TrainingRequested(
        job_id="retrain-1",
        base_model="tiny",
        dataset_version="ds-1",
        reason="drift: 3 detections",
        requested_by="drift-policy",
    )
    by_hand = by_policy.model_copy(update={"requested_by": "alice"})
    alert = alert_for(body(by_policy), regression=0.02)
    assert alert is not None and alert.kind == "retrain" and "retrain-1" in alert.payload["text"]
    assert alert_for(body(by_hand), regression=0.02) is None


def test_gate_rejections_and_regressions_alert_but_a_clean_promotion_does_not() -> None:
    rejected = EvaluationCompleted(
        model_name="melancia",
        candidate_version="7",
        champion_version="6",
        candidate_metrics={"rougeL": 0.31},
        champion_metrics={"rougeL": 0.35},
        decision="rejected",
        reason="rougeL below the champion",
    )
    alert = alert_for(body(rejected), regression=0.02)
    assert alert is not None and alert.kind == "gate_rejected"
    assert "rejected" in alert.payload["text"] and "0.3100" in str(alert.payload)
    regressed = rejected.model_copy(
        update={
            "decision": "promoted",
            "per_category": {"metricas": {"rougeL_delta": -0.05}, "lances": {"delta": 0.01}},
        }
    )
    alert = alert_for(body(regressed), regression=0.02)
    assert alert is not None and alert.kind == "regression" and "metricas" in alert.payload["text"]
    clean = regressed.model_copy(update={"per_category": {"metricas": {"delta": -0.01}}})
    assert alert_for(body(clean), regression=0.02) is None
    rollback = ModelRolledBack(
        model_name="melancia", version="6", from_version="7", base_model="g", reason="p95 up"
    )
    alert = alert_for(body(rollback), regression=0.02)
    assert alert is not None and alert.kind == "rollback"


async def test_the_notifier_posts_the_payload_to_the_webhook() -> None:
    metrics = AlertMetrics()
    with webhook_receiver() as receiver:
        notifier = WebhookNotifier(receiver.url, metrics=metrics, backoff_s=0.01)
        await notifier.start()
        notifier.submit({"text": "hello", "blocks": []})
        await _until(lambda: receiver.bodies)
        await notifier.stop()
    assert receiver.bodies == [{"text": "hello", "blocks": []}]
    assert metrics.sent._value.get() == 1


async def test_a_failing_receiver_is_retried_with_backoff_then_given_up() -> None:
    metrics = AlertMetrics()
    with webhook_receiver(statuses=[500, 503, 200]) as flaky:
        notifier = WebhookNotifier(flaky.url, metrics=metrics, max_attempts=4, backoff_s=0.01)
        await notifier.start()
        notifier.submit({"text": "eventually"})
        await _until(lambda: flaky.bodies)
        await notifier.stop()
    assert flaky.attempts == 3 and metrics.retries._value.get() == 2
    with webhook_receiver(statuses=[500]) as dead:
        notifier = WebhookNotifier(dead.url, metrics=metrics, max_attempts=3, backoff_s=0.01)
        await notifier.start()
        notifier.submit({"text": "lost"})
        await _until(lambda: metrics.failed._value.get() == 1)
        await notifier.stop()
    assert dead.attempts == 3 and dead.bodies == []
    with webhook_receiver(statuses=[400]) as refusing:
        notifier = WebhookNotifier(refusing.url, metrics=metrics, max_attempts=5, backoff_s=0.01)
        await notifier.start()
        notifier.submit({"text": "malformed"})
        await _until(lambda: metrics.failed._value.get() == 2)
        await notifier.stop()
    assert refusing.attempts == 1  # a 4xx is not retried


async def test_submit_never_blocks_and_drops_the_oldest_when_the_queue_is_full() -> None:
    metrics = AlertMetrics()
    with webhook_receiver(delay_s=0.5) as slow:
        notifier = WebhookNotifier(slow.url, metrics=metrics, queue_size=3, timeout_s=5)
        await notifier.start()
        notifier.submit({"text": "alert 0"})
        await _until(lambda: notifier.queue.empty())  # the sender holds it, the receiver stalls
        started = time.monotonic()
        for i in range(1, 10):
            notifier.submit({"text": f"alert {i}"})
        assert time.monotonic() - started < 0.05
        await _until(lambda: len(slow.bodies) >= 4, timeout_s=10)
        await notifier.stop(drain_s=0.1)
    # The first went out at once; of the nine queued behind it only the newest three stayed.
    assert metrics.dropped._value.get() == 6
    assert [b["text"] for b in slow.bodies[:4]] == ["alert 0", "alert 7", "alert 8", "alert 9"]


async def test_an_unreachable_webhook_gives_up_without_blocking_the_caller() -> None:
    metrics = AlertMetrics()
    notifier = WebhookNotifier(
        "http://127.0.0.1:9/hook", metrics=metrics, max_attempts=2, backoff_s=0.01, timeout_s=1
    )
    await notifier.start()
    notifier.submit({"text": "nobody listens"})
    await _until(lambda: metrics.failed._value.get() == 1)
    await notifier.stop()


async def _until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
