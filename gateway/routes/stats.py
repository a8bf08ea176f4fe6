"""Query-log statistics, answered by the analytics sink (the one process that holds DuckDB).

The gateway never opens the DuckDB file: while the sink writes no other process may open it, and
a gateway holding it would stop the sink from starting. It asks the sink's endpoint instead.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from fastapi import APIRouter, HTTPException, Query, Request

from schemas.api import ErrorResponse
from schemas.stats import StatsResponse
from workers.analytics.settings import AnalyticsSettings

router = APIRouter(prefix="/api/v1", tags=["analytics"])


def _analytics_url(request: Request) -> str:
    state = request.app.state
    if getattr(state, "analytics_url", None) is None:
        state.analytics_url = AnalyticsSettings().url
    return str(state.analytics_url)


@router.get("/stats", response_model=StatsResponse, responses={503: {"model": ErrorResponse}})
async def stats(
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    hours: float = Query(default=24.0, gt=0, le=24 * 366),
) -> StatsResponse:
    """Queries per hour, latency and TTFT percentiles, tokens, errors, cache hits and cost,
    by model, variant and tier."""
    url = _analytics_url(request)
    params: dict[str, str] = {"hours": str(hours)}
    if since is not None:
        params["since"] = since.isoformat()
    if until is not None:
        params["until"] = until.isoformat()
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:  # stats are asked for rarely
            response = await client.get(f"{url}/stats", params=params)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise HTTPException(503, f"the analytics sink at {url} is unavailable: {exc}") from exc
    return StatsResponse.model_validate(response.json())
