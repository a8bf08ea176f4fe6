"""Assembles the gateway: state, routes, error mapping, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.settings import BusSettings
from gateway.bus import GatewayBus
from gateway.metrics import GatewayMetrics
from gateway.queries import QueryBook, StreamTimeout
from gateway.security.body_limit import BodyLimit
from gateway.security.guard import Guard, enforce
from gateway.service import GenerationFailed, Overloaded, Unavailable, UnknownModel
from gateway.settings import GatewaySettings
from gateway.workers_seen import WorkerTracker
from melancia.discovery import router_modules

logger = logging.getLogger(__name__)


def create_app(
    settings: GatewaySettings | None = None, bus_settings: BusSettings | None = None
) -> FastAPI:
    """A gateway app; it serves HTTP at once and connects to the broker in the background."""
    settings = settings or GatewaySettings()
    bus_settings = bus_settings or BusSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = GatewayMetrics()
        book = QueryBook(capacity=settings.recent_queries, resume_window_s=settings.resume_window_s)
        tracker = WorkerTracker()
        bus = GatewayBus(
            bus=bus_settings,
            instance=settings.gateway_instance,
            book=book,
            tracker=tracker,
            registry=metrics.registry,
            retry_s=settings.connect_retry_s,
            health_cache_s=settings.health_cache_s,
            state=app.state,
        )
        metrics.in_flight.set_function(book.in_flight)
        app.state.settings, app.state.metrics = settings, metrics
        app.state.book, app.state.tracker, app.state.bus = book, tracker, bus
        if settings.env == "development":
            logger.warning(
                "authentication is OFF: development mode on %s:%d (loopback only)",
                settings.host,
                settings.port,
            )
        bus.start()
        try:
            yield
        finally:
            await bus.close()

    app = FastAPI(
        title="MelancIA gateway",
        version="0.1.0",
        summary="Retail Media Ads assistant: questions in, streamed answers out, over Kafka.",
        lifespan=lifespan,
        dependencies=[Depends(enforce)],
    )
    app.state.guard = Guard(settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-API-Key"],
            expose_headers=["X-Query-Id", "Retry-After"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for module in router_modules():
        app.include_router(module.router)
    _install_error_handlers(app, settings)

    app.add_middleware(CountRequests)
    return app


class CountRequests:
    """Counts responses by route and status as they start (pure ASGI: a streamed answer's
    events pass straight through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics = getattr(scope["app"].state, "metrics", None)
                if metrics is not None:
                    path = getattr(scope.get("route"), "path", "unmatched")
                    metrics.requests.labels(path, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def _install_error_handlers(app: FastAPI, settings: GatewaySettings) -> None:
    def error(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse({"detail": summary, "errors": problems}, status_code=422)

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return error(429, str(exc), {"Retry-After": str(settings.retry_after_s)})

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return error(503, str(exc), {"Retry-After": str(settings.retry_after_s)})

    @app.exception_handler(UnknownModel)
    async def unknown_model(_: Request, exc: UnknownModel) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(StreamTimeout)
    async def timeout(_: Request, exc: StreamTimeout) -> JSONResponse:
        return error(504, f"no reply from the inference worker in time for query {exc}")

    @app.exception_handler(GenerationFailed)
    async def failed(_: Request, exc: GenerationFailed) -> JSONResponse:
        return error(502, f"generation failed: {exc}")
