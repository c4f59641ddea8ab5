from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from app.api.idempotency import idempotent
from app.api.pagination import (
    ID_CURSOR,
    TIME_ID_CURSOR,
    Cursor,
    Limit,
    decode_cursor,
    paginate,
)
from app.auth.principal import AuditReader, SettingsDep
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.audit import AuditEventRead, AuditVerifyRead, CheckpointRead
from app.schemas.common import Page, problem_responses
from app.services.audit import audit as audit_service
from app.services.audit import audit_queries

router = APIRouter(prefix="/audit", tags=["audit"])


def _link_pending(request: Request, session: Session) -> None:
    """Link every committed event before reading the chain. The request's session has only read
    so far (authentication); its transaction ends first, because on SQLite (one writer, BEGIN
    IMMEDIATE) the chainer's own transaction would otherwise wait for it until the busy
    timeout."""
    session.commit()
    audit_service.chain(request.app.state.sessionmaker)


def _after_event(cursor: str | None) -> int | None:
    after = decode_cursor(cursor, ID_CURSOR)
    return after[0] if after else None


def _after_checkpoint(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    return decode_cursor(cursor, TIME_ID_CURSOR)


@router.get("", response_model=Page[AuditEventRead], responses=problem_responses(401, 403, 422))
def list_audit_events(
    request: Request,
    reader: AuditReader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    action: str | None = Query(default=None, max_length=60),
    actor_id: uuid.UUID | None = None,
    resource_type: str | None = Query(default=None, max_length=40),
    resource_id: str | None = Query(default=None, max_length=64),
    outcome: str | None = Query(default=None, max_length=40),
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Page[AuditEventRead]:
    """Audit events of the reader's country (R22, R24): its users' actions, logins included,
    the system's, and the other country's nominations and reciprocal evaluations of its
    officials, at verdict level (#19, #18)."""
    after_id = _after_event(cursor)
    _link_pending(request, session)
    rows = audit_queries.list_events(
        session,
        reader=reader,
        after_id=after_id,
        limit=limit,
        action=action,
        actor_id=actor_id,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        since=since,
        until=until,
    )
    page = paginate(rows, limit, lambda row: (row[0].id,))
    items = [
        AuditEventRead.model_validate({**audit_queries.shown_to(reader, e), "seq": s})
        for e, s in page.rows
    ]
    return Page[AuditEventRead](items=items, next_cursor=page.next_cursor)


@router.get("/verify", response_model=AuditVerifyRead, responses=problem_responses(401, 403))
def verify_chain(
    request: Request, reader: AuditReader, session: SessionDep, settings: SettingsDep
) -> AuditVerifyRead:
    """Recompute the whole chain and name the first broken link (R22)."""
    _link_pending(request, session)
    result = audit_service.verify(session, settings=settings)
    return AuditVerifyRead.model_validate(result.__dict__)


@router.get(
    "/checkpoints", response_model=Page[CheckpointRead], responses=problem_responses(401, 403)
)
def list_checkpoints(
    reader: AuditReader, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[CheckpointRead]:
    cps = audit_queries.list_checkpoints(session, after=_after_checkpoint(cursor), limit=limit)
    page = paginate(cps, limit, lambda c: (c.created_at, c.id))
    return Page[CheckpointRead](
        items=[CheckpointRead.model_validate(c) for c in page.rows],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/checkpoints",
    status_code=201,
    response_model=CheckpointRead,
    responses=problem_responses(401, 403),
)
@idempotent
def create_checkpoint(
    request: Request,
    reader: AuditReader,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> CheckpointRead:
    """Sign the chain head (EdDSA compact JWS, key in /.well-known/jwks.json) for export.
    Accepts ``Idempotency-Key`` (DESIGN §5): a retry returns the first checkpoint."""
    _link_pending(request, session)
    cp = audit_service.checkpoint(session, settings=settings, actor=reader, now=clock.now())
    result = CheckpointRead.model_validate(cp)
    return result
