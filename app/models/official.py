"""Official aggregate: the person, their encrypted identifiers, appointments and separations."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, new_id


class Official(Base):
    __tablename__ = "officials"
    __table_args__ = (Index("ix_officials_country_search_name", "country", "search_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    country: Mapped[str] = mapped_column(String(2))
    given_names: Mapped[str] = mapped_column(String(120))
    first_surname: Mapped[str] = mapped_column(String(80))
    second_surname: Mapped[str | None] = mapped_column(String(80), default=None)
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1), default=None)
    # Upper-case, accent-free "FIRST SECOND GIVEN" for prefix search within a country.
    search_name: Mapped[str] = mapped_column(String(300))
    registered_by_agency_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agencies.id"), default=None
    )
    # Id of the record in the source system of a bulk import (idempotent re-runs).
    source_ref: Mapped[str | None] = mapped_column(String(120), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class OfficialIdentifier(Base):
    """R2: the value is AES-GCM encrypted; ``blind_index`` (HMAC of scheme and value) finds it.

    ``country`` is the official's (copied, never changed): an identifier is unique within a
    country only (#18 F4, R24), so a registration whose passport or employee number an
    unlisted official of the other country holds is not refused — a refusal would tell the
    registrar that such a person exists across the border. Screening still looks identifiers
    up across both countries (R3, R11) through ``ix_official_identifiers_blind_index``."""

    __tablename__ = "official_identifiers"
    __table_args__ = (
        UniqueConstraint(
            "country", "blind_index", name="uq_official_identifiers_country_blind_index"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(20))
    blind_index: Mapped[str] = mapped_column(String(64), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    country: Mapped[str] = mapped_column(String(2))


class OfficialNameKey(Base):
    """Blocking keys for candidate retrieval in screening (R11): one indexed row per key.

    The primary key leads with ``key``: screening looks rows up by key (``key IN (...)``, and
    reads ``official_id`` from the same index), and nothing looks them up by official alone, so
    one index serves both uniqueness and lookups (migration 0007; bulk imports write seven rows
    per official, so a second index was a fifth of their database work)."""

    __tablename__ = "official_name_keys"

    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"))
    key: Mapped[str] = mapped_column(String(80))

    __table_args__ = (PrimaryKeyConstraint("key", "official_id"),)


class Appointment(Base):
    """Official × agency. A promotion is a new appointment (``kind`` promotion) that replaces
    the previous one on its start date; R15 reads promotions from here."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_agency_active", "agency_id", "ended_on"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"), index=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    position: Mapped[str] = mapped_column(String(120))
    rank_tier: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="appointment")
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("appointments.id"), default=None
    )
    forced_justification: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Separation(Base):
    """R4: ends an appointment; a for-cause reason lists the official (basis ``expelled``)."""

    __tablename__ = "separations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    official_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("officials.id"), index=True)
    appointment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("appointments.id"))
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    reason: Mapped[str] = mapped_column(String(40))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    listing_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("listings.id"), default=None
    )
    source_ref: Mapped[str | None] = mapped_column(String(120), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
