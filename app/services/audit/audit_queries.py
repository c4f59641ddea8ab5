"""Reading the audit log, scoped to the reader's country (R22, R24)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    and_,
    cast,
    exists,
    literal_column,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from app.domain.access import Principal
from app.models import (
    Agency,
    Appointment,
    AuditCheckpoint,
    AuditEvent,
    AuditLink,
    Evaluation,
    Listing,
    Official,
    Override,
    Separation,
    TaskForce,
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

# The official row an event's details name, joined on its key as each dialect stores it (a
# native uuid on PostgreSQL, 32 hex digits on SQLite); the left side is the expression above.
_DETAILS_OFFICIAL_ROW = {
    "postgresql": "officials.id = CAST((audit_events.details ->> 'official_id') AS UUID)",
    "sqlite": (
        "officials.id = replace(json_extract(audit_events.details, '$.official_id'), '-', '')"
    ),
}

# The task force an event is about, when its lead agency is of the reader's country: task
# forces are few, so comparing their ids as text costs nothing and never fails a cast.
_TASK_FORCE_ROW = {
    "postgresql": "CAST(task_forces.id AS TEXT) = audit_events.resource_id",
    "sqlite": "task_forces.id = replace(audit_events.resource_id, '-', '')",
}
NOMINATION_ACTIONS = ("task_force.nominate", "task_force.withdraw_nomination")

# What one country did to the other's people, which the other's oversight sees (#19, #18 F3c):
# nominating them to a joint task force, seating or removing them, evaluating them (across the
# border an evaluation is always reciprocal, R25). Only these, and only at verdict level.
CROSS_BORDER_ACTIONS = (
    "task_force.nominate",
    "task_force.withdraw_nomination",
    "task_force.add_member",
    "task_force.remove_member",
    "evaluation.record",
)
# The details a cross-border reader gets: the official concerned and the verdict. Never the
# other country's user names or ids, request ids, free text, or its own records' ids.
CROSS_BORDER_DETAILS = ("official_id", "outcome", "trigger", "role")

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
    """The events ``reader`` may see (R22, R24): its own country's users' actions (logins
    included, #18 F6); the system's (the sweep's transitions, no actor); and the other
    country's actions on the reader's officials listed in ``CROSS_BORDER_ACTIONS`` (#19),
    which ``shown_to`` reduces to verdict level. A login under a username that names nobody has
    no country and is shown to neither country (it stays in the chain)."""
    stmt = (
        select(AuditEvent, AuditLink.seq)
        .join(AuditLink, AuditLink.event_id == AuditEvent.id, isouter=True)
        .where(visible_to(session, reader))
        .order_by(AuditEvent.id)
    )
    filters: list[Any] = []
    if after_id is not None:
        filters.append(AuditEvent.id > after_id)
    if action:
        filters.append(AuditEvent.action == action)
    if actor_id:
        # Only the reader's own users are found by id: the other country's ids are not shown.
        filters.append(
            and_(AuditEvent.actor_id == actor_id, AuditEvent.actor_country == reader.country)
        )
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


def visible_to(session: Session, reader: Principal) -> ColumnElement[bool]:
    own = AuditEvent.actor_country == reader.country
    system = and_(AuditEvent.actor_country.is_(None), AuditEvent.action != "auth.login")
    clauses = [own, system]
    dialect = session.get_bind().dialect.name
    join = _DETAILS_OFFICIAL_ROW.get(dialect)
    tf_join = _TASK_FORCE_ROW.get(dialect)
    if tf_join is not None:
        # #18 F3: each country nominates its own officials, so the other country's nominations
        # into a task force the reader's country leads are seen by the reader's oversight too.
        clauses.append(
            and_(
                AuditEvent.actor_country != reader.country,
                AuditEvent.resource_type == "task_force",
                AuditEvent.action.in_(NOMINATION_ACTIONS),
                exists(
                    select(TaskForce.id)
                    .join(Agency, Agency.id == TaskForce.lead_agency_id)
                    .where(text(tf_join))
                    .where(Agency.country == reader.country)
                    .correlate(AuditEvent)
                ),
            )
        )
    if join is not None:
        clauses.append(
            and_(
                AuditEvent.actor_country != reader.country,
                AuditEvent.action.in_(CROSS_BORDER_ACTIONS),
                exists(
                    select(Official.id)
                    .where(text(join))
                    .where(Official.country == reader.country)
                    .correlate(AuditEvent)
                ),
            )
        )
    return or_(*clauses)


def shown_to(reader: Principal, event: AuditEvent) -> dict[str, Any]:
    """The event as ``reader`` sees it: whole when its own country (or nobody) acted; at
    verdict level when the other country acted on one of the reader's officials (R24, #19):
    the action, time, acting country and agency, resource, outcome and the official concerned,
    without the other country's user names, user ids, request ids or free text."""
    fields: dict[str, Any] = {
        column: getattr(event, column)
        for column in (
            "id",
            "occurred_at",
            "actor_id",
            "actor_username",
            "actor_country",
            "actor_agency_id",
            "action",
            "resource_type",
            "resource_id",
            "request_id",
            "outcome",
            "details",
            "event_hash",
        )
    }
    if event.actor_country is None or event.actor_country == reader.country:
        return fields
    details = event.details or {}
    return {
        **fields,
        "actor_id": None,
        "actor_username": None,
        "request_id": None,
        "details": {k: details[k] for k in CROSS_BORDER_DETAILS if k in details},
        "cross_border": True,
    }


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
