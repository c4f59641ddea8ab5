"""Who is calling: the authenticated user (by bearer token or API key), and role declarations.

R23: every ``/api/v1`` route declares the roles it admits through ``require_roles`` (or
``public``); ``tests/test_route_declarations.py`` walks the app and fails on a route without one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import select

from app.auth import api_keys
from app.auth.tokens import decode_access_token
from app.clock import ClockDep
from app.config import Settings
from app.db import SessionDep
from app.domain.access import ALL_ROLES, Country, Principal, Role
from app.errors import Forbidden, Unauthorized
from app.models import ApiKey, User

# Role, Country and Principal live in ``app.domain.access`` (services need them without FastAPI);
# routers take them from here, with the dependencies that produce a Principal (#16).
__all__ = [
    "LAST_USED_RESOLUTION",
    "AdminOnly",
    "AuditReader",
    "Authenticated",
    "Country",
    "Principal",
    "Role",
    "SettingsDep",
    "api_key_scheme",
    "authenticate",
    "get_settings",
    "oauth2_scheme",
    "public",
    "require_roles",
]


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its
# threadpool, and every hand-off to a worker thread and back costs more than these take.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def authenticate(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    now = clock.now()
    if api_key:
        principal = _from_api_key(session, api_key, now)
    elif token:
        principal = _from_token(session, settings, token, now)
    else:
        raise Unauthorized(
            "Send a bearer token or an X-API-Key header",
            code="NOT_AUTHENTICATED",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


def _principal(user: User, via: str, api_key_id: uuid.UUID | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=frozenset(user.roles),
        country=user.country,
        agency_id=user.agency_id,
        via=via,
        api_key_id=api_key_id,
        official_id=user.official_id,
    )


def _from_token(session: Any, settings: Settings, token: str, now: dt.datetime) -> Principal:
    claims = decode_access_token(settings, token, now=now)
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("Token is invalid", code="TOKEN_INVALID") from exc
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Token is invalid", code="TOKEN_INVALID")
    if int(claims["ver"]) != user.token_version:
        raise Unauthorized("Token has been revoked", code="TOKEN_REVOKED")
    return _principal(user, "token")


def _from_api_key(session: Any, raw: str, now: dt.datetime) -> Principal:
    parts = api_keys.split(raw)
    if parts is None:
        raise Unauthorized("API key is invalid", code="API_KEY_INVALID")
    prefix, secret = parts
    row = session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.prefix == prefix)
    ).first()
    if row is None:
        raise Unauthorized("API key is invalid", code="API_KEY_INVALID")
    key, user = row
    if not api_keys.matches(secret, key.secret_hash) or key.revoked_at is not None:
        raise Unauthorized("API key is invalid", code="API_KEY_INVALID")
    if not user.is_active:
        raise Unauthorized("API key is invalid", code="API_KEY_INVALID")
    _note_use(session, key, now)
    return _principal(user, "api_key", key.id)


# How stale ``ApiKey.last_used_at`` may get. Writing it on every call would put a row lock on
# the key under every concurrent request of a busy machine client; once a minute is enough
# for its owner to see which keys are alive.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _note_use(session: Any, key: ApiKey, now: dt.datetime) -> None:
    """Record when the key was last used (shown in GET /api-keys), at most once a minute. It
    is written by the request's own transaction: a request that fails leaves it unchanged."""
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """Declare the roles a route admits (R23); answers 403 to an authenticated caller without
    one of them."""
    admitted = frozenset(r.value for r in roles)

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.roles.intersection(admitted):
            raise Forbidden("Your role does not allow this operation", code="ROLE_NOT_ADMITTED")
        return principal

    dependency.admitted_roles = admitted  # type: ignore[attr-defined]
    return dependency


def public() -> Callable[[], Awaitable[None]]:
    """Declare a route open to anyone (the token endpoint, the JWKS)."""

    async def dependency() -> None:
        return None

    dependency.admitted_roles = frozenset({"*"})  # type: ignore[attr-defined]
    return dependency


Authenticated = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
AdminOnly = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
AuditReader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.AUDITOR))]
