"""Screening aggregate (R11, R12, R12a, R12b): screenings and their candidate matches, review
decisions, watches, notifications, webhooks and the delivery outbox."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK, UTCDateTime, new_id


class Screening(Base):
    """One identity screened before hiring. The query is kept (it is what a watch follows);
    ``identity_key`` is a keyed hash of its normalised form, so later screenings of the same
    identity find earlier review decisions (R12a) without comparing raw names."""

    __tablename__ = "screenings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    requested_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id"))
    country: Mapped[str] = mapped_column(String(2))
    given_names: Mapped[str] = mapped_column(String(120))
    first_surname: Mapped[str] = mapped_column(String(80))
    second_surname: Mapped[str | None] = mapped_column(String(80))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    identifier_indexes: Mapped[list[str]] = mapped_column(JSON)
    identity_key: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(10))
    top_score: Mapped[float | None] = mapped_column(Float)
    purpose: Mapped[str | None] = mapped_column(String(40))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ScreeningMatch(Base):
    __tablename__ = "screening_matches"

    screening_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("screenings.id"), primary_key=True
    )
    official_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("officials.id"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(10))
    features: Mapped[dict[str, object]] = mapped_column(JSON)
    listing_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("listings.id"))


class ScreeningDecision(Base):
    """A reviewer's ruling on one candidate of a screening (R12a)."""

    __tablename__ = "screening_decisions"
    __table_args__ = (Index("ix_screening_decisions_identity", "identity_key", "official_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    screening_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("screenings.id"), index=True)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"))
    identity_key: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id"))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Watch(Base):
    """R12b: the screening agency is told when the watched identity is later listed, or when a
    listing it carries is overturned."""

    __tablename__ = "watches"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    screening_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("screenings.id"), unique=True)
    agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id"))
    country: Mapped[str] = mapped_column(String(2))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    identity_key: Mapped[str] = mapped_column(String(64), index=True)
    # Officials this watch has matched at or above the review band (kept current on listing).
    matched_official_ids: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    """An agency's inbox entry (R12b). Written in the transaction of the change it reports."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_agency_id_id", "agency_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id"))
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(40))
    watch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("watches.id"))
    listing_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("listings.id"))
    official_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("officials.id"))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Webhook(Base):
    """An agency's receiver. The signing secret is kept encrypted (it must be used, so it cannot
    be hashed) and shown once at registration."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id"))
    country: Mapped[str] = mapped_column(String(2))
    url: Mapped[str] = mapped_column(String(500))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """The outbox: one row per notification per webhook, written with the notification and
    delivered by a worker outside the request, retried with backoff; survives restarts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "notification_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhooks.id"))
    notification_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("notifications.id"), autoincrement=False
    )
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """The delivery log: every attempt with its answer."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("webhook_deliveries.id"), index=True, autoincrement=False
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
