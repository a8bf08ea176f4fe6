"""Fetch pacing of consumers, against aiokafka's own consumer class (never started)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker

from events.broker import build_broker
from events.pacing import PacedSubscriber, read_to_end, set_fetch_wait, subscriber_consumers
from events.settings import BusSettings
from workers.inference.intake import QueryIntake

TPS = [TopicPartition("query.requested", p) for p in range(3)]


class Consumer(AIOKafkaConsumer):
    """aiokafka's consumer with the broker side replaced by a table of end offsets."""

    def __init__(
        self, ends: dict[TopicPartition, int], assigned: list[TopicPartition] = TPS
    ) -> None:
        super().__init__(fetch_max_wait_ms=10)
        self.ends = ends  # the broker's, shared by the consumers of one test
        self.assigned = set(assigned)
        self._paused: set[TopicPartition] = set()
        self.probes = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused.difference_update(partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    async def end_offsets(self, partitions: Any) -> dict[TopicPartition, int]:
        self.probes += 1
        return {tp: self.ends.get(tp, 0) for tp in partitions}

    async def position(self, partition: TopicPartition, timeout_ms: float = 0) -> int:
        return 0


class Subscriber:
    def __init__(self, *consumers: Consumer) -> None:
        self.consumer_subgroup = list(consumers)


async def test_the_pinned_aiokafka_reads_the_fetch_wait_we_set() -> None:
    consumer = AIOKafkaConsumer(fetch_max_wait_ms=10)
    # The fetcher exists once started; it reads the wait for every fetch request it builds.
    from aiokafka.consumer.fetcher import Fetcher

    assert "_fetch_max_wait_ms" in Fetcher._get_actions_per_node.__code__.co_names
    assert not set_fetch_wait(consumer, 40)  # not started: nothing to pace yet


async def test_a_paced_subscriber_pauses_and_resumes_every_consumer() -> None:
    consumers = [Consumer({}), Consumer({})]
    paced = PacedSubscriber(Subscriber(*consumers), fast_ms=10, slow_ms=40)

    paced.set("paused")
    assert all(c.paused() == set(TPS) for c in consumers)
    paced.set("slow")
    assert all(c.paused() == set() for c in consumers)
    assert paced.pace == "slow"


def test_consumers_of_a_test_broker_subscriber_are_none() -> None:
    assert subscriber_consumers(object()) == []


async def test_intake_pauses_while_generating_and_resumes_waiting_queries() -> None:
    ends = {TPS[1]: 1}  # a query waits on partition 1
    busy, idle = Consumer(ends, [TPS[0]]), Consumer(ends, [TPS[1], TPS[2]])
    intake = QueryIntake(Subscriber(busy, idle), probe_s=0.01)

    async with intake.generating():
        assert busy.paused() == {TPS[0]}
        await asyncio.sleep(0.05)
        # The probe found the query: only its partition fetches again.
        assert idle.paused() == {TPS[2]}
        assert busy.paused() == {TPS[0]}
        # One offsets request per probe covers every consumer's partitions.
        assert busy.probes >= 1
        assert idle.probes == 0
    assert idle.paused() == busy.paused() == set()
    probes = busy.probes
    await asyncio.sleep(0.05)
    assert busy.probes == probes  # no probing while idle


def test_subscribers_fetch_at_the_background_wait_unless_they_say_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[int | None] = []

    def subscriber(self: KafkaBroker, *topics: str, **kwargs: Any) -> None:
        waits.append(kwargs.get("fetch_max_wait_ms"))

    monkeypatch.setattr(KafkaBroker, "subscriber", subscriber)
    broker, _ = build_broker(BusSettings(background_fetch_wait_ms=1234), service="test")
    broker.subscriber("model.promoted")
    broker.subscriber("query.requested", fetch_max_wait_ms=10)
    assert waits == [1234, 10]


async def test_an_answer_ending_while_another_runs_probes_at_once() -> None:
    ends: dict[TopicPartition, int] = {}
    first, second = Consumer(ends, [TPS[0]]), Consumer(ends, [TPS[1], TPS[2]])
    intake = QueryIntake(Subscriber(first, second), probe_s=60)  # no timed probe in this test

    async with intake.generating():
        async with intake.generating():
            ends[TPS[0]] = 1  # a query waits for the first consumer's slot
        await asyncio.sleep(0.05)
        assert first.paused() == set()  # its answer ended: the waiting query is taken now
        assert second.paused() == {TPS[1], TPS[2]}
    assert first.probes == 1


class ReadingConsumer(Consumer):
    """A consumer whose position advances by one record every time it is asked."""

    def __init__(self, ends: dict[TopicPartition, int], start: int) -> None:
        super().__init__(ends)
        self.at = dict.fromkeys(TPS, start)

    async def position(self, partition: TopicPartition, timeout_ms: float = 0) -> int:
        now = self.at[partition]
        self.at[partition] = now + 1
        return now


async def test_read_to_end_waits_until_the_records_there_at_the_call_are_read() -> None:
    ends = dict.fromkeys(TPS, 3)
    consumer = ReadingConsumer(ends, start=0)
    assert await read_to_end([consumer], timeout_s=5, poll_s=0)
    # Records published after the call are not waited for.
    assert all(ends[tp] == 3 and consumer.at[tp] >= 4 for tp in TPS)


async def test_read_to_end_is_bounded_and_says_when_it_gave_up() -> None:
    consumer = Consumer(dict.fromkeys(TPS, 5))  # never moves past 0
    assert not await read_to_end([consumer], timeout_s=0.05, poll_s=0.01)
    assert await read_to_end([], timeout_s=0.05)  # nothing to read (the test broker)
