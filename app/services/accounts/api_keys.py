"""API keys for machine clients (R26): shown once, stored hashed, revocable."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import api_keys
from app.domain.access import Principal, Role
from app.errors import NotFound
from app.models import ApiKey, User
from app.services.accounts.users import get_user_in_scope
from app.services.audit import audit


def create_key(
    session: Session,
    *,
    actor: Principal,
    name: str,
    user_id: uuid.UUID | None,
    now: dt.datetime,
) -> tuple[ApiKey, str]:
    """A caller makes keys for itself; an admin may make one for a user of its country."""
    owner_id = actor.user_id
    if user_id is not None and user_id != actor.user_id:
        if not actor.has(Role.ADMIN):
            raise NotFound("No such user", code="USER_NOT_FOUND")
        owner_id = get_user_in_scope(session, actor=actor, user_id=user_id).id
    full, prefix, digest = api_keys.generate()
    key = ApiKey(user_id=owner_id, name=name, prefix=prefix, secret_hash=digest, created_at=now)
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.create",
        resource_type="api_key",
        resource_id=key.id,
        details={"owner_id": owner_id, "prefix": prefix},
        now=now,
    )
    return key, full


def list_keys(session: Session, *, actor: Principal) -> list[ApiKey]:
    if actor.has(Role.ADMIN):
        stmt = (
            select(ApiKey)
            .join(User, User.id == ApiKey.user_id)
            .where(User.country == actor.country)
        )
    else:
        stmt = select(ApiKey).where(ApiKey.user_id == actor.user_id)
    return list(session.scalars(stmt.order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, *, actor: Principal, key_id: uuid.UUID, now: dt.datetime) -> None:
    key = session.get(ApiKey, key_id)
    owner = session.get(User, key.user_id) if key else None
    allowed = (
        key is not None
        and owner is not None
        and (
            key.user_id == actor.user_id
            or (actor.has(Role.ADMIN) and owner.country == actor.country)
        )
    )
    if not allowed or key is None:
        raise NotFound("No such API key", code="API_KEY_NOT_FOUND")
    if key.revoked_at is None:
        key.revoked_at = now
        audit.record(
            session,
            actor=actor,
            action="api_key.revoke",
            resource_type="api_key",
            resource_id=key.id,
            now=now,
        )
