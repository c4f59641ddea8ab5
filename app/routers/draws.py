"""Random re-vetting draws (R16): created and played by the admins of both countries,
visible to both countries' admins and auditors."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.idempotency import idempotent
from app.api.pagination import TIME_ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth import disclosure
from app.auth.principal import AdminOnly, AuditReader
from app.auth.scoping import LockedDraw, VisibleDraw
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.draw import (
    CommitmentCreate,
    DrawCreate,
    DrawRead,
    DrawVerification,
    RevealCreate,
    SelectionRead,
)
from app.services.revetting import draws as draw_service

router = APIRouter(prefix="/draws", tags=["draws"])


@router.post(
    "",
    status_code=201,
    response_model=DrawRead,
    responses=problem_responses(401, 403, 404, 422),
)
@idempotent
def create_draw(
    body: DrawCreate, admin: AdminOnly, session: SessionDep, clock: ClockDep
) -> DrawRead:
    """Fix a population (scope) and sample size and publish the population hash (R16)."""
    now = clock.now()
    scope = body.scope
    draw = draw_service.create_draw(
        session,
        actor=admin,
        scope=draw_service.DrawScope(
            agency_id=scope.agency_id,
            country=scope.country.value if scope.country else None,
            sector=scope.sector.value if scope.sector else None,
            rank_tier=scope.rank_tier.value if scope.rank_tier else None,
            task_force_id=scope.task_force_id,
        ),
        sample_size=body.sample_size,
        commit_deadline=body.commit_deadline,
        reveal_deadline=body.reveal_deadline,
        now=now,
    )
    result = disclosure.draw_views(session, [draw], now, admin)[0]
    return result


@router.get("", response_model=Page[DrawRead], responses=problem_responses(401, 403, 422))
def list_draws(
    actor: AuditReader,
    session: SessionDep,
    clock: ClockDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DrawRead]:
    """Every draw, newest first (draws are binational: both countries see them)."""
    after = decode_cursor(cursor, TIME_ID_CURSOR)
    draws = draw_service.list_draws(session, after=after, limit=limit)
    page = paginate(draws, limit, lambda d: (d.created_at, d.id))
    return Page[DrawRead](
        items=disclosure.draw_views(session, page.rows, clock.now(), actor),
        next_cursor=page.next_cursor,
    )


@router.get("/{draw_id}", response_model=DrawRead, responses=problem_responses(401, 403, 404))
def read_draw(
    actor: AuditReader, draw: VisibleDraw, session: SessionDep, clock: ClockDep
) -> DrawRead:
    return disclosure.draw_views(session, [draw], clock.now(), actor)[0]


@router.post(
    "/{draw_id}/commitments",
    status_code=201,
    response_model=DrawRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def commit(
    body: CommitmentCreate,
    admin: AdminOnly,
    draw: LockedDraw,
    session: SessionDep,
    clock: ClockDep,
) -> DrawRead:
    """Your country's commitment ``sha256(secret)``, once, before the commit deadline (R16)."""
    now = clock.now()
    draw_service.submit_commitment(
        session, actor=admin, draw=draw, commitment=body.commitment, now=now
    )
    result = disclosure.draw_views(session, [draw], now, admin)[0]
    return result


@router.post(
    "/{draw_id}/reveals",
    status_code=201,
    response_model=DrawRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def reveal(
    body: RevealCreate,
    admin: AdminOnly,
    draw: LockedDraw,
    session: SessionDep,
    clock: ClockDep,
) -> DrawRead:
    """Your country's secret, after both commitments and before the reveal deadline; it must
    match the commitment (422 REVEAL_MISMATCH). The second reveal completes the draw (R16)."""
    now = clock.now()
    draw_service.submit_reveal(session, actor=admin, draw=draw, secret=body.secret, now=now)
    result = disclosure.draw_views(session, [draw], now, admin)[0]
    return result


@router.get(
    "/{draw_id}/verify",
    response_model=DrawVerification,
    responses=problem_responses(401, 403, 404),
)
def verify(
    actor: AuditReader, draw: VisibleDraw, session: SessionDep, clock: ClockDep
) -> DrawVerification:
    """Every published value, so anyone can recompute the selection (docs/draws.md); the
    official ids are the caller's own country's only (#18 F3a, R24)."""
    values = draw_service.published(
        session, draw=draw, now=clock.now(), viewer_country=actor.country
    )
    return DrawVerification(
        draw_id=draw.id,
        status=values.status,
        failure_reason=values.failure_reason,
        scope=draw.scope,
        population_size=draw.population_size,
        population_hash=draw.population_hash,
        population=[str(i) for i in values.population],
        population_withheld=values.population_withheld,
        sample_size=draw.sample_size,
        commitments=values.commitments,
        reveals=values.reveals,
        seed=draw.seed,
        selection=[str(s.official_id) for s in values.selection],
        selection_withheld=values.selection_withheld,
        threshold_mac=values.threshold_mac,
        selections=[
            SelectionRead(
                official_id=s.official_id,
                rank=s.rank,
                ranking_mac=s.ranking_mac,
                selected_on=s.selected_on,
                due_on=s.due_on,
            )
            for s in values.selection
        ],
    )
