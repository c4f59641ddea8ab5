"""Commission overrides (R20).

An override names one official on one task force, with a justification and at most 90 days. It
becomes active only once commission members of every required department have approved (a DEA
or FBI member counts for DOJ: the department is the approver's agency's top ancestor); the
requester cannot approve; only one approval per department counts. It expires by itself
(``expires_at``; the sweep records the resulting transition) and can be revoked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.principal import Principal, Role
from app.errors import Conflict, Forbidden, NotFound
from app.models import Agency, Official, Override, OverrideApproval, TaskForce
from app.services import audit
from app.services import task_forces as tf_service
from app.services.users import field_error

REQUIRED_DEPARTMENTS: tuple[str, ...] = ("DOJ", "DHS", "STATE")
MAX_DAYS = 90


def department_of_agency(session: Session, agency_id: uuid.UUID | None) -> str | None:
    agency = session.get(Agency, agency_id) if agency_id else None
    for _ in range(16):
        if agency is None or agency.parent_id is None:
            break
        agency = session.get(Agency, agency.parent_id)
    return agency.acronym.upper() if agency else None


def status_of(override: Override, now: dt.datetime) -> str:
    if override.revoked_at is not None:
        return "revoked"
    if override.activated_at is None:
        return "pending"
    if override.expires_at is not None and override.expires_at <= now:
        return "expired"
    return "active"


@dataclass
class OverrideView:
    override: Override
    approvals: list[OverrideApproval]
    status: str
    approved_departments: list[str]
    missing_departments: list[str]


def view(
    session: Session, override: Override, now: dt.datetime, required: tuple[str, ...]
) -> OverrideView:
    approvals = list(
        session.scalars(
            select(OverrideApproval)
            .where(OverrideApproval.override_id == override.id)
            .order_by(OverrideApproval.approved_at, OverrideApproval.id)
        )
    )
    approved = sorted({a.department for a in approvals if a.counted})
    return OverrideView(
        override=override,
        approvals=approvals,
        status=status_of(override, now),
        approved_departments=approved,
        missing_departments=[d for d in required if d not in approved],
    )


def request_override(
    session: Session,
    *,
    actor: Principal,
    task_force_id: uuid.UUID,
    official_id: uuid.UUID,
    justification: str,
    duration_days: int,
    now: dt.datetime,
) -> Override:
    tf = tf_service.get_task_force(session, actor, task_force_id, manage=True)
    if tf.dissolved_at is not None:
        raise Conflict("The task force is dissolved", code="TASK_FORCE_DISSOLVED")
    if duration_days > MAX_DAYS:
        raise field_error("body.duration_days", "at most 90 days (R20)")
    if session.get(Official, official_id) is None:
        raise field_error("body.official_id", "no such official")
    override = Override(
        task_force_id=tf.id,
        official_id=official_id,
        justification=justification,
        duration_days=duration_days,
        requested_by=actor.user_id,
        requested_at=now,
    )
    session.add(override)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="override.request",
        resource_type="override",
        resource_id=override.id,
        details={"task_force_id": tf.id, "official_id": official_id, "days": duration_days},
        now=now,
    )
    return override


def get_override(session: Session, actor: Principal, override_id: uuid.UUID) -> Override:
    override = session.get(Override, override_id)
    if override is None:
        raise NotFound("No such override", code="OVERRIDE_NOT_FOUND")
    tf = session.get(TaskForce, override.task_force_id)
    if tf is None or not tf_service.can_read(session, actor, tf):
        raise NotFound("No such override", code="OVERRIDE_NOT_FOUND")
    return override


def approve(
    session: Session,
    *,
    actor: Principal,
    override_id: uuid.UUID,
    required: tuple[str, ...],
    now: dt.datetime,
) -> Override:
    override = session.get(Override, override_id, with_for_update=True)
    if override is None:
        raise NotFound("No such override", code="OVERRIDE_NOT_FOUND")
    state = status_of(override, now)
    if state in ("revoked", "expired"):
        raise Conflict("The override is {state}", code="OVERRIDE_CLOSED", state=state)
    if override.requested_by == actor.user_id:
        raise Forbidden("The requester cannot approve their own override", code="SELF_APPROVAL")
    department = department_of_agency(session, actor.agency_id)
    if department not in required:
        raise Forbidden(
            "Only commission members of {departments} approve overrides",
            code="NOT_A_COMMISSION_DEPARTMENT",
            departments=", ".join(required),
        )
    already = session.scalars(
        select(OverrideApproval).where(OverrideApproval.override_id == override.id)
    ).all()
    if any(a.approver_id == actor.user_id for a in already):
        raise Conflict("You already approved this override", code="ALREADY_APPROVED")
    counted = not any(a.department == department and a.counted for a in already)
    session.add(
        OverrideApproval(
            override_id=override.id,
            approver_id=actor.user_id,
            department=department,
            counted=counted,
            approved_at=now,
        )
    )
    session.flush()
    departments = {a.department for a in already if a.counted} | {department}
    activated = override.activated_at is None and all(d in departments for d in required)
    if activated:
        override.activated_at = now
        override.expires_at = now + dt.timedelta(days=override.duration_days)
    audit.record(
        session,
        actor=actor,
        action="override.approve",
        resource_type="override",
        resource_id=override.id,
        details={"department": department, "counted": counted, "activated": activated},
        now=now,
    )
    if activated:
        tf = session.get(TaskForce, override.task_force_id)
        assert tf is not None
        tf_service.refresh_status(
            session,
            tf=tf,
            cause={"kind": "override_activated", "override_id": str(override.id)},
            actor=actor,
            now=now,
        )
    return override


def revoke(
    session: Session, *, actor: Principal, override_id: uuid.UUID, reason: str, now: dt.datetime
) -> Override:
    """Commission members, or an admin of the lead agency's country, may revoke."""
    override = get_override(session, actor, override_id)
    tf = session.get(TaskForce, override.task_force_id)
    assert tf is not None
    if not (actor.has(Role.COMMISSION_MEMBER) or tf_service.can_manage(session, actor, tf)):
        raise Forbidden("You may not revoke this override", code="NOT_ALLOWED")
    if override.revoked_at is not None:
        raise Conflict("The override is already revoked", code="OVERRIDE_CLOSED", state="revoked")
    override.revoked_at, override.revoked_by, override.revocation_reason = (
        now,
        actor.user_id,
        reason,
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="override.revoke",
        resource_type="override",
        resource_id=override.id,
        details={"task_force_id": tf.id},
        now=now,
    )
    tf_service.refresh_status(
        session,
        tf=tf,
        cause={"kind": "override_revoked", "override_id": str(override.id)},
        actor=actor,
        now=now,
    )
    return override


def list_overrides(
    session: Session, *, actor: Principal, task_force_id: uuid.UUID | None
) -> list[Override]:
    stmt = select(Override).order_by(Override.requested_at, Override.id)
    if task_force_id is not None:
        stmt = stmt.where(Override.task_force_id == task_force_id)
    out = []
    readable: dict[uuid.UUID, bool] = {}
    for override in session.scalars(stmt):
        if override.task_force_id not in readable:
            tf = session.get(TaskForce, override.task_force_id)
            readable[override.task_force_id] = bool(tf and tf_service.can_read(session, actor, tf))
        if readable[override.task_force_id]:
            out.append(override)
    return out
