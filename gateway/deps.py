"""Every gateway dependency as an Annotated alias; routes stay thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.bus import GatewayBus
from gateway.metrics import GatewayMetrics
from gateway.queries import QueryBook
from gateway.settings import GatewaySettings
from gateway.workers_seen import WorkerTracker


def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def get_bus(request: Request) -> GatewayBus:
    return request.app.state.bus


def get_book(request: Request) -> QueryBook:
    return request.app.state.book


def get_tracker(request: Request) -> WorkerTracker:
    return request.app.state.tracker


def get_metrics(request: Request) -> GatewayMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
BusDep = Annotated[GatewayBus, Depends(get_bus)]
BookDep = Annotated[QueryBook, Depends(get_book)]
TrackerDep = Annotated[WorkerTracker, Depends(get_tracker)]
MetricsDep = Annotated[GatewayMetrics, Depends(get_metrics)]
