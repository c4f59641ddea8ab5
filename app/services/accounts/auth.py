"""Login with throttling (R26).

Failed attempts are counted per username and per client address in the database, so the limit
holds across server processes. A blocked key answers 429 with ``Retry-After`` before any password
is checked. An unknown username costs one Argon2 verification, like a wrong password.

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


def login(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    hasher: PasswordHasher,
    username: str,
    password: str,
    client_addr: str | None,
    now: dt.datetime,
) -> tuple[str, int]:
    keys = _keys(username, client_addr)
    with factory() as session:
        wait = _blocked_for(session, [k for k, _ in keys], now)
    if wait > 0:
        with unit_of_work(factory) as session:
            named = session.scalar(select(User).where(User.username == username))
            audit.record(
                session,
                actor=None,
                action="auth.login",
                resource_type="user",
                outcome="throttled",
                now=now,
                **_login_actor(named, username),
            )
        raise TooManyRequests(
            "Too many failed logins; retry in {seconds} seconds",
            code="LOGIN_THROTTLED",
            headers={"Retry-After": str(wait)},
            seconds=wait,
        )

    with unit_of_work(factory) as session:
        user = session.scalar(select(User).where(User.username == username))
        valid, new_hash = hasher.verify(password, user.password_hash if user else None)
        if user is not None and valid and user.is_active:
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
        reason = "unknown_user" if user is None else ("inactive" if valid else "bad_password")
        audit.record(
            session,
            actor=None,
            action="auth.login",
            resource_type="user",
            resource_id=user.id if user else None,
            outcome="failure",
            details={"reason": reason},
            now=now,
            **_login_actor(user, username),
        )
    _record_failure(factory, settings, keys, now)
    raise Unauthorized(
        "Incorrect username or password",
        code="INVALID_CREDENTIALS",
        headers={"WWW-Authenticate": "Bearer"},
    )
