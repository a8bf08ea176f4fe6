"""Which inference workers are alive, from their heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

from schemas.ops import WorkerHeartbeat

MISSED_BEATS = 3


class WorkerTracker:
    """Keeps the latest heartbeat of each worker; a worker is alive for 3 intervals."""

    def __init__(self) -> None:
        self._beats: dict[str, tuple[WorkerHeartbeat, float]] = {}
        self._seen = asyncio.Event()

    def see(self, beat: WorkerHeartbeat, sent_at: datetime) -> None:
        age = (datetime.now(UTC) - sent_at).total_seconds()
        if age > beat.interval_s * MISSED_BEATS:
            return  # a stale beat read back from the log says nothing about now
        self._beats[beat.worker_id] = (beat, time.monotonic() - max(age, 0.0))
        self._seen.set()

    def alive(self) -> list[WorkerHeartbeat]:
        now = time.monotonic()
        return [
            beat for beat, at in self._beats.values() if now - at <= beat.interval_s * MISSED_BEATS
        ]

    async def wait_for_worker(self, timeout_s: float) -> bool:
        """True as soon as a live worker is known; False after the timeout."""
        deadline = time.monotonic() + timeout_s
        while not self.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._seen.wait(), min(remaining, 0.5))
        return True
