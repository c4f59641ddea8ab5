"""Quotas and enumeration alerts (docs/security.md, "Enumeration limits").

A registry of disqualified people must not be scraped, so screening and search are metered per
user in fixed windows. The counters live in ``rate_counters`` (not process memory): every server
process behind the load balancer counts against the same rows (DESIGN §7).

Two kinds of rows, keyed by ``key`` and ``window_start``:

* ``quota:<action>:<user id>`` — ``count`` is the units admitted in the window (one request, or
  one identity of a batch); ``misses`` counts the requests refused in the window, so the first
  refusal of a window can be audited exactly once.
* ``quota:<action>:agency:<agency id>`` — the same, for a volume quota every user of an
  agency shares (listing items returned, official records read: #19, OWASP API6).
* ``streak:<action>:<user id>`` — ``misses`` counts the answers that found nothing (a
  screening that came back clear, an empty search page) in the enumeration window, hits or not
  between them (the name is older than that rule); ``count`` becomes 1 once the
  ``security.enumeration_suspected`` alert has been raised in the window, so it is raised once.
* ``alert:quota:<action>:...`` — claims the window's ``security.bulk_read_suspected`` alert
  for that quota key, so it is raised once.

Every change is one atomic statement: an ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
(PostgreSQL and SQLite ≥ 3.35 both have it), so two processes counting at once never lose an
increment and never both insert the first row of a window. Admission is decided inside that
statement (``WHERE count + cost <= limit``): a refused request does not consume quota.

The functions take the session to count in and do not commit; ``app.api.quota`` chooses the
transaction (for the quota, a short one of its own on PostgreSQL, so a caller's concurrent
requests never wait on one another's row lock for longer than the counting statement; outcomes
go in the request's own, at its end).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.domain.access import Principal
from app.models import RateCounter
from app.services.audit import audit

log = logging.getLogger(__name__)

TABLE: Table = cast(Table, RateCounter.__table__)
QUOTA_EXCEEDED_ACTION = "security.quota_exceeded"
ENUMERATION_ACTION = "security.enumeration_suspected"
BULK_READ_ACTION = "security.bulk_read_suspected"


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    limit: int
    used: int  # units admitted in the window so far (including this request when allowed)
    window_start: dt.datetime
    reset_at: dt.datetime
    retry_after: int  # whole seconds until the window ends (at least 1)
    first_refusal: bool = False  # this request is the first one refused in the window


def window_start(now: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the fixed window holding ``now``: whole multiples of ``seconds`` since the
    epoch, so every process computes the same window without talking to the others."""
    epoch = math.floor(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


def quota_key(action: str, principal: Principal) -> str:
    # Per user: an API key's calls count against the user it belongs to (docs/security.md).
    return f"quota:{action}:{principal.user_id}"


def streak_key(action: str, principal: Principal) -> str:
    return f"streak:{action}:{principal.user_id}"


def _upsert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT support."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(TABLE)
    if name == "sqlite":
        return sqlite.insert(TABLE)
    raise NotImplementedError(f"quotas need PostgreSQL or SQLite, not {name}")  # pragma: no cover


def consume(
    session: Session,
    *,
    key: str,
    cost: int,
    limit: int,
    window_seconds: int,
    now: dt.datetime,
    expire_also: tuple[str, dt.datetime] | None = None,
) -> QuotaDecision:
    """Admit ``cost`` units against ``limit`` per window for ``key``, atomically, or refuse
    without consuming anything. ``expire_also`` names another key and the start of its current
    window: its older windows are dropped with this key's (see ``record_outcomes``)."""
    start = window_start(now, window_seconds)
    reset = start + dt.timedelta(seconds=window_seconds)
    retry_after = max(1, math.ceil((reset - now).total_seconds()))
    used: int | None = None
    if cost <= limit:
        ins = _upsert(session).values(key=key, window_start=start, count=cost, misses=0)
        stmt = ins.on_conflict_do_update(
            index_elements=[TABLE.c.key, TABLE.c.window_start],
            set_={"count": TABLE.c.count + cost},
            where=TABLE.c.count + cost <= limit,
        ).returning(TABLE.c.count)
        used = session.execute(stmt).scalar_one_or_none()
    if used is not None:
        if used == cost:
            # The first request of a new window: forget this key's older windows, so the table
            # holds about one row per active caller and action.
            session.execute(delete(TABLE).where(TABLE.c.key == key, TABLE.c.window_start < start))
            if expire_also is not None:
                other, other_start = expire_also
                session.execute(
                    delete(TABLE).where(TABLE.c.key == other, TABLE.c.window_start < other_start)
                )
        return QuotaDecision(True, limit, used, start, reset, retry_after)
    ins = _upsert(session).values(key=key, window_start=start, count=0, misses=1)
    refused = ins.on_conflict_do_update(
        index_elements=[TABLE.c.key, TABLE.c.window_start],
        set_={"misses": TABLE.c.misses + 1},
    ).returning(TABLE.c.count, TABLE.c.misses)
    count, refusals = session.execute(refused).one()
    return QuotaDecision(
        False, limit, int(count), start, reset, retry_after, first_refusal=refusals == 1
    )


def audit_refusal(
    session: Session,
    *,
    actor: Principal,
    action: str,
    decision: QuotaDecision,
    cost: int,
    now: dt.datetime,
    scope: str = "user",
) -> None:
    """Record the first refusal of a window (later ones in the window add nothing new, and
    one event per refused request would let a caller flood the audit log). ``scope`` says
    whose quota was used up: the user's, or its agency's (volume quotas)."""
    audit.record(
        session,
        actor=actor,
        action=QUOTA_EXCEEDED_ACTION,
        resource_type="quota",
        resource_id=action,
        outcome="refused",
        details={
            "quota": action,
            "limit": decision.limit,
            "used": decision.used,
            "cost": cost,
            "scope": scope,
            "window_start": decision.window_start.isoformat(),
            "via": actor.via,
            "api_key_id": str(actor.api_key_id) if actor.api_key_id else None,
        },
        now=now,
    )
    log.warning(
        "quota exceeded",
        extra={
            "quota": action,
            "scope": scope,
            "user_id": str(actor.user_id),
            "limit": decision.limit,
        },
    )


def record_outcomes(
    session: Session,
    *,
    actor: Principal,
    action: str,
    hits: Sequence[bool],
    threshold: int,
    window_seconds: int,
    now: dt.datetime,
) -> int | None:
    """Add the misses among ``hits`` to the caller's count for the enumeration window and raise
    the enumeration alert when it reaches ``threshold`` — once per window, whichever process
    sees it first. Hits do not reset the count (#19): 447 misses with a known hit every 150
    are an enumeration as surely as 447 in a row. Returns the count when this call raised the
    alert. A request that found something writes nothing here."""
    missed = sum(1 for hit in hits if not hit)
    if not missed:
        return None
    key = streak_key(action, actor)
    start = window_start(now, window_seconds)
    ins = _upsert(session).values(key=key, window_start=start, count=0, misses=missed)
    stmt = ins.on_conflict_do_update(
        index_elements=[TABLE.c.key, TABLE.c.window_start],
        set_={"misses": TABLE.c.misses + missed},
    ).returning(TABLE.c.misses, TABLE.c.count)
    # Older windows of this key are dropped by ``consume`` when the caller's quota window
    # turns over (``expire_also``), which costs no extra statement here on the hot path.
    misses, alerted = session.execute(stmt).one()
    if misses < threshold or alerted:
        return None
    claimed = session.execute(
        update(TABLE)
        .where(TABLE.c.key == key, TABLE.c.window_start == start, TABLE.c.count == 0)
        .values(count=1)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None  # another process raised it a moment ago
    audit.record(
        session,
        actor=actor,
        action=ENUMERATION_ACTION,
        resource_type="principal",
        resource_id=actor.principal_key,
        outcome="alert",
        details={
            "activity": action,
            "misses_in_window": int(misses),
            "threshold": threshold,
            "window_start": start.isoformat(),
            "window_seconds": window_seconds,
            "via": actor.via,
            "api_key_id": str(actor.api_key_id) if actor.api_key_id else None,
        },
        now=now,
    )
    log.warning(
        "enumeration suspected",
        extra={"activity": action, "user_id": str(actor.user_id), "misses_in_window": misses},
    )
    return int(misses)


# --- Volume: how much of the registry a user or an agency reads (#19, OWASP API6) ------------


def agency_quota_key(action: str, agency_id: object) -> str:
    """One budget shared by every user of an agency: ten accounts do not copy ten times more."""
    return f"quota:{action}:agency:{agency_id}"


def give_back(
    session: Session, *, keys: Sequence[str], window_start: dt.datetime, units: int
) -> None:
    """Return ``units`` reserved by ``consume`` but not used (a page shorter than asked for)
    to each of ``keys``. A window that has turned over meanwhile is gone, and with it the
    reservation: nothing to return.

    One statement per key, in the order given — the order ``consume`` reserves them in (the
    user's budget, then its agency's). A single ``UPDATE … WHERE key IN (…)`` locks the rows
    in whatever order the table is scanned, and a request giving back in its own transaction
    deadlocked on PostgreSQL with another request of the agency reserving (user, then agency)
    in its short one (tests/security/test_concurrency_pg.py)."""
    if units <= 0:
        return
    for key in keys:
        session.execute(
            update(TABLE)
            .where(TABLE.c.key == key, TABLE.c.window_start == window_start)
            .values(count=TABLE.c.count - units)
        )


def raise_bulk_read_alert(
    session: Session,
    *,
    actor: Principal,
    action: str,
    scope: str,
    key: str,
    decision: QuotaDecision,
    cost: int,
    threshold: int,
    now: dt.datetime,
) -> bool:
    """Raise ``security.bulk_read_suspected`` when the admitted ``cost`` took ``key``'s use of
    the window to ``threshold`` or past it: the volume of what is read, not misses, is the
    sign of a copy being made. Once per key and window, whichever process gets there first
    (an ``alert:`` row claims it, since units given back can cross the line again). Costs
    nothing unless this request crossed the line."""
    if not decision.allowed or not decision.used - cost < threshold <= decision.used:
        return False
    alert_key = f"alert:{key}"
    claim = (
        _upsert(session)
        .values(key=alert_key, window_start=decision.window_start, count=1, misses=0)
        .on_conflict_do_nothing(index_elements=[TABLE.c.key, TABLE.c.window_start])
        .returning(TABLE.c.count)
    )
    if session.execute(claim).scalar_one_or_none() is None:
        return False
    session.execute(
        delete(TABLE).where(TABLE.c.key == alert_key, TABLE.c.window_start < decision.window_start)
    )
    audit.record(
        session,
        actor=actor,
        action=BULK_READ_ACTION,
        resource_type="agency" if scope == "agency" else "principal",
        resource_id=actor.agency_id if scope == "agency" else actor.principal_key,
        outcome="alert",
        details={
            "activity": action,
            "scope": scope,
            "used": decision.used,
            "threshold": threshold,
            "limit": decision.limit,
            "window_start": decision.window_start.isoformat(),
            "via": actor.via,
            "api_key_id": str(actor.api_key_id) if actor.api_key_id else None,
        },
        now=now,
    )
    log.warning(
        "bulk read suspected",
        extra={
            "activity": action,
            "scope": scope,
            "user_id": str(actor.user_id),
            "agency_id": str(actor.agency_id) if actor.agency_id else None,
            "used": decision.used,
        },
    )
    return True
