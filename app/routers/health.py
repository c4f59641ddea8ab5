from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers. 503 otherwise, so the balancer stops routing."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse(
            {
                "type": "https://vetting-registry.example/problems/database-unavailable",
                "title": "Service unavailable",
                "status": 503,
                "detail": "The database is unreachable",
                "code": "DATABASE_UNAVAILABLE",
            },
            status_code=503,
            media_type="application/problem+json",
        )
    return JSONResponse({"status": "ready"})
