"""Schedules of officials and due lists (R15)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.api.pagination import DATE_ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth.principal import Principal, Role, require_roles
from app.auth.scoping import ScopedOfficial
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.vocabulary import ObligationKind, RankTier, ScheduleState
from app.schemas.agency import Sector
from app.schemas.common import Page, problem_responses
from app.schemas.schedule import DueItem, ObligationRead, SchedulePolicy, ScheduleRead
from app.services.registry import officials as official_service
from app.services.revetting import schedules as schedule_service
from app.services.revetting.schedules import Obligation, Schedule

router = APIRouter(prefix="", tags=["schedules"])

ScheduleReader = Annotated[
    Principal,
    Depends(require_roles(Role.ADMIN, Role.VETTING_OFFICER, Role.PERSONNEL_OFFICER)),
]

EVALUATION_KINDS = {
    ObligationKind.VALIDITY_END,
    ObligationKind.VETTING_FAILED,
    ObligationKind.VETTING_REFUSED,
    ObligationKind.INCONCLUSIVE_RETEST,
}


def obligation_view(o: Obligation) -> ObligationRead:
    return ObligationRead(
        kind=o.kind,
        due_on=o.due_on,
        overdue=o.overdue,
        basis_on=o.basis_on,
        evaluation_id=o.ref_id if o.kind in EVALUATION_KINDS else None,
        appointment_id=o.ref_id if o.kind == ObligationKind.PROMOTION else None,
        selection_id=o.ref_id if o.kind == ObligationKind.RANDOM_SELECTION else None,
        draw_id=o.draw_id,
    )


def schedule_view(s: Schedule) -> ScheduleRead:
    policy = (
        SchedulePolicy(
            id=s.policy.id,
            version=s.policy.version,
            interval_months=s.policy.interval_months,
            retest_days=s.policy.retest_days,
            promotion_requires_vetting=s.policy.promotion_requires_vetting,
            due_soon_days=s.policy.due_soon_days,
            random_due_days=s.policy.random_due_days,
        )
        if s.policy
        else None
    )
    return ScheduleRead(
        official_id=s.official_id,
        as_of=s.as_of,
        state=s.state,
        next_due=s.next_due,
        reasons=list(s.reasons),
        agency_id=s.agency_id,
        sector=s.sector,
        rank_tier=s.rank_tier,
        policy=policy,
        obligations=[obligation_view(o) for o in s.obligations],
    )


@router.get(
    "/officials/{official_id}/schedule",
    response_model=ScheduleRead,
    responses=problem_responses(401, 403, 404),
)
def read_schedule(
    actor: ScheduleReader, official: ScopedOfficial, session: SessionDep, clock: ClockDep
) -> ScheduleRead:
    """State, next due date and every obligation behind it (R15); own country only (R24).
    An official without an active appointment has state ``inactive``."""
    schedule = schedule_service.schedule_of(
        session, official_id=official.id, country=official.country, today=clock.today()
    )
    # R22, #19: a schedule is dossier data (dates of results and promotions).
    official_service.audit_read(
        session, actor=actor, official_id=official.id, view="full", part="schedule", now=clock.now()
    )
    return schedule_view(schedule)


@router.get(
    "/schedules/due",
    response_model=Page[DueItem],
    responses={
        **problem_responses(401, 403, 422),
        200: {
            "description": "A page of the due list, or with `Accept: text/csv` all of it",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def due_list(
    request: Request,
    actor: ScheduleReader,
    session: SessionDep,
    clock: ClockDep,
    agency_id: uuid.UUID | None = None,
    sector: Sector | None = None,
    rank_tier: RankTier | None = None,
    state: Annotated[
        list[ScheduleState] | None,
        Query(description="Repeatable; default due_soon, overdue and never_vetted"),
    ] = None,
    due_before: Annotated[
        dt.date | None, Query(description="Next due date strictly before this day")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DueItem] | StreamingResponse:
    """Officials due or overdue for re-vetting in your country (R15), earliest first.
    ``Accept: text/csv`` exports the whole list (UTF-8 with BOM, formula-safe cells)."""
    filters = schedule_service.due_filters_for(
        actor,
        agency_id=agency_id,
        sector=sector.value if sector else None,
        rank_tier=rank_tier.value if rank_tier else None,
        states=state,
        due_before=due_before,
    )
    today = clock.today()
    if "text/csv" in request.headers.get("accept", ""):
        return StreamingResponse(
            schedule_service.due_list_csv(
                request.app.state.sessionmaker, filters=filters, today=today
            ),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="due-{today.isoformat()}.csv"'},
        )
    after = decode_cursor(cursor, DATE_ID_CURSOR)
    rows = schedule_service.due_list(
        session, filters=filters, today=today, after=after, limit=limit
    )
    page = paginate(rows, limit, lambda r: (r.next_due, r.official_id))
    items = [
        DueItem(
            official_id=r.official_id,
            given_names=r.given_names,
            first_surname=r.first_surname,
            second_surname=r.second_surname,
            agency_id=r.agency_id,
            agency_acronym=r.agency_acronym,
            sector=r.sector,
            rank_tier=r.rank_tier,
            state=r.state,
            next_due=r.next_due,
            reasons=list(r.reasons),
        )
        for r in page.rows
    ]
    return Page[DueItem](items=items, next_cursor=page.next_cursor)
