"""Shared lookups of the registry core: scoping (R24), locks, listings that block (R3, R9)."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterable

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.domain.access import Principal
from app.errors import NotFound
from app.models import Agency, Appointment, Listing, Official, TaskForceMember, TaskForceNomination
from app.models.listing import BLOCKING_STATUSES


def search_name(given: str, first: str, second: str | None) -> str:
    """Upper-case, accent-free "FIRST SECOND GIVEN" for prefix search within a country."""
    text = " ".join(p for p in (first, second, given) if p)
    folded = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(plain.upper().replace("-", " ").split())


def _get_official(session: Session, official_id: uuid.UUID, *, lock: bool = False) -> Official:
    """Unscoped: routes take officials through ``app.auth.scoping`` (R24, #16)."""
    official = session.get(Official, official_id, with_for_update=lock or None)
    if official is None:
        raise NotFound("No such official", code="OFFICIAL_NOT_FOUND")
    return official


def has_cross_border_reason(session: Session, official_id: uuid.UUID) -> bool:
    """Whether the other country may see this official at verdict level (R9, R24): the person
    is listed, or is a nominee or member of a joint task force."""
    listed = exists().where(Listing.official_id == official_id)
    nominated = exists().where(
        TaskForceNomination.official_id == official_id, TaskForceNomination.status == "open"
    )
    member = exists().where(
        TaskForceMember.official_id == official_id, TaskForceMember.left_on.is_(None)
    )
    return bool(session.scalar(select(listed | nominated | member)))


def visible_official(
    session: Session, actor: Principal, official_id: uuid.UUID, *, lock: bool = False
) -> tuple[Official, bool]:
    """The official and whether the caller sees full detail; 404 outside any scope (R24).
    Routes use ``app.auth.scoping.VisibleOfficial``."""
    official = _get_official(session, official_id, lock=lock)
    if official.country == actor.country:
        return official, True
    if has_cross_border_reason(session, official.id):
        return official, False
    raise NotFound("No such official", code="OFFICIAL_NOT_FOUND")


def own_country_official(
    session: Session, actor: Principal, official_id: uuid.UUID, *, lock: bool = False
) -> Official:
    """An official of the caller's own country; 404 otherwise (R24). Routes use
    ``app.auth.scoping.ScopedOfficial`` / ``LockedOfficial``."""
    official = _get_official(session, official_id, lock=lock)
    if official.country != actor.country:
        raise NotFound("No such official", code="OFFICIAL_NOT_FOUND")
    return official


def blocking_listings(session: Session, official_ids: Iterable[uuid.UUID]) -> list[Listing]:
    ids = list(official_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            select(Listing)
            .where(Listing.official_id.in_(ids), Listing.status.in_(BLOCKING_STATUSES))
            .order_by(Listing.listed_on, Listing.id)
        )
    )


def active_appointments(session: Session, official_id: uuid.UUID) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment)
            .where(Appointment.official_id == official_id, Appointment.ended_on.is_(None))
            .order_by(Appointment.started_on, Appointment.id)
        )
    )


def current_appointment(session: Session, official_id: uuid.UUID) -> Appointment | None:
    """The most recent active appointment (its tier and agency choose the policy)."""
    active = active_appointments(session, official_id)
    return active[-1] if active else None


def get_agency(session: Session, agency_id: uuid.UUID, *, field: str) -> Agency:
    from app.errors import FieldError

    agency = session.get(Agency, agency_id)
    if agency is None:
        raise FieldError(field, "no agency with this id")
    return agency


def today(now: dt.datetime) -> dt.date:
    return now.date()
