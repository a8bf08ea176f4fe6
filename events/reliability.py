"""Delivery guarantees around every handler: bounded retries, dead-lettering, idempotency.

Subscribers commit after the handler (at-least-once). A message that fails validation goes
straight to `<topic>.dlq` with the error and its original bytes; a handler that raises is
retried with exponential backoff and then dead-lettered; an `event_id` already handled by
this service is skipped. If the dead-letter publish itself fails the error propagates, the
offset is not committed, and the message comes back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.exceptions import HandlerException
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from events.topics import dead_letter_topic
from schemas.envelope import make_event
from schemas.ops import DeadLetter

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.message import StreamMessage

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "event_id"
EVENT_TYPE_HEADER = "event_type"
POISON = (ValidationError, json.JSONDecodeError, UnicodeDecodeError)


class Reliability:
    """Middleware factory shared by all subscribers of one broker."""

    def __init__(
        self,
        *,
        service: str,
        max_retries: int,
        backoff_s: float,
        dedup_window: int,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.service = service
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._window = dedup_window
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._broker: KafkaBroker | None = None
        registry = registry or CollectorRegistry()
        self.dead_letters = Counter(
            "melancia_dead_letters",
            "Messages sent to a dead-letter topic",
            ["service", "topic", "error_type"],
            registry=registry,
        )
        self.retries = Counter(
            "melancia_handler_retries", "Handler retries", ["service", "topic"], registry=registry
        )
        self.duplicates = Counter(
            "melancia_duplicates_skipped",
            "Redelivered events skipped by idempotency",
            ["service", "topic"],
            registry=registry,
        )

    def bind(self, broker: KafkaBroker) -> None:
        """Give the middleware the broker it dead-letters through."""
        self._broker = broker

    def __call__(self, msg: Any, /, *, context: Any) -> _Scope:
        return _Scope(msg, context=context, owner=self)

    def seen(self, topic: str, event_id: str) -> bool:
        """Whether this service already handled the event."""
        return (topic, event_id) in self._seen

    def remember(self, topic: str, event_id: str) -> None:
        """Record a handled event, keeping a bounded window."""
        self._seen[(topic, event_id)] = None
        while len(self._seen) > self._window:
            self._seen.popitem(last=False)

    async def dead_letter(self, msg: StreamMessage[Any], exc: BaseException, attempts: int) -> None:
        """Publish the failed message with the reason to its dead-letter topic."""
        if self._broker is None:
            raise RuntimeError("Reliability middleware is not bound to a broker")
        raw = msg.raw_message
        topic = getattr(raw, "topic", None) or "unknown"
        body = msg.body if isinstance(msg.body, bytes) else bytes(msg.body or b"")
        key = getattr(raw, "key", None)
        letter = DeadLetter(
            original_topic=topic,
            partition=getattr(raw, "partition", None),
            offset=getattr(raw, "offset", None),
            key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
            consumer_group=self.service,
            error_type=type(exc).__name__,
            error=_describe(exc),
            attempts=attempts,
            original_value=body.decode("utf-8", "replace"),
            original_value_b64=base64.b64encode(body).decode("ascii"),
            headers={k: str(v) for k, v in (msg.headers or {}).items()},
            failed_at=datetime.now(UTC),
        )
        event = make_event(letter, source=self.service)
        await self._broker.publish(
            event.model_dump(mode="json"),
            topic=dead_letter_topic(topic),
            key=key if isinstance(key, bytes) else None,
            headers={EVENT_ID_HEADER: str(event.event_id), EVENT_TYPE_HEADER: event.type},
        )
        self.dead_letters.labels(self.service, topic, letter.error_type).inc()
        logger.warning(
            "dead-lettered %s offset=%s after %d attempt(s): %s",
            topic,
            letter.offset,
            attempts,
            letter.error,
        )


class _Scope(BaseMiddleware):
    """Wraps one message's handling."""

    def __init__(self, msg: Any, /, *, context: Any, owner: Reliability) -> None:
        super().__init__(msg, context=context)
        self.owner = owner

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        owner = self.owner
        topic = getattr(msg.raw_message, "topic", None) or "unknown"
        event_id = (msg.headers or {}).get(EVENT_ID_HEADER)
        if event_id and owner.seen(topic, event_id):
            owner.duplicates.labels(owner.service, topic).inc()
            logger.info("skipping duplicate event %s on %s", event_id, topic)
            return None
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await call_next(msg)
            except HandlerException:
                raise
            except POISON as exc:
                await owner.dead_letter(msg, exc, attempt)
                result = None
            except Exception as exc:
                if attempt <= owner.max_retries:
                    owner.retries.labels(owner.service, topic).inc()
                    delay = owner.backoff_s * 2 ** (attempt - 1)
                    logger.warning(
                        "handler failed on %s (attempt %d), retrying in %.2fs: %r",
                        topic,
                        attempt,
                        delay,
                        exc,
                    )
                    await asyncio.sleep(delay)
                    continue
                await owner.dead_letter(msg, exc, attempt)
                result = None
            if event_id:
                owner.remember(topic, event_id)
            return result


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:10]
        ]
        return f"validation failed: {'; '.join(parts)}"
    return f"{type(exc).__name__}: {exc}"[:2000]
