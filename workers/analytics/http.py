"""The sink's small HTTP endpoint: the one DuckDB writer also answers the readers.

DuckDB lets one process open a file for writing and no other process open it at all meanwhile
(not even read-only), so the gateway, `melancia stats` and `melancia replay --from-archive`
ask this process instead of opening the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from datetime import datetime

import uvicorn
from fastapi import FastAPI, Query, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.stats import StatsResponse
from workers.analytics.archive import ArchiveQuery, count_archived, read_archived
from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.stats import compute_stats, window
from workers.analytics.store import AnalyticsStore

logger = logging.getLogger(__name__)


def create_http_app(
    *, store: AnalyticsStore, metrics: AnalyticsMetrics, prices: dict[str, float]
) -> FastAPI:
    """/health (ingest totals), /stats, /archive (NDJSON) and /metrics."""
    app = FastAPI(title="MelancIA analytics", version="0.1.0")

    @app.get("/health")
    async def health() -> dict[str, object]:
        counts = await asyncio.to_thread(store.counts)
        return {"status": "ok", "ingest": metrics.totals(), "rows": counts}

    @app.get("/stats", response_model=StatsResponse)
    async def stats(
        since: datetime | None = None,
        until: datetime | None = None,
        hours: float = Query(default=24.0, gt=0),
    ) -> StatsResponse:
        start, end = window(since, until, hours)

        def run() -> StatsResponse:
            with contextlib.closing(store.cursor()) as cursor:
                return compute_stats(cursor, since=start, until=end, prices=prices)

        return await asyncio.to_thread(run)

    @app.get("/archive")
    async def archive(
        topic: str,
        since: datetime | None = None,
        until: datetime | None = None,
        from_offset: int | None = Query(default=None, ge=0),
    ) -> StreamingResponse:
        query = ArchiveQuery(topic, since, until, from_offset)

        def total() -> int:
            with contextlib.closing(store.cursor()) as cursor:
                return count_archived(cursor, query)

        def lines() -> Iterator[str]:
            with contextlib.closing(store.cursor()) as cursor:
                for event in read_archived(cursor, query):
                    yield json.dumps(event.__dict__, ensure_ascii=False) + "\n"

        count = await asyncio.to_thread(total)
        return StreamingResponse(
            lines(), media_type="application/x-ndjson", headers={"X-Total-Count": str(count)}
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        # Some figures are queried from the store at scrape time: off the event loop.
        body = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the FastStream app owns SIGINT/SIGTERM; it stops this server on shutdown


class HttpEndpoint:
    """Serves an ASGI app inside the worker's event loop."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server = _Server(
            uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        """Bind and serve; False (logged) when the port is taken: ingestion goes on without it."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            logger.error("analytics endpoint not started on %s:%d: %s", self.host, self.port, exc)
            return False
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="analytics-http")
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        logger.info("analytics endpoint on http://%s:%d", self.host, self.port)
        return True

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
