"""Officials: registration with identifiers and first appointment, reading under R24, search.

R1: identifiers are validated (CURP and RFC against the date of birth). R2: they are stored
encrypted and found by blind index; a duplicate is refused with 409 naming the existing record
when the caller may see it, or only the fact that one exists otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.access import Principal, Role
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import (
    Agency,
    Appointment,
    Listing,
    Official,
    OfficialIdentifier,
    OfficialNameKey,
    User,
)
from app.models.listing import BLOCKING_STATUSES
from app.services.audit import audit
from app.services.registry.identifiers import (
    IdentifierCipher,
    IdentifierError,
    blind_index,
    validate_identifier,
)
from app.services.registry.registry import get_agency, search_name
from app.services.screening.matching import Identity, blocking_keys

if TYPE_CHECKING:
    from app.services.registry.appointments import RegistrationScreening


@dataclass(frozen=True)
class IdentifierInput:
    scheme: str
    value: str


@dataclass(frozen=True)
class Registration:
    official: Official
    screening: RegistrationScreening


def check_personnel_scope(actor: Principal, agency: Agency) -> None:
    """R25: a personnel officer writes only for its own agency; an admin for its country."""
    if agency.country != actor.country:
        raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
    if actor.has(Role.ADMIN):
        return
    if actor.agency_id != agency.id:
        raise Forbidden("Personnel officers act only for their own agency", code="NOT_OWN_AGENCY")


def prepare_identifiers(
    settings: Settings,
    identifiers: Sequence[IdentifierInput],
    *,
    date_of_birth: dt.date,
) -> list[tuple[str, str, str]]:
    """Validate (R1) and return (scheme, compact value, blind index) per identifier."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for i, ident in enumerate(identifiers):
        try:
            compact = validate_identifier(ident.scheme, ident.value, date_of_birth=date_of_birth)
        except IdentifierError as exc:
            raise exc.at(f"identifiers.{i}.value") from None
        index = blind_index(settings.blind_index_key_bytes, ident.scheme, compact)
        if index in seen:
            raise FieldError(
                f"identifiers.{i}", "the same identifier was sent twice", "IDENTIFIER_REPEATED"
            )
        seen.add(index)
        out.append((ident.scheme, compact, index))
    return out


# National identifiers and the one country that issues them. A record of the other country
# does not carry them (#18 F4): see ``refuse_foreign_schemes``.
NATIONAL_SCHEMES: dict[str, str] = {"CURP": "MX", "RFC": "MX", "SSN": "US"}


def refuse_foreign_schemes(prepared: list[tuple[str, str, str]], *, country: str) -> None:
    """#18 F4 (R2, R24): a country registers the other country's national identifiers (CURP
    and RFC are Mexico's, SSN the United States') on none of its records, whatever the value.
    Checked after the R3 gate — so a *listed* person's CURP is still refused with
    ``OFFICIAL_LISTED`` across the border (R9: listings are seen by both) — and before the
    duplicate check, so the answer is the same for an unknown CURP and for the CURP of an
    unlisted Mexican official: the registration is no oracle of who exists across the border."""
    for i, (scheme, _compact, _index) in enumerate(prepared):
        owner = NATIONAL_SCHEMES.get(scheme)
        if owner is not None and owner != country:
            raise FieldError(
                f"identifiers.{i}.scheme",
                f"{scheme} is an identifier of {owner}; its records alone carry it",
                "IDENTIFIER_SCHEME_FOREIGN",
            )


def refuse_duplicates(
    session: Session, actor: Principal, prepared: list[tuple[str, str, str]], *, country: str
) -> None:
    """409 ``IDENTIFIER_EXISTS`` when a record of ``country`` already holds one of these
    identifiers. Identifiers are unique per country (#18 F4, R24): one held by an official of
    the other country is no duplicate, and answers as an identifier nobody holds — a listed
    holder has already been refused by the R3 gate (``OFFICIAL_LISTED``)."""
    if not prepared:
        return
    rows = session.execute(
        select(OfficialIdentifier.scheme, OfficialIdentifier.official_id).where(
            OfficialIdentifier.country == country,
            OfficialIdentifier.blind_index.in_([p[2] for p in prepared]),
        )
    ).all()
    if not rows:
        return
    scheme, official_id = rows[0]
    extra: dict[str, Any] = {"scheme": scheme}
    if country == actor.country:
        extra["existing_official_id"] = str(official_id)
    raise Conflict(
        "An official with this {scheme} is already registered",
        code="IDENTIFIER_EXISTS",
        extra=extra,
        scheme=scheme,
    )


def store_identifiers(
    session: Session,
    settings: Settings,
    official: Official,
    prepared: list[tuple[str, str, str]],
    now: dt.datetime,
) -> None:
    cipher = IdentifierCipher(settings.identifier_key_bytes)
    for scheme, compact, index in prepared:
        session.add(
            OfficialIdentifier(
                official_id=official.id,
                scheme=scheme,
                blind_index=index,
                ciphertext=cipher.encrypt(compact, scheme=scheme),
                created_at=now,
                country=official.country,
            )
        )


def name_keys(official: Official) -> list[str]:
    identity = Identity(
        given_names=official.given_names,
        first_surname=official.first_surname,
        second_surname=official.second_surname,
        date_of_birth=official.date_of_birth,
    )
    return sorted(set(blocking_keys(identity)))


def register_official(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    given_names: str,
    first_surname: str,
    second_surname: str | None,
    date_of_birth: dt.date,
    sex: str | None,
    identifiers: Sequence[IdentifierInput],
    agency_id: uuid.UUID,
    position: str,
    rank_tier: str,
    started_on: dt.date,
    now: dt.datetime,
    source_ref: str | None = None,
    force_justification: str | None = None,
) -> Registration:
    """Register an official with their first appointment (R1, R2, R25), screened first as any
    appointment is (R3, issue #15): the identifiers and the names and date of birth against
    the listings of both countries (R11), before anything is written. A listed person's
    identifier is 409 ``OFFICIAL_LISTED`` (never forced: appoint the existing record); a
    decisive name match ``OFFICIAL_LISTED``, a near one ``SCREENING_REVIEW_REQUIRED``, either
    forced by an admin's written justification, audited
    (``app.services.registry.appointments.judge_gate``). A registration without identifiers is
    screened
    by name and date of birth only, and the answer says so (``Registration.screening``)."""
    from app.services.registry.appointments import (
        finish_registration_gate,
        gate_new_official,
        judge_gate,
        screened_by,
    )
    from app.services.screening.screening import RegistrationIdentity

    agency = get_agency(session, agency_id, field="appointment.agency_id")
    check_personnel_scope(actor, agency)
    if date_of_birth >= now.date():
        raise FieldError("date_of_birth", "must be in the past")
    prepared = prepare_identifiers(settings, identifiers, date_of_birth=date_of_birth)
    item = RegistrationIdentity(
        given_names=given_names,
        first_surname=first_surname,
        second_surname=second_surname or None,
        date_of_birth=date_of_birth,
        identifiers=tuple((scheme, index) for scheme, _compact, index in prepared),
    )
    gate = gate_new_official(
        session,
        actor=actor,
        settings=settings,
        item=item,
        force_justification=force_justification,
        now=now,
    )
    refuse_foreign_schemes(prepared, country=agency.country)
    refuse_duplicates(session, actor, prepared, country=agency.country)
    forced = gate.verdict != "clear" and judge_gate(
        session,
        actor=actor,
        gate=gate,
        force_justification=force_justification,
        extra={"screened_by": screened_by(item)},
    )
    official = Official(
        country=agency.country,
        given_names=given_names,
        first_surname=first_surname,
        second_surname=second_surname or None,
        date_of_birth=date_of_birth,
        sex=sex,
        search_name=search_name(given_names, first_surname, second_surname),
        registered_by_agency_id=agency.id,
        source_ref=source_ref,
        created_at=now,
    )
    session.add(official)
    session.flush()
    store_identifiers(session, settings, official, prepared, now)
    session.add_all(OfficialNameKey(official_id=official.id, key=k) for k in name_keys(official))
    session.add(
        Appointment(
            official_id=official.id,
            agency_id=agency.id,
            position=position,
            rank_tier=rank_tier,
            kind="appointment",
            started_on=started_on,
            forced_justification=force_justification if forced else None,
            created_at=now,
        )
    )
    session.flush()
    screening = finish_registration_gate(
        session,
        actor=actor,
        gate=gate,
        item=item,
        force_justification=force_justification,
        official=official,
        now=now,
        judged=forced,
    )
    audit.record(
        session,
        actor=actor,
        action="official.register",
        resource_type="official",
        resource_id=official.id,
        details={
            "agency_id": agency.id,
            "rank_tier": rank_tier,
            "identifier_schemes": sorted(p[0] for p in prepared),
            # R12: the registration's screening, when no candidate made it a record of its own.
            "screening": {
                "verdict": screening.verdict,
                "screening_id": screening.screening_id,
                "screened_by": screening.screened_by,
                "ruled_out": screening.ruled_out,
                "forced": forced,
            },
        },
        now=now,
    )
    return Registration(official, screening)


def decrypt_identifiers(
    session: Session, settings: Settings, official_id: uuid.UUID
) -> list[tuple[str, str]]:
    cipher = IdentifierCipher(settings.identifier_key_bytes)
    rows = session.scalars(
        select(OfficialIdentifier)
        .where(OfficialIdentifier.official_id == official_id)
        .order_by(OfficialIdentifier.scheme, OfficialIdentifier.id)
    )
    return [(r.scheme, cipher.decrypt(r.ciphertext, scheme=r.scheme)) for r in rows]


def find_by_identifier(
    session: Session, settings: Settings, scheme: str, compact: str
) -> uuid.UUID | None:
    index = blind_index(settings.blind_index_key_bytes, scheme, compact)
    return session.scalar(
        select(OfficialIdentifier.official_id).where(OfficialIdentifier.blind_index == index)
    )


@dataclass
class OfficialRow:
    official: Official
    agency_id: uuid.UUID | None
    rank_tier: str | None
    listed: bool


def search_officials(
    session: Session,
    *,
    actor: Principal,
    name: str | None,
    agency_id: uuid.UUID | None,
    sector: str | None,
    rank_tier: str | None,
    status: str | None,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
) -> list[OfficialRow]:
    """Search within the caller's own country only (R24): the other country's people are
    reached through screening, never browsed."""
    active_appt = and_(Appointment.official_id == Official.id, Appointment.ended_on.is_(None))
    listed = exists().where(
        Listing.official_id == Official.id, Listing.status.in_(BLOCKING_STATUSES)
    )
    stmt = (
        select(Official, Appointment.agency_id, Appointment.rank_tier, listed.label("listed"))
        .outerjoin(Appointment, active_appt)
        .where(Official.country == actor.country)
        .order_by(Official.search_name, Official.id)
    )
    if name:
        stmt = stmt.where(
            Official.search_name.startswith(search_name(name, "", None), autoescape=True)
        )
    if agency_id:
        stmt = stmt.where(Appointment.agency_id == agency_id)
    if rank_tier:
        stmt = stmt.where(Appointment.rank_tier == rank_tier)
    if sector:
        stmt = stmt.join(Agency, Agency.id == Appointment.agency_id).where(Agency.sector == sector)
    if status == "active":
        stmt = stmt.where(Appointment.id.is_not(None))
    elif status == "inactive":
        stmt = stmt.where(Appointment.id.is_(None))
    elif status == "listed":
        stmt = stmt.where(listed)
    if after:
        last_name, last_id = after
        stmt = stmt.where(
            (Official.search_name > last_name)
            | ((Official.search_name == last_name) & (Official.id > last_id))
        )
    rows = session.execute(stmt.limit(limit + 1)).all()
    out: list[OfficialRow] = []
    seen: set[uuid.UUID] = set()
    for official, appt_agency, tier, is_listed in rows:
        if official.id in seen:  # two concurrent appointments: list the person once
            continue
        seen.add(official.id)
        out.append(OfficialRow(official, appt_agency, tier, bool(is_listed)))
    return out


DossierPart = Literal["record", "appointments", "separations", "evaluations", "schedule"]


def audit_read(
    session: Session,
    *,
    actor: Principal,
    official_id: uuid.UUID,
    view: Literal["full", "public"],
    part: DossierPart,
    now: dt.datetime,
) -> None:
    """R22, #19: every read of an official's dossier is on the record — who (the event's
    actor), which official (its id, the resource), which view (``full`` for the own country,
    ``public`` across the border, R24) and which part of the record. Never the data itself:
    no name, no identifier. One insert in the request's transaction."""
    audit.record(
        session,
        actor=actor,
        action="official.read",
        resource_type="official",
        resource_id=official_id,
        details={"view": view, "part": part},
        now=now,
    )


def search_digest(settings: Settings, name: str) -> str:
    """A keyed digest of a searched name, normalised as the search itself is: the audit log can
    show that two searches asked for the same name without holding the name (R22)."""
    message = b"official-search\x00" + search_name(name, "", None).encode()
    return hmac.new(settings.blind_index_key_bytes, message, hashlib.sha256).hexdigest()


def audit_search(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    name: str | None,
    filters: dict[str, Any],
    found: int,
    now: dt.datetime,
) -> None:
    """R22, #19: a search of officials is audited by the filters it used and how many people
    it found; a name only as ``search_digest``, never in clear."""
    details: dict[str, Any] = {
        "filters": {k: v for k, v in filters.items() if v not in (None, False)},
        "found": found,
    }
    if name:
        details["name_digest"] = search_digest(settings, name)
    audit.record(
        session,
        actor=actor,
        action="official.search",
        resource_type="official",
        details=details,
        now=now,
    )


def link_user_to_official(
    session: Session,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    official_id: uuid.UUID | None,
    now: dt.datetime,
) -> None:
    """R13: tie an account to the official record of the person behind it."""
    user = session.get(User, user_id)
    if user is None or user.country != actor.country:
        raise NotFound("No such user", code="USER_NOT_FOUND")
    if official_id is not None:
        official = session.get(Official, official_id)
        if official is None or official.country != user.country:
            raise FieldError("official_id", "no official with this id in the user's country")
    user.official_id = official_id
    audit.record(
        session,
        actor=actor,
        action="user.link_official",
        resource_type="user",
        resource_id=user.id,
        details={"official_id": official_id},
        now=now,
    )
