"""Evaluation aggregate: one vetting result (R5-R8). Never edited: corrections reference it."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_id


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_official_conducted", "official_id", "conducted_on"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"))
    conducted_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    # Country of the vetting body, kept here so reciprocity (R17) needs no join.
    conducted_by_country: Mapped[str] = mapped_column(String(2))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    trigger: Mapped[str] = mapped_column(String(20))
    components: Mapped[dict[str, str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(20))
    conducted_on: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    retest_by: Mapped[dt.date | None] = mapped_column(Date, default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    # R8: a correction is a new evaluation naming the one it corrects.
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("evaluations.id"), unique=True, default=None
    )
    # The policy it was judged under (a later policy change does not rewrite it).
    policy_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    policy_version: Mapped[int | None] = mapped_column(Integer, default=None)
    interval_months: Mapped[int] = mapped_column(Integer)
    source_ref: Mapped[str | None] = mapped_column(String(120), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
