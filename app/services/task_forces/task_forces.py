"""Joint task forces (R17-R19, R25): rosters with no exception for seniority, compliance and
the suspension of a task force and its funding.

The status is always derived from facts and the clock (``compliance``); ``refresh_status``
stores a transition as an event, in the transaction of the write that caused it, and the sweep
does the same for time-driven causes. A task force's row is locked while its status is
refreshed, so concurrent writers record one transition, not two.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import unit_of_work
from app.domain.access import Principal, Role
from app.domain.vocabulary import SENIOR_TIERS
from app.errors import Conflict, FieldError, NotFound
from app.models import (
    Agency,
    Appointment,
    Official,
    Override,
    TaskForce,
    TaskForceEvent,
    TaskForceLead,
    TaskForceMember,
    TaskForceNomination,
    User,
)
from app.services.audit import audit

SENIOR_ROLES = frozenset({"lead", "senior"})


# --- scope -------------------------------------------------------------------------------


def lead_ids(session: Session, task_force_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(TaskForceLead.user_id).where(TaskForceLead.task_force_id == task_force_id)
        )
    )


def can_read(session: Session, actor: Principal, tf: TaskForce) -> bool:
    """Leads see the task forces they lead; admins those led from their country or with
    members or open nominees of their country (#18 F3: a country's admin follows the officials
    it nominated); commission members all (they approve overrides)."""
    if actor.has(Role.COMMISSION_MEMBER):
        return True
    if actor.has(Role.TASK_FORCE_LEAD) and actor.user_id in lead_ids(session, tf.id):
        return True
    if actor.has(Role.ADMIN):
        agency = session.get(Agency, tf.lead_agency_id)
        if agency is not None and agency.country == actor.country:
            return True
        member_countries = session.scalars(
            select(Official.country)
            .join(TaskForceMember, TaskForceMember.official_id == Official.id)
            .where(TaskForceMember.task_force_id == tf.id)
        )
        if actor.country in set(member_countries):
            return True
        nominee = session.scalar(
            select(TaskForceNomination.id)
            .join(Official, Official.id == TaskForceNomination.official_id)
            .where(
                TaskForceNomination.task_force_id == tf.id,
                TaskForceNomination.status == "open",
                Official.country == actor.country,
            )
            .limit(1)
        )
        return nominee is not None
    return False


def can_manage(session: Session, actor: Principal, tf: TaskForce) -> bool:
    """R25: a lead manages only the task forces it leads; an admin of the lead agency's
    country manages them too."""
    if actor.has(Role.TASK_FORCE_LEAD) and actor.user_id in lead_ids(session, tf.id):
        return True
    if actor.has(Role.ADMIN):
        agency = session.get(Agency, tf.lead_agency_id)
        return agency is not None and agency.country == actor.country
    return False


def get_task_force(
    session: Session,
    actor: Principal,
    task_force_id: uuid.UUID,
    *,
    manage: bool = False,
    lock: bool = False,
) -> TaskForce:
    """Lookup with scope: a task force the caller may not read answers 404 (R24, R25)."""
    tf = session.get(TaskForce, task_force_id, with_for_update=lock or None)
    if tf is None or not can_read(session, actor, tf):
        raise NotFound("No such task force", code="TASK_FORCE_NOT_FOUND")
    if manage and not can_manage(session, actor, tf):
        raise NotFound("No such task force", code="TASK_FORCE_NOT_FOUND")
    return tf


def task_force_country(session: Session, tf: TaskForce) -> str | None:
    agency = session.get(Agency, tf.lead_agency_id)
    return agency.country if agency is not None else None


def _check_leads(session: Session, user_ids: Sequence[uuid.UUID], country: str | None) -> None:
    """#18 F9: a task force's leads are active ``task_force_lead`` users of its lead agency's
    country. The other country takes part by nominating its own officials (``nominate``), not
    by leading; a user of the other country answers as an unknown id does, so this check
    tells nobody which users exist across the border (R24)."""
    if not user_ids:
        return
    users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
    found = {
        u.id
        for u in users
        if u.is_active and Role.TASK_FORCE_LEAD.value in u.roles and u.country == country
    }
    if found != set(user_ids):
        raise FieldError(
            "lead_user_ids",
            "each lead must be an active task_force_lead of the task force's country",
        )


def _set_leads(session: Session, tf: TaskForce, user_ids: Sequence[uuid.UUID]) -> None:
    _check_leads(session, user_ids, task_force_country(session, tf))
    current = set(lead_ids(session, tf.id))
    wanted = set(user_ids)
    for user_id in current - wanted:
        lead = session.get(TaskForceLead, (tf.id, user_id))
        if lead is not None:
            session.delete(lead)
    for user_id in wanted - current:
        session.add(TaskForceLead(task_force_id=tf.id, user_id=user_id))


# --- task forces ---------------------------------------------------------------------------


def create_task_force(
    session: Session, *, actor: Principal, data: dict[str, Any], now: dt.datetime
) -> TaskForce:
    agency = session.get(Agency, data["lead_agency_id"])
    if agency is None or agency.country != actor.country:
        raise FieldError("lead_agency_id", "no agency with this id in your country")
    tf = TaskForce(
        name=data["name"],
        focus=str(data["focus"]),
        lead_agency_id=agency.id,
        max_vetting_age_months=data["max_vetting_age_months"],
        require_reciprocal=data["require_reciprocal"],
        suspend_on=str(data["suspend_on"]),
        recorded_status="active",
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(tf)
    session.flush()
    _set_leads(session, tf, data.get("lead_user_ids") or [])
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="task_force.create",
        resource_type="task_force",
        resource_id=tf.id,
        details={"lead_agency_id": agency.id, "suspend_on": tf.suspend_on},
        now=now,
    )
    return tf


def update_task_force(
    session: Session, *, actor: Principal, tf: TaskForce, changes: dict[str, Any], now: dt.datetime
) -> TaskForce:
    for name in ("name", "max_vetting_age_months", "require_reciprocal"):
        if changes.get(name) is not None:
            setattr(tf, name, changes[name])
    if changes.get("suspend_on") is not None:
        tf.suspend_on = str(changes["suspend_on"])
    if changes.get("lead_user_ids") is not None:
        _set_leads(session, tf, changes["lead_user_ids"])
    if changes.get("dissolved") and tf.dissolved_at is None:
        tf.dissolved_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="task_force.update",
        resource_type="task_force",
        resource_id=tf.id,
        details={"fields": sorted(changes)},
        now=now,
    )
    refresh_status(session, tf=tf, cause={"kind": "settings_changed"}, actor=actor, now=now)
    return tf


def list_task_forces(session: Session, *, actor: Principal) -> list[TaskForce]:
    rows = session.scalars(select(TaskForce).order_by(TaskForce.created_at, TaskForce.id))
    return [tf for tf in rows if can_read(session, actor, tf)]


# --- nominations and members (R18) ------------------------------------------------------


def task_force_for_nomination(
    session: Session, actor: Principal, task_force_id: uuid.UUID
) -> TaskForce:
    """#18 F3 (R18, R24, R25): who may nominate to a task force, locked. Its managers (leads,
    admins of the lead agency's country) may; so may an admin of the *other* country, for its
    own country's officials only (``nominate`` checks the official with the same 404): a joint
    task force's foreign members are put forward by their own country, which alone decides to
    disclose them (at verdict level) across the border. Anyone else gets 404 for the task
    force, as for one that does not exist."""
    tf = session.get(TaskForce, task_force_id, with_for_update=True)
    if tf is not None and (_manages(session, actor, tf) or actor.has(Role.ADMIN)):
        return tf
    raise NotFound("No such task force", code="TASK_FORCE_NOT_FOUND")


def _manages(session: Session, actor: Principal, tf: TaskForce) -> bool:
    return can_read(session, actor, tf) and can_manage(session, actor, tf)


def nominate(
    session: Session,
    *,
    actor: Principal,
    tf: TaskForce,
    official_id: uuid.UUID,
    role: str,
    now: dt.datetime,
) -> TaskForceNomination:
    """R18: nominate an official; #18 F3: only an official of the nominator's own country.
    Each country puts forward its own people: an official of the other country answers as an
    unknown id does, so a nomination never tells one country that the other's unlisted
    official exists (R24), and the reciprocal path (R25) only ever reaches officials their own
    country chose to put forward."""
    official = session.get(Official, official_id)
    own = official is not None and official.country == actor.country
    if not own and not _manages(session, actor, tf):
        # An admin of the other country naming someone not of its own: the task force is
        # not its business, and answers as an unknown one (``task_force_for_nomination``).
        raise NotFound("No such task force", code="TASK_FORCE_NOT_FOUND")
    if tf.dissolved_at is not None:
        raise Conflict("The task force is dissolved", code="TASK_FORCE_DISSOLVED")
    if official is None or not own:
        raise FieldError("official_id", "no official with this id in your country")
    if _current_member(session, tf.id, official_id) is not None:
        raise Conflict("The official is already a member", code="ALREADY_MEMBER")
    if _open_nomination(session, tf.id, official_id) is not None:
        raise Conflict("The official is already nominated", code="ALREADY_NOMINATED")
    nomination = TaskForceNomination(
        task_force_id=tf.id,
        official_id=official_id,
        role=role,
        status="open",
        nominated_by=actor.user_id,
        nominated_at=now,
    )
    session.add(nomination)
    session.flush()
    _event(
        session,
        tf,
        "nominated",
        official_id=official_id,
        cause={"role": role},
        actor=actor,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="task_force.nominate",
        resource_type="task_force",
        resource_id=tf.id,
        details={"official_id": official_id, "role": role},
        now=now,
    )
    return nomination


def task_force_for_withdrawal(
    session: Session, actor: Principal, task_force_id: uuid.UUID, nomination_id: uuid.UUID
) -> TaskForce:
    """Managers withdraw any nomination; the admin of a nominee's country withdraws the
    nominations of its own officials (#18 F3: the country that put them forward). Locked."""
    tf = session.get(TaskForce, task_force_id, with_for_update=True)
    if tf is not None and can_read(session, actor, tf):
        if can_manage(session, actor, tf):
            return tf
        nomination = session.get(TaskForceNomination, nomination_id)
        official = session.get(Official, nomination.official_id) if nomination else None
        if (
            actor.has(Role.ADMIN)
            and nomination is not None
            and nomination.task_force_id == tf.id
            and official is not None
            and official.country == actor.country
        ):
            return tf
    raise NotFound("No such task force", code="TASK_FORCE_NOT_FOUND")


def withdraw_nomination(
    session: Session, *, actor: Principal, tf: TaskForce, nomination_id: uuid.UUID, now: dt.datetime
) -> TaskForceNomination:
    nomination = session.get(TaskForceNomination, nomination_id)
    if nomination is None or nomination.task_force_id != tf.id:
        raise NotFound("No such nomination", code="NOMINATION_NOT_FOUND")
    if nomination.status != "open":
        raise Conflict("The nomination is closed", code="NOMINATION_CLOSED")
    nomination.status, nomination.closed_at = "withdrawn", now
    _event(
        session,
        tf,
        "nomination_withdrawn",
        official_id=nomination.official_id,
        cause={},
        actor=actor,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="task_force.withdraw_nomination",
        resource_type="task_force",
        resource_id=tf.id,
        details={"official_id": nomination.official_id},
        now=now,
    )
    return nomination


def _open_nomination(
    session: Session, task_force_id: uuid.UUID, official_id: uuid.UUID
) -> TaskForceNomination | None:
    return session.scalar(
        select(TaskForceNomination).where(
            TaskForceNomination.task_force_id == task_force_id,
            TaskForceNomination.official_id == official_id,
            TaskForceNomination.status == "open",
        )
    )


def _current_member(
    session: Session, task_force_id: uuid.UUID, official_id: uuid.UUID
) -> TaskForceMember | None:
    return session.scalar(
        select(TaskForceMember).where(
            TaskForceMember.task_force_id == task_force_id,
            TaskForceMember.official_id == official_id,
            TaskForceMember.left_on.is_(None),
        )
    )


def add_member(
    session: Session, *, actor: Principal, tf: TaskForce, official_id: uuid.UUID, now: dt.datetime
) -> TaskForceMember:
    """R18: only a nominated, eligible official joins; an ineligible one gets 409 with the
    reason codes unless an active override covers them. Rank never exempts anyone (R17)."""
    if tf.dissolved_at is not None:
        raise Conflict("The task force is dissolved", code="TASK_FORCE_DISSOLVED")
    nomination = _open_nomination(session, tf.id, official_id)
    if nomination is None:
        if _current_member(session, tf.id, official_id) is not None:
            raise Conflict("The official is already a member", code="ALREADY_MEMBER")
        raise Conflict("Nominate the official first (R18)", code="NOT_NOMINATED")
    verdicts = assess_members(session, tf, [official_id], today=now.date(), now=now)
    verdict = verdicts[official_id]
    if verdict.verdict == "ineligible":
        raise Conflict(
            "The official is not eligible: {reasons}",
            code="NOT_ELIGIBLE",
            extra={"reasons": verdict.reasons},
            reasons=", ".join(verdict.reasons),
        )
    member = TaskForceMember(
        task_force_id=tf.id,
        official_id=official_id,
        role=nomination.role,
        joined_on=now.date(),
        added_by=actor.user_id,
        override_id=verdict.override_id,
        created_at=now,
    )
    session.add(member)
    nomination.status, nomination.closed_at = "joined", now
    session.flush()
    _event(
        session,
        tf,
        "member_joined",
        official_id=official_id,
        cause={"role": member.role, "verdict": verdict.verdict},
        actor=actor,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="task_force.add_member",
        resource_type="task_force",
        resource_id=tf.id,
        details={
            "official_id": official_id,
            "verdict": verdict.verdict,
            "override_id": verdict.override_id,
        },
        now=now,
    )
    refresh_status(
        session,
        tf=tf,
        cause={"kind": "member_joined", "official_id": str(official_id)},
        actor=actor,
        now=now,
    )
    return member


def remove_member(
    session: Session, *, actor: Principal, tf: TaskForce, official_id: uuid.UUID, now: dt.datetime
) -> TaskForceMember:
    member = _current_member(session, tf.id, official_id)
    if member is None:
        raise NotFound("No such member", code="MEMBER_NOT_FOUND")
    member.left_on = now.date()
    session.flush()
    _event(session, tf, "member_left", official_id=official_id, cause={}, actor=actor, now=now)
    audit.record(
        session,
        actor=actor,
        action="task_force.remove_member",
        resource_type="task_force",
        resource_id=tf.id,
        details={"official_id": official_id},
        now=now,
    )
    refresh_status(
        session,
        tf=tf,
        cause={"kind": "member_left", "official_id": str(official_id)},
        actor=actor,
        now=now,
    )
    return member


def roster(
    session: Session, tf_id: uuid.UUID, *, include_past: bool = False
) -> list[tuple[TaskForceMember, Official]]:
    stmt = (
        select(TaskForceMember, Official)
        .join(Official, Official.id == TaskForceMember.official_id)
        .where(TaskForceMember.task_force_id == tf_id)
        .order_by(TaskForceMember.joined_on, TaskForceMember.id)
    )
    if not include_past:
        stmt = stmt.where(TaskForceMember.left_on.is_(None))
    return [(m, o) for m, o in session.execute(stmt).all()]


def nominations(session: Session, tf_id: uuid.UUID) -> list[TaskForceNomination]:
    return list(
        session.scalars(
            select(TaskForceNomination)
            .where(TaskForceNomination.task_force_id == tf_id)
            .order_by(TaskForceNomination.nominated_at, TaskForceNomination.id)
        )
    )


# --- compliance (R17, R19) ---------------------------------------------------------------


@dataclass
class MemberVerdict:
    official_id: uuid.UUID
    verdict: str  # eligible | ineligible | overridden
    reasons: list[str]
    valid_until: dt.date | None
    override_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class RosterMember:
    """What compliance needs of a current member: plain columns, not ORM objects (building a
    hundred ``Official`` and ``TaskForceMember`` instances was a fifth of the answer's CPU)."""

    official_id: uuid.UUID
    country: str
    role: str


@dataclass
class Compliance:
    status: str
    # (member, verdict, senior, blocks), in roster order
    members: list[tuple[RosterMember, MemberVerdict, bool, bool]] = field(default_factory=list)

    @property
    def blocking_members(self) -> list[uuid.UUID]:
        return [
            m.official_id
            for m, v, _, blocks in self.members
            if blocks and v.verdict == "ineligible"
        ]


def active_overrides(
    session: Session, tf_id: uuid.UUID, official_ids: Iterable[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, Override]:
    ids = list(official_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(Override).where(
            Override.task_force_id == tf_id,
            Override.official_id.in_(ids),
            Override.activated_at.is_not(None),
            Override.revoked_at.is_(None),
            Override.expires_at > now,
        )
    )
    return {o.official_id: o for o in rows}


def assess_members(
    session: Session,
    tf: TaskForce,
    official_ids: list[uuid.UUID],
    *,
    today: dt.date,
    now: dt.datetime,
) -> dict[uuid.UUID, MemberVerdict]:
    """R17 for a task force's members, in a constant number of statements."""
    from app.services.task_forces.eligibility import assess

    answers = assess(
        session,
        official_ids,
        today=today,
        max_vetting_age_months=tf.max_vetting_age_months,
        require_reciprocal=tf.require_reciprocal,
    )
    overrides = active_overrides(session, tf.id, official_ids, now)
    out: dict[uuid.UUID, MemberVerdict] = {}
    for official_id in official_ids:
        answer = answers[official_id]
        verdict, override_id = answer.verdict, None
        if verdict == "ineligible" and official_id in overrides:
            verdict, override_id = "overridden", overrides[official_id].id
        out[official_id] = MemberVerdict(
            official_id=official_id,
            verdict=verdict,
            reasons=list(answer.reasons),
            valid_until=answer.valid_until,
            override_id=override_id,
        )
    return out


def compliance(session: Session, tf: TaskForce, *, now: dt.datetime) -> Compliance:
    """Every member's verdict and the derived status (R19). Statements do not grow with the
    roster: one for the roster with current tiers, the batch assessment, one for overrides."""
    if tf.dissolved_at is not None:
        return Compliance(status="dissolved")
    active_appt = and_(Appointment.official_id == Official.id, Appointment.ended_on.is_(None))
    rows = session.execute(
        select(
            TaskForceMember.official_id,
            Official.country,
            TaskForceMember.role,
            Appointment.rank_tier,
        )
        .join(Official, Official.id == TaskForceMember.official_id)
        .outerjoin(Appointment, active_appt)
        .where(TaskForceMember.task_force_id == tf.id, TaskForceMember.left_on.is_(None))
        .order_by(TaskForceMember.joined_on, TaskForceMember.id)
    ).all()
    members: dict[uuid.UUID, tuple[RosterMember, bool]] = {}
    for official_id, country, role, tier in rows:
        senior = role in SENIOR_ROLES or tier in SENIOR_TIERS
        previous = members.get(official_id)
        members[official_id] = (
            RosterMember(official_id, country, role),
            senior or (previous[1] if previous else False),
        )
    verdicts = assess_members(session, tf, list(members), today=now.date(), now=now)
    result = Compliance(status="active")
    for official_id, (member, senior) in members.items():
        blocks = senior or tf.suspend_on == "any_noncompliance"
        verdict = verdicts[official_id]
        result.members.append((member, verdict, senior, blocks))
        if blocks and verdict.verdict == "ineligible":
            result.status = "suspended"
    return result


def _event(
    session: Session,
    tf: TaskForce,
    kind: str,
    *,
    official_id: uuid.UUID | None,
    cause: dict[str, Any],
    actor: Principal | None,
    now: dt.datetime,
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    session.add(
        TaskForceEvent(
            task_force_id=tf.id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            official_id=official_id,
            cause=cause,
            actor_id=actor.user_id if actor else None,
            occurred_at=now,
        )
    )


def refresh_status(
    session: Session,
    *,
    tf: TaskForce,
    cause: dict[str, Any],
    actor: Principal | None,
    now: dt.datetime,
) -> str:
    """Derive the status now and, if it differs from the last recorded one, record the
    transition (suspension or reinstatement, task force and funding alike) with its cause."""
    locked = session.get(TaskForce, tf.id, with_for_update=True, populate_existing=False)
    assert locked is not None
    result = compliance(session, locked, now=now)
    if result.status == locked.recorded_status:
        return result.status
    kind = {"suspended": "suspended", "active": "reinstated", "dissolved": "dissolved"}[
        result.status
    ]
    _event(
        session,
        locked,
        kind,
        official_id=None,
        cause={**cause, "blocking_members": [str(i) for i in result.blocking_members]},
        actor=actor,
        now=now,
        from_status=locked.recorded_status,
        to_status=result.status,
    )
    audit.record(
        session,
        actor=actor,
        actor_username=None if actor else "system",
        action=f"task_force.{kind}",
        resource_type="task_force",
        resource_id=locked.id,
        details={"cause": cause, "blocking_members": [str(i) for i in result.blocking_members]},
        now=now,
    )
    locked.recorded_status = result.status
    session.flush()
    return result.status


def task_forces_of(session: Session, official_id: uuid.UUID) -> list[TaskForce]:
    return list(
        session.scalars(
            select(TaskForce)
            .join(TaskForceMember, TaskForceMember.task_force_id == TaskForce.id)
            .where(
                TaskForceMember.official_id == official_id,
                TaskForceMember.left_on.is_(None),
                TaskForce.dissolved_at.is_(None),
            )
            .distinct()
        )
    )


def task_forces_with_members_of(session: Session, country: str) -> list[TaskForce]:
    """Live task forces with a current member of ``country`` (whose eligibility a policy of
    that country governs), in a stable order so concurrent refreshes lock them alike."""
    members = select(TaskForceMember.task_force_id).join(
        Official, Official.id == TaskForceMember.official_id
    )
    return list(
        session.scalars(
            select(TaskForce)
            .where(
                TaskForce.dissolved_at.is_(None),
                TaskForce.id.in_(
                    members.where(TaskForceMember.left_on.is_(None), Official.country == country)
                ),
            )
            .order_by(TaskForce.id)
        )
    )


def on_official_change(
    session: Session,
    *,
    official_id: uuid.UUID,
    cause: dict[str, Any],
    actor: Principal | None,
    now: dt.datetime,
) -> None:
    """Called in the transaction of any write that may change an official's eligibility (an
    evaluation, a listing, an appointment, a separation): each of their task forces records
    its transition in that same transaction (R19)."""
    session.flush()
    for tf in task_forces_of(session, official_id):
        refresh_status(
            session, tf=tf, cause={**cause, "official_id": str(official_id)}, actor=actor, now=now
        )


def is_nominee_or_member(session: Session, official_id: uuid.UUID) -> bool:
    """R25: the other country's vetting officers may evaluate nominees and members of joint
    task forces (reciprocally), and nobody else across the border."""
    nominated = session.scalar(
        select(TaskForceNomination.id)
        .where(TaskForceNomination.official_id == official_id, TaskForceNomination.status == "open")
        .limit(1)
    )
    if nominated is not None:
        return True
    member = session.scalar(
        select(TaskForceMember.id)
        .where(TaskForceMember.official_id == official_id, TaskForceMember.left_on.is_(None))
        .limit(1)
    )
    return member is not None


def events(
    session: Session, tf_id: uuid.UUID, *, after: int | None, limit: int
) -> list[TaskForceEvent]:
    stmt = (
        select(TaskForceEvent)
        .where(TaskForceEvent.task_force_id == tf_id)
        .order_by(TaskForceEvent.id)
    )
    if after is not None:
        stmt = stmt.where(TaskForceEvent.id > after)
    return list(session.scalars(stmt.limit(limit + 1)))


# Cause keys that cross the border (R9, R24): kinds, verdicts and outcomes, and ids of what
# both countries see (officials on the roster, listings, overrides, published policies).
# Anything else — an evaluation's or a separation's id or reason, an import job — is source
# detail of the country it belongs to.
CROSS_BORDER_CAUSE_KEYS = frozenset(
    {
        "kind",
        "outcome",
        "verdict",
        "role",
        "decision",
        "official_id",
        "official_ids",
        "blocking_members",
        "listing_id",
        "override_id",
        "policy_id",
        "version",
    }
)


def event_causes(
    session: Session, rows: Sequence[TaskForceEvent], *, viewer_country: str
) -> list[dict[str, Any]]:
    """#18 F2a (R9, R24): each event's cause as the viewer may see it. A cause about an
    official of the viewer's country (or, with no official, written by a user of the
    viewer's country) is shown whole; any other is cut to verdict level
    (``CROSS_BORDER_CAUSE_KEYS``), so the other country's evaluation ids never cross."""
    official_ids: set[uuid.UUID] = set()
    actor_ids: set[uuid.UUID] = set()
    for e in rows:
        subject = _cause_subject(e)
        if subject is not None:
            official_ids.add(subject)
        elif e.actor_id is not None:
            actor_ids.add(e.actor_id)
    countries: dict[uuid.UUID, str] = {}
    if official_ids:
        rows_o = session.execute(
            select(Official.id, Official.country).where(Official.id.in_(official_ids))
        )
        countries.update({r[0]: r[1] for r in rows_o})
    if actor_ids:
        rows_u = session.execute(select(User.id, User.country).where(User.id.in_(actor_ids)))
        countries.update({r[0]: r[1] for r in rows_u})
    out: list[dict[str, Any]] = []
    for e in rows:
        subject = _cause_subject(e)
        key = subject if subject is not None else e.actor_id
        own = key is None or countries.get(key) == viewer_country
        cause = dict(e.cause or {})
        out.append(
            cause if own else {k: v for k, v in cause.items() if k in CROSS_BORDER_CAUSE_KEYS}
        )
    return out


def _cause_subject(e: TaskForceEvent) -> uuid.UUID | None:
    raw = (e.cause or {}).get("official_id")
    if raw is not None:
        try:
            return uuid.UUID(str(raw))
        except ValueError:
            return None
    return e.official_id


def sweep_task_forces(factory: sessionmaker[Session], *, now: dt.datetime) -> int:
    """Time-driven transitions (a validity, a vetting age limit or an override running out,
    R19): refresh every live task force, each in its own short transaction. Safe to run
    repeatedly and concurrently: the row lock and the recorded status make a transition land
    once. Returns how many transitions were recorded."""
    with factory() as session:
        ids = list(session.scalars(select(TaskForce.id).where(TaskForce.dissolved_at.is_(None))))
    recorded = 0
    for tf_id in ids:
        with unit_of_work(factory) as session:
            tf = session.get(TaskForce, tf_id, with_for_update=True)
            if tf is None:
                continue
            before = tf.recorded_status
            after = refresh_status(session, tf=tf, cause={"kind": "sweep"}, actor=None, now=now)
            recorded += int(after != before)
    return recorded
