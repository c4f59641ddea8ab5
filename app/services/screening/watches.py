"""Watches left by screenings (R12b).

A screening made with ``"watch": true`` leaves a watch on the screened identity. The watch
follows that identity in three ways, so a person who had no candidate at screening time is still
caught when registered and listed later:

* the officials the screening matched at or above the review band (``matched_official_ids``,
  kept current: an official later found through the other two ways is added);
* the identity key: a keyed hash of the normalised names and date of birth (``identity_key``,
  the single definition; the screening service imports it from here);
* the blind indexes of the identifiers given to the screening (``Screening.identifier_indexes``,
  compared with ``official_identifiers.blind_index``).

``watches_for_official`` answers "which watches follow this official" for the notification
fan-out (app.services.notifications.notifications).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, or_, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.access import Principal, Role
from app.domain.names import normalise_name
from app.errors import NotFound
from app.models import Official, OfficialIdentifier, Screening, ScreeningMatch, Watch
from app.services.audit import audit

# Bands of ScreeningMatch (app.services.screening.matching.band_for) that make an official
# "matched".
WATCHED_BANDS = ("high", "review")
# A hiring decision is long made after two years; an endless watch would also make every
# listing scan an ever-growing table.
WATCH_DAYS = 730

_IDENTITY_DOMAIN = "vetting-registry/identity/v1"


def identity_key(
    settings: Settings,
    given_names: str,
    first_surname: str,
    second_surname: str | None,
    date_of_birth: dt.date,
) -> str:
    """The identity key of a person (R12a, R12b): ``HMAC-SHA256(blind_index_key, msg)`` as
    lowercase hex, where ``msg`` is ``"vetting-registry/identity/v1|GIVEN|FIRST|SECOND|YYYY-MM-DD"``
    with each name through ``matching.normalise_name`` (upper-case, accent-free, single spaces;
    an absent second surname is empty).

    The key makes equal identities findable by an indexed equality lookup without storing or
    comparing raw names; without the key it reveals nothing. The domain label keeps it apart
    from the identifier blind indexes made with the same key. This is the only definition:
    screenings and watches must agree on it bit for bit.
    """
    parts = (
        _IDENTITY_DOMAIN,
        normalise_name(given_names),
        normalise_name(first_surname),
        normalise_name(second_surname or ""),
        date_of_birth.isoformat(),
    )
    message = "|".join(parts).encode("utf-8")
    return hmac.new(settings.blind_index_key_bytes, message, hashlib.sha256).hexdigest()


def official_identity_key(settings: Settings, official: Official) -> str:
    return identity_key(
        settings,
        official.given_names,
        official.first_surname,
        official.second_surname,
        official.date_of_birth,
    )


def create_watch(
    session: Session, *, screening: Screening, actor: Principal, now: dt.datetime
) -> Watch:
    """Leave a watch on a screened identity (R12b). ``screening`` is flushed, with its
    ScreeningMatch rows; the officials it matched at or above the review band are watched by
    id, the identity by its key and identifier blind indexes. One watch per screening: a
    second call returns the first watch unchanged."""
    existing = session.scalar(select(Watch).where(Watch.screening_id == screening.id))
    if existing is not None:
        return existing
    matched = session.scalars(
        select(ScreeningMatch.official_id)
        .where(ScreeningMatch.screening_id == screening.id, ScreeningMatch.band.in_(WATCHED_BANDS))
        .order_by(ScreeningMatch.rank)
    ).all()
    watch = Watch(
        screening_id=screening.id,
        agency_id=screening.agency_id,
        country=screening.country,
        created_by=actor.user_id,
        identity_key=screening.identity_key,
        matched_official_ids=[str(official_id) for official_id in matched],
        active=True,
        expires_on=now.date() + dt.timedelta(days=WATCH_DAYS),
        created_at=now,
    )
    session.add(watch)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="watch.create",
        resource_type="watch",
        resource_id=watch.id,
        details={"screening_id": screening.id, "matched_officials": len(matched)},
        now=now,
    )
    return watch


def _json_holds(column: Any, value: str) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array of strings in ``column``. A text match on the
    serialised array, so the same SQL works on SQLite and PostgreSQL; the values compared
    (UUIDs, hex digests) hold no LIKE wildcards or quotes."""
    return cast(column, String).like(f'%"{value}"%')


def watches_for_official(
    session: Session,
    *,
    settings: Settings | None,
    official: Official,
    today: dt.date,
    lock: bool = False,
) -> list[Watch]:
    """Active, unexpired watches that follow ``official`` (R12b): it was matched by the
    screening, or it has the screened identity key, or one of its identifiers was given to the
    screening. Without settings (a session not made by the application) the identity key
    cannot be computed and only the other two ways apply. With ``lock`` the watch rows are
    locked in id order, so concurrent fan-outs update ``matched_official_ids`` one by one."""
    conditions: list[ColumnElement[bool]] = [
        _json_holds(Watch.matched_official_ids, str(official.id))
    ]
    if settings is not None:
        conditions.append(Watch.identity_key == official_identity_key(settings, official))
    indexes = session.scalars(
        select(OfficialIdentifier.blind_index).where(OfficialIdentifier.official_id == official.id)
    ).all()
    conditions.extend(_json_holds(Screening.identifier_indexes, index) for index in indexes)
    stmt = (
        select(Watch)
        .join(Screening, Screening.id == Watch.screening_id)
        .where(
            Watch.active.is_(True),
            or_(Watch.expires_on.is_(None), Watch.expires_on >= today),
            or_(*conditions),
        )
        .order_by(Watch.id)
    )
    if lock:
        stmt = stmt.with_for_update(of=Watch)
    return list(session.scalars(stmt))


def remember_match(watch: Watch, official_id: uuid.UUID) -> None:
    """Keep ``matched_official_ids`` current, so a later overturn of this official's listing
    reaches the watch even if it was found by identity key or identifier."""
    value = str(official_id)
    if value not in watch.matched_official_ids:
        # A new list, not an in-place append: plain JSON columns do not track mutation.
        watch.matched_official_ids = [*watch.matched_official_ids, value]


# --- reading and deactivating ----------------------------------------------------------------


@dataclass(frozen=True)
class WatchRow:
    watch: Watch
    screening: Screening


def _scoped(stmt: Select[Watch, Screening], actor: Principal) -> Select[Watch, Screening]:
    """Admins see their country's watches, everyone else their own agency's (R24, R25)."""
    stmt = stmt.where(Watch.country == actor.country)
    if not actor.has(Role.ADMIN):
        stmt = stmt.where(Watch.agency_id == actor.agency_id)
    return stmt


def list_watches(
    session: Session,
    *,
    actor: Principal,
    active: bool | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[WatchRow]:
    """The caller's agency's watches (an admin: its country's), newest first, keyset paged
    on (created_at, id); returns up to ``limit + 1`` rows so the caller knows if more follow."""
    stmt = _scoped(
        select(Watch, Screening).join(Screening, Screening.id == Watch.screening_id), actor
    ).order_by(Watch.created_at.desc(), Watch.id.desc())
    if active is not None:
        stmt = stmt.where(Watch.active.is_(active))
    if after:
        created_at, last_id = after
        stmt = stmt.where(
            (Watch.created_at < created_at)
            | ((Watch.created_at == created_at) & (Watch.id < last_id))
        )
    rows = session.execute(stmt.limit(limit + 1)).all()
    return [WatchRow(watch, screening) for watch, screening in rows]


def get_watch(session: Session, *, actor: Principal, watch_id: uuid.UUID) -> WatchRow:
    """A watch in the caller's scope, else 404 (existence does not leak, R24)."""
    stmt = _scoped(
        select(Watch, Screening)
        .join(Screening, Screening.id == Watch.screening_id)
        .where(Watch.id == watch_id),
        actor,
    )
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("No such watch", code="WATCH_NOT_FOUND")
    return WatchRow(*row)


def deactivate_watch(
    session: Session, *, actor: Principal, watch_id: uuid.UUID, now: dt.datetime
) -> WatchRow:
    """Stop a watch (R12b). Notifications already sent stay, and corrections of listings it
    reported still reach the agency ("corrections reach everyone who received the record")."""
    row = get_watch(session, actor=actor, watch_id=watch_id)
    if row.watch.active:
        row.watch.active = False
        session.flush()
    audit.record(
        session,
        actor=actor,
        action="watch.deactivate",
        resource_type="watch",
        resource_id=row.watch.id,
        details={"screening_id": row.watch.screening_id},
        now=now,
    )
    return row
