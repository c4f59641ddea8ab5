"""Audit aggregate (R22): append-only events, their hash chain, and signed checkpoints.

Events are inserted inside the transaction of the write they describe, so a rolled-back write
leaves no event. Chaining is a separate, short step after commit (``services.audit.chain``):
it links committed events in commit-visible order under a lock held only for that step, so
request transactions never queue behind one global lock for their whole length.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor_username: Mapped[str | None] = mapped_column(String(80))
    actor_country: Mapped[str | None] = mapped_column(String(2))
    actor_agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(60), index=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, object]] = mapped_column(JSON)
    # HMAC-SHA256 (the audit key) over the canonical form of every column above; plain sha256
    # for events older than ``AuditHead.keyed_from_event_id`` (services.audit.event_digest).
    event_hash: Mapped[str] = mapped_column(String(64))


class AuditLink(Base):
    """Position ``seq`` of the chain: hash = HMAC(audit key, prev_hash | seq | event_id |
    event_hash); plain sha256 before ``AuditHead.keyed_from_seq`` (the chain before 0009)."""

    __tablename__ = "audit_links"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("audit_events.id"),
        unique=True,
    )
    prev_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's current end. Its row lock is what chainers take, briefly."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    # Where the keyed scheme begins (#19): the first link and the first event hashed with the
    # audit key. Migration 0009 set them past everything that existed then; a fresh database
    # keys everything (1). Checkpoints sign them, so moving them later is detected.
    keyed_from_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    keyed_from_event_id: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))


class AuditCheckpoint(Base):
    """A signed statement of the chain head (compact JWS, EdDSA) that can be exported."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    jws: Mapped[str] = mapped_column(String(2000))


class AuditPending(Base):
    """Events committed but not yet linked into the chain. Not itself an audit record: the
    chainer deletes a row once the event it names has a link, so finding work stays cheap."""

    __tablename__ = "audit_pending"

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("audit_events.id"),
        primary_key=True,
        autoincrement=False,
    )
