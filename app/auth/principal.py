"""Who is calling: the authenticated user (by bearer token or API key), and role declarations.

R23: every ``/api/v1`` route declares the roles it admits through ``require_roles`` (or
``public``); ``tests/test_route_declarations.py`` walks the app and fails on a route without one.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

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
        principal = _from_token(session, settings, token, now, principal_cache(request, settings))
    else:
        raise Unauthorized(
            "Send a bearer token or an X-API-Key header",
            code="NOT_AUTHENTICATED",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


# --- What a process knows of a token's user (#17) ---------------------------------------------


@dataclass(frozen=True)
class KnownUser:
    """What authenticating a token reads of its user, as read at ``read_at``."""

    id: uuid.UUID
    username: str
    roles: frozenset[str]
    country: str
    agency_id: uuid.UUID | None
    official_id: uuid.UUID | None
    is_active: bool
    token_version: int
    read_at: dt.datetime

    @classmethod
    def of(cls, user: User, now: dt.datetime) -> KnownUser:
        return cls(
            id=user.id,
            username=user.username,
            roles=frozenset(user.roles),
            country=user.country,
            agency_id=user.agency_id,
            official_id=user.official_id,
            is_active=user.is_active,
            token_version=user.token_version,
            read_at=now,
        )


class PrincipalCache:
    """Token users read in the last ``seconds`` (by the app's clock), so a token is checked
    without a database round trip. Bounds (docs/security.md): a change to a user committed
    through this process (a revocation, deactivation, new roles: any flush of a ``User``)
    drops its entry at the commit, so it applies to the next request; one committed through
    another process applies once the entry is ``seconds`` old. A token newer than the entry
    (issued after a revocation) makes it be read again, never refused on the entry's word."""

    def __init__(self, seconds: float, engine: Engine) -> None:
        self.seconds = dt.timedelta(seconds=seconds)
        # Changes are noticed on sessions bound to this engine: the app's own (a process
        # serves one app; tests run two apps, two "processes", in one interpreter).
        self.engine = engine
        self._entries: dict[uuid.UUID, KnownUser] = {}
        self._lock = threading.Lock()
        with _CACHES_LOCK:
            _CACHES.add(self)

    def get(self, user_id: uuid.UUID, now: dt.datetime) -> KnownUser | None:
        known = self._entries.get(user_id)
        if known is None or not known.read_at <= now < known.read_at + self.seconds:
            return None
        return known

    def put(self, known: KnownUser) -> None:
        if not self.seconds:
            return
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()  # bounded memory; entries are cheap to read again
            self._entries[known.id] = known

    def forget(self, user_ids: set[uuid.UUID]) -> None:
        with self._lock:
            for user_id in user_ids:
                self._entries.pop(user_id, None)


_MAX_ENTRIES = 10_000
_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()
_CACHES_LOCK = threading.Lock()
_STALE = "principal_cache_stale_users"


def forget_users(session: Session, user_ids: set[uuid.UUID]) -> None:
    """Drop these users from the caches of the app ``session`` belongs to."""
    bind = session.get_bind()
    with _CACHES_LOCK:
        caches = [c for c in _CACHES if c.engine is bind]
    for cache in caches:
        cache.forget(user_ids)


@event.listens_for(Session, "after_flush")
def _note_changed_users(session: Session, _context: Any) -> None:
    changed = {obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, User)}
    if changed:
        session.info.setdefault(_STALE, set()).update(changed)
        forget_users(session, changed)


@event.listens_for(Session, "after_commit")
def _forget_changed_users(session: Session) -> None:
    # Forgotten again at the commit: a request of another thread may have read the old row
    # between the flush and the commit and cached it.
    changed: set[uuid.UUID] | None = session.info.pop(_STALE, None)
    if changed:
        forget_users(session, changed)


@event.listens_for(Session, "after_rollback")
def _drop_changed_users(session: Session) -> None:
    session.info.pop(_STALE, None)


_CACHE_CREATION = threading.Lock()


def principal_cache(request: Request, settings: Settings) -> PrincipalCache:
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    if cache is None:
        with _CACHE_CREATION:
            cache = getattr(request.app.state, "principal_cache", None)
            if cache is None:
                cache = PrincipalCache(settings.principal_cache_seconds, request.app.state.engine)
                request.app.state.principal_cache = cache
    return cache


def _principal(user: User | KnownUser, via: str, api_key_id: uuid.UUID | None = None) -> Principal:
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


def _from_token(
    session: Any, settings: Settings, token: str, now: dt.datetime, cache: PrincipalCache
) -> Principal:
    claims = decode_access_token(settings, token, now=now)
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("Token is invalid", code="TOKEN_INVALID") from exc
    version = int(claims["ver"])
    known = cache.get(user_id, now)
    if known is None or version != known.token_version:
        # Not known, or the token disagrees with what is known: read the user (a token issued
        # after a revocation elsewhere is newer than the entry, and must not be refused).
        user = session.get(User, user_id)
        if user is None:
            raise Unauthorized("Token is invalid", code="TOKEN_INVALID")
        known = KnownUser.of(user, now)
        cache.put(known)
    if not known.is_active:
        raise Unauthorized("Token is invalid", code="TOKEN_INVALID")
    if version != known.token_version:
        raise Unauthorized("Token has been revoked", code="TOKEN_REVOKED")
    return _principal(known, "token")


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
