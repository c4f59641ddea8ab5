"""Joint task-force aggregate (R17-R20): leads, nominations, members, status events,
commission overrides and their approvals."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK, UTCDateTime, new_id


class TaskForce(Base):
    __tablename__ = "task_forces"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    focus: Mapped[str] = mapped_column(String(30))
    lead_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    max_vetting_age_months: Mapped[int] = mapped_column(Integer, default=12)
    require_reciprocal: Mapped[bool] = mapped_column(Boolean, default=True)
    suspend_on: Mapped[str] = mapped_column(String(30), default="senior_noncompliance")
    # The status last recorded as an event; the live status is always derived (R19) and a
    # difference between the two is a transition still to record.
    recorded_status: Mapped[str] = mapped_column(String(20), default="active")
    dissolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TaskForceLead(Base):
    __tablename__ = "task_force_leads"

    task_force_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("task_forces.id"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"), primary_key=True)


class TaskForceNomination(Base):
    __tablename__ = "task_force_nominations"
    __table_args__ = (
        Index(
            "uq_task_force_nominations_open",
            "task_force_id",
            "official_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    task_force_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("task_forces.id"))
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    # open → joined | withdrawn
    status: Mapped[str] = mapped_column(String(10), default="open")
    nominated_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    nominated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TaskForceMember(Base):
    __tablename__ = "task_force_members"
    __table_args__ = (
        Index(
            "uq_task_force_members_current",
            "task_force_id",
            "official_id",
            unique=True,
            sqlite_where=text("left_on IS NULL"),
            postgresql_where=text("left_on IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    task_force_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("task_forces.id"))
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    joined_on: Mapped[dt.date] = mapped_column(Date)
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    added_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    override_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TaskForceEvent(Base):
    """Roster changes and status transitions, each with its cause (R19)."""

    __tablename__ = "task_force_events"
    __table_args__ = (Index("ix_task_force_events_tf_id", "task_force_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    task_force_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("task_forces.id"))
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    official_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cause: Mapped[dict[str, object]] = mapped_column(JSON)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Override(Base):
    """R20: one official on one task force, at most 90 days, active once every required
    department of the commission has approved."""

    __tablename__ = "overrides"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    task_force_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("task_forces.id"), index=True)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"))
    justification: Mapped[str] = mapped_column(Text)
    duration_days: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class OverrideApproval(Base):
    """Each approval is kept; only one per department counts towards activation."""

    __tablename__ = "override_approvals"
    __table_args__ = (UniqueConstraint("override_id", "approver_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    override_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("overrides.id"), index=True)
    approver_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    department: Mapped[str] = mapped_column(String(20))
    counted: Mapped[bool] = mapped_column(Boolean)
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
