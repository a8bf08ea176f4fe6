"""The analytics sink: every topic into DuckDB, and an HTTP endpoint for the readers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from events.admin import ensure_topics
from events.broker import build_broker
from events.settings import BusSettings
from events.topics import all_topics
from workers.analytics.handlers import Runtime, register
from workers.analytics.http import HttpEndpoint, create_http_app
from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.settings import AnalyticsSettings
from workers.analytics.sink import AnalyticsSink
from workers.analytics.store import AnalyticsStore

logger = logging.getLogger(__name__)


def create_app(
    settings: AnalyticsSettings | None = None,
    bus: BusSettings | None = None,
    registry: CollectorRegistry | None = None,
    *,
    serve_http: bool = True,
) -> tuple[FastStream, KafkaBroker, Runtime]:
    """Build the sink app; the store opens in the lifespan."""
    settings = settings or AnalyticsSettings()
    bus = bus or BusSettings()
    registry = registry or CollectorRegistry()
    broker, reliability = build_broker(bus, service="analytics", registry=registry)
    runtime = Runtime()
    register(broker, runtime, reliability, settings)
    metrics = AnalyticsMetrics(registry)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        store = await open_store(settings.db_path)
        logger.info("analytics store %s", settings.db_path)
        runtime.sink = AnalyticsSink(store, metrics)
        metrics.watch(store)
        endpoint = None
        if serve_http:
            app = create_http_app(store=store, metrics=metrics, prices=settings.token_prices)
            endpoint = HttpEndpoint(app, settings.analytics_host, settings.analytics_port)
            await endpoint.start()
        try:
            yield
        finally:
            if endpoint is not None:
                await endpoint.stop()
            runtime.sink = None
            metrics.unwatch()
            store.close()

    async def on_startup() -> None:
        await ensure_topics(bus, all_topics())

    return FastStream(broker, lifespan=lifespan, on_startup=[on_startup]), broker, runtime


async def open_store(path: Path, retry_s: float = 2.0) -> AnalyticsStore:
    """Open the store, waiting while another process holds it (DuckDB allows one writer):
    during a restart the old sink may still be closing it."""
    attempt = 0
    while True:
        try:
            return await asyncio.to_thread(AnalyticsStore, path)
        except duckdb.IOException as exc:
            attempt += 1
            if attempt == 1 or attempt % 30 == 0:
                logger.error(
                    "analytics store %s is held by another process; waiting: %s", path, exc
                )
            await asyncio.sleep(retry_s)


def main() -> int:
    """Entry point of `melancia worker analytics`."""
    app, _, _ = create_app()
    asyncio.run(app.run())
    return 0
