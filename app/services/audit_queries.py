"""Reading the audit log, scoped to the reader's country (R22, R24)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.models import AuditCheckpoint, AuditEvent, AuditLink


def list_events(
    session: Session,
    *,
    reader: Principal,
    after_id: int | None,
    limit: int,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[tuple[AuditEvent, int | None]]:
    # Each country audits its own users' actions; unauthenticated events (failed logins) have
    # no country and are shown to both, since they name only the username that was tried.
    stmt = (
        select(AuditEvent, AuditLink.seq)
        .join(AuditLink, AuditLink.event_id == AuditEvent.id, isouter=True)
        .where(or_(AuditEvent.actor_country == reader.country, AuditEvent.actor_country.is_(None)))
        .order_by(AuditEvent.id)
    )
    filters: list[Any] = []
    if after_id is not None:
        filters.append(AuditEvent.id > after_id)
    if action:
        filters.append(AuditEvent.action == action)
    if actor_id:
        filters.append(AuditEvent.actor_id == actor_id)
    if resource_type:
        filters.append(AuditEvent.resource_type == resource_type)
    if resource_id:
        filters.append(AuditEvent.resource_id == resource_id)
    if outcome:
        filters.append(AuditEvent.outcome == outcome)
    if since:
        filters.append(AuditEvent.occurred_at >= since)
    if until:
        filters.append(AuditEvent.occurred_at < until)
    rows = session.execute(stmt.where(*filters).limit(limit + 1)).all()
    return [(row[0], row[1]) for row in rows]


def list_checkpoints(
    session: Session, *, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[AuditCheckpoint]:
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.created_at, AuditCheckpoint.id)
    if after:
        created, after_id = after
        stmt = stmt.where(
            or_(
                AuditCheckpoint.created_at > created,
                (AuditCheckpoint.created_at == created) & (AuditCheckpoint.id > after_id),
            )
        )
    return list(session.scalars(stmt.limit(limit + 1)))
