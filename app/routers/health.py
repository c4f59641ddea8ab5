from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.api.problems import problem
from app.config import Settings
from app.schemas.common import problem_responses
from app.services.task_forces.overrides import missing_departments

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers, and every required commission department (R20)
    has a designated U.S. agency. 503 otherwise, so the balancer stops routing; a problem
    document like every other error (with ``request_id``; ``Retry-After`` when the database
    is down). A missing department is ``COMMISSION_DEPARTMENTS_MISSING`` naming it in
    ``missing_departments``: without it no override could ever activate (#15, #18 F1)."""
    required = tuple(request.app.state.settings.override_departments)
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            with Session(bind=conn) as session:
                missing = missing_departments(session, required)
    except Exception:
        return problem(
            request,
            status=503,
            code="DATABASE_UNAVAILABLE",
            title="Service unavailable",
            detail="The database is unreachable",
            headers={"Retry-After": "5"},
        )
    if missing:
        return problem(
            request,
            status=503,
            code="COMMISSION_DEPARTMENTS_MISSING",
            title="Service unavailable",
            detail="No agency is designated as the commission department(s) {departments}",
            params={"departments": ", ".join(missing)},
            extra={"missing_departments": missing},
        )
    return JSONResponse({"status": "ready"})


def log_commission_departments(factory: sessionmaker[Session], settings: Settings) -> None:
    """At startup, say in the log what ``/readyz`` will say: a required commission department
    with no designated agency (R20). The service still starts (screening does not depend on
    the commission); a database that cannot be reached yet is ``/readyz``'s to report."""
    required = tuple(settings.override_departments)
    try:
        with factory() as session:
            missing = missing_departments(session, required)
    except SQLAlchemyError:
        return
    if missing:
        log.error(
            "no agency is designated as the commission department(s) %s: overrides cannot "
            "activate and /readyz fails until a U.S. admin sets commission_department on the "
            "U.S. federal agency that is each (PATCH /api/v1/agencies/{id}, docs/task-forces.md)",
            ", ".join(missing),
        )
