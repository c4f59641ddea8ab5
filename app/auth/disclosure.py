"""Disclosure: a record as a viewer may see it (R9, R24; #16).

The one place that decides how much of a record crosses the border: the owning country sees
the full view (identifiers, appointments, evaluation components, notes, a listing's source and
history); the other country sees the verdict-level, public view (names, year of birth, listing
basis, dates, agency names, contact point). Routers call these functions and never compare
``actor.country`` to pick a schema themselves. Whether the viewer may see the record at all is
decided before, by the scoped dependencies of ``app.auth.scoping`` (404 outside scope).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.config import Settings
from app.models import Agency, Evaluation, Listing, Official, RandomDraw, User
from app.schemas.draw import DrawRead, ParticipationRead
from app.schemas.evaluation import ComponentOut, EvaluationRead
from app.schemas.official import (
    AppointmentRead,
    IdentifierOut,
    ListingEventRead,
    ListingPublic,
    ListingRead,
    OfficialPublic,
    OfficialRead,
)
from app.schemas.screening import CandidateRead, MatchRead, PreviousDecisionRead
from app.services.registry import appointments as appointment_service
from app.services.registry import listings as listing_service
from app.services.registry import officials as official_service
from app.services.revetting import draws as draw_service
from app.services.screening.screening import Match


def sees_full(viewer: Principal | str, country: str) -> bool:
    """Whether a viewer (a principal, or its country) sees full detail of a record of
    ``country``: only its own country's (R24)."""
    viewer_country = viewer if isinstance(viewer, str) else viewer.country
    return viewer_country == country


def view_name(viewer: Principal | str, country: str) -> Literal["full", "public"]:
    """``"full"`` or ``"public"``: the view given, as audited and as some answers state it."""
    return "full" if sees_full(viewer, country) else "public"


def agencies_by_id(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Agency]:
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(ids)))}


def listing_views(
    session: Session, listings: list[Listing], *, viewer_country: str
) -> list[ListingRead]:
    """Both countries see the verdict-level facts; the owning country also sees the source
    record and the history (R9)."""
    agencies = agencies_by_id(session, {x.listed_by for x in listings})
    owners = (
        {
            o.id: o.country
            for o in session.scalars(
                select(Official).where(Official.id.in_({x.official_id for x in listings}))
            )
        }
        if listings
        else {}
    )
    owned_ids = [
        x.id
        for x in listings
        if x.official_id in owners and sees_full(viewer_country, owners[x.official_id])
    ]
    events = listing_service.events_of(session, owned_ids)
    out = []
    for x in listings:
        agency = agencies[x.listed_by]
        public = ListingPublic(
            id=x.id,
            official_id=x.official_id,
            basis=x.basis,
            status=x.status,
            listed_on=x.listed_on,
            listed_by=agency.id,
            listed_by_name=agency.name,
            listed_by_acronym=agency.acronym,
            listed_by_country=agency.country,
            contact=x.contact,
        )
        if x.official_id in owners and sees_full(viewer_country, owners[x.official_id]):
            out.append(
                ListingRead(
                    **public.model_dump(),
                    source_type=x.source_type,
                    source_id=x.source_id,
                    events=[ListingEventRead.model_validate(e) for e in events[x.id]],
                )
            )
        else:
            out.append(ListingRead(**public.model_dump()))
    return out


def official_listings(session: Session, official_id: uuid.UUID) -> list[Listing]:
    return list(
        session.scalars(
            select(Listing)
            .where(Listing.official_id == official_id)
            .order_by(Listing.listed_on, Listing.id)
        )
    )


def official_full(session: Session, settings: Settings, official: Official) -> OfficialRead:
    appointments = appointment_service.list_appointments(session, official.id)
    return OfficialRead(
        id=official.id,
        country=official.country,
        given_names=official.given_names,
        first_surname=official.first_surname,
        second_surname=official.second_surname,
        date_of_birth=official.date_of_birth,
        sex=official.sex,
        identifiers=[
            IdentifierOut(scheme=s, value=v)
            for s, v in official_service.decrypt_identifiers(session, settings, official.id)
        ],
        appointments=[AppointmentRead.model_validate(a) for a in appointments],
        listings=listing_views(
            session, official_listings(session, official.id), viewer_country=official.country
        ),
        status="active" if any(a.ended_on is None for a in appointments) else "inactive",
        created_at=official.created_at,
    )


def official_public(session: Session, official: Official, viewer_country: str) -> OfficialPublic:
    listings = listing_views(
        session, official_listings(session, official.id), viewer_country=viewer_country
    )
    return OfficialPublic(
        id=official.id,
        country=official.country,
        given_names=official.given_names,
        first_surname=official.first_surname,
        second_surname=official.second_surname,
        year_of_birth=official.date_of_birth.year,
        listings=[
            ListingPublic(**x.model_dump(include=set(ListingPublic.model_fields))) for x in listings
        ],
    )


def official_view(
    session: Session, settings: Settings, official: Official, viewer: Principal
) -> OfficialRead | OfficialPublic:
    """Full detail for the own country; the verdict-level view across the border (R24)."""
    if sees_full(viewer, official.country):
        return official_full(session, settings, official)
    return official_public(session, official, viewer.country)


def match_view(m: Match, viewer_country: str) -> MatchRead:
    """R9/R24: listing facts and names for both countries; the candidate's date of birth only
    for its own country. Identifiers never appear, only the scheme that matched."""
    own = sees_full(viewer_country, m.candidate.country)
    listing = m.listing
    decision = m.previous_decision
    return MatchRead(
        official_id=m.official_id,
        rank=m.rank,
        score=m.score,
        band="high" if m.band == "high" else "review",
        verdict=m.verdict,
        matched_by="identifier" if m.matched_by == "identifier" else "name_and_birth_date",
        features=m.features,
        view="full" if own else "public",
        candidate=CandidateRead(
            country=m.candidate.country,
            given_names=m.candidate.given_names,
            first_surname=m.candidate.first_surname,
            second_surname=m.candidate.second_surname,
            date_of_birth=m.candidate.date_of_birth if own else None,
            year_of_birth=m.candidate.date_of_birth.year,
        ),
        listing_id=listing.listing_id if listing else None,
        basis=listing.basis if listing else None,
        listing_status=listing.status if listing else None,
        listed_by=listing.listed_by if listing else None,
        listed_by_name=listing.listed_by_name if listing else None,
        listed_by_acronym=listing.listed_by_acronym if listing else None,
        listed_by_country=listing.listed_by_country if listing else None,
        listed_on=listing.listed_on if listing else None,
        contact=listing.contact if listing else None,
        previous_decision=PreviousDecisionRead(
            decision=decision.decision,
            screening_id=decision.screening_id,
            decided_at=decision.decided_at,
            agency_id=decision.agency_id,
            reasons=decision.reasons,
        )
        if decision
        else None,
    )


def evaluation_view(
    evaluation: Evaluation, corrected_by: uuid.UUID | None, listing_id: uuid.UUID | None
) -> EvaluationRead:
    return EvaluationRead(
        id=evaluation.id,
        official_id=evaluation.official_id,
        conducted_by=evaluation.conducted_by,
        conducted_by_country=evaluation.conducted_by_country,
        recorded_by=evaluation.recorded_by,
        trigger=evaluation.trigger,
        components=[
            ComponentOut(type=k, result=v) for k, v in sorted(evaluation.components.items())
        ],
        outcome=evaluation.outcome,
        conducted_on=evaluation.conducted_on,
        valid_until=evaluation.valid_until,
        retest_by=evaluation.retest_by,
        notes=evaluation.notes,
        corrects_id=evaluation.corrects_id,
        corrected_by_id=corrected_by,
        policy_id=evaluation.policy_id,
        policy_version=evaluation.policy_version,
        interval_months=evaluation.interval_months,
        listing_id=listing_id,
        created_at=evaluation.created_at,
    )


def draw_views(
    session: Session, draws: list[RandomDraw], now: dt.datetime, viewer: Principal
) -> list[DrawRead]:
    """Draws are binational (R16): both countries see every published value, but the user id
    of the admin who created one only its own country does (#18, R24)."""
    ids = [d.id for d in draws]
    counts = draw_service.selected_counts(session, ids)
    participation = draw_service.participation_of(session, ids)
    creators = {d.created_by for d in draws}
    creator_countries: dict[uuid.UUID, str] = {}
    if creators:
        rows = session.execute(select(User.id, User.country).where(User.id.in_(creators)))
        creator_countries = {r.id: r.country for r in rows}
    out = []
    for d in draws:
        status, reason = draw_service.effective_status(d, now)
        creator_country = creator_countries.get(d.created_by)
        out.append(
            DrawRead(
                id=d.id,
                scope=d.scope,
                sample_size=d.sample_size,
                population_size=d.population_size,
                population_hash=d.population_hash,
                status=status,
                failure_reason=reason,
                commit_deadline=d.commit_deadline,
                reveal_deadline=d.reveal_deadline,
                random_due_days=d.random_due_days,
                created_by=(
                    d.created_by
                    if creator_country is not None and sees_full(viewer, creator_country)
                    else None
                ),
                created_at=d.created_at,
                completed_at=d.completed_at,
                seed=d.seed,
                participation=[
                    ParticipationRead(
                        country=c.country, committed_at=c.committed_at, revealed_at=c.revealed_at
                    )
                    for c in participation.get(d.id, [])
                ],
                selected=counts.get(d.id, 0),
            )
        )
    return out
