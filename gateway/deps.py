"""Every gateway dependency as an Annotated alias; routes stay thin.

The getters are `async def` although they do not await: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop per dependency per request (five on the query
routes, ~0.7 ms in all on a busy two-core machine, before the query is even published).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.bus import GatewayBus
from gateway.metrics import GatewayMetrics
from gateway.queries import QueryBook
from gateway.settings import GatewaySettings
from gateway.workers_seen import WorkerTracker


async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def get_bus(request: Request) -> GatewayBus:
    return request.app.state.bus


async def get_book(request: Request) -> QueryBook:
    return request.app.state.book


async def get_tracker(request: Request) -> WorkerTracker:
    return request.app.state.tracker


async def get_metrics(request: Request) -> GatewayMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
BusDep = Annotated[GatewayBus, Depends(get_bus)]
BookDep = Annotated[QueryBook, Depends(get_book)]
TrackerDep = Annotated[WorkerTracker, Depends(get_tracker)]
MetricsDep = Annotated[GatewayMetrics, Depends(get_metrics)]
