"""User management (R26): admins manage users of their own country only.

A user of another country answers 404, never 403, so an admin cannot learn who exists across
the border (R24); usernames are unique per country, so ``USERNAME_TAKEN`` says nothing of the
other country's users either (#18 F5). Users are never deleted: deactivation keeps the audit
trail meaningful.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.passwords import PasswordHasher
from app.domain.access import Principal, Role
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import Agency, Official, User
from app.services.audit import audit

AGENCY_FREE_ROLES = {Role.ADMIN.value, Role.AUDITOR.value}


def _check_agency(session: Session, agency_id: uuid.UUID | None, country: str) -> None:
    if agency_id is None:
        return
    agency = session.get(Agency, agency_id)
    if agency is None or agency.country != country:
        raise FieldError("agency_id", "no agency with this id in the user's country")


def _check_official(session: Session, official_id: uuid.UUID | None, country: str) -> None:
    if official_id is None:
        return

    official = session.get(Official, official_id)
    if official is None or official.country != country:
        raise FieldError("official_id", "no official with this id in the user's country")


def _check_agency_required(roles: Sequence[str], agency_id: uuid.UUID | None) -> None:
    """Every role but admin and auditor acts for one agency of its country (DESIGN §2)."""
    if agency_id is None and not set(roles) <= AGENCY_FREE_ROLES:
        raise FieldError(
            "agency_id", "required for roles other than admin and auditor", "AGENCY_REQUIRED"
        )


def create_user(
    session: Session,
    *,
    actor: Principal | None,
    hasher: PasswordHasher,
    username: str,
    password: str,
    roles: Sequence[str],
    country: str,
    agency_id: uuid.UUID | None,
    now: dt.datetime,
    official_id: uuid.UUID | None = None,
    require_agency: bool = True,
) -> User:
    """Create a user. ``actor`` None means the command line or the first-start bootstrap.
    ``official_id`` links the account to the person's official record (R13)."""
    if actor is not None and actor.country != country:
        raise Forbidden("Admins create users of their own country only", code="COUNTRY_SCOPE")
    if require_agency:
        _check_agency_required(roles, agency_id)
    _check_agency(session, agency_id, country)
    _check_official(session, official_id, country)
    # Unique within the country (#18 F5): the other country's names are none of its business.
    taken = select(User.id).where(User.country == country, User.username == username)
    if session.scalar(taken) is not None:
        raise Conflict("The username is taken", code="USERNAME_TAKEN")
    user = User(
        username=username,
        password_hash=hasher.hash(password),
        roles=sorted(set(roles)),
        country=country,
        agency_id=agency_id,
        official_id=official_id,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        actor_username=None if actor else "system",
        action="user.create",
        resource_type="user",
        resource_id=user.id,
        details={"roles": user.roles, "country": country, "agency_id": agency_id},
        now=now,
    )
    return user


def get_user_in_scope(session: Session, *, actor: Principal, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or user.country != actor.country:
        raise NotFound("No such user", code="USER_NOT_FOUND")
    return user


def list_users(session: Session, *, actor: Principal, after: str | None, limit: int) -> list[User]:
    stmt = select(User).where(User.country == actor.country).order_by(User.username)
    if after is not None:
        stmt = stmt.where(User.username > after)
    return list(session.scalars(stmt.limit(limit + 1)))


def update_user(
    session: Session, *, actor: Principal, user: User, changes: dict[str, Any], now: dt.datetime
) -> User:
    if "agency_id" in changes:
        _check_agency(session, changes["agency_id"], user.country)
        user.agency_id = changes["agency_id"]
    if changes.get("roles") is not None:
        user.roles = sorted({str(r) for r in changes["roles"]})
    if "official_id" in changes:
        _check_official(session, changes["official_id"], user.country)
        user.official_id = changes["official_id"]
    if {"agency_id", "roles"} & set(changes):
        _check_agency_required(user.roles, user.agency_id)
    if changes.get("is_active") is not None:
        if not changes["is_active"] and user.id == actor.user_id:
            raise Conflict("You cannot deactivate yourself", code="SELF_DEACTIVATION")
        user.is_active = bool(changes["is_active"])
        if not user.is_active:
            user.token_version += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.update",
        resource_type="user",
        resource_id=user.id,
        details={"fields": sorted(changes)},
        now=now,
    )
    return user


def deactivate_user(session: Session, *, actor: Principal, user: User, now: dt.datetime) -> None:
    update_user(session, actor=actor, user=user, changes={"is_active": False}, now=now)


def revoke_tokens(session: Session, *, actor: Principal, user: User, now: dt.datetime) -> None:
    """Invalidate every token issued to ``user`` so far (R26)."""
    user.token_version += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.revoke_tokens",
        resource_type="user",
        resource_id=user.id,
        now=now,
    )
