"""Notifications of listing changes to the agencies that watch (R12b), with the disclosure of
R9 and R24.

``notify_listing_change`` is called by the listing service in the transaction of the change:

* ``listed`` — a new listing: every agency with a watch that follows the official is told;
* ``overturned`` (an appeal decided so) and ``corrected`` (the listing's source was corrected
  away) — the watching agencies are told, and so is every agency notified about this listing
  before, even if its watch has ended: corrections reach everyone who received the record.

Each agency gets one notification per change, naming the watches that fired. Every notification
is written together with one outbox row per active webhook of its agency
(app.services.notifications.delivery
posts them later, outside any request), so a committed notification is never lost and an
uncommitted one is never sent.

The payload holds verdict-level facts only (official id and name, basis, listing status, listing
agency, dates, contact point): the receiving agency may be of the other country, and R9 and R24
keep identifiers, the date of birth and the underlying evaluation or separation at home.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import after_commit
from app.domain.access import Principal, Role
from app.errors import NotFound
from app.models import Agency, Listing, Notification, Official, Watch, Webhook, WebhookDelivery
from app.services.audit import audit
from app.services.notifications import delivery
from app.services.screening.watches import remember_match, watches_for_official

log = logging.getLogger(__name__)

NOTIFIED_CHANGES: frozenset[str] = frozenset({"listed", "overturned", "corrected"})
KIND_PREFIX = "listing."


def settings_of(session: Session) -> Settings | None:
    """The application settings the session's factory was configured with (app.main sets
    ``info={"settings": ...}`` on its sessionmaker), or None for a bare factory."""
    found = session.info.get("settings")
    return found if isinstance(found, Settings) else None


@cache
def _warn_without_settings() -> None:
    # Once per process: a bulk import must not log this for every listing.
    log.warning(
        "a session factory without settings wrote a listing: watches are matched by official "
        "and identifier only, not by identity key; configure it with info={'settings': ...}"
    )


@dataclass
class _Recipient:
    agency_id: uuid.UUID | None
    country: str
    watches: list[Watch] = field(default_factory=list)
    previously_notified: bool = False


def notify_listing_change(
    session: Session, *, listing: Listing, change: str, now: dt.datetime
) -> list[Notification]:
    """Tell the agencies concerned that ``listing`` was ``listed``, ``overturned`` or
    ``corrected`` (R12b); any other ``change`` (an appeal filed, upheld) notifies nobody.
    Writes the notifications and their webhook outbox rows in the caller's transaction."""
    if change not in NOTIFIED_CHANGES:
        return []
    official = session.get(Official, listing.official_id)
    if official is None:  # pragma: no cover - the foreign key guarantees it
        return []
    settings = settings_of(session)
    if settings is None:
        _warn_without_settings()
    watches = watches_for_official(
        session, settings=settings, official=official, today=now.date(), lock=True
    )
    recipients: dict[tuple[uuid.UUID | None, str], _Recipient] = {}
    for watch in watches:
        remember_match(watch, official.id)
        key = (watch.agency_id, watch.country)
        recipients.setdefault(key, _Recipient(watch.agency_id, watch.country)).watches.append(watch)
    if change != "listed":
        earlier = session.execute(
            select(Notification.agency_id, Notification.country)
            .where(Notification.listing_id == listing.id)
            .distinct()
        ).all()
        for agency_id, country in earlier:
            recipient = recipients.setdefault((agency_id, country), _Recipient(agency_id, country))
            recipient.previously_notified = True
    if not recipients:
        return []

    listing_agency = session.get(Agency, listing.listed_by)
    base = _payload(official, listing, listing_agency, change=change, now=now)
    notifications = []
    for recipient in sorted(recipients.values(), key=lambda r: (r.country, str(r.agency_id))):
        payload = {
            **base,
            "watches": [
                {"id": str(w.id), "screening_id": str(w.screening_id)} for w in recipient.watches
            ],
            "previously_notified": recipient.previously_notified,
        }
        notifications.append(
            Notification(
                agency_id=recipient.agency_id,
                country=recipient.country,
                kind=KIND_PREFIX + change,
                watch_id=recipient.watches[0].id if recipient.watches else None,
                listing_id=listing.id,
                official_id=official.id,
                payload=payload,
                created_at=now,
            )
        )
    session.add_all(notifications)
    session.flush()
    enqueued = enqueue_deliveries(session, notifications, now=now)
    audit.record(
        session,
        actor=None,
        actor_username="system",
        action="notification.create",
        resource_type="listing",
        resource_id=listing.id,
        details={
            "change": change,
            "notification_ids": [n.id for n in notifications],
            "agency_ids": [n.agency_id for n in notifications],
            "webhook_deliveries": enqueued,
        },
        now=now,
    )
    return notifications


def _payload(
    official: Official,
    listing: Listing,
    agency: Agency | None,
    *,
    change: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Verdict-level facts only (R9, R24): never identifiers, the date of birth, the source
    record or an appeal's reasons."""
    return {
        "change": change,
        "occurred_at": now.isoformat(),
        "official": {
            "id": str(official.id),
            "country": official.country,
            "given_names": official.given_names,
            "first_surname": official.first_surname,
            "second_surname": official.second_surname,
        },
        "listing": {
            "id": str(listing.id),
            "basis": listing.basis,
            "status": listing.status,
            "listed_on": listing.listed_on.isoformat(),
            "listed_by": {
                "id": str(listing.listed_by),
                "name": agency.name if agency else None,
                "acronym": agency.acronym if agency else None,
                "country": agency.country if agency else None,
            },
            "contact": listing.contact,
        },
    }


def enqueue_deliveries(
    session: Session, notifications: Sequence[Notification], *, now: dt.datetime
) -> int:
    """The outbox (DESIGN §7): one delivery row per notification and active webhook of its
    agency, in the notification's own transaction. A webhook registered without an agency (a
    country admin's) receives its country's notifications that have no agency either."""
    rows: list[WebhookDelivery] = []
    for notification in notifications:
        agency_match = (
            Webhook.agency_id.is_(None)
            if notification.agency_id is None
            else Webhook.agency_id == notification.agency_id
        )
        hooks = session.scalars(
            select(Webhook.id).where(
                Webhook.active.is_(True),
                Webhook.country == notification.country,
                agency_match,
            )
        ).all()
        rows.extend(
            WebhookDelivery(
                webhook_id=hook_id,
                notification_id=notification.id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for hook_id in hooks
        )
    if rows:
        session.add_all(rows)
        session.flush()
        # Wake this process's delivery thread, if it runs one, once the rows are committed.
        after_commit(session, delivery.wake)
    return len(rows)


# --- the inbox --------------------------------------------------------------------------------


def _inbox_filter(actor: Principal) -> list[ColumnElement[bool]]:
    """An admin reads its country's notifications; anyone else its own agency's (R24)."""
    if actor.has(Role.ADMIN):
        return [Notification.country == actor.country]
    return [Notification.country == actor.country, Notification.agency_id == actor.agency_id]


def list_notifications(
    session: Session,
    *,
    actor: Principal,
    unread: bool | None,
    since_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[Notification]:
    """The caller's inbox, newest first, keyset paged by id (``before_id`` from the cursor);
    ``since_id`` keeps only newer ones, for clients that poll. Returns up to ``limit + 1``
    rows so the caller knows if more follow."""
    if not actor.has(Role.ADMIN) and actor.agency_id is None:
        return []
    stmt = select(Notification).where(*_inbox_filter(actor))
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    if since_id is not None:
        stmt = stmt.where(Notification.id > since_id)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(limit + 1)))


def get_notification(session: Session, *, actor: Principal, notification_id: int) -> Notification:
    """A notification of the caller's inbox, else 404 (existence does not leak, R24)."""
    notification = session.get(Notification, notification_id)
    if notification is None or not _in_inbox(actor, notification):
        raise NotFound("No such notification", code="NOTIFICATION_NOT_FOUND")
    return notification


def _in_inbox(actor: Principal, notification: Notification) -> bool:
    if notification.country != actor.country:
        return False
    return actor.has(Role.ADMIN) or (
        actor.agency_id is not None and notification.agency_id == actor.agency_id
    )


def mark_read(
    session: Session, *, actor: Principal, notification_id: int, now: dt.datetime
) -> Notification:
    """Mark a notification read for its agency; reading it again keeps the first time."""
    notification = get_notification(session, actor=actor, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = now
        session.flush()
    audit.record(
        session,
        actor=actor,
        action="notification.read",
        resource_type="notification",
        resource_id=notification.id,
        now=now,
    )
    return notification
