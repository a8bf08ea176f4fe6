"""The analytics sink's batch subscriber under TestKafkaBroker."""

from faststream.kafka import TestKafkaBroker

from events.bus import emit
from events.settings import BusSettings
from events.topics import FEEDBACK_SUBMITTED, QUERY_COMPLETED, dead_letter_topic
from schemas.envelope import Envelope, make_event
from schemas.ops import DeadLetter
from schemas.query import FeedbackSubmitted, QueryCompleted
from workers.analytics.app import create_app
from workers.analytics.handlers import analytics_topics
from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.settings import AnalyticsSettings
from workers.analytics.sink import AnalyticsSink
from workers.analytics.store import AnalyticsStore


def completed(i: int) -> QueryCompleted:
    return QueryCompleted(
        query_id=f"q{i}",
        user_id="u",
        tier="free",
        question="O que é ROAS?",
        answer="…",
        model="tiny",
        worker_id="w",
        finish_reason="stop",
        latency_ms=100.0 + i,
        prompt_tokens=10,
        completion_tokens=5,
    )


def sink_app():  # type: ignore[no-untyped-def]
    settings = AnalyticsSettings(analytics_db=":memory:")
    _, broker, runtime = create_app(
        settings, BusSettings(bootstrap="localhost:9092", retry_backoff_s=0.001), serve_http=False
    )
    runtime.sink = AnalyticsSink(AnalyticsStore(":memory:"), AnalyticsMetrics())
    return broker, runtime


def test_the_sink_follows_every_fixed_topic_and_its_dead_letters() -> None:
    topics = analytics_topics()
    assert QUERY_COMPLETED in topics and dead_letter_topic(QUERY_COMPLETED) in topics
    assert not any(t.startswith("query.tokens.") for t in topics)


async def test_batches_are_stored_once_per_event_and_poison_is_dead_lettered() -> None:
    broker, runtime = sink_app()

    @broker.subscriber(dead_letter_topic(QUERY_COMPLETED))
    async def dlq(event: Envelope[DeadLetter]) -> None: ...

    events = [make_event(completed(i), source="w") for i in range(3)]
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(*(e.model_dump(mode="json") for e in events), topic=QUERY_COMPLETED)
        await br.publish(b"\xff poison", topic=QUERY_COMPLETED)
        for event in events:  # a redelivery, or a replay, of the same events
            replayed = event.model_copy(update={"replayed": True})
            await emit(br, QUERY_COMPLETED, replayed, key=event.data.query_id)
        rating = make_event(FeedbackSubmitted(query_id="q1", rating=-1), source="g")
        await emit(br, FEEDBACK_SUBMITTED, rating, key="q1")

        assert runtime.sink is not None
        counts = runtime.sink.store.counts()
        assert counts["query_completed"] == 3 and counts["feedback_submitted"] == 1
        assert counts["dead_letter"] == 1  # the sink also archives the dead letter it produced
        [letter] = [Envelope[DeadLetter].model_validate(c.args[0]) for c in dlq.mock.call_args_list]
        assert letter.data.original_topic == QUERY_COMPLETED
        assert letter.data.consumer_group == "analytics"
        assert runtime.sink.metrics.totals()["duplicate"] == 3
