from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.idempotency import idempotent
from app.auth.principal import Principal, Role, SettingsDep, require_roles
from app.auth.scoping import LockedOverride, ScopedOverride
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.task_force import ApprovalRead, OverrideCreate, OverrideRead, OverrideRevoke
from app.services.task_forces import overrides as override_service

router = APIRouter(prefix="/overrides", tags=["overrides"])

Requester = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.TASK_FORCE_LEAD))]
Approver = Annotated[Principal, Depends(require_roles(Role.COMMISSION_MEMBER))]
Reader = Annotated[
    Principal,
    Depends(require_roles(Role.ADMIN, Role.TASK_FORCE_LEAD, Role.COMMISSION_MEMBER)),
]
Revoker = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.COMMISSION_MEMBER))]


def _read(view: override_service.OverrideView) -> OverrideRead:
    o = view.override
    return OverrideRead(
        id=o.id,
        task_force_id=o.task_force_id,
        official_id=o.official_id,
        justification=view.justification,
        duration_days=o.duration_days,
        requested_by=o.requested_by,
        requested_at=o.requested_at,
        status=view.status,
        approved_departments=view.approved_departments,
        missing_departments=view.missing_departments,
        activated_at=o.activated_at,
        expires_at=o.expires_at,
        revoked_at=o.revoked_at,
        approvals=[ApprovalRead.model_validate(a) for a in view.approvals],
    )


@router.post(
    "",
    status_code=201,
    response_model=OverrideRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def request_override(
    body: OverrideCreate,
    actor: Requester,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> OverrideRead:
    """R20: requested by the task force's lead or an admin; pending until every required
    department's commission member approves."""
    now = clock.now()
    override = override_service.request_override(
        session,
        actor=actor,
        task_force_id=body.task_force_id,
        official_id=body.official_id,
        justification=body.justification,
        duration_days=body.duration_days,
        now=now,
    )
    required = tuple(settings.override_departments)
    result = _read(override_service.view(session, override, now, required, viewer=actor))
    return result


@router.get("", response_model=Page[OverrideRead], responses=problem_responses(401, 403))
def list_overrides(
    actor: Reader,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    task_force_id: uuid.UUID | None = None,
) -> Page[OverrideRead]:
    now, required = clock.now(), tuple(settings.override_departments)
    rows = override_service.list_overrides(session, actor=actor, task_force_id=task_force_id)
    return Page[OverrideRead](
        items=[_read(override_service.view(session, o, now, required, viewer=actor)) for o in rows]
    )


@router.get(
    "/{override_id}", response_model=OverrideRead, responses=problem_responses(401, 403, 404)
)
def read_override(
    actor: Reader,
    override: ScopedOverride,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> OverrideRead:
    return _read(
        override_service.view(
            session,
            override,
            clock.now(),
            tuple(settings.override_departments),
            viewer=actor,
        )
    )


@router.post(
    "/{override_id}/approvals",
    status_code=201,
    response_model=OverrideRead,
    responses=problem_responses(401, 403, 404, 409),
)
@idempotent
def approve_override(
    actor: Approver,
    override: LockedOverride,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> OverrideRead:
    """R20: one approval per department counts; the requester cannot approve."""
    now, required = clock.now(), tuple(settings.override_departments)
    override = override_service.approve(
        session, actor=actor, override_id=override.id, required=required, now=now
    )
    result = _read(override_service.view(session, override, now, required, viewer=actor))
    return result


@router.post(
    "/{override_id}/revoke",
    response_model=OverrideRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def revoke_override(
    body: OverrideRevoke,
    actor: Revoker,
    override: ScopedOverride,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> OverrideRead:
    now = clock.now()
    override = override_service.revoke(
        session, actor=actor, override_id=override.id, reason=body.reason, now=now
    )
    return _read(
        override_service.view(
            session, override, now, tuple(settings.override_departments), viewer=actor
        )
    )
