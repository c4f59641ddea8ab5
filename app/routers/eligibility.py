from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.principal import Principal, Role, SettingsDep, require_roles
from app.auth.scoping import VisibleOfficial
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import problem_responses
from app.schemas.eligibility import EligibilityRead
from app.services.task_forces import eligibility as eligibility_service

router = APIRouter(prefix="/officials", tags=["eligibility"])

EligibilityReader = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.ADMIN,
            Role.PERSONNEL_OFFICER,
            Role.VETTING_OFFICER,
            Role.TASK_FORCE_LEAD,
            Role.COMMISSION_MEMBER,
        )
    ),
]


@router.get(
    "/{official_id}/eligibility",
    response_model=EligibilityRead,
    responses=problem_responses(401, 403, 404, 422),
)
def read_eligibility(
    actor: EligibilityReader,
    official: VisibleOfficial,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    attest: Annotated[
        bool, Query(description="Add a signed attestation (compact JWS, EdDSA; R21)")
    ] = False,
    task_force_id: Annotated[
        uuid.UUID | None,
        Query(
            description="Judge for this task force: its vetting-age limit, reciprocity, overrides"
        ),
    ] = None,
) -> EligibilityRead:
    """Verdict, reason codes and validity of an official's eligibility (R17); both countries
    get this verdict-level answer for officials they may see (R24). Audited (R12)."""
    result = eligibility_service.answer(
        session,
        actor=actor,
        settings=settings,
        official_id=official.id,
        attest=attest,
        now=clock.now(),
        task_force_id=task_force_id,
    )
    e = result.eligibility
    return EligibilityRead(
        official_id=e.official_id,
        verdict=e.verdict,
        reasons=[str(r) for r in e.reasons],
        valid_until=e.valid_until,
        assessed_at=result.assessed_at,
        view="full" if result.full_view else "public",
        attestation=result.attestation.token if result.attestation else None,
        attestation_expires_at=result.attestation.expires_at if result.attestation else None,
        task_force_id=result.task_force_id,
        override_id=result.override_id,
    )
