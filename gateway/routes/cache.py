"""The answer cache: POST /api/v1/cache/clear empties it."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from gateway.cache import CacheDep
from schemas.api import CacheClearResponse

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/cache", tags=["cache"])


@router.post("/clear", response_model=CacheClearResponse)
async def clear_cache(cache: CacheDep) -> CacheClearResponse:
    """Forget every cached answer; the next identical question goes to a worker."""
    cleared = cache.clear()
    logger.info("answer cache cleared (%d answers)", cleared)
    return CacheClearResponse(cleared=cleared)
