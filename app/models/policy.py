"""Re-vetting policy aggregate (R6, R14): scoped rules and every version they ever had."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_id


class VettingPolicy(Base):
    """The most specific policy applies (country < sector < tier < agency). ``scope_key``
    (``country|sector|tier|agency``, ``*`` for any) is unique, so two policies can never tie."""

    __tablename__ = "vetting_policies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    country: Mapped[str] = mapped_column(String(2), index=True)
    sector: Mapped[str | None] = mapped_column(String(30))
    rank_tier: Mapped[str | None] = mapped_column(String(20))
    agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id"))
    scope_key: Mapped[str] = mapped_column(String(120), unique=True)
    interval_months: Mapped[int] = mapped_column(Integer)
    required_components: Mapped[list[str]] = mapped_column(JSON)
    retest_days: Mapped[int] = mapped_column(Integer)
    promotion_requires_vetting: Mapped[bool] = mapped_column(Boolean)
    due_soon_days: Mapped[int] = mapped_column(Integer)
    random_due_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class VettingPolicyVersion(Base):
    """Snapshot of a policy as it stood at each version; evaluations cite (policy, version)."""

    __tablename__ = "vetting_policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    policy_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("vetting_policies.id"))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, object]] = mapped_column(JSON)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
