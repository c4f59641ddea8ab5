"""Re-vetting policies (R14): read by anyone of the country, changed by its admins."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request, Response

from app.api.etag import check_if_match, set_etag
from app.api.idempotency import idempotent
from app.api.pagination import TEXT_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth.principal import AdminOnly, Authenticated
from app.auth.scoping import LockedPolicy, ScopedPolicy
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.vocabulary import RankTier
from app.errors import NotFound
from app.models import VettingPolicy
from app.schemas.agency import Sector
from app.schemas.common import Page, problem_responses
from app.schemas.policy import (
    EffectivePolicy,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    PolicyVersionRead,
)
from app.services.revetting import policies as policy_service

router = APIRouter(prefix="/policies", tags=["policies"])


def policy_view(policy: VettingPolicy) -> PolicyRead:
    return PolicyRead(
        id=policy.id,
        country=policy.country,
        sector=policy.sector,
        rank_tier=policy.rank_tier,
        agency_id=policy.agency_id,
        scope_key=policy.scope_key,
        specificity=policy_service.policy_specificity(policy),
        interval_months=policy.interval_months,
        required_components=list(policy.required_components),
        retest_days=policy.retest_days,
        promotion_requires_vetting=policy.promotion_requires_vetting,
        due_soon_days=policy.due_soon_days,
        random_due_days=policy.random_due_days,
        active=policy.active,
        version=policy.version,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


@router.get("", response_model=Page[PolicyRead], responses=problem_responses(401, 403, 422))
def list_policies(
    actor: Authenticated,
    session: SessionDep,
    clock: ClockDep,
    sector: Sector | None = None,
    rank_tier: RankTier | None = None,
    agency_id: uuid.UUID | None = None,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PolicyRead]:
    """The caller's own country's policies, by scope key (R14 defaults included)."""
    after = decode_cursor(cursor, TEXT_CURSOR)
    rows = policy_service.list_policies(
        session,
        actor=actor,
        sector=sector.value if sector else None,
        rank_tier=rank_tier.value if rank_tier else None,
        agency_id=agency_id,
        active=active,
        after=str(after[0]) if after else None,
        limit=limit,
        now=clock.now(),
    )
    page = paginate(rows, limit, lambda p: (p.scope_key,))
    return Page[PolicyRead](items=[policy_view(p) for p in page.rows], next_cursor=page.next_cursor)


@router.get(
    "/effective", response_model=EffectivePolicy, responses=problem_responses(401, 403, 404, 422)
)
def effective_policy(
    actor: Authenticated,
    session: SessionDep,
    clock: ClockDep,
    agency_id: uuid.UUID | None = None,
    sector: Sector | None = None,
    rank_tier: RankTier | None = Query(default=None),
) -> EffectivePolicy:
    """Which policy applies today to officials of an agency (or sector) and tier (R14)."""
    resolved = policy_service.effective_policy(
        session,
        actor=actor,
        agency_id=agency_id,
        sector=sector.value if sector else None,
        rank_tier=rank_tier.value if rank_tier else None,
        now=clock.now(),
    )
    if resolved.row is None:
        raise NotFound("No such policy", code="POLICY_NOT_FOUND")
    return EffectivePolicy(
        scope_key=resolved.scope_key,
        specificity=resolved.specificity,
        policy=policy_view(resolved.row),
    )


@router.get("/{policy_id}", response_model=PolicyRead, responses=problem_responses(401, 403, 404))
def read_policy(actor: Authenticated, policy: ScopedPolicy, response: Response) -> PolicyRead:
    set_etag(response, policy.version)
    return policy_view(policy)


@router.get(
    "/{policy_id}/versions",
    response_model=Page[PolicyVersionRead],
    responses=problem_responses(401, 403, 404),
)
def policy_versions(
    actor: Authenticated, policy: ScopedPolicy, session: SessionDep
) -> Page[PolicyVersionRead]:
    """Every version the policy had; evaluations cite (policy id, version)."""
    versions = policy_service.policy_versions(session, policy=policy)
    return Page[PolicyVersionRead](items=[PolicyVersionRead.model_validate(v) for v in versions])


@router.post(
    "",
    status_code=201,
    response_model=PolicyRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
def create_policy(
    body: PolicyCreate,
    response: Response,
    admin: AdminOnly,
    session: SessionDep,
    clock: ClockDep,
) -> PolicyRead:
    """Create a policy for a scope of your own country; 409 POLICY_SCOPE_TAKEN if it has one."""
    policy = policy_service.create_policy(
        session,
        actor=admin,
        country=body.country.value if body.country else None,
        sector=body.sector.value if body.sector else None,
        rank_tier=body.rank_tier.value if body.rank_tier else None,
        agency_id=body.agency_id,
        values=body.model_dump(
            exclude_unset=True, exclude={"country", "sector", "rank_tier", "agency_id"}
        ),
        now=clock.now(),
    )
    result = policy_view(policy)
    set_etag(response, policy.version)
    return result


@router.patch(
    "/{policy_id}",
    response_model=PolicyRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def update_policy(
    body: PolicyUpdate,
    request: Request,
    response: Response,
    admin: AdminOnly,
    policy: LockedPolicy,
    session: SessionDep,
    clock: ClockDep,
) -> PolicyRead:
    """Change values or ``active`` (If-Match): a new version; schedules follow at once, past
    evaluations keep the version they cite."""
    check_if_match(request, policy.version)
    policy_service.update_policy(
        session,
        actor=admin,
        policy=policy,
        changes=body.model_dump(exclude_unset=True),
        now=clock.now(),
    )
    set_etag(response, policy.version)
    return policy_view(policy)
