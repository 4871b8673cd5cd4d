"""The playground page at GET / and its files under /static (static/, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC", "add_playground"]

STATIC = Path(__file__).parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def playground_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def add_playground(app: FastAPI) -> None:
    """Serve the page at / and its scripts and styles at /static/."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
