"""Quotas on screening and search, and the enumeration alert, for routes (docs/security.md).

Wiring, in a router::

    from app.api.quota import enforce_quota, record_outcome

    @router.post("", ..., dependencies=[Depends(enforce_quota("screening"))],
                 responses=problem_responses(401, 403, 422, 429))
    def create_screening(...):
        ...
        record_outcome(session, principal=actor, action="screening",
                       hit=result.screening.verdict != "clear", now=clock.now())

``enforce_quota`` answers 429 with ``Retry-After`` once the caller's user has used its quota
for the window (settings ``quota_*``); ``record_outcome`` counts answers that found nothing and
raises the ``security.enumeration_suspected`` audit event when too many come within the
enumeration window. ``ListingItemsQuota`` and ``OfficialReadsQuota`` meter the volume read, per
user and per agency (settings ``quota_listing_items*``, ``quota_official_reads*``; #19).

Transactions (#17): a metered request is one transaction. Before the route runs, the
dependency reads the window's count (a plain read, no lock) and refuses at once a request that
no longer fits. The units themselves are admitted at the end of the request's own transaction,
just before it commits (``app.db.before_commit``), by the same atomic statement as before
(``WHERE count + cost <= limit``): the quota row is locked only from that statement to the
commit, so a caller's concurrent requests never wait on one another for the length of a
request, and a request whose work rolls back, or that fails validation, consumes nothing.
Requests racing for the last units all pass the read; the statement admits exactly as many as
fit, and the others roll back whole (their screening is not kept) and are answered 429. A
refusal is recorded (the window's refusal count, the first one audited) in a transaction of
its own, so it stays when the request's rolls back. This replaced a transaction of its own per
request for counting (on SQLite, an intermediate commit of the request's session).

Outcomes join the request's transaction too: routes record them last, after the answer is
built, so the streak row is locked only from that statement to the commit, and a request whose
write rolls back leaves no outcome behind. Lock order is always the streak row, then the quota
row.

Volume quotas (``listing_items``, ``official_reads``) still reserve in a short transaction of
their own before the route runs (on SQLite, the request's session committed at once): a page's
size is reserved up front and settled after, and the routes they meter are not on #17's hot path.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.api.pagination import MAX_LIMIT
from app.auth.principal import SettingsDep, authenticate
from app.clock import ClockDep
from app.config import Settings
from app.db import SessionDep, after_transaction, before_commit, unit_of_work
from app.domain.access import Principal
from app.errors import TooManyRequests
from app.services.audit import quotas

_T = TypeVar("_T")
DEFAULT_PAGE_SIZE = 50  # the routes' ``limit`` default

QuotaAction = Literal["screening", "screening_batch", "search"]

# The setting holding each action's limit per window. A batch is metered by its identities.
LIMIT_SETTINGS: dict[str, str] = {
    "screening": "quota_screenings",
    "screening_batch": "quota_screening_items",
    "search": "quota_searches",
}
# Single and batch screenings feed one run of misses: both probe the same registry.
STREAKS: dict[str, str] = {
    "screening": "screening",
    "screening_batch": "screening",
    "search": "search",
}


async def batch_items(request: Request) -> int:
    """The number of identities in a batch body (``{"items": [...]}``), read from the body
    FastAPI has already received. A body that is not such an object, or a batch over
    ``screening_batch_max_items``, counts as one request: validation refuses it (422) without
    screening anyone, and it must not use up the window's quota or be answered 429."""
    try:
        body = await request.json()
    except ValueError:
        return 1
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return 1
    settings: Settings = request.app.state.settings
    return max(1, len(items)) if len(items) <= settings.screening_batch_max_items else 1


async def single_request() -> int:
    return 1  # async: nothing to wait for, so no hop to the threadpool


def _separate_transactions(session: Session) -> bool:
    return session.get_bind().dialect.name != "sqlite"


def _factory(session: Session) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = session.info["factory"]
    return factory


def _settings(session: Session) -> Settings:
    settings: Settings = session.info["settings"]
    return settings


def _consume(
    session: Session,
    *,
    principal: Principal,
    action: str,
    cost: int,
    settings: Settings,
    now: dt.datetime,
) -> quotas.QuotaDecision:
    streak = STREAKS[action]
    decision = quotas.consume(
        session,
        key=quotas.quota_key(action, principal),
        cost=cost,
        limit=getattr(settings, LIMIT_SETTINGS[action]),
        window_seconds=settings.quota_window_seconds,
        now=now,
        expire_also=(
            quotas.streak_key(streak, principal),
            quotas.window_start(now, settings.enumeration_window_seconds),
        ),
    )
    if decision.first_refusal:
        quotas.audit_refusal(
            session, actor=principal, action=action, decision=decision, cost=cost, now=now
        )
    return decision


def _counted(session: Session, count: Callable[[Session], _T]) -> _T:
    """Run ``count`` where the quota is counted (see the module docstring): a short transaction
    of its own on PostgreSQL, the request's session committed at once on SQLite."""
    if _separate_transactions(session):
        with unit_of_work(_factory(session)) as own:
            return count(own)
    result = count(session)
    session.commit()  # its after-commit hooks run here (app.db.after_commit)
    return result


def _too_many(
    action: str, decision: quotas.QuotaDecision, window_seconds: int, **extra: object
) -> TooManyRequests:
    return TooManyRequests(
        "Quota of {limit} per {window} seconds for {quota} used up; retry in {seconds} seconds",
        code="QUOTA_EXCEEDED",
        headers={"Retry-After": str(decision.retry_after)},
        extra={
            "quota": action,
            "limit": decision.limit,
            "window_seconds": window_seconds,
            "retry_after": decision.retry_after,
            **extra,
        },
        limit=decision.limit,
        window=window_seconds,
        quota=action,
        seconds=decision.retry_after,
    )


def _used(session: Session, key: str, start: dt.datetime) -> int:
    """Units admitted so far in the window starting at ``start`` (a plain read: no lock)."""
    used = session.execute(
        select(quotas.TABLE.c.count).where(
            quotas.TABLE.c.key == key, quotas.TABLE.c.window_start == start
        )
    ).scalar_one_or_none()
    return int(used or 0)


def _record_refusal(
    factory: sessionmaker[Session],
    consume: Callable[[Session], quotas.QuotaDecision],
    key: str,
    cost: int,
) -> None:
    """A request refused at its commit: count the refusal (auditing the window's first) in a
    unit of work of its own, the request's having rolled back."""
    with unit_of_work(factory) as own:
        decision = consume(own)
        if decision.allowed:  # the window turned over meanwhile: the request did nothing
            quotas.give_back(own, keys=(key,), window_start=decision.window_start, units=cost)


def enforce_quota(action: QuotaAction) -> Callable[..., None]:
    """A dependency that meters ``action`` for the authenticated caller's user and answers 429
    (code ``QUOTA_EXCEEDED``, ``Retry-After``) when the window's quota is used up. The units are
    admitted in the request's own transaction, just before it commits (module docstring). A
    refused request consumes nothing; the first refusal of a window is audited."""
    if action not in LIMIT_SETTINGS:
        raise ValueError(f"unknown quota action {action!r}")
    cost_of = batch_items if action == "screening_batch" else single_request

    def dependency(
        session: SessionDep,
        settings: SettingsDep,
        clock: ClockDep,
        principal: Annotated[Principal, Depends(authenticate)],
        # A default, not Annotated: the annotation is a string (PEP 563) and ``cost_of`` is
        # local to this factory, where FastAPI could not resolve it.
        cost: int = Depends(cost_of),
    ) -> None:
        now = clock.now()
        limit = getattr(settings, LIMIT_SETTINGS[action])
        start = quotas.window_start(now, settings.quota_window_seconds)
        key = quotas.quota_key(action, principal)

        def consume(s: Session) -> quotas.QuotaDecision:
            return _consume(
                s, principal=principal, action=action, cost=cost, settings=settings, now=now
            )

        if _used(session, key, start) + cost > limit:
            # Counted (and the first refusal audited) where it stays committed.
            decision = _counted(session, consume)
            if not decision.allowed:
                raise _too_many(action, decision, settings.quota_window_seconds)
            return  # units were given back since the read: counted already, as before

        def admit() -> None:
            decision = consume(session)
            if decision.allowed:
                return
            # Concurrent requests took the last units since the read above: this request's
            # work rolls back whole, and its refusal is recorded once that is done.
            factory = _factory(session)
            after_transaction(session, lambda: _record_refusal(factory, consume, key, cost))
            raise _too_many(action, decision, settings.quota_window_seconds)

        before_commit(session, admit)

    dependency.quota_action = action  # type: ignore[attr-defined]
    return dependency


# --- Volume quotas (#19, OWASP API6) -----------------------------------------------------------

VolumeAction = Literal["listing_items", "official_reads"]

# The settings holding each volume quota: per user, and per agency (shared by its users).
VOLUME_SETTINGS: dict[str, tuple[str, str]] = {
    "listing_items": ("quota_listing_items", "quota_listing_items_per_agency"),
    "official_reads": ("quota_official_reads", "quota_official_reads_per_agency"),
}


@dataclass(frozen=True)
class Reservation:
    """Units of a volume quota admitted for this request, on every budget it draws on."""

    units: int
    keys: tuple[str, ...]
    window_start: dt.datetime

    def settle(self, session: Session, *, used: int) -> None:
        """Give back what the request did not use (a page shorter than its ``limit``), in the
        request's own transaction: call it last, as the row lock lasts until the commit."""
        quotas.give_back(
            session, keys=self.keys, window_start=self.window_start, units=self.units - used
        )


def _reserve(
    session: Session,
    *,
    principal: Principal,
    action: str,
    cost: int,
    settings: Settings,
    now: dt.datetime,
) -> tuple[Reservation | None, quotas.QuotaDecision, str]:
    """Admit ``cost`` units on the user's budget, then on its agency's; refused by either, the
    request consumes nothing on both. Reaching ``bulk_read_alert_percent`` of a budget raises
    ``security.bulk_read_suspected``."""
    user_setting, agency_setting = VOLUME_SETTINGS[action]
    budgets = [("user", quotas.quota_key(action, principal), getattr(settings, user_setting))]
    if principal.agency_id is not None:
        budgets.append(
            (
                "agency",
                quotas.agency_quota_key(action, principal.agency_id),
                getattr(settings, agency_setting),
            )
        )
    admitted: list[str] = []
    decision: quotas.QuotaDecision | None = None
    for scope, key, limit in budgets:
        decision = quotas.consume(
            session,
            key=key,
            cost=cost,
            limit=limit,
            window_seconds=settings.quota_volume_window_seconds,
            now=now,
        )
        if not decision.allowed:
            quotas.give_back(session, keys=admitted, window_start=decision.window_start, units=cost)
            if decision.first_refusal:
                quotas.audit_refusal(
                    session,
                    actor=principal,
                    action=action,
                    decision=decision,
                    cost=cost,
                    now=now,
                    scope=scope,
                )
            return None, decision, scope
        admitted.append(key)
        quotas.raise_bulk_read_alert(
            session,
            actor=principal,
            action=action,
            scope=scope,
            key=key,
            decision=decision,
            cost=cost,
            threshold=max(1, math.ceil(limit * settings.bulk_read_alert_percent / 100)),
            now=now,
        )
    assert decision is not None  # the user's budget is always there
    return Reservation(cost, tuple(admitted), decision.window_start), decision, "user"


def _enforce_volume(
    session: Session,
    settings: Settings,
    now: dt.datetime,
    principal: Principal,
    action: VolumeAction,
    cost: int,
) -> Reservation:
    reservation, decision, scope = _counted(
        session,
        lambda s: _reserve(
            s, principal=principal, action=action, cost=cost, settings=settings, now=now
        ),
    )
    if reservation is None:
        raise _too_many(
            action,
            decision,
            settings.quota_volume_window_seconds,
            scope=scope,
            remaining=max(0, decision.limit - decision.used),
        )
    return reservation


def page_size(request: Request) -> int:
    """The ``limit`` a page asks for, read as the route reads it (``Limit``: 1 to 200, 50 when
    absent). A value the route will refuse (422) costs one unit, not a page: declaring
    ``limit`` here too would report its errors twice."""
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        return 1
    return size if 1 <= size <= MAX_LIMIT else 1


def listing_items_quota(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(authenticate)],
) -> Iterator[Reservation]:
    """Meter a page of listings by the items it may return: its ``limit`` is reserved up
    front, atomically (so concurrent pages never overrun the quota), and the route gives back
    what the page did not fill (``Reservation.settle``). A page that no longer fits is refused
    with 429 and the ``remaining`` units: a smaller page may still pass."""
    cost = page_size(request)
    reservation = _enforce_volume(session, settings, clock.now(), principal, "listing_items", cost)
    yield from _returned_if_refused(session, reservation)


def official_reads_quota(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(authenticate)],
) -> Iterator[Reservation]:
    """Meter a read of one official's record: one unit per read, found or not (a miss is an
    id being probed)."""
    reservation = _enforce_volume(session, settings, clock.now(), principal, "official_reads", 1)
    yield from _returned_if_refused(session, reservation)


def _returned_if_refused(session: Session, reservation: Reservation) -> Iterator[Reservation]:
    """A request that fails after its reservation (a forged cursor or a bad filter: 4xx; or a
    5xx) read nothing, so every unit it reserved goes back: invalid requests never eat a
    caseload's budget (#19). The request's own transaction is rolled back first (it is failing
    anyway, and on SQLite it holds the write lock the give-back needs)."""
    try:
        yield reservation
    except Exception:
        session.rollback()
        _counted(
            session,
            lambda s: quotas.give_back(
                s,
                keys=reservation.keys,
                window_start=reservation.window_start,
                units=reservation.units,
            ),
        )
        raise


listing_items_quota.quota_action = "listing_items"  # type: ignore[attr-defined]
official_reads_quota.quota_action = "official_reads"  # type: ignore[attr-defined]


def record_outcomes(
    session: Session,
    *,
    principal: Principal,
    action: QuotaAction,
    hits: Sequence[bool],
    now: dt.datetime,
    settings: Settings | None = None,
) -> None:
    """Count the answers of a metered request: ``True`` when it found something (a screening
    with a candidate, a non-empty search page), ``False`` for a miss. When the caller's misses
    within ``enumeration_window_seconds`` reach ``enumeration_miss_threshold`` — hits between
    them or not (#19) — the audit event ``security.enumeration_suspected`` is raised, once per
    window.
    Counted in ``session``, the request's own transaction: call it once the answer is built."""
    config = settings or _settings(session)
    quotas.record_outcomes(
        session,
        actor=principal,
        action=STREAKS[action],
        hits=hits,
        threshold=config.enumeration_miss_threshold,
        window_seconds=config.enumeration_window_seconds,
        now=now,
    )


def record_outcome(
    session: Session,
    *,
    principal: Principal,
    action: QuotaAction,
    hit: bool,
    now: dt.datetime,
    settings: Settings | None = None,
) -> None:
    """``record_outcomes`` for one answer."""
    record_outcomes(
        session, principal=principal, action=action, hits=[hit], now=now, settings=settings
    )


# scope="function", like the session they use: the give-back of a failed request must run
# before the session's own teardown.
ListingItemsQuota = Annotated[Reservation, Depends(listing_items_quota, scope="function")]
OfficialReadsQuota = Depends(official_reads_quota, scope="function")
ScreeningQuota = Depends(enforce_quota("screening"))
ScreeningBatchQuota = Depends(enforce_quota("screening_batch"))
SearchQuota = Depends(enforce_quota("search"))
