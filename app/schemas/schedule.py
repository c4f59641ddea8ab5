"""Schedule and due-list shapes (R15)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from app.domain.vocabulary import ObligationKind, ScheduleState


class ObligationRead(BaseModel):
    kind: ObligationKind
    due_on: dt.date
    overdue: bool
    basis_on: dt.date | None = Field(
        description="The fact behind it: evaluation date, promotion start, selection date"
    )
    evaluation_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    selection_id: uuid.UUID | None = None
    draw_id: uuid.UUID | None = None


class SchedulePolicy(BaseModel):
    id: uuid.UUID | None = Field(description="None: an R14 default not yet stored")
    version: int | None
    interval_months: int
    retest_days: int
    promotion_requires_vetting: bool
    due_soon_days: int
    random_due_days: int


class ScheduleRead(BaseModel):
    official_id: uuid.UUID
    as_of: dt.date
    state: ScheduleState
    next_due: dt.date | None
    reasons: list[ObligationKind] = Field(
        description="Obligation kinds due within due_soon_days (what makes it due)"
    )
    agency_id: uuid.UUID | None
    sector: str | None
    rank_tier: str | None
    policy: SchedulePolicy | None
    obligations: list[ObligationRead]


class DueItem(BaseModel):
    official_id: uuid.UUID
    given_names: str
    first_surname: str
    second_surname: str | None
    agency_id: uuid.UUID
    agency_acronym: str
    sector: str
    rank_tier: str
    state: ScheduleState
    next_due: dt.date
    reasons: list[ObligationKind]
