"""Dead-lettering, bounded retries and idempotency, through FastStream's TestKafkaBroker."""

import uuid

from faststream import AckPolicy
from faststream.kafka import TestKafkaBroker

from events.broker import build_broker
from events.bus import emit
from events.settings import BusSettings
from events.topics import dead_letter_topic
from schemas.envelope import Envelope, make_event
from schemas.ops import DeadLetter
from schemas.query import QueryRequested


def _broker(**overrides: object):
    settings = BusSettings(bootstrap="localhost:9092", retry_backoff_s=0.001, **overrides)
    return build_broker(settings, service="test")


async def test_a_malformed_event_lands_in_the_dlq_with_its_reason_and_bytes() -> None:
    topic = f"t-{uuid.uuid4().hex}"
    broker, reliability = _broker()
    handled: list[str] = []

    @broker.subscriber(topic, group_id="g", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def handle(event: Envelope[QueryRequested]) -> None:
        handled.append(event.data.query_id)

    @broker.subscriber(dead_letter_topic(topic), group_id="ops")
    async def dlq(event: Envelope[DeadLetter]) -> None: ...

    async with TestKafkaBroker(broker) as br:
        await br.publish({"source": "x", "data": {"query_id": "q1", "question": ""}}, topic=topic)
        await br.publish(b"not json at all", topic=topic)
        good = make_event(QueryRequested(query_id="q2", question="O que é ROAS?"), source="x")
        await emit(br, topic, good, key="q2")

        assert handled == ["q2"]  # the consumer kept going after two poison messages
        letters = [
            Envelope[DeadLetter].model_validate(c.args[0]).data for c in dlq.mock.call_args_list
        ]
        assert len(letters) == 2
        assert letters[0].original_topic == topic
        assert "data.question" in letters[0].error
        assert letters[0].attempts == 1
        assert letters[1].original_value == "not json at all"
        assert (
            reliability.dead_letters.labels("test", topic, letters[0].error_type)._value.get() >= 1
        )


async def test_a_failing_handler_is_retried_then_succeeds() -> None:
    topic = f"t-{uuid.uuid4().hex}"
    broker, _ = _broker(max_retries=3)
    calls: list[int] = []

    @broker.subscriber(topic, group_id="g", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def flaky(event: Envelope[QueryRequested]) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("transient")

    @broker.subscriber(dead_letter_topic(topic), group_id="ops")
    async def dlq(event: Envelope[DeadLetter]) -> None: ...

    async with TestKafkaBroker(broker) as br:
        await emit(
            br, topic, make_event(QueryRequested(query_id="q", question="a"), source="x"), key="q"
        )

        assert len(calls) == 3
        dlq.mock.assert_not_called()


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_bounded_retries() -> None:
    topic = f"t-{uuid.uuid4().hex}"
    broker, _ = _broker(max_retries=2)
    calls: list[int] = []

    @broker.subscriber(topic, group_id="g", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def broken(event: Envelope[QueryRequested]) -> None:
        calls.append(1)
        raise RuntimeError("always")

    @broker.subscriber(dead_letter_topic(topic), group_id="ops")
    async def dlq(event: Envelope[DeadLetter]) -> None: ...

    async with TestKafkaBroker(broker) as br:
        await emit(
            br, topic, make_event(QueryRequested(query_id="q", question="a"), source="x"), key="q"
        )

        assert len(calls) == 3  # the first try and two retries
        letter = Envelope[DeadLetter].model_validate(dlq.mock.call_args.args[0]).data
        assert letter.attempts == 3
        assert letter.error == "RuntimeError: always"


async def test_a_redelivered_event_is_handled_once() -> None:
    topic = f"t-{uuid.uuid4().hex}"
    broker, _ = _broker()
    seen: list[str] = []

    @broker.subscriber(topic, group_id="g", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def handle(event: Envelope[QueryRequested]) -> None:
        seen.append(str(event.event_id))

    event = make_event(QueryRequested(query_id="q", question="a"), source="x")
    async with TestKafkaBroker(broker) as br:
        await emit(br, topic, event, key="q")
        await emit(br, topic, event, key="q")

        assert seen == [str(event.event_id)]
