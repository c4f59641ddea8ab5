"""User aggregate: people and machine clients, their roles, and their API keys (R26)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_id


class User(Base):
    """A username is unique within its country only (#18 F5, R24): one global namespace told an
    admin, through ``USERNAME_TAKEN``, which names the other country uses. Login therefore
    finds the user by username *and* country (``services.accounts.auth``)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("country", "username", name="uq_users_country_username"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(80), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON)
    country: Mapped[str] = mapped_column(String(2), index=True)
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agencies.id"), index=True, default=None
    )
    # R13: the official record of the person behind this account, if any.
    official_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("officials.id"), default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped to revoke every token issued before (R26).
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ApiKey(Base):
    """A machine client's key. Only a SHA-256 of the secret part is stored: the key carries 256
    random bits, so a slow password hash would add latency without adding safety."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
