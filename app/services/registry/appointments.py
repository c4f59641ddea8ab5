"""Appointments, promotions and separations (R3, R4, R25)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.access import Principal, Role
from app.domain.vocabulary import FOR_CAUSE_REASONS, TIER_ORDER
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import Appointment, Listing, ListingEvent, Official, Separation
from app.models.listing import BLOCKING_STATUSES
from app.services.audit import audit
from app.services.registry.listings import open_listing
from app.services.registry.officials import check_personnel_scope
from app.services.registry.registry import blocking_listings, get_agency, own_country_official
from app.services.screening.screening import (
    GateScreening,
    Match,
    RegistrationIdentity,
    gate_registration,
    gate_screening,
)


def listing_facts(listings: list[Listing]) -> list[dict[str, str]]:
    return [
        {
            "listing_id": str(x.id),
            "basis": x.basis,
            "status": x.status,
            "listed_by": str(x.listed_by),
            "listed_on": x.listed_on.isoformat(),
        }
        for x in listings
    ]


def gate_appointment(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    official: Official,
    force_justification: str | None,
    now: dt.datetime,
) -> bool:
    """R3: screen before appointing. A blocking listing of the official refuses the appointment
    with 409 ``OFFICIAL_LISTED`` and its basis. Otherwise the official's identity is screened
    against the listings of *other* records (R11, app.services.screening.screening.gate_screening):
    a
    candidate in the high band, or one a reviewer confirmed as the same person, refuses it with
    ``OFFICIAL_LISTED`` too; one in the review band with 409 ``SCREENING_REVIEW_REQUIRED``;
    both name the kept screening, so a reviewer can rule the candidates out
    (``not_same_person``, R12a) — see ``judge_gate``. A country admin may force either with a
    written justification, which is audited. Returns whether the gate was forced."""
    if force_justification and not actor.has(Role.ADMIN):
        raise Forbidden("Only an admin may force an appointment", code="FORCE_NOT_ALLOWED")
    blocking = blocking_listings(session, [official.id])
    if blocking:
        if force_justification:
            _audit_forced(session, actor, official, force_justification, now, listings=blocking)
            return True
        raise Conflict(
            "The official is listed ({basis}) and cannot be appointed",
            code="OFFICIAL_LISTED",
            extra={"listings": listing_facts(blocking)},
            basis=", ".join(sorted({x.basis for x in blocking})),
        )
    gate = gate_screening(session, actor=actor, settings=settings, official=official, now=now)
    if gate.verdict == "clear":
        gate.record_clear(session, official.id)
        return False
    # Returns only when forced: a refusal raises.
    judge_gate(session, actor=actor, gate=gate, force_justification=force_justification)
    _audit_forced(
        session, actor, official, force_justification or "", now, screening_id=gate.screening_id
    )
    return True


def _listing_view(m: Match, viewer_country: str) -> dict[str, str | None]:
    """A candidate's blocking listing as both countries may see it (R9); its own country also
    gets the ids of the listing and of the record (R24: never across the border)."""
    assert m.listing is not None
    x = m.listing
    view: dict[str, str | None] = {}
    if m.candidate.country == viewer_country:
        view |= {"listing_id": str(x.listing_id), "official_id": str(x.official_id)}
    return view | {
        "basis": x.basis,
        "status": x.status,
        "listed_by": str(x.listed_by),
        "listed_by_name": x.listed_by_name,
        "listed_by_acronym": x.listed_by_acronym,
        "listed_by_country": x.listed_by_country,
        "listed_on": x.listed_on.isoformat(),
        "contact": x.contact,
    }


def _basis(matches: list[Match]) -> str:
    return ", ".join(sorted({m.listing.basis for m in matches if m.listing}))


def judge_gate(
    session: Session,
    *,
    actor: Principal,
    gate: GateScreening,
    force_justification: str | None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """The refusals of a gate screening that did not come out clear (R3, R11, R12a), shared by
    appointments and registration. A decisive candidate (high band, or a reviewer's
    ``same_person``) refuses with 409 ``OFFICIAL_LISTED`` and its listings; any other with 409
    ``SCREENING_REVIEW_REQUIRED``. Either names the screening, kept although the request rolls
    back, so a reviewer can rule the candidates out (``not_same_person``) and the same request
    then goes through. An admin's written justification forces it (the screening is kept in
    the transaction; the caller audits ``appointment.forced``). Returns True when forced."""
    if force_justification:
        if not actor.has(Role.ADMIN):
            raise Forbidden("Only an admin may force an appointment", code="FORCE_NOT_ALLOWED")
        gate.keep(session)
        return True
    gate.keep_after_transaction(session)
    decisive = gate.decisive()
    if decisive:
        raise Conflict(
            "The official is listed ({basis}) and cannot be appointed",
            code="OFFICIAL_LISTED",
            extra={
                **(extra or {}),
                "screening_id": str(gate.screening_id),
                "verdict": gate.verdict,
                "listings": [_listing_view(m, actor.country) for m in decisive],
            },
            basis=_basis(decisive),
        )
    raise Conflict(
        "The official resembles a listed person; a reviewer must rule on the candidates first",
        code="SCREENING_REVIEW_REQUIRED",
        extra={
            **(extra or {}),
            "screening_id": str(gate.screening_id),
            "verdict": gate.verdict,
            "candidates": gate.candidates(actor.country),
        },
    )


@dataclass(frozen=True)
class RegistrationScreening:
    """How a registration was screened (the ``screening`` of the 201 answer)."""

    verdict: str
    screened_by: list[str]
    identifiers_checked: int
    screening_id: uuid.UUID | None
    forced: bool
    ruled_out: int


def gate_new_official(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    item: RegistrationIdentity,
    force_justification: str | None,
    now: dt.datetime,
) -> GateScreening:
    """R3 for ``POST /officials``: screen the identity about to be registered (identifiers,
    names and date of birth) before anything is written. A submitted identifier of a listed
    official answers 409 ``OFFICIAL_LISTED`` that no admin can force: the person already has
    a record, which is the one to appoint (its id only to its own country, R24). The rest is
    for ``judge_gate``, once duplicates are refused (``officials.register_official``)."""
    if force_justification and not actor.has(Role.ADMIN):
        raise Forbidden("Only an admin may force an appointment", code="FORCE_NOT_ALLOWED")
    gate = gate_registration(session, actor=actor, settings=settings, item=item, now=now)
    extra: dict[str, Any] = {"screened_by": screened_by(item)}
    by_identifier = gate.identifier_listed()
    if by_identifier:
        own = [m for m in by_identifier if m.candidate.country == actor.country]
        if own:
            extra["existing_official_id"] = str(own[0].official_id)
        raise Conflict(
            "An official listed ({basis}) already holds this identifier: the person already "
            "has a record. Do not register them again; appoint the existing record, where the "
            "appointment gate applies",
            code="OFFICIAL_LISTED",
            extra={
                **extra,
                "verdict": "listed",
                "listings": [_listing_view(m, actor.country) for m in by_identifier],
            },
            basis=_basis(by_identifier),
        )
    return gate


def screened_by(item: RegistrationIdentity) -> list[str]:
    return ["identifiers", "name_and_birth_date"] if item.identifiers else ["name_and_birth_date"]


def finish_registration_gate(
    session: Session,
    *,
    actor: Principal,
    gate: GateScreening,
    item: RegistrationIdentity,
    force_justification: str | None,
    official: Official,
    now: dt.datetime,
    judged: bool,
) -> RegistrationScreening:
    """After the official is written: keep the screening when it had candidates and audit a
    forced registration as ``appointment.forced`` (R3). A screening with no candidate is
    audited within the ``official.register`` event (R12), not as an event of its own."""
    kept: uuid.UUID | None = None
    if judged:  # forced: judge_gate kept the screening
        _audit_forced(
            session, actor, official, force_justification or "", now, screening_id=gate.screening_id
        )
        kept = gate.screening_id
    elif gate.found.matches:  # candidates ruled out: their rulings stay on record
        gate.keep(session)
        kept = gate.screening_id
    return RegistrationScreening(
        verdict=gate.verdict,
        screened_by=screened_by(item),
        identifiers_checked=len(item.identifiers),
        screening_id=kept,
        forced=judged,
        ruled_out=gate.ruled_out,
    )


def _audit_forced(
    session: Session,
    actor: Principal,
    official: Official,
    justification: str,
    now: dt.datetime,
    *,
    listings: list[Listing] | None = None,
    screening_id: uuid.UUID | None = None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action="appointment.forced",
        resource_type="official",
        resource_id=official.id,
        details={
            "listing_ids": [str(x.id) for x in listings or []],
            "screening_id": screening_id,
            "justification_length": len(justification),
        },
        now=now,
    )


def _kind(old: Appointment | None, new_tier: str, new_agency: uuid.UUID) -> str:
    if old is None:
        return "appointment"
    if TIER_ORDER[new_tier] > TIER_ORDER[old.rank_tier]:
        return "promotion"
    if new_tier != old.rank_tier:
        return "tier_change"
    return "transfer" if new_agency != old.agency_id else "reassignment"


def appoint(
    session: Session,
    *,
    actor: Principal,
    official_id: uuid.UUID,
    agency_id: uuid.UUID,
    position: str,
    rank_tier: str,
    started_on: dt.date,
    replaces_id: uuid.UUID | None,
    force_justification: str | None,
    now: dt.datetime,
    settings: Settings,
) -> Appointment:
    """Start an appointment, or a promotion/tier change that replaces an active one (R3)."""
    official = own_country_official(session, actor, official_id, lock=True)
    agency = get_agency(session, agency_id, field="agency_id")
    check_personnel_scope(actor, agency)
    replaced: Appointment | None = None
    if replaces_id is not None:
        replaced = session.get(Appointment, replaces_id)
        if replaced is None or replaced.official_id != official.id or replaced.ended_on:
            raise FieldError("replaces_appointment_id", "no active appointment of this official")
        if replaced.agency_id != agency.id and not actor.has(Role.ADMIN):
            raise Forbidden(
                "Personnel officers act only for their own agency", code="NOT_OWN_AGENCY"
            )
        if started_on <= replaced.started_on:
            raise FieldError("started_on", "must be after the replaced appointment began")
    forced = gate_appointment(
        session,
        actor=actor,
        settings=settings,
        official=official,
        force_justification=force_justification,
        now=now,
    )
    if replaced is not None:
        replaced.ended_on = started_on - dt.timedelta(days=1)
    appointment = Appointment(
        official_id=official.id,
        agency_id=agency.id,
        position=position,
        rank_tier=rank_tier,
        kind=_kind(replaced, rank_tier, agency.id),
        started_on=started_on,
        replaces_id=replaced.id if replaced else None,
        forced_justification=force_justification if forced else None,
        created_at=now,
    )
    session.add(appointment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"appointment.{appointment.kind}",
        resource_type="appointment",
        resource_id=appointment.id,
        details={
            "official_id": official.id,
            "agency_id": agency.id,
            "rank_tier": rank_tier,
            "forced": forced,
        },
        now=now,
    )
    _task_forces_follow(
        session, official.id, {"kind": f"appointment.{appointment.kind}"}, actor, now
    )
    return appointment


def list_appointments(session: Session, official_id: uuid.UUID) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment)
            .where(Appointment.official_id == official_id)
            .order_by(Appointment.started_on, Appointment.id)
        )
    )


def _active_appointment(
    session: Session, official: Official, appointment_id: uuid.UUID, field: str
) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.official_id != official.id:
        raise NotFound("No such appointment", code="APPOINTMENT_NOT_FOUND")
    if appointment.ended_on is not None:
        raise Conflict("The appointment has already ended", code="APPOINTMENT_ENDED")
    return appointment


def end_appointment(
    session: Session,
    *,
    actor: Principal,
    official_id: uuid.UUID,
    appointment_id: uuid.UUID,
    ended_on: dt.date,
    now: dt.datetime,
) -> Appointment:
    official = own_country_official(session, actor, official_id, lock=True)
    appointment = _active_appointment(session, official, appointment_id, "appointment_id")
    check_personnel_scope(actor, get_agency(session, appointment.agency_id, field="agency_id"))
    if ended_on < appointment.started_on:
        raise FieldError("ended_on", "must not precede the start of the appointment")
    appointment.ended_on = ended_on
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="appointment.end",
        resource_type="appointment",
        resource_id=appointment.id,
        details={"official_id": official.id},
        now=now,
    )
    _task_forces_follow(session, official.id, {"kind": "appointment.end"}, actor, now)
    return appointment


def record_separation(
    session: Session,
    *,
    actor: Principal,
    official_id: uuid.UUID,
    appointment_id: uuid.UUID,
    reason: str,
    effective_on: dt.date,
    summary: str | None,
    now: dt.datetime,
    source_ref: str | None = None,
) -> Separation:
    """R4: end the appointment; a for-cause reason lists the official with basis ``expelled``,
    except that a ``failed_vetting`` separation following a failed evaluation joins that
    evaluation's listing instead of creating a second one."""
    official = own_country_official(session, actor, official_id, lock=True)
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.official_id != official.id:
        raise FieldError("appointment_id", "no appointment of this official")
    if appointment.ended_on is not None:
        raise Conflict("The appointment has already ended", code="APPOINTMENT_ENDED")
    agency = get_agency(session, appointment.agency_id, field="appointment_id")
    check_personnel_scope(actor, agency)
    if effective_on < appointment.started_on:
        raise FieldError("effective_on", "must not precede the start of the appointment")
    appointment.ended_on = effective_on
    separation = Separation(
        official_id=official.id,
        appointment_id=appointment.id,
        agency_id=agency.id,
        reason=reason,
        effective_on=effective_on,
        summary=summary,
        recorded_by=actor.user_id,
        source_ref=source_ref,
        created_at=now,
    )
    session.add(separation)
    session.flush()
    if reason in FOR_CAUSE_REASONS:
        listing = None
        if reason == "failed_vetting":
            listing = session.scalar(
                select(Listing).where(
                    Listing.official_id == official.id,
                    Listing.basis == "failed_vetting",
                    Listing.status.in_(BLOCKING_STATUSES),
                )
            )
        if listing is not None:
            session.add(
                ListingEvent(
                    listing_id=listing.id,
                    kind="evidence_added",
                    source_type="separation",
                    source_id=separation.id,
                    actor_id=actor.user_id,
                    occurred_at=now,
                )
            )
        else:
            listing = open_listing(
                session,
                official=official,
                basis="expelled",
                source_type="separation",
                source_id=separation.id,
                listed_by=agency,
                listed_on=effective_on,
                actor=actor,
                now=now,
            )
        separation.listing_id = listing.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="separation.record",
        resource_type="separation",
        resource_id=separation.id,
        details={
            "official_id": official.id,
            "reason": reason,
            "listing_id": separation.listing_id,
        },
        now=now,
    )
    _task_forces_follow(session, official.id, {"kind": "separation", "reason": reason}, actor, now)
    return separation


def _task_forces_follow(
    session: Session,
    official_id: uuid.UUID,
    cause: dict[str, str],
    actor: Principal,
    now: dt.datetime,
) -> None:
    """A change of appointment can change eligibility and seniority (R17, R19)."""
    from app.services.task_forces.task_forces import on_official_change

    on_official_change(session, official_id=official_id, cause=cause, actor=actor, now=now)


def list_separations(session: Session, official_id: uuid.UUID) -> list[Separation]:
    return list(
        session.scalars(
            select(Separation)
            .where(Separation.official_id == official_id)
            .order_by(Separation.effective_on, Separation.id)
        )
    )
