"""Reading the audit log, scoped to the reader's country (R22, R24)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, String, Text, and_, cast, literal_column, or_, select, union
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.models import (
    Appointment,
    AuditCheckpoint,
    AuditEvent,
    AuditLink,
    Evaluation,
    Listing,
    Official,
    Override,
    Separation,
    TaskForceEvent,
    TaskForceMember,
    TaskForceNomination,
)

# The official an event's details name. Written out per dialect, with the key as a literal
# rather than a bound parameter, so that an expression index on exactly this expression can
# serve it (PostgreSQL: ``((details ->> 'official_id'))``; SQLite:
# ``(json_extract(details, '$.official_id'))``).
_DETAILS_OFFICIAL_ID = {
    "postgresql": "(audit_events.details ->> 'official_id')",
    "sqlite": "json_extract(audit_events.details, '$.official_id')",
}

# Records that belong to one official, by the resource type their audit events carry: events
# about them (an appeal, a withdrawal, a correction, a notification) do not all repeat the
# official's id in their details.
_OWNED_RESOURCES: tuple[tuple[str, Any], ...] = (
    ("listing", Listing),
    ("evaluation", Evaluation),
    ("appointment", Appointment),
    ("separation", Separation),
    ("override", Override),
)


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
        filters.append(about_resource(session, resource_id))
    if outcome:
        filters.append(AuditEvent.outcome == outcome)
    if since:
        filters.append(AuditEvent.occurred_at >= since)
    if until:
        filters.append(AuditEvent.occurred_at < until)
    rows = session.execute(stmt.where(*filters).limit(limit + 1)).all()
    return [(row[0], row[1]) for row in rows]


def about_resource(session: Session, resource_id: str) -> ColumnElement[bool]:
    """Events about ``resource_id``: those whose resource it is and, when it is an official,
    every event that concerns them (#15): events whose details name them (evaluations,
    listings, appointments, separations, screening decisions, task-force membership, overrides),
    events on records that are theirs (an appeal or withdrawal of their listing, a correction
    of their evaluation), and task-force events that name them anywhere in their details (a
    suspension they caused, a list of blocking members). Nothing hashed is read or changed:
    this only selects stored events."""
    try:
        subject = uuid.UUID(resource_id)
    except ValueError:
        return AuditEvent.resource_id == resource_id
    key = str(subject)  # how ``audit.record`` stores ids: resource ids and details alike
    itself = AuditEvent.resource_id == key
    if session.get(Official, subject) is None:
        return itself
    clauses: list[ColumnElement[bool]] = [itself]
    expression = _DETAILS_OFFICIAL_ID.get(session.get_bind().dialect.name)
    if expression is not None:
        clauses.append(literal_column(expression, String) == key)
    for resource_type, model in _OWNED_RESOURCES:
        ids = [
            str(i) for i in session.scalars(select(model.id).where(model.official_id == subject))
        ]
        if ids:
            clauses.append(
                and_(AuditEvent.resource_type == resource_type, AuditEvent.resource_id.in_(ids))
            )
    task_forces = [
        str(i)
        for i in session.scalars(
            union(
                select(TaskForceMember.task_force_id).where(TaskForceMember.official_id == subject),
                select(TaskForceNomination.task_force_id).where(
                    TaskForceNomination.official_id == subject
                ),
                select(TaskForceEvent.task_force_id).where(TaskForceEvent.official_id == subject),
            )
        )
    ]
    if task_forces:
        # A UUID holds no LIKE wildcard; the quotes keep it a whole JSON string.
        clauses.append(
            and_(
                AuditEvent.resource_type == "task_force",
                AuditEvent.resource_id.in_(task_forces),
                cast(AuditEvent.details, Text).like(f'%"{key}"%'),
            )
        )
    return or_(*clauses)


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
