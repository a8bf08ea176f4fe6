"""A webhook notifier that never blocks its caller.

`submit` puts the alert on a bounded queue and returns at once; a background task sends the
queue in order, retrying with exponential backoff (honouring Retry-After on 429) and giving up
after the last attempt. When the queue is full the oldest alert is dropped and counted: a slow
or dead receiver costs alerts, never consumer progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from workers.alerts.metrics import AlertMetrics

logger = logging.getLogger(__name__)


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        metrics: AlertMetrics,
        queue_size: int = 100,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.timeout_s = timeout_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._sending = False

    def submit(self, payload: dict[str, Any]) -> None:
        """Queue an alert without waiting; drop the oldest queued one when full."""
        while self.queue.full():
            self.queue.get_nowait()
            self.metrics.dropped.inc()
            logger.warning("alert queue full (%d): dropped the oldest alert", self.queue.maxsize)
        self.queue.put_nowait(payload)

    @property
    def idle(self) -> bool:
        return self.queue.empty() and not self._sending

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout_s)
        self._task = asyncio.create_task(self._run(), name="alerts-sender")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Give queued alerts a moment to go out, then stop."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        while not self.idle and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            payload = await self.queue.get()
            self._sending = True
            try:
                await self.deliver(payload)
            finally:
                self._sending = False

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay = self.backoff_s * 2 ** (attempt - 1)
        if response is not None and response.status_code == 429:
            with contextlib.suppress(ValueError):
                delay = float(response.headers.get("retry-after", delay))
        return min(delay, self.backoff_max_s)

    async def deliver(self, payload: dict[str, Any]) -> bool:
        """POST one alert, retrying transient failures; True when the receiver accepted it."""
        assert self._client is not None, "start() the notifier first"
        for attempt in range(1, self.max_attempts + 1):
            response: httpx.Response | None = None
            try:
                response = await self._client.post(self.url, json=payload)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    self.metrics.sent.inc()
                    return True
                problem = f"HTTP {response.status_code}"
                if response.is_client_error and response.status_code != 429:
                    break  # the receiver refuses this payload; sending it again will not help
            if attempt < self.max_attempts:
                self.metrics.retries.inc()
                delay = self._delay(attempt, response)
                logger.warning(
                    "alert delivery failed (%s); retry %d in %.1fs", problem, attempt, delay
                )
                await asyncio.sleep(delay)
        self.metrics.failed.inc()
        logger.error("alert not delivered after %d attempt(s): %s", attempt, problem)
        return False
