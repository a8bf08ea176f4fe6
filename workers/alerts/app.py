"""The alerts worker: drift, retrain decisions, gate rejections and regressions to a webhook.

Its own worker rather than part of drift: it alerts on events other services decide (the gate,
rollbacks), and a slow or failing receiver must never slow a detector down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, start_http_server

from events.admin import ensure_topics
from events.broker import build_broker
from events.settings import BusSettings
from events.topics import all_topics
from workers.alerts.handlers import Runtime, register
from workers.alerts.metrics import AlertMetrics
from workers.alerts.notifier import WebhookNotifier
from workers.alerts.settings import AlertsSettings

logger = logging.getLogger(__name__)


def create_app(
    settings: AlertsSettings | None = None,
    bus: BusSettings | None = None,
    registry: CollectorRegistry | None = None,
) -> tuple[FastStream, KafkaBroker, Runtime]:
    settings = settings or AlertsSettings()
    bus = bus or BusSettings()
    registry = registry or CollectorRegistry()
    broker, _ = build_broker(bus, service="alerts", registry=registry)
    runtime = Runtime(metrics=AlertMetrics(registry))
    register(broker, runtime, settings)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        if settings.alerts_webhook_url:
            runtime.notifier = WebhookNotifier(
                settings.alerts_webhook_url,
                metrics=runtime.metrics,
                queue_size=settings.alerts_queue_size,
                max_attempts=settings.alerts_max_attempts,
                backoff_s=settings.alerts_backoff_s,
                backoff_max_s=settings.alerts_backoff_max_s,
                timeout_s=settings.alerts_timeout_s,
            )
            await runtime.notifier.start()
        else:
            logger.info("MELANCIA_ALERTS_WEBHOOK_URL is unset: alerts are only logged")
        try:
            yield
        finally:
            if runtime.notifier is not None:
                await runtime.notifier.stop()
                runtime.notifier = None

    async def on_startup() -> None:
        await ensure_topics(bus, all_topics())

    return FastStream(broker, lifespan=lifespan, on_startup=[on_startup]), broker, runtime


def main() -> int:
    """Entry point of `melancia worker alerts`."""
    settings = AlertsSettings()
    registry = CollectorRegistry()
    app, _, _ = create_app(settings, registry=registry)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    asyncio.run(app.run())
    return 0
