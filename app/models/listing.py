"""Listing aggregate: the registry proper (R7, R9, R10), with appeals and status history."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK, UTCDateTime, new_id

# R10: an upheld listing stands, so it blocks like an active or appealed one.
BLOCKING_STATUSES = ("active", "under_appeal", "upheld")


class Listing(Base):
    __tablename__ = "listings"
    __table_args__ = (
        # At most one blocking listing per official and basis, enforced by the database so two
        # concurrent failures cannot list the same person twice.
        Index(
            "uq_listings_blocking_basis",
            "official_id",
            "basis",
            unique=True,
            sqlite_where=text("status IN ('active', 'under_appeal', 'upheld')"),
            postgresql_where=text("status IN ('active', 'under_appeal', 'upheld')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"), index=True)
    basis: Mapped[str] = mapped_column(String(20))
    source_type: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    listed_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    listed_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    contact: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ListingEvent(Base):
    """Every status change of a listing, and further evidence attached to it."""

    __tablename__ = "listing_events"

    # An increasing id orders events written within the same instant.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("listings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20), default=None)
    to_status: Mapped[str | None] = mapped_column(String(20), default=None)
    source_type: Mapped[str | None] = mapped_column(String(20), default=None)
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    reasons: Mapped[str | None] = mapped_column(Text, default=None)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Appeal(Base):
    """R10: an appeal moves the listing to ``under_appeal``; the owning country's admin decides."""

    __tablename__ = "appeals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("listings.id"), index=True)
    filed_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    grounds: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_reasons: Mapped[str | None] = mapped_column(Text, default=None)
