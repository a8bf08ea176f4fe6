"""Query intake: fetch queries fast while the worker is idle, spare its generations the polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiokafka.errors import KafkaError

from events.pacing import pause_all, resume_all, subscriber_consumers, waiting_partitions

logger = logging.getLogger(__name__)


class QueryIntake:
    """Pauses the query consumers while an answer is generated; resumes them when none is.

    A consumer cannot take its next query while its handler runs, so its fetches would only
    poll (see events.pacing). While a generation runs, every `probe_s` (and at once when an
    answer ends while others still run) one offsets request finds the partitions with queries
    waiting and resumes just those, so an idle consumer of this worker still takes them up to
    the concurrency bound.
    """

    def __init__(self, subscriber: Any, *, probe_s: float) -> None:
        self.subscriber = subscriber
        self.probe_s = probe_s
        self.running = 0
        self._probe: asyncio.Task[None] | None = None
        self._answered = asyncio.Event()  # a slot freed while others generate: probe now

    @contextlib.asynccontextmanager
    async def generating(self) -> AsyncIterator[None]:
        """Hold the intake paced for one answer."""
        self.running += 1
        pause_all(subscriber_consumers(self.subscriber))
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._watch(), name="query-intake-probe")
        try:
            yield
        finally:
            self.running -= 1
            if self.running == 0:
                resume_all(subscriber_consumers(self.subscriber))
            else:
                self._answered.set()

    async def _watch(self) -> None:
        while self.running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), self.probe_s)
            self._answered.clear()
            if not self.running:
                return
            try:
                waiting = await waiting_partitions(subscriber_consumers(self.subscriber))
            except (KafkaError, OSError) as exc:
                logger.debug("query intake probe failed: %r", exc)
                continue
            for consumer, partitions in waiting:
                if self.running:
                    consumer.resume(*partitions)
