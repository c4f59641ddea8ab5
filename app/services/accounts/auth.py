"""Login with throttling (R26).

Failed attempts are counted per username and per client address in the database, so the limit
holds across server processes. A blocked key answers 429 with ``Retry-After`` before any password
is checked. An unknown username costs one Argon2 verification, like a wrong password.

Usernames are unique per country (#18 F5). A login may name its country; without it the
username is looked for in both countries and the password checked against each (one Argon2 run
per country whether the name exists there or not), and only a single match logs in. Every
refusal is the same 401, so nobody learns whether, or where, a username exists (R24).

Login events (R22, #18 F6) carry the country, agency and id of the user the username names, so
only that country's auditors see them (``services.audit_queries``). A username that names
nobody has no country: its event is still recorded and chained, and no country's ``/audit``
shows it (docs/security.md 3.6).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.passwords import PasswordHasher
from app.auth.tokens import issue_access_token
from app.config import Settings
from app.db import unit_of_work
from app.domain.access import Country
from app.errors import TooManyRequests, Unauthorized
from app.models import LoginThrottle, User
from app.services.audit import audit


def _keys(username: str, client_addr: str | None) -> list[tuple[str, int]]:
    return [(f"user:{username.lower()}", 0), (f"addr:{client_addr or 'unknown'}", 1)]


def _limit(settings: Settings, kind: int) -> int:
    return (
        settings.login_max_failures_per_user
        if kind == 0
        else settings.login_max_failures_per_address
    )


def _blocked_for(session: Session, keys: list[str], now: dt.datetime) -> int:
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    wait = 0.0
    for row in rows:
        if row.blocked_until and row.blocked_until > now:
            wait = max(wait, (row.blocked_until - now).total_seconds())
    return math.ceil(wait)


def _record_failure(
    factory: sessionmaker[Session],
    settings: Settings,
    keys: list[tuple[str, int]],
    now: dt.datetime,
) -> None:
    window = dt.timedelta(seconds=settings.login_failure_window_seconds)
    for attempt in range(3):
        try:
            with unit_of_work(factory) as session:
                for key, kind in keys:
                    row = session.get(LoginThrottle, key, with_for_update=True)
                    if row is None:
                        row = LoginThrottle(key=key, failures=0, window_started_at=now)
                        session.add(row)
                    if now - row.window_started_at > window:
                        row.failures, row.window_started_at = 0, now
                    row.failures += 1
                    if row.failures >= _limit(settings, kind):
                        row.blocked_until = now + dt.timedelta(
                            seconds=settings.login_lockout_seconds
                        )
                        row.failures, row.window_started_at = 0, now
            return
        except IntegrityError:
            # Two first failures raced to insert the same counter; count again on the row
            # the other one created.
            if attempt == 2:
                raise


def _login_actor(user: User | None, username: str) -> dict[str, Any]:
    """Who a login event is about (#18 F6): the named user's id, country and agency, so the
    event stays within that country's audit; nothing but the tried name for an unknown one."""
    if user is None:
        return {"actor_username": username[:80]}
    return {
        "actor_username": user.username,
        "actor_id": user.id,
        "actor_country": user.country,
        "actor_agency_id": user.agency_id,
    }


def _candidates(session: Session, username: str, country: str | None) -> list[User]:
    """The users a login may mean (#18 F5): the username's user in ``country``, or in either
    country when none is named. At most one per country (``uq_users_country_username``)."""
    stmt = select(User).where(User.username == username)
    if country is not None:
        stmt = stmt.where(User.country == country)
    return list(session.scalars(stmt.order_by(User.country)))


def _verifications(country: str | None) -> int:
    """Argon2 runs a login costs, whatever exists: one when the country is named, else one per
    country — so the time taken tells nobody whether the name exists, or in how many
    countries (R24, #18 F5)."""
    return 1 if country is not None else len(Country)


def _record_login_failure(
    session: Session,
    *,
    candidates: list[User],
    checked: list[bool],
    username: str,
    now: dt.datetime,
) -> None:
    """The audit of a refused login (R22, #18 F6): one event per user the name named, each in
    its own country, saying why; one event naming nobody (so shown to no country) when the
    name is unknown, or when the password fits a user of each country and so names no one."""
    active_matches = [u for u, ok in zip(candidates, checked, strict=True) if ok and u.is_active]
    if not candidates or len(active_matches) > 1:
        audit.record(
            session,
            actor=None,
            action="auth.login",
            resource_type="user",
            outcome="failure",
            details={"reason": "ambiguous" if candidates else "unknown_user"},
            now=now,
            **_login_actor(None, username),
        )
        return
    for user, ok in zip(candidates, checked, strict=True):
        audit.record(
            session,
            actor=None,
            action="auth.login",
            resource_type="user",
            resource_id=user.id,
            outcome="failure",
            details={"reason": "inactive" if ok else "bad_password"},
            now=now,
            **_login_actor(user, username),
        )


def login(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    hasher: PasswordHasher,
    username: str,
    password: str,
    client_addr: str | None,
    now: dt.datetime,
    country: str | None = None,
) -> tuple[str, int]:
    """Log in (R26). ``country`` names the user's country; without it the username is looked
    for in both, and the one user whose password matches logs in. Every refusal — no such
    user, wrong password, inactive, a password fitting a user of each country — is the same
    401 ``INVALID_CREDENTIALS`` (R24, #18 F5)."""
    keys = _keys(username, client_addr)
    with factory() as session:
        wait = _blocked_for(session, [k for k, _ in keys], now)
    if wait > 0:
        with unit_of_work(factory) as session:
            named: list[User | None] = [*_candidates(session, username, country)] or [None]
            for user in named:
                audit.record(
                    session,
                    actor=None,
                    action="auth.login",
                    resource_type="user",
                    outcome="throttled",
                    now=now,
                    **_login_actor(user, username),
                )
        raise TooManyRequests(
            "Too many failed logins; retry in {seconds} seconds",
            code="LOGIN_THROTTLED",
            headers={"Retry-After": str(wait)},
            seconds=wait,
        )

    with unit_of_work(factory) as session:
        candidates = _candidates(session, username, country)
        checked: list[bool] = []
        rehash: dict[int, str] = {}
        for i in range(max(_verifications(country), len(candidates))):
            user = candidates[i] if i < len(candidates) else None
            valid, new_hash = hasher.verify(password, user.password_hash if user else None)
            if user is not None:
                checked.append(valid)
                if new_hash:
                    rehash[i] = new_hash
        matches = [
            i
            for i, (u, ok) in enumerate(zip(candidates, checked, strict=True))
            if ok and u.is_active
        ]
        if len(matches) == 1:
            user = candidates[matches[0]]
            new_hash = rehash.get(matches[0])
            if new_hash:
                user.password_hash = new_hash  # parameters rose since this hash was made
            throttle = session.get(LoginThrottle, keys[0][0])
            if throttle is not None:
                throttle.failures, throttle.blocked_until = 0, None
            audit.record(
                session,
                actor=None,
                action="auth.login",
                resource_type="user",
                resource_id=user.id,
                details={"rehashed": bool(new_hash)},
                now=now,
                **_login_actor(user, username),
            )
            return issue_access_token(
                settings, user_id=user.id, token_version=user.token_version, now=now
            )
        _record_login_failure(
            session, candidates=candidates, checked=checked, username=username, now=now
        )
    _record_failure(factory, settings, keys, now)
    raise Unauthorized(
        "Incorrect username or password",
        code="INVALID_CREDENTIALS",
        headers={"WWW-Authenticate": "Bearer"},
    )
