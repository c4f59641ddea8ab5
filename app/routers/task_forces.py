from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.etag import check_if_match, set_etag
from app.api.idempotency import idempotent
from app.api.pagination import ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth import disclosure
from app.auth.principal import Principal, Role, require_roles
from app.auth.scoping import (
    LockedTaskForce,
    MemberOfficialId,
    NominatingTaskForce,
    NominationId,
    ScopedTaskForce,
    WithdrawableTaskForce,
)
from app.clock import ClockDep
from app.db import SessionDep
from app.models import Official, TaskForce, TaskForceMember
from app.schemas.common import Page, problem_responses
from app.schemas.task_force import (
    ComplianceRead,
    ComplianceSummary,
    MemberCompliance,
    MemberCreate,
    MemberRead,
    NominationCreate,
    NominationRead,
    TaskForceCreate,
    TaskForceEventRead,
    TaskForceRead,
    TaskForceUpdate,
)
from app.services.task_forces import task_forces as tf_service

router = APIRouter(prefix="/task-forces", tags=["task-forces"])

Creator = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Manager = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.TASK_FORCE_LEAD))]
Reader = Annotated[
    Principal,
    Depends(require_roles(Role.ADMIN, Role.TASK_FORCE_LEAD, Role.COMMISSION_MEMBER)),
]


def _read(session: SessionDep, tf: TaskForce, status: str) -> TaskForceRead:
    return TaskForceRead(
        id=tf.id,
        name=tf.name,
        focus=tf.focus,
        lead_agency_id=tf.lead_agency_id,
        lead_user_ids=tf_service.lead_ids(session, tf.id),
        max_vetting_age_months=tf.max_vetting_age_months,
        require_reciprocal=tf.require_reciprocal,
        suspend_on=tf.suspend_on,
        status=status,
        funding_status="active" if status == "active" else "suspended",
        created_at=tf.created_at,
    )


@router.post(
    "", status_code=201, response_model=TaskForceRead, responses=problem_responses(401, 403, 422)
)
@idempotent
def create_task_force(
    body: TaskForceCreate,
    response: Response,
    actor: Creator,
    session: SessionDep,
    clock: ClockDep,
) -> TaskForceRead:
    tf = tf_service.create_task_force(session, actor=actor, data=body.model_dump(), now=clock.now())
    result = _read(session, tf, "active")
    set_etag(response, tf.version)
    return result


@router.get("", response_model=Page[TaskForceRead], responses=problem_responses(401, 403))
def list_task_forces(actor: Reader, session: SessionDep, clock: ClockDep) -> Page[TaskForceRead]:
    """The task forces the caller may see (R25), each with its status derived now (R19)."""
    now = clock.now()
    return Page[TaskForceRead](
        items=[
            _read(session, tf, tf_service.compliance(session, tf, now=now).status)
            for tf in tf_service.list_task_forces(session, actor=actor)
        ]
    )


@router.get(
    "/{task_force_id}", response_model=TaskForceRead, responses=problem_responses(401, 403, 404)
)
def read_task_force(
    actor: Reader, tf: ScopedTaskForce, session: SessionDep, clock: ClockDep, response: Response
) -> TaskForceRead:
    set_etag(response, tf.version)
    return _read(session, tf, tf_service.compliance(session, tf, now=clock.now()).status)


@router.patch(
    "/{task_force_id}",
    response_model=TaskForceRead,
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
def update_task_force(
    body: TaskForceUpdate,
    request: Request,
    response: Response,
    actor: Manager,
    tf: LockedTaskForce,
    session: SessionDep,
    clock: ClockDep,
) -> TaskForceRead:
    check_if_match(request, tf.version)
    now = clock.now()
    tf_service.update_task_force(
        session, actor=actor, tf=tf, changes=body.model_dump(exclude_unset=True), now=now
    )
    set_etag(response, tf.version)
    return _read(session, tf, tf_service.compliance(session, tf, now=now).status)


@router.post(
    "/{task_force_id}/nominations",
    status_code=201,
    response_model=NominationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def nominate(
    body: NominationCreate,
    actor: Manager,
    tf: NominatingTaskForce,
    session: SessionDep,
    clock: ClockDep,
) -> NominationRead:
    """R18: a lead nominates first; a nominee may be vetted (reciprocally too) while nominated.
    Each country nominates only its own officials: the task force's managers theirs, the other
    country's admin its own (#18 F3, R24)."""
    nomination = tf_service.nominate(
        session,
        actor=actor,
        tf=tf,
        official_id=body.official_id,
        role=body.role.value,
        now=clock.now(),
    )
    result = NominationRead.model_validate(nomination)
    return result


@router.get(
    "/{task_force_id}/nominations",
    response_model=Page[NominationRead],
    responses=problem_responses(401, 403, 404),
)
def list_nominations(
    actor: Reader, tf: ScopedTaskForce, session: SessionDep
) -> Page[NominationRead]:
    return Page[NominationRead](
        items=[NominationRead.model_validate(n) for n in tf_service.nominations(session, tf.id)]
    )


@router.delete(
    "/{task_force_id}/nominations/{nomination_id}",
    status_code=204,
    responses=problem_responses(401, 403, 404, 409),
)
def withdraw_nomination(
    actor: Manager,
    tf: WithdrawableTaskForce,
    nomination_id: NominationId,
    session: SessionDep,
    clock: ClockDep,
) -> None:
    tf_service.withdraw_nomination(
        session, actor=actor, tf=tf, nomination_id=nomination_id, now=clock.now()
    )


def _member_read(member: TaskForceMember, official: Official, viewer: Principal) -> MemberRead:
    """Members of the other country are shown at verdict level (names and role, R24)."""
    return MemberRead(
        id=member.id,
        official_id=official.id,
        country=official.country,
        given_names=official.given_names,
        first_surname=official.first_surname,
        second_surname=official.second_surname,
        role=member.role,
        joined_on=member.joined_on,
        left_on=member.left_on,
        view=disclosure.view_name(viewer, official.country),
    )


@router.post(
    "/{task_force_id}/members",
    status_code=201,
    response_model=MemberRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def add_member(
    body: MemberCreate,
    actor: Manager,
    tf: LockedTaskForce,
    session: SessionDep,
    clock: ClockDep,
) -> MemberRead:
    """R18: only an eligible nominee joins (409 with reason codes otherwise, unless an active
    override covers them); rank and seniority never exempt anyone (R17)."""
    member = tf_service.add_member(
        session, actor=actor, tf=tf, official_id=body.official_id, now=clock.now()
    )
    official = session.get(Official, member.official_id)
    assert official is not None  # a member is an official (foreign key)
    result = _member_read(member, official, actor)
    return result


@router.get(
    "/{task_force_id}/members",
    response_model=Page[MemberRead],
    responses=problem_responses(401, 403, 404),
)
def list_members(
    actor: Reader, tf: ScopedTaskForce, session: SessionDep, include_past: bool = False
) -> Page[MemberRead]:
    """Roster and history of joins and leaves; members of the other country are shown at
    verdict level (names and roles; their detail stays with their country, R24)."""
    return Page[MemberRead](
        items=[
            _member_read(m, o, actor)
            for m, o in tf_service.roster(session, tf.id, include_past=include_past)
        ]
    )


@router.delete(
    "/{task_force_id}/members/{official_id}",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
def remove_member(
    actor: Manager,
    tf: LockedTaskForce,
    official_id: MemberOfficialId,
    session: SessionDep,
    clock: ClockDep,
) -> None:
    tf_service.remove_member(session, actor=actor, tf=tf, official_id=official_id, now=clock.now())


@router.get(
    "/{task_force_id}/compliance",
    response_model=ComplianceRead,
    responses=problem_responses(401, 403, 404),
)
def compliance(
    actor: Reader, tf: ScopedTaskForce, session: SessionDep, clock: ClockDep
) -> ComplianceRead:
    """Every member's verdict and reasons, the derived status and who blocks it (R17, R19).
    The number of SQL statements does not grow with the roster."""
    now = clock.now()
    result = tf_service.compliance(session, tf, now=now)
    members = [
        MemberCompliance(
            official_id=m.official_id,
            country=m.country,
            role=m.role,
            senior=senior,
            blocking=blocks,
            verdict=v.verdict,
            reasons=v.reasons,
            valid_until=v.valid_until,
            override_id=v.override_id,
        )
        for m, v, senior, blocks in result.members
    ]
    return ComplianceRead(
        task_force_id=tf.id,
        status=result.status,
        funding_status="active" if result.status == "active" else "suspended",
        as_of=now.date(),
        summary=ComplianceSummary(
            members=len(members),
            eligible=sum(1 for x in members if x.verdict == "eligible"),
            ineligible=sum(1 for x in members if x.verdict == "ineligible"),
            overridden=sum(1 for x in members if x.verdict == "overridden"),
        ),
        blocking_members=result.blocking_members,
        members=members,
    )


@router.get(
    "/{task_force_id}/events",
    response_model=Page[TaskForceEventRead],
    responses=problem_responses(401, 403, 404, 422),
)
def list_events(
    actor: Reader,
    tf: ScopedTaskForce,
    session: SessionDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[TaskForceEventRead]:
    """Nominations, joins, leaves, suspensions and reinstatements with their causes (R19);
    a cause about the other country's official is shown at verdict level (#18 F2a, R24)."""
    after = decode_cursor(cursor, ID_CURSOR)
    rows = tf_service.events(session, tf.id, after=int(after[0]) if after else None, limit=limit)
    page = paginate(rows, limit, lambda e: (e.id,))
    rows = page.rows
    causes = tf_service.event_causes(session, rows, viewer_country=actor.country)
    return Page[TaskForceEventRead](
        items=[
            TaskForceEventRead(
                id=e.id,
                task_force_id=e.task_force_id,
                kind=e.kind,
                from_status=e.from_status,
                to_status=e.to_status,
                official_id=e.official_id,
                cause=cause,
                occurred_at=e.occurred_at,
            )
            for e, cause in zip(rows, causes, strict=True)
        ],
        next_cursor=page.next_cursor,
    )
