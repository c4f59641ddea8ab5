"""Agencies (DESIGN §3 Agency): government bodies of one country, arranged in a hierarchy.

Rules enforced here:

* An agency's *department* is its top ancestor; an agency without a parent is its own
  department (DEA and FBI → DOJ). Overrides count commission approvals per department (R20).
* Agency names are public across the border (R24): any authenticated user of either country
  reads every agency. Only an ``admin`` of the agency's country writes it; a create for the other
  country is 403, an update of the other country's agency is 404 (R24: existence of *writable*
  records is scoped).
* A parent is an agency of the same country; a change of parent never makes a cycle, and the
  hierarchy stays at most ``MAX_DEPTH`` levels deep, so walking up always ends.
* The acronym is unique within a country (case-insensitive): the seed, and people, match
  agencies on it.
* An agency's *commission department* (R20) is an explicit designation, never its acronym:
  one of the configured required departments, set only by a U.S. admin on a U.S. federal
  agency without a parent (403 for another country's admin, 422 otherwise), held by one agency
  at a time (409), and a designated agency keeps no parent and stays federal (#15, #18 F1).
* Every write is audited (R22).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import Session

from app.domain.access import Principal
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import Agency
from app.services.audit import audit

MAX_DEPTH = 8
"""Levels in a hierarchy, the department included (SSPC → SESNSP → CNCA is 3)."""

# ISO 3166-2 subdivision codes without the country prefix: Mexico's 32 states, the U.S. states,
# DC and the inhabited territories.
MX_REGIONS = frozenset(
    "AGU BCN BCS CAM CHP CHH CMX COA COL DUR GUA GRO HID JAL MEX MIC MOR NAY NLE OAX PUE QUE "  # noqa: SIM905
    "ROO SLP SIN SON TAB TAM TLA VER YUC ZAC".split()
)
US_REGIONS = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "  # noqa: SIM905
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP".split()
)
REGIONS = {"MX": MX_REGIONS, "US": US_REGIONS}

# Fields an update may change (country is immutable, id/created_at/version are the system's).
UPDATABLE = (
    "name",
    "acronym",
    "level",
    "sector",
    "parent_id",
    "region",
    "can_vet",
    "contact",
    "commission_department",
)

COMMISSION_COUNTRY = "US"
"""R20: the override commission is U.S. Justice (with DEA and FBI), Homeland Security, State."""


# --- reading -------------------------------------------------------------------------------


def get_agency_or_404(session: Session, agency_id: uuid.UUID) -> Agency:
    """Any agency, of either country: agency names are public across the border (R24)."""
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
    return agency


def get_agency_for_update(session: Session, *, actor: Principal, agency_id: uuid.UUID) -> Agency:
    """An agency the actor may change: one of its own country, else 404 (R24)."""
    agency = session.get(Agency, agency_id)
    if agency is None or agency.country != actor.country:
        raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
    return agency


def department_of(session: Session, agency: Agency) -> Agency:
    """The top ancestor of ``agency`` (itself when it has no parent). Iterative and bounded by
    ``MAX_DEPTH``: a hierarchy broken outside this service answers 409 rather than looping."""
    current = agency
    for _ in range(MAX_DEPTH):
        if current.parent_id is None:
            return current
        parent = session.get(Agency, current.parent_id)
        if parent is None:  # the foreign key makes this impossible; stay total anyway
            return current
        current = parent
    raise _broken_hierarchy(agency.id)


def departments_of(session: Session, agencies: Sequence[Agency]) -> dict[uuid.UUID, Agency]:
    """``{agency.id: department}`` for many agencies with one query per hierarchy level (not
    one per agency), for list pages."""
    known: dict[uuid.UUID, Agency] = {a.id: a for a in agencies}
    missing = {a.parent_id for a in agencies if a.parent_id is not None} - known.keys()
    for _ in range(MAX_DEPTH):
        if not missing:
            break
        loaded = list(session.scalars(select(Agency).where(Agency.id.in_(missing))))
        known.update((a.id, a) for a in loaded)
        missing = {a.parent_id for a in loaded if a.parent_id is not None} - known.keys()
    result: dict[uuid.UUID, Agency] = {}
    for agency in agencies:
        current = agency
        for _ in range(MAX_DEPTH):
            if current.parent_id is None or current.parent_id not in known:
                break
            current = known[current.parent_id]
        else:
            raise _broken_hierarchy(agency.id)
        result[agency.id] = current
    return result


def descendants_ids(
    session: Session, agency_id: uuid.UUID, *, include_self: bool = False
) -> set[uuid.UUID]:
    """Ids of every agency below ``agency_id`` (children, their children, …), breadth first
    with one query per level, bounded by ``MAX_DEPTH``."""
    found: set[uuid.UUID] = {agency_id} if include_self else set()
    frontier = {agency_id}
    seen = {agency_id}
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        children = set(session.scalars(select(Agency.id).where(Agency.parent_id.in_(frontier))))
        frontier = children - seen
        seen |= frontier
        found |= frontier
    return found


def list_agencies(
    session: Session,
    *,
    after: Sequence[Any] | None,
    limit: int,
    country: str | None = None,
    sector: str | None = None,
    level: str | None = None,
    can_vet: bool | None = None,
    parent_id: uuid.UUID | None = None,
    q: str | None = None,
) -> list[Agency]:
    """Agencies of both countries (R24: names are public), ordered by (country, acronym, id).
    ``after`` is the (country, acronym, id) of the last row of the previous page; returns up to
    ``limit + 1`` rows so the caller knows whether another page follows."""
    stmt: Select[Agency] = select(Agency).order_by(Agency.country, Agency.acronym, Agency.id)
    if country is not None:
        stmt = stmt.where(Agency.country == country)
    if sector is not None:
        stmt = stmt.where(Agency.sector == sector)
    if level is not None:
        stmt = stmt.where(Agency.level == level)
    if can_vet is not None:
        stmt = stmt.where(Agency.can_vet == can_vet)
    if parent_id is not None:
        stmt = stmt.where(Agency.parent_id == parent_id)
    if q:
        stmt = stmt.where(
            or_(
                Agency.name.icontains(q, autoescape=True),
                Agency.acronym.icontains(q, autoescape=True),
            )
        )
    if after is not None:
        a_country, a_acronym, a_id = _keyset(after)
        # Spelled out rather than a row-value comparison so both databases bind the UUID alike.
        stmt = stmt.where(
            or_(
                Agency.country > a_country,
                (Agency.country == a_country) & (Agency.acronym > a_acronym),
                (Agency.country == a_country) & (Agency.acronym == a_acronym) & (Agency.id > a_id),
            )
        )
    return list(session.scalars(stmt.limit(limit + 1)))


def find_by_acronym(session: Session, *, country: str, acronym: str) -> Agency | None:
    """The agency of ``country`` with this acronym, compared case-insensitively."""
    return session.scalar(
        select(Agency)
        .where(Agency.country == country, func.upper(Agency.acronym) == acronym.upper())
        .limit(1)
    )


# --- writing -------------------------------------------------------------------------------


def create_agency(
    session: Session,
    *,
    actor: Principal,
    country: str,
    name: str,
    acronym: str,
    level: str,
    sector: str,
    parent_id: uuid.UUID | None = None,
    region: str | None = None,
    can_vet: bool = False,
    contact: str | None = None,
    commission_department: str | None = None,
    departments: Sequence[str] = (),
    now: dt.datetime,
) -> Agency:
    """Create an agency of the actor's own country (§2: an admin manages that country's
    agencies; another country is 403 COUNTRY_SCOPE). ``commission_department`` must be one of
    ``departments`` (the configured required departments) and obeys the designation rules
    above (R20). Audited as ``agency.create`` (R22)."""
    if actor.country != country:
        raise Forbidden("Admins create agencies of their own country only", code="COUNTRY_SCOPE")
    _check_region(country, region)
    if parent_id is not None:
        parent = _parent_in_country(session, parent_id, country)
        if _depth(session, parent) + 1 > MAX_DEPTH:
            raise _too_deep()
    if commission_department is not None:
        _check_designation(
            actor=actor,
            country=country,
            level=level,
            parent_id=parent_id,
            department=commission_department,
            departments=departments,
        )
        _claim_designation(session, department=commission_department, own_id=None)
    _claim_acronym(session, country=country, acronym=acronym, own_id=None)
    agency = Agency(
        country=country,
        name=name,
        acronym=acronym,
        level=level,
        sector=sector,
        parent_id=parent_id,
        region=region,
        can_vet=can_vet,
        contact=contact,
        commission_department=commission_department,
        created_at=now,
    )
    session.add(agency)
    session.flush()
    details: dict[str, Any] = {
        "country": country,
        "acronym": acronym,
        "parent_id": parent_id,
        "can_vet": can_vet,
    }
    if commission_department is not None:
        details["commission_department"] = commission_department
    audit.record(
        session,
        actor=actor,
        action="agency.create",
        resource_type="agency",
        resource_id=agency.id,
        details=details,
        now=now,
    )
    return agency


def update_agency(
    session: Session,
    *,
    actor: Principal,
    agency: Agency,
    changes: dict[str, Any],
    departments: Sequence[str] = (),
    now: dt.datetime,
) -> Agency:
    """Change an agency of the actor's own country (fetch it with ``get_agency_for_update``;
    the caller checks If-Match). A new parent must be of the same country and must not be the
    agency or one of its descendants (no cycles). The commission designation follows the rules
    above (R20) against ``departments``, also when only the parent or level changes. Audited as
    ``agency.update`` with the changed field names (R22); a request that changes nothing writes
    nothing."""
    if agency.country != actor.country:
        raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise FieldError(sorted(unknown)[0], "this field cannot be changed")
    for field in ("name", "acronym", "level", "sector", "can_vet"):
        if field in changes and changes[field] is None:
            raise FieldError(field, "may be omitted but not null")
    changed = {
        field: _plain(value)
        for field, value in changes.items()
        if _plain(value) != getattr(agency, field)
    }
    if not changed:
        return agency
    if "region" in changed:
        _check_region(agency.country, changed["region"])
    if "parent_id" in changed and changed["parent_id"] is not None:
        new_parent = _parent_in_country(session, changed["parent_id"], agency.country)
        below = descendants_ids(session, agency.id, include_self=True)
        if new_parent.id in below:
            raise FieldError(
                "parent_id",
                "the parent cannot be the agency itself or one of its descendants",
                code="AGENCY_CYCLE",
            )
        if _depth(session, new_parent) + _height(session, agency.id) > MAX_DEPTH:
            raise _too_deep()
    designation = changed.get("commission_department", agency.commission_department)
    if designation is not None and {"commission_department", "parent_id", "level"} & set(changed):
        _check_designation(
            actor=actor,
            country=agency.country,
            level=changed.get("level", agency.level),
            parent_id=changed.get("parent_id", agency.parent_id),
            department=designation,
            departments=departments,
            # Keeping a designation is not granting it again: a narrowed configuration must
            # not stop an admin from changing another field of the agency.
            check_value="commission_department" in changed,
            field="commission_department"
            if "commission_department" in changed
            else ("parent_id" if "parent_id" in changed else "level"),
        )
    if "commission_department" in changed and designation is not None:
        _claim_designation(session, department=designation, own_id=agency.id)
    if "acronym" in changed:
        _claim_acronym(
            session, country=agency.country, acronym=changed["acronym"], own_id=agency.id
        )
    previous = {field: getattr(agency, field) for field in changed}
    for field, value in changed.items():
        setattr(agency, field, value)
    session.flush()
    details: dict[str, Any] = {"fields": sorted(changed)}
    if "parent_id" in changed:
        details["parent_id"] = {"from": previous["parent_id"], "to": changed["parent_id"]}
    if "can_vet" in changed:
        details["can_vet"] = changed["can_vet"]
    if "commission_department" in changed:
        details["commission_department"] = {
            "from": previous["commission_department"],
            "to": changed["commission_department"],
        }
    audit.record(
        session,
        actor=actor,
        action="agency.update",
        resource_type="agency",
        resource_id=agency.id,
        details=details,
        now=now,
    )
    return agency


# --- helpers -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    # Enums from the request schema compare equal to their strings, but store plain strings.
    return value.value if isinstance(value, enum.Enum) else value


def _keyset(after: Sequence[Any]) -> tuple[str, str, uuid.UUID]:
    """Check a decoded cursor: it came from the client, so it is input like any other."""
    try:
        country, acronym, agency_id = after
        if country not in REGIONS or not isinstance(acronym, str) or "\x00" in acronym:
            raise ValueError(country)
        return str(country), acronym, uuid.UUID(str(agency_id))
    except (TypeError, ValueError) as exc:
        raise FieldError("cursor", "not a valid cursor", location="query") from exc


def _check_region(country: str, region: str | None) -> None:
    if region is not None and region not in REGIONS.get(country, frozenset()):
        raise FieldError(
            "region",
            f"not a state code of {country} (ISO 3166-2 without the country prefix)",
        )


def _parent_in_country(session: Session, parent_id: uuid.UUID, country: str) -> Agency:
    parent = session.get(Agency, parent_id)
    if parent is None or parent.country != country:
        raise FieldError(
            "parent_id",
            "no agency with this id in the agency's country",
            code="PARENT_NOT_FOUND",
        )
    return parent


def _depth(session: Session, agency: Agency) -> int:
    """Levels from ``agency`` up to its department, both included."""
    depth, current = 1, agency
    while current.parent_id is not None:
        if depth >= MAX_DEPTH:
            raise _broken_hierarchy(agency.id)
        parent = session.get(Agency, current.parent_id)
        if parent is None:
            break
        current, depth = parent, depth + 1
    return depth


def _height(session: Session, agency_id: uuid.UUID) -> int:
    """Levels of the subtree rooted at ``agency_id``, itself included."""
    height, frontier = 1, {agency_id}
    while True:
        children = set(session.scalars(select(Agency.id).where(Agency.parent_id.in_(frontier))))
        if not children:
            return height
        height += 1
        if height > MAX_DEPTH:
            return height
        frontier = children


def lock_acronym(session: Session, *, country: str, acronym: str) -> None:
    """Make writers of the same country + acronym take turns until the transaction ends. The
    agencies table has no unique index on the acronym, so on PostgreSQL a transaction-scoped
    advisory lock does it; SQLite already serialises writers (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"agency-acronym:{country}:{acronym.upper()}"},
        )


def _claim_acronym(
    session: Session, *, country: str, acronym: str, own_id: uuid.UUID | None
) -> None:
    """Refuse an acronym already used in ``country`` (case-insensitive)."""
    lock_acronym(session, country=country, acronym=acronym)
    existing = find_by_acronym(session, country=country, acronym=acronym)
    if existing is not None and existing.id != own_id:
        raise Conflict(
            "An agency of this country already uses this acronym",
            code="AGENCY_ACRONYM_TAKEN",
            extra={"agency_id": str(existing.id)},
        )


def _check_designation(
    *,
    actor: Principal,
    country: str,
    level: str,
    parent_id: uuid.UUID | None,
    department: str,
    departments: Sequence[str],
    check_value: bool = True,
    field: str = "commission_department",
) -> None:
    """R20 (#15, #18 F1): only a U.S. admin designates, only a U.S. federal agency without a
    parent, only a configured department."""
    if actor.country != COMMISSION_COUNTRY:
        raise Forbidden(
            "Only U.S. admins designate commission departments",
            code="COMMISSION_DEPARTMENT_US_ONLY",
        )
    if check_value and department not in departments:
        raise FieldError("commission_department", f"one of {', '.join(departments) or '(none)'}")
    if country != COMMISSION_COUNTRY or level != "federal" or parent_id is not None:
        raise FieldError(
            field,
            "only a U.S. federal agency without a parent is a commission department",
            code="COMMISSION_DEPARTMENT_NOT_ALLOWED",
        )


def _claim_designation(session: Session, *, department: str, own_id: uuid.UUID | None) -> None:
    """Refuse a department another agency already is; the unique index backs this up, the
    lock makes concurrent designations take turns so the loser gets a 409, not a 500."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"commission-department:{department}"},
        )
    holder = session.scalar(
        select(Agency.id).where(Agency.commission_department == department).limit(1)
    )
    if holder is not None and holder != own_id:
        raise Conflict(
            "Another agency is already this commission department",
            code="COMMISSION_DEPARTMENT_TAKEN",
            extra={"agency_id": str(holder)},
        )


def designated_departments(session: Session) -> dict[str, Agency]:
    """``{department: agency}`` for every designated agency (R20)."""
    return {
        a.commission_department: a
        for a in session.scalars(select(Agency).where(Agency.commission_department.is_not(None)))
        if a.commission_department is not None
    }


def _too_deep() -> FieldError:
    return FieldError(
        "parent_id",
        f"the hierarchy would be deeper than {MAX_DEPTH} levels",
        code="AGENCY_TOO_DEEP",
    )


def _broken_hierarchy(agency_id: uuid.UUID) -> Conflict:
    return Conflict(
        "The agency hierarchy above this agency is broken; an administrator must repair it",
        code="AGENCY_HIERARCHY_BROKEN",
        extra={"agency_id": str(agency_id)},
    )
