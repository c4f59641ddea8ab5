from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.idempotency import idempotent
from app.api.pagination import DATE_ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.api.quota import ListingItemsQuota, SearchQuota, record_outcome
from app.auth import disclosure
from app.auth.principal import Principal, Role, require_roles
from app.auth.scoping import AppealId, LockedListing, ScopedListing, VisibleListing
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.listing import AppealCreate, AppealDecision, AppealRead
from app.schemas.official import ListingRead
from app.services.registry import listings as listing_service

router = APIRouter(prefix="/listings", tags=["listings"])

ListingReader = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.ADMIN,
            Role.VETTING_OFFICER,
            Role.PERSONNEL_OFFICER,
            Role.TASK_FORCE_LEAD,
            Role.COMMISSION_MEMBER,
        )
    ),
]
Appellant = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER))]
AdminDecider = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
AppealReader = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER, Role.VETTING_OFFICER))
]


@router.get(
    "",
    response_model=Page[ListingRead],
    responses=problem_responses(401, 403, 422, 429),
    dependencies=[SearchQuota],
)
def list_listings(
    actor: ListingReader,
    session: SessionDep,
    clock: ClockDep,
    reserved: ListingItemsQuota,
    official_id: uuid.UUID | None = None,
    status: str | None = Query(default=None, pattern="^(active|under_appeal|upheld|overturned)$"),
    basis: str | None = Query(default=None, pattern="^(failed_vetting|refused_vetting|expelled)$"),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ListingRead]:
    """Listings of both countries at verdict level; the source record and history only for
    the owning country (R9). Metered by the items returned, per user and agency (#19)."""
    after = decode_cursor(cursor, DATE_ID_CURSOR)
    rows = listing_service.list_listings(
        session, official_id=official_id, status=status, basis=basis, after=after, limit=limit
    )
    page = paginate(rows, limit, lambda r: (r.listed_on, r.id))
    rows = page.rows
    items = disclosure.listing_views(session, rows, viewer_country=actor.country)
    # Last: the quota rows and the caller's streak row stay locked from here to the commit.
    reserved.settle(session, used=len(rows))
    record_outcome(session, principal=actor, action="search", hit=bool(rows), now=clock.now())
    return Page[ListingRead](items=items, next_cursor=page.next_cursor)


@router.get("/{listing_id}", response_model=ListingRead, responses=problem_responses(401, 403, 404))
def read_listing(actor: ListingReader, listing: VisibleListing, session: SessionDep) -> ListingRead:
    return disclosure.listing_views(session, [listing], viewer_country=actor.country)[0]


@router.post(
    "/{listing_id}/appeals",
    status_code=201,
    response_model=AppealRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def file_appeal(
    body: AppealCreate,
    actor: Appellant,
    listing: LockedListing,
    session: SessionDep,
    clock: ClockDep,
) -> AppealRead:
    """R10: the listing moves to under_appeal and still blocks."""
    appeal = listing_service.file_appeal(
        session, actor=actor, listing=listing, grounds=body.grounds, now=clock.now()
    )
    result = AppealRead.model_validate(appeal)
    return result


@router.get(
    "/{listing_id}/appeals",
    response_model=Page[AppealRead],
    responses=problem_responses(401, 403, 404),
)
def list_appeals(
    actor: AppealReader, listing: ScopedListing, session: SessionDep
) -> Page[AppealRead]:
    appeals = listing_service.list_appeals(session, listing=listing)
    return Page[AppealRead](items=[AppealRead.model_validate(a) for a in appeals])


@router.post(
    "/{listing_id}/appeals/{appeal_id}/decision",
    response_model=AppealRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def decide_appeal(
    body: AppealDecision,
    actor: AdminDecider,
    listing: LockedListing,
    appeal_id: AppealId,
    session: SessionDep,
    clock: ClockDep,
) -> AppealRead:
    """R10: the owning country's admin upholds or overturns, with reasons."""
    appeal = listing_service.decide_appeal(
        session,
        actor=actor,
        listing=listing,
        appeal_id=appeal_id,
        decision=body.decision.value,
        reasons=body.reasons,
        now=clock.now(),
    )
    return AppealRead.model_validate(appeal)
