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
raises the ``security.enumeration_suspected`` audit event when too many come in a row.

Transactions: on PostgreSQL the quota is counted in a short transaction of its own, committed
before the route runs, so a caller's concurrent requests see each other's units at once and
never wait on one another's row lock for the length of a request. On SQLite a request's session
holds the database's only write lock from its first statement, so a second transaction would
wait for the request itself: there the quota is counted in the request's session and committed
at once (the dependency runs before the route has written anything).

Outcomes join the request's transaction on both: routes record them last, after the answer is
built, so the streak row is locked only from that statement to the commit, and a request whose
write rolls back leaves no outcome behind. A transaction of their own cost a connection
checkout, a ping and a commit on every metered request (docs/benchmark.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.auth.principal import Principal, SettingsDep, authenticate
from app.clock import ClockDep
from app.config import Settings
from app.db import SessionDep, run_after_commit, unit_of_work
from app.errors import TooManyRequests
from app.services import quotas

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


def enforce_quota(action: QuotaAction) -> Callable[..., None]:
    """A dependency that meters ``action`` for the authenticated caller's user and answers 429
    (code ``QUOTA_EXCEEDED``, ``Retry-After``) when the window's quota is used up. A refused
    request consumes nothing; the first refusal of a window is audited."""
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
        if _separate_transactions(session):
            with unit_of_work(_factory(session)) as own:
                decision = _consume(
                    own, principal=principal, action=action, cost=cost, settings=settings, now=now
                )
        else:
            decision = _consume(
                session, principal=principal, action=action, cost=cost, settings=settings, now=now
            )
            session.commit()
            run_after_commit(session)
        if not decision.allowed:
            raise TooManyRequests(
                "Quota of {limit} per {window} seconds for {quota} used up; "
                "retry in {seconds} seconds",
                code="QUOTA_EXCEEDED",
                headers={"Retry-After": str(decision.retry_after)},
                extra={
                    "quota": action,
                    "limit": decision.limit,
                    "window_seconds": settings.quota_window_seconds,
                    "retry_after": decision.retry_after,
                },
                limit=decision.limit,
                window=settings.quota_window_seconds,
                quota=action,
                seconds=decision.retry_after,
            )

    dependency.quota_action = action  # type: ignore[attr-defined]
    return dependency


def record_outcomes(
    session: Session,
    *,
    principal: Principal,
    action: QuotaAction,
    hits: Sequence[bool],
    now: dt.datetime,
    settings: Settings | None = None,
) -> None:
    """Count the answers of a metered request in order: ``True`` when it found something (a
    screening with a candidate, a non-empty search page), ``False`` for a miss. When the
    caller's misses in a row reach ``enumeration_miss_threshold``, the audit event
    ``security.enumeration_suspected`` is raised, once per ``enumeration_window_seconds``.
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


ScreeningQuota = Depends(enforce_quota("screening"))
ScreeningBatchQuota = Depends(enforce_quota("screening_batch"))
SearchQuota = Depends(enforce_quota("search"))
