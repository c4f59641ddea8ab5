from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.problems import problem

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers. 503 otherwise, so the balancer stops routing;
    a problem document like every other error (with ``request_id`` and ``Retry-After``)."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return problem(
            request,
            status=503,
            code="DATABASE_UNAVAILABLE",
            title="Service unavailable",
            detail="The database is unreachable",
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready"})
