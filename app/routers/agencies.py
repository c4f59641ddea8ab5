"""``/agencies``: any authenticated user reads agencies of both countries (R24: agency names are
public across the border); admins write their own country's agencies."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request, Response

from app.api.etag import check_if_match, set_etag
from app.api.idempotency import idempotent
from app.api.pagination import AGENCY_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth.principal import AdminOnly, Authenticated, Country, SettingsDep
from app.auth.scoping import ScopedAgency, VisibleAgency
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.agency import (
    NO_CONTROL,
    AgencyCreate,
    AgencyLevel,
    AgencyRead,
    AgencyUpdate,
    Sector,
)
from app.schemas.common import Page, problem_responses
from app.services.registry import agencies as agency_service

router = APIRouter(prefix="/agencies", tags=["agencies"])


@router.post(
    "",
    status_code=201,
    response_model=AgencyRead,
    responses=problem_responses(401, 403, 409, 422),
)
@idempotent
def create_agency(
    body: AgencyCreate,
    response: Response,
    admin: AdminOnly,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> AgencyRead:
    """Create an agency of the admin's own country (another country: 403 COUNTRY_SCOPE).
    ``commission_department`` (R20): a U.S. admin only (else 403), a U.S. federal agency
    without a parent only (else 422), one agency per department (else 409)."""
    agency = agency_service.create_agency(
        session,
        actor=admin,
        country=body.country.value,
        name=body.name,
        acronym=body.acronym,
        level=body.level.value,
        sector=body.sector.value,
        parent_id=body.parent_id,
        region=body.region,
        can_vet=body.can_vet,
        contact=body.contact,
        commission_department=body.commission_department,
        departments=settings.override_departments,
        now=clock.now(),
    )
    result = AgencyRead.of(agency, agency_service.department_of(session, agency))
    set_etag(response, agency.version)
    return result


@router.get("", response_model=Page[AgencyRead], responses=problem_responses(401, 403, 422))
def list_agencies(
    _user: Authenticated,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    country: Country | None = None,
    sector: Sector | None = None,
    level: AgencyLevel | None = None,
    can_vet: bool | None = None,
    parent_id: uuid.UUID | None = None,
    q: str | None = Query(
        default=None,
        min_length=1,
        max_length=100,
        pattern=NO_CONTROL,
        description="Contained in the name or the acronym, in any case",
    ),
) -> Page[AgencyRead]:
    """Agencies of both countries ordered by country, acronym and id."""
    after = decode_cursor(cursor, AGENCY_CURSOR)
    agencies = agency_service.list_agencies(
        session,
        after=after,
        limit=limit,
        country=country.value if country else None,
        sector=sector.value if sector else None,
        level=level.value if level else None,
        can_vet=can_vet,
        parent_id=parent_id,
        q=q,
    )
    page = paginate(agencies, limit, lambda a: (a.country, a.acronym, a.id))
    departments = agency_service.departments_of(session, page.rows)
    return Page[AgencyRead](
        items=[AgencyRead.of(a, departments[a.id]) for a in page.rows],
        next_cursor=page.next_cursor,
    )


@router.get("/{agency_id}", response_model=AgencyRead, responses=problem_responses(401, 403, 404))
def read_agency(
    _user: Authenticated, agency: VisibleAgency, session: SessionDep, response: Response
) -> AgencyRead:
    set_etag(response, agency.version)
    return AgencyRead.of(agency, agency_service.department_of(session, agency))


@router.patch(
    "/{agency_id}",
    response_model=AgencyRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def update_agency(
    body: AgencyUpdate,
    request: Request,
    response: Response,
    admin: AdminOnly,
    agency: ScopedAgency,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> AgencyRead:
    """Change an agency of the admin's own country; send ``If-Match`` with its ETag. The
    ``commission_department`` rules of the create apply (R20); another country's agency is
    404 (R24)."""
    check_if_match(request, agency.version)
    agency_service.update_agency(
        session,
        actor=admin,
        agency=agency,
        changes=body.model_dump(exclude_unset=True),
        departments=settings.override_departments,
        now=clock.now(),
    )
    set_etag(response, agency.version)
    return AgencyRead.of(agency, agency_service.department_of(session, agency))
