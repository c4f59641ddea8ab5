"""Random re-vetting draw aggregate (R16): frozen population, commitments, reveals, selection;
and the sweep's record of time-driven transitions."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK, UTCDateTime, new_id


class RandomDraw(Base):
    __tablename__ = "random_draws"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    scope: Mapped[dict[str, object]] = mapped_column(JSON)
    sample_size: Mapped[int] = mapped_column(Integer)
    population_size: Mapped[int] = mapped_column(Integer)
    population_hash: Mapped[str] = mapped_column(String(64))
    # open → committed (both commitments) → completed (both reveals), or failed at a deadline.
    status: Mapped[str] = mapped_column(String(20), default="open")
    commit_deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reveal_deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    seed: Mapped[str | None] = mapped_column(String(64))
    random_due_days: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class DrawMember(Base):
    """The population, frozen when the draw is created."""

    __tablename__ = "draw_members"

    draw_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("random_draws.id"), primary_key=True
    )
    official_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("officials.id"), primary_key=True
    )


class DrawCommitment(Base):
    __tablename__ = "draw_commitments"

    draw_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("random_draws.id"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    commitment: Mapped[str] = mapped_column(String(64))
    committed_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    committed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    secret: Mapped[str | None] = mapped_column(String(64))
    revealed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    revealed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RandomSelection(Base):
    """An official picked by a draw owes a ``random`` evaluation by ``due_on``."""

    __tablename__ = "random_selections"
    __table_args__ = (Index("ix_random_selections_official_due", "official_id", "due_on"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    draw_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("random_draws.id"), index=True)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"))
    rank: Mapped[int] = mapped_column(Integer)
    ranking_mac: Mapped[str] = mapped_column(String(64))
    selected_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SweepEvent(Base):
    """A time-driven transition found by ``registry sweep``. ``dedupe_key`` is unique, so
    running the sweep again, or in several processes at once, records each transition once."""

    __tablename__ = "sweep_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    official_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("officials.id"))
    draw_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("random_draws.id"))
    task_force_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    effective_on: Mapped[dt.date] = mapped_column(Date)
    details: Mapped[dict[str, object]] = mapped_column(JSON)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
