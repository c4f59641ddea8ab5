"""Operational state shared by every server process: idempotency records and login throttles.

Both live in the database (not process memory) because several processes serve behind one
load balancer (DESIGN §7).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_id


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    method_path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, object]] = mapped_column(JSON)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed-login counter for one key (``user:<name>`` or ``addr:<ip>``) within a window."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class RateCounter(Base):
    """Requests counted per principal and action in fixed windows, shared by every server
    process (quotas against enumeration, DESIGN §7)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    misses: Mapped[int] = mapped_column(Integer, default=0)
