"""Coverage statistics (R15a)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.auth.principal import AuditReader, Role
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.vocabulary import RankTier
from app.schemas.agency import Sector
from app.schemas.common import problem_responses
from app.schemas.stats import (
    CompletenessRead,
    CoverageRead,
    CoverageRowRead,
    FiguresRead,
    SeniorUnvettedRead,
)
from app.services.revetting import coverage as coverage_service

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("/coverage", response_model=CoverageRead, responses=problem_responses(401, 403, 422))
def coverage(
    actor: AuditReader,
    session: SessionDep,
    clock: ClockDep,
    agency_id: uuid.UUID | None = None,
    sector: Sector | None = None,
    rank_tier: RankTier | None = None,
) -> CoverageRead:
    """Your country's vetting coverage per agency, sector and tier, with each agency's
    reporting completeness (R15a). Senior officials never vetted are named to admins only."""
    result = coverage_service.coverage(
        session,
        filters=coverage_service.CoverageFilters(
            country=actor.country,
            agency_id=agency_id,
            sector=sector.value if sector else None,
            rank_tier=rank_tier.value if rank_tier else None,
        ),
        today=clock.today(),
        name_seniors=actor.has(Role.ADMIN),
    )
    return CoverageRead(
        as_of=result.as_of,
        country=result.country,
        rows=[
            CoverageRowRead(
                agency_id=r.agency_id,
                agency_acronym=r.agency_acronym,
                agency_name=r.agency_name,
                sector=r.sector,
                rank_tier=r.rank_tier,
                **vars(r.figures),
            )
            for r in result.rows
        ],
        totals=FiguresRead(**vars(result.totals)),
        agencies=[CompletenessRead(**vars(a)) for a in result.agencies],
        senior_never_vetted_count=result.senior_never_vetted_count,
        senior_never_vetted=[SeniorUnvettedRead(**vars(s)) for s in result.senior_never_vetted]
        if result.senior_never_vetted is not None
        else None,
        senior_never_vetted_truncated=result.senior_never_vetted_truncated,
    )
