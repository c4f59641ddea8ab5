"""Coverage statistics shapes (R15a)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field


class FiguresRead(BaseModel):
    active: int
    vetted: int = Field(description="Holding a pass still valid under today's policy")
    current: int
    due_soon: int
    overdue: int
    never_vetted: int
    listed: int


class CoverageRowRead(FiguresRead):
    agency_id: uuid.UUID
    agency_acronym: str
    agency_name: str
    sector: str
    rank_tier: str


class CompletenessRead(BaseModel):
    agency_id: uuid.UUID
    agency_acronym: str
    agency_name: str
    sector: str
    active_roster: int
    with_any_record: int
    share_with_record: float | None = Field(
        description="Share of the active roster with any evaluation on record"
    )
    last_submission_at: dt.datetime | None = Field(
        description="Latest appointment, separation or evaluation recorded for the agency"
    )


class SeniorUnvettedRead(BaseModel):
    official_id: uuid.UUID
    given_names: str
    first_surname: str
    second_surname: str | None
    agency_id: uuid.UUID
    rank_tier: str


class CoverageRead(BaseModel):
    as_of: dt.date
    country: str
    rows: list[CoverageRowRead]
    totals: FiguresRead
    agencies: list[CompletenessRead]
    senior_never_vetted_count: int
    senior_never_vetted: list[SeniorUnvettedRead] | None = Field(
        description="Named to the country's own admins only (auditors: null)"
    )
    senior_never_vetted_truncated: bool = False
