from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.idempotency import idempotent
from app.api.pagination import TEXT_ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.api.quota import OfficialReadsQuota, SearchQuota, record_outcome
from app.auth import disclosure
from app.auth.principal import Principal, Role, SettingsDep, require_roles
from app.auth.scoping import (
    AppointmentId,
    EvaluableOfficial,
    LockedOfficial,
    ScopedOfficial,
    VisibleOfficial,
)
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.vocabulary import RankTier
from app.schemas.common import Page, problem_responses
from app.schemas.evaluation import EvaluationCreate, EvaluationRead
from app.schemas.official import (
    AppointmentCreate,
    AppointmentEnd,
    AppointmentRead,
    OfficialCreate,
    OfficialPublic,
    OfficialRead,
    OfficialRegistered,
    OfficialSummary,
    RegistrationScreeningRead,
    SeparationCreate,
    SeparationRead,
)
from app.services.registry import appointments as appointment_service
from app.services.registry import officials as official_service
from app.services.revetting import evaluations as evaluation_service

router = APIRouter(prefix="/officials", tags=["officials"])

Registrar = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER))]
CountryReader = Annotated[
    Principal,
    Depends(require_roles(Role.ADMIN, Role.VETTING_OFFICER, Role.PERSONNEL_OFFICER)),
]
OfficialReader = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.ADMIN, Role.VETTING_OFFICER, Role.PERSONNEL_OFFICER, Role.TASK_FORCE_LEAD
        )
    ),
]
Vetter = Annotated[Principal, Depends(require_roles(Role.VETTING_OFFICER))]
VettingReader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.VETTING_OFFICER))]


@router.post(
    "",
    status_code=201,
    response_model=OfficialRegistered,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def register_official(
    body: OfficialCreate,
    actor: Registrar,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> OfficialRegistered:
    """Register an official with identifiers and first appointment (R1, R2, R25), screened
    first like any appointment (R3): 409 ``OFFICIAL_LISTED`` or ``SCREENING_REVIEW_REQUIRED``
    for a listed person; the answer's ``screening`` says how they were screened."""
    registration = official_service.register_official(
        session,
        actor=actor,
        settings=settings,
        given_names=body.given_names,
        first_surname=body.first_surname,
        second_surname=body.second_surname,
        date_of_birth=body.date_of_birth,
        sex=body.sex,
        identifiers=[
            official_service.IdentifierInput(i.scheme.value, i.value) for i in body.identifiers
        ],
        agency_id=body.appointment.agency_id,
        position=body.appointment.position,
        rank_tier=body.appointment.rank_tier.value,
        started_on=body.appointment.started_on,
        now=clock.now(),
        force_justification=body.force_justification,
    )
    full = disclosure.official_full(session, settings, registration.official)
    s = registration.screening
    result = OfficialRegistered(
        **full.model_dump(),
        screening=RegistrationScreeningRead(
            verdict=s.verdict,
            screened_by=s.screened_by,
            identifiers_checked=s.identifiers_checked,
            screening_id=s.screening_id,
            forced=s.forced,
            ruled_out=s.ruled_out,
        ),
    )
    return result


@router.get(
    "",
    response_model=Page[OfficialSummary],
    responses=problem_responses(401, 403, 422, 429),
    dependencies=[SearchQuota],
)
def search_officials(
    actor: CountryReader,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    name: str | None = Query(default=None, min_length=1, max_length=200),
    agency_id: uuid.UUID | None = None,
    sector: str | None = Query(default=None, max_length=30),
    rank_tier: RankTier | None = None,
    status: str | None = Query(default=None, pattern="^(active|inactive|listed)$"),
) -> Page[OfficialSummary]:
    """Search the caller's own country by name prefix (surnames first), agency, sector, tier
    and status (R24: the other country's people are never browsed). Audited by the filters
    used and the number found, the name only as a keyed digest (R22, #19)."""
    after = decode_cursor(cursor, TEXT_ID_CURSOR)
    rows = official_service.search_officials(
        session,
        actor=actor,
        name=name,
        agency_id=agency_id,
        sector=sector,
        rank_tier=rank_tier.value if rank_tier else None,
        status=status,
        after=after,
        limit=limit,
    )
    page = paginate(rows, limit, lambda r: (r.official.search_name, r.official.id))
    rows = page.rows
    items = [
        OfficialSummary(
            id=r.official.id,
            country=r.official.country,
            given_names=r.official.given_names,
            first_surname=r.official.first_surname,
            second_surname=r.official.second_surname,
            date_of_birth=r.official.date_of_birth,
            status="active" if r.agency_id else "inactive",
            agency_id=r.agency_id,
            rank_tier=r.rank_tier,
            listed=r.listed,
        )
        for r in rows
    ]
    now = clock.now()
    official_service.audit_search(
        session,
        actor=actor,
        settings=settings,
        name=name,
        filters={
            "agency_id": agency_id,
            "sector": sector,
            "rank_tier": rank_tier.value if rank_tier else None,
            "status": status,
            "cursor": bool(cursor),
        },
        found=len(rows),
        now=now,
    )
    # Last: the caller's streak row stays locked from here to the commit.
    record_outcome(session, principal=actor, action="search", hit=bool(rows), now=now)
    return Page[OfficialSummary](
        items=items,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{official_id}",
    response_model=OfficialRead | OfficialPublic,
    responses=problem_responses(401, 403, 404, 429),
    dependencies=[OfficialReadsQuota],
)
def read_official(
    actor: OfficialReader,
    official: VisibleOfficial,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> OfficialRead | OfficialPublic:
    """Full detail for the own country; the verdict-level view across the border when the
    person is listed; 404 otherwise (R24). Metered per user and agency, and audited with the
    view given (R22, #19)."""
    view = disclosure.official_view(session, settings, official, actor)
    official_service.audit_read(
        session,
        actor=actor,
        official_id=official.id,
        view=disclosure.view_name(actor, official.country),
        part="record",
        now=clock.now(),
    )
    return view


@router.post(
    "/{official_id}/appointments",
    status_code=201,
    response_model=AppointmentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def create_appointment(
    body: AppointmentCreate,
    actor: Registrar,
    official: LockedOfficial,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> AppointmentRead:
    """Appoint or promote; screened first (R3): a listed official gets 409 with the basis."""
    appointment = appointment_service.appoint(
        session,
        actor=actor,
        official_id=official.id,
        agency_id=body.agency_id,
        position=body.position,
        rank_tier=body.rank_tier.value,
        started_on=body.started_on,
        replaces_id=body.replaces_appointment_id,
        force_justification=body.force_justification,
        now=clock.now(),
        settings=settings,
    )
    result = AppointmentRead.model_validate(appointment)
    return result


@router.get(
    "/{official_id}/appointments",
    response_model=Page[AppointmentRead],
    responses=problem_responses(401, 403, 404),
)
def list_appointments(
    actor: CountryReader, official: ScopedOfficial, session: SessionDep, clock: ClockDep
) -> Page[AppointmentRead]:
    items = appointment_service.list_appointments(session, official.id)
    official_service.audit_read(
        session,
        actor=actor,
        official_id=official.id,
        view="full",
        part="appointments",
        now=clock.now(),
    )
    return Page[AppointmentRead](items=[AppointmentRead.model_validate(a) for a in items])


@router.post(
    "/{official_id}/appointments/{appointment_id}/end",
    response_model=AppointmentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def end_appointment(
    body: AppointmentEnd,
    actor: Registrar,
    official: LockedOfficial,
    appointment_id: AppointmentId,
    session: SessionDep,
    clock: ClockDep,
) -> AppointmentRead:
    appointment = appointment_service.end_appointment(
        session,
        actor=actor,
        official_id=official.id,
        appointment_id=appointment_id,
        ended_on=body.ended_on,
        now=clock.now(),
    )
    return AppointmentRead.model_validate(appointment)


@router.post(
    "/{official_id}/separations",
    status_code=201,
    response_model=SeparationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def record_separation(
    body: SeparationCreate,
    actor: Registrar,
    official: LockedOfficial,
    session: SessionDep,
    clock: ClockDep,
) -> SeparationRead:
    """End an appointment; a for-cause reason lists the official (R4)."""
    separation = appointment_service.record_separation(
        session,
        actor=actor,
        official_id=official.id,
        appointment_id=body.appointment_id,
        reason=body.reason.value,
        effective_on=body.effective_on,
        summary=body.summary,
        now=clock.now(),
    )
    result = SeparationRead.model_validate(separation)
    return result


@router.get(
    "/{official_id}/separations",
    response_model=Page[SeparationRead],
    responses=problem_responses(401, 403, 404),
)
def list_separations(
    actor: CountryReader, official: ScopedOfficial, session: SessionDep, clock: ClockDep
) -> Page[SeparationRead]:
    items = appointment_service.list_separations(session, official.id)
    official_service.audit_read(
        session,
        actor=actor,
        official_id=official.id,
        view="full",
        part="separations",
        now=clock.now(),
    )
    return Page[SeparationRead](items=[SeparationRead.model_validate(s) for s in items])


@router.post(
    "/{official_id}/evaluations",
    status_code=201,
    response_model=EvaluationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def record_evaluation(
    body: EvaluationCreate,
    actor: Vetter,
    official: EvaluableOfficial,
    session: SessionDep,
    clock: ClockDep,
) -> EvaluationRead:
    """Record a vetting result (R5-R8, R13); a fail or refusal lists the official (R7)."""
    types = [c.type for c in body.components]
    if len(set(types)) != len(types):
        from app.errors import FieldError

        raise FieldError("components", "each component type may appear once")
    recorded = evaluation_service.record_evaluation(
        session,
        actor=actor,
        official=official,
        conducted_by=body.conducted_by,
        trigger=body.trigger.value,
        conducted_on=body.conducted_on,
        components={c.type: c.result for c in body.components},
        outcome=body.outcome.value if body.outcome else None,
        notes=body.notes,
        corrects_id=body.corrects_id,
        now=clock.now(),
    )
    result = disclosure.evaluation_view(
        recorded.evaluation, None, recorded.listing.id if recorded.listing else None
    )
    return result


@router.get(
    "/{official_id}/evaluations",
    response_model=Page[EvaluationRead],
    responses=problem_responses(401, 403, 404),
)
def list_evaluations(
    actor: VettingReader, official: ScopedOfficial, session: SessionDep, clock: ClockDep
) -> Page[EvaluationRead]:
    """Evaluation detail is for the official's own country only (R24); audited (R22)."""
    rows = evaluation_service.list_evaluations(session, official.id)
    listings = evaluation_service.listing_of(session, [e.id for e, _ in rows])
    official_service.audit_read(
        session,
        actor=actor,
        official_id=official.id,
        view="full",
        part="evaluations",
        now=clock.now(),
    )
    return Page[EvaluationRead](
        items=[disclosure.evaluation_view(e, c, listings.get(e.id)) for e, c in rows]
    )
