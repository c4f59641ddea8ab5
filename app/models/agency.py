"""Agency aggregate: a government body of one country; vetting bodies have ``can_vet``."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_id


class Agency(Base):
    __tablename__ = "agencies"
    # One agency per commission department: a second "DOJ" would be a second DOJ seat (R20).
    # NULLs are distinct on both databases, so undesignated agencies are unconstrained.
    __table_args__ = (
        Index("uq_agencies_commission_department", "commission_department", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    country: Mapped[str] = mapped_column(String(2), index=True)
    name: Mapped[str] = mapped_column(String(200))
    acronym: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(20))
    sector: Mapped[str] = mapped_column(String(30))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agencies.id"), index=True, default=None
    )
    region: Mapped[str | None] = mapped_column(String(10), default=None)
    can_vet: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str | None] = mapped_column(String(200), default=None)
    # R20: the override-commission department this agency *is* (DOJ, DHS, STATE), set
    # explicitly by a U.S. admin on a top-level U.S. federal agency. Never inferred from the
    # acronym: any country may name an agency "DOJ" (#15, #18 F1).
    commission_department: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
