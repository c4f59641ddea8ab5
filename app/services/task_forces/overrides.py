"""Commission overrides (R20).

An override names one official on one task force (a current member or open nominee of it), with
a justification and at most 90 days. It becomes active only once commission members of every
required department have approved; the requester cannot approve; only one approval per
department counts. It expires by itself (``expires_at``; the sweep records the resulting
transition) and can be revoked.

An approver's department is the ``commission_department`` *designation* of their agency's top
ancestor (a DEA or FBI member counts for DOJ when the DOJ agency is designated DOJ), and only a
U.S. user has one. Acronyms count for nothing: a Mexican agency named "DOJ" does not fill the
U.S. Justice seat (#15 point 2, #18 F1, F1b). Designations are set by U.S. admins only
(``app/services/registry/agencies.py``); a required department nobody holds fails ``/readyz``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.access import Principal, Role
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import (
    Agency,
    Official,
    Override,
    OverrideApproval,
    TaskForce,
    TaskForceMember,
    TaskForceNomination,
)
from app.services.audit import audit
from app.services.registry.agencies import COMMISSION_COUNTRY, department_of, designated_departments
from app.services.task_forces import task_forces as tf_service

MAX_DAYS = 90


def commission_department_of(session: Session, actor: Principal) -> str | None:
    """The commission department the actor sits for (R20), or None: the designation carried
    by the top ancestor of the actor's agency, for a U.S. user of a U.S. agency only. Both
    checks matter: a designation is only ever on a U.S. agency, and a user's agency is of the
    user's country, but neither alone is what R20 says."""
    if actor.country != COMMISSION_COUNTRY or actor.agency_id is None:
        return None
    agency = session.get(Agency, actor.agency_id)
    if agency is None or agency.country != COMMISSION_COUNTRY:
        return None
    top = department_of(session, agency)
    if top.country != COMMISSION_COUNTRY or top.parent_id is not None:
        return None
    return top.commission_department


def missing_departments(session: Session, required: tuple[str, ...]) -> list[str]:
    """Required departments no U.S. agency is designated for: while any is missing, no
    override can ever activate, so readiness fails and says which (R20)."""
    held = {
        department
        for department, agency in designated_departments(session).items()
        if agency.country == COMMISSION_COUNTRY and agency.parent_id is None
    }
    return [d for d in required if d not in held]


def _on_roster(session: Session, task_force_id: uuid.UUID, official_id: uuid.UUID) -> bool:
    """A current member (not left) or an open nominee of this task force (R18)."""
    member = select(TaskForceMember.id).where(
        TaskForceMember.task_force_id == task_force_id,
        TaskForceMember.official_id == official_id,
        TaskForceMember.left_on.is_(None),
    )
    nominee = select(TaskForceNomination.id).where(
        TaskForceNomination.task_force_id == task_force_id,
        TaskForceNomination.official_id == official_id,
        TaskForceNomination.status == "open",
    )
    return bool(session.scalar(select(member.exists() | nominee.exists())))


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
    justification: str | None = None


def justification_visible(session: Session, actor: Principal, override: Override) -> bool:
    """#18 F8 (R20, R24): an override's justification is free text about one person, so it is
    dossier detail. It is shown to that official's own country, to the commission that must
    weigh it to approve (R20), and to the requester who wrote it; anyone else who reads the
    override (an admin or lead of the other country) sees its verdict-level facts only."""
    if actor.has(Role.COMMISSION_MEMBER) or actor.user_id == override.requested_by:
        return True
    official = session.get(Official, override.official_id)
    return official is not None and official.country == actor.country


def view(
    session: Session,
    override: Override,
    now: dt.datetime,
    required: tuple[str, ...],
    *,
    viewer: Principal | None = None,
) -> OverrideView:
    """The override as ``viewer`` may see it (``justification`` None when not theirs to read,
    #18 F8); ``viewer`` None is the service itself."""
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
        justification=override.justification
        if viewer is None or justification_visible(session, viewer, override)
        else None,
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
    """R20: the task force's lead or an admin of its lead agency's country (else 404, R25)
    asks for an override of a current member or open nominee of *that* task force; anyone
    else (no such official, another task force's member, a former member) is 422 naming
    ``official_id``, the same answer whether the official exists or not (R24)."""
    tf = tf_service.get_task_force(session, actor, task_force_id, manage=True)
    if tf.dissolved_at is not None:
        raise Conflict("The task force is dissolved", code="TASK_FORCE_DISSOLVED")
    if duration_days > MAX_DAYS:
        raise FieldError("duration_days", "at most 90 days (R20)")
    if not _on_roster(session, tf.id, official_id):
        raise FieldError(
            "official_id",
            "not a current member or nominee of this task force",
            code="NOT_ON_TASK_FORCE",
        )
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
    """R20: a U.S. commission member whose agency's top ancestor is designated one of the
    ``required`` departments approves (else 403 NOT_A_COMMISSION_DEPARTMENT); the override
    activates when every required department has a counted approval."""
    override = session.get(Override, override_id, with_for_update=True)
    if override is None:
        raise NotFound("No such override", code="OVERRIDE_NOT_FOUND")
    state = status_of(override, now)
    if state in ("revoked", "expired"):
        raise Conflict("The override is {state}", code="OVERRIDE_CLOSED", state=state)
    if override.requested_by == actor.user_id:
        raise Forbidden("The requester cannot approve their own override", code="SELF_APPROVAL")
    department = commission_department_of(session, actor)
    if department is None or department not in required:
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
