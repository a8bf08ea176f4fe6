"""The web chat: `/` serves the page, `/static/<file>` its script and style (no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"
# Only these files are served: a fixed list can't be talked into reading anything else.
FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
NO_STORE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get("/")
async def chat_page() -> FileResponse:
    """The chat page (Portuguese UI)."""
    return FileResponse(
        STATIC / "index.html", media_type="text/html; charset=utf-8", headers=NO_STORE
    )


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """The page's script and stylesheet."""
    if name not in FILES:
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(STATIC / name, media_type=FILES[name], headers=NO_STORE)
