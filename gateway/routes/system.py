"""Health and metrics (the models live workers serve: gateway/routes/models.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.deps import BusDep, MetricsDep, SettingsDep, TrackerDep
from schemas.api import HealthResponse

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def health(bus: BusDep, tracker: TrackerDep, settings: SettingsDep) -> JSONResponse:
    """200 when the broker answers and an inference worker is alive; 503 with reasons if not."""
    reasons = []
    broker_ok = await bus.healthy()
    if not broker_ok:
        reasons.append(f"message broker {bus.settings.servers} is unreachable")
    workers = len(tracker.alive())
    if workers == 0:
        reasons.append("no inference worker has been seen")
    body = HealthResponse(
        status="ok" if not reasons else "unavailable",
        broker=broker_ok,
        inference_workers=workers,
        reasons=reasons,
        instance=settings.gateway_instance,
    )
    return JSONResponse(body.model_dump(), status_code=200 if not reasons else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(m: MetricsDep) -> Response:
    """Prometheus exposition of the gateway's registry."""
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
