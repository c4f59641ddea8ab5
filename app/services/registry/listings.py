"""Listings: created only by the rules (R4, R7), appealed and decided (R10), shown with the
disclosure of R9."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.access import Principal, Role
from app.errors import Conflict, Forbidden, NotFound
from app.models import Agency, Appeal, Listing, ListingEvent, Official
from app.models.listing import BLOCKING_STATUSES
from app.services.audit import audit
from app.services.notifications.notifications import notify_listing_change


def open_listing(
    session: Session,
    *,
    official: Official,
    basis: str,
    source_type: str,
    source_id: uuid.UUID,
    listed_by: Agency,
    listed_on: dt.date,
    actor: Principal | None,
    now: dt.datetime,
) -> Listing:
    """List ``official`` on ``basis`` (R4, R7). If a blocking listing on the same basis exists,
    the new source is attached to it as further evidence instead of listing the person twice;
    the caller holds the official's row lock, and a partial unique index backs this up."""
    existing = session.scalar(
        select(Listing).where(
            Listing.official_id == official.id,
            Listing.basis == basis,
            Listing.status.in_(BLOCKING_STATUSES),
        )
    )
    if existing is not None:
        session.add(
            ListingEvent(
                listing_id=existing.id,
                kind="evidence_added",
                source_type=source_type,
                source_id=source_id,
                actor_id=actor.user_id if actor else None,
                occurred_at=now,
            )
        )
        return existing
    listing = Listing(
        official_id=official.id,
        basis=basis,
        source_type=source_type,
        source_id=source_id,
        listed_by=listed_by.id,
        listed_on=listed_on,
        status="active",
        contact=listed_by.contact,
        created_at=now,
    )
    session.add(listing)
    session.flush()
    session.add(
        ListingEvent(
            listing_id=listing.id,
            kind="listed",
            to_status="active",
            source_type=source_type,
            source_id=source_id,
            actor_id=actor.user_id if actor else None,
            occurred_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        actor_username=None if actor else "system",
        action="listing.create",
        resource_type="listing",
        resource_id=listing.id,
        details={"official_id": official.id, "basis": basis, "source_type": source_type},
        now=now,
    )
    notify_listing_change(session, listing=listing, change="listed", now=now)  # R12b
    return listing


def set_status(
    session: Session,
    *,
    listing: Listing,
    to_status: str,
    kind: str,
    actor: Principal | None,
    reasons: str | None,
    now: dt.datetime,
) -> None:
    session.add(
        ListingEvent(
            listing_id=listing.id,
            kind=kind,
            from_status=listing.status,
            to_status=to_status,
            actor_id=actor.user_id if actor else None,
            reasons=reasons,
            occurred_at=now,
        )
    )
    listing.status = to_status
    session.flush()
    change = "corrected" if kind == "source_corrected" else to_status
    notify_listing_change(session, listing=listing, change=change, now=now)  # R12b


def owning_country(session: Session, listing: Listing) -> str:
    official = session.get(Official, listing.official_id)
    assert official is not None
    return official.country


def list_listings(
    session: Session,
    *,
    official_id: uuid.UUID | None,
    status: str | None,
    basis: str | None,
    after: tuple[dt.date, uuid.UUID] | None,
    limit: int,
) -> list[Listing]:
    stmt = select(Listing).order_by(Listing.listed_on, Listing.id)
    if official_id:
        stmt = stmt.where(Listing.official_id == official_id)
    if status:
        stmt = stmt.where(Listing.status == status)
    if basis:
        stmt = stmt.where(Listing.basis == basis)
    if after:
        listed_on, last_id = after
        stmt = stmt.where(
            (Listing.listed_on > listed_on)
            | ((Listing.listed_on == listed_on) & (Listing.id > last_id))
        )
    return list(session.scalars(stmt.limit(limit + 1)))


def file_appeal(
    session: Session, *, actor: Principal, listing: Listing, grounds: str, now: dt.datetime
) -> Appeal:
    """R10: the owning agency's personnel officer or the owning country's admin files it; the
    listing moves to ``under_appeal`` and still blocks. Of two appeals filed at once, the
    second is refused 409 ``LISTING_NOT_APPEALABLE``, as if it had come later (the request
    carries no ``If-Match``, so 412 would not be an answer it can act on). ``listing`` comes
    locked and of the caller's own country (``app.auth.scoping.LockedListing``, R24)."""
    if not actor.has(Role.ADMIN) and actor.agency_id != listing.listed_by:
        raise Forbidden(
            "Only the listing agency's personnel office or an admin may appeal",
            code="NOT_OWNING_AGENCY",
        )
    if listing.status != "active":
        raise Conflict(
            "Only an active listing can be appealed (it is {status})",
            code="LISTING_NOT_APPEALABLE",
            status=listing.status,
        )
    appeal = Appeal(listing_id=listing.id, filed_by=actor.user_id, grounds=grounds, filed_at=now)
    session.add(appeal)
    session.flush()
    set_status(
        session,
        listing=listing,
        to_status="under_appeal",
        kind="appeal_filed",
        actor=actor,
        reasons=None,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="appeal.file",
        resource_type="listing",
        resource_id=listing.id,
        details={"appeal_id": appeal.id},
        now=now,
    )
    return appeal


def decide_appeal(
    session: Session,
    *,
    actor: Principal,
    listing: Listing,
    appeal_id: uuid.UUID,
    decision: str,
    reasons: str,
    now: dt.datetime,
) -> Appeal:
    """R10: the owning country's admin upholds or overturns; an overturned listing stops
    blocking and stays in history. Two decisions at once: the second waits for the listing's
    row lock and is refused 409 ``APPEAL_DECIDED``. ``listing`` comes locked and of the
    caller's own country (``app.auth.scoping.LockedListing``, R24)."""
    appeal = session.get(Appeal, appeal_id, populate_existing=True)
    if appeal is None or appeal.listing_id != listing.id:
        raise NotFound("No such appeal", code="APPEAL_NOT_FOUND")
    if appeal.status != "pending":
        raise Conflict("The appeal was already decided", code="APPEAL_DECIDED")
    appeal.status = decision
    appeal.decided_by = actor.user_id
    appeal.decided_at = now
    appeal.decision_reasons = reasons
    set_status(
        session,
        listing=listing,
        to_status=decision,
        kind="appeal_decided",
        actor=actor,
        reasons=reasons,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="appeal.decide",
        resource_type="listing",
        resource_id=listing.id,
        details={"appeal_id": appeal.id, "decision": decision},
        now=now,
    )
    from app.services.task_forces.task_forces import on_official_change

    on_official_change(
        session,
        official_id=listing.official_id,
        cause={"kind": "appeal_decided", "listing_id": str(listing.id), "decision": decision},
        actor=actor,
        now=now,
    )
    return appeal


def list_appeals(session: Session, *, listing: Listing) -> list[Appeal]:
    """Appeals of a listing of the caller's own country (``app.auth.scoping.ScopedListing``)."""
    return list(
        session.scalars(
            select(Appeal).where(Appeal.listing_id == listing.id).order_by(Appeal.filed_at)
        )
    )


def events_of(
    session: Session, listing_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ListingEvent]]:
    out: dict[uuid.UUID, list[ListingEvent]] = {i: [] for i in listing_ids}
    if not listing_ids:
        return out
    rows = session.scalars(
        select(ListingEvent)
        .where(ListingEvent.listing_id.in_(listing_ids))
        .order_by(ListingEvent.occurred_at, ListingEvent.id)
    )
    for event in rows:
        out[event.listing_id].append(event)
    return out
