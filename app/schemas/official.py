from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.domain.vocabulary import IdentifierScheme, RankTier, SeparationReason
from app.schemas.common import StrictModel

Name = Field(min_length=1, max_length=80)


class IdentifierIn(StrictModel):
    scheme: IdentifierScheme
    value: str = Field(min_length=1, max_length=64)


class IdentifierOut(BaseModel):
    scheme: str
    value: str


class AppointmentIn(StrictModel):
    agency_id: uuid.UUID
    position: str = Field(min_length=1, max_length=120)
    rank_tier: RankTier
    started_on: dt.date


class AppointmentCreate(AppointmentIn):
    replaces_appointment_id: uuid.UUID | None = Field(
        default=None,
        description="The appointment this one replaces (a promotion or tier change); it ends "
        "the day before this one starts",
    )
    force_justification: str | None = Field(
        default=None,
        min_length=20,
        max_length=2000,
        description="Admins only: appoint despite a blocking listing (R3); audited",
    )


class AppointmentEnd(StrictModel):
    ended_on: dt.date


class AppointmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    official_id: uuid.UUID
    agency_id: uuid.UUID
    position: str
    rank_tier: str
    kind: str
    started_on: dt.date
    ended_on: dt.date | None
    replaces_id: uuid.UUID | None


class OfficialCreate(StrictModel):
    given_names: str = Field(min_length=1, max_length=120)
    first_surname: str = Name
    second_surname: str | None = Field(default=None, max_length=80)
    date_of_birth: dt.date
    sex: str | None = Field(default=None, pattern="^[FMX]$")
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=10)
    appointment: AppointmentIn
    force_justification: str | None = Field(
        default=None,
        min_length=20,
        max_length=2000,
        description="Admins only: register and appoint despite a listed look-alike (R3); "
        "audited. Never overrides an identifier already held by a listed official",
    )


class ListingPublic(BaseModel):
    """What both countries see of a listing (R9)."""

    id: uuid.UUID
    official_id: uuid.UUID
    basis: str
    status: str
    listed_on: dt.date
    listed_by: uuid.UUID
    listed_by_name: str
    listed_by_acronym: str
    listed_by_country: str
    contact: str | None


class ListingEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    from_status: str | None
    to_status: str | None
    source_type: str | None
    source_id: uuid.UUID | None
    reasons: str | None
    occurred_at: dt.datetime


class ListingRead(ListingPublic):
    """The owning country's view adds the source record and the history (R9)."""

    source_type: str | None = None
    source_id: uuid.UUID | None = None
    events: list[ListingEventRead] | None = None


class OfficialPublic(BaseModel):
    """The cross-border view (R24): who, and verdict-level facts only."""

    id: uuid.UUID
    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    year_of_birth: int
    view: str = "public"
    listings: list[ListingPublic]


class OfficialRead(BaseModel):
    """Full detail, for the official's own country."""

    id: uuid.UUID
    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date
    sex: str | None
    identifiers: list[IdentifierOut]
    appointments: list[AppointmentRead]
    listings: list[ListingRead]
    status: str = Field(description="active (holds an appointment) or inactive")
    created_at: dt.datetime
    view: str = "full"


class RegistrationScreeningRead(BaseModel):
    """How the registration was screened before anything was written (R3, R11; issue #15)."""

    verdict: str = Field(
        description="clear | review | listed, as screened (before any admin's force)"
    )
    screened_by: list[str] = Field(
        description="What was compared: `identifiers` (when any were given) and always "
        "`name_and_birth_date`; a registration without identifiers is screened by name and "
        "date of birth only"
    )
    identifiers_checked: int = Field(description="How many identifiers were screened")
    screening_id: uuid.UUID | None = Field(
        description="The kept screening (purpose `appointment_gate`) when there were candidates "
        "(ruled out, or forced past); null when nothing resembled a listed person"
    )
    forced: bool = Field(description="An admin forced the registration past the gate")
    ruled_out: int = Field(description="Candidates a reviewer had ruled `not_same_person`")


class OfficialRegistered(OfficialRead):
    """The answer to a registration: the record, and how it was screened."""

    screening: RegistrationScreeningRead


class OfficialSummary(BaseModel):
    id: uuid.UUID
    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date
    status: str
    agency_id: uuid.UUID | None
    rank_tier: str | None
    listed: bool


class SeparationCreate(StrictModel):
    appointment_id: uuid.UUID
    reason: SeparationReason
    effective_on: dt.date
    summary: str | None = Field(default=None, max_length=4000)


class SeparationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    official_id: uuid.UUID
    appointment_id: uuid.UUID
    agency_id: uuid.UUID
    reason: str
    effective_on: dt.date
    summary: str | None
    listing_id: uuid.UUID | None
    created_at: dt.datetime
