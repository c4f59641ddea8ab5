from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.domain.outcome import ComponentResult, ComponentType, Outcome
from app.schemas.common import StrictModel


class Trigger(enum.StrEnum):
    RECRUITMENT = "recruitment"
    PROMOTION = "promotion"
    RECERTIFICATION = "recertification"
    PERIODIC = "periodic"
    RANDOM = "random"
    FOR_CAUSE = "for_cause"
    TASK_FORCE = "task_force"
    RECIPROCAL = "reciprocal"


class ComponentIn(StrictModel):
    type: ComponentType
    result: ComponentResult


class EvaluationCreate(StrictModel):
    conducted_by: uuid.UUID
    trigger: Trigger
    conducted_on: dt.date
    components: list[ComponentIn] = Field(min_length=1, max_length=7)
    outcome: Outcome | None = Field(
        default=None, description="Optional; if sent it must agree with the components (R5)"
    )
    notes: str | None = Field(default=None, max_length=4000)
    corrects_id: uuid.UUID | None = Field(
        default=None, description="The evaluation this record corrects (R8)"
    )


class ComponentOut(BaseModel):
    type: str
    result: str


class EvaluationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    official_id: uuid.UUID
    conducted_by: uuid.UUID
    conducted_by_country: str
    recorded_by: uuid.UUID | None
    trigger: str
    components: list[ComponentOut]
    outcome: str
    conducted_on: dt.date
    valid_until: dt.date | None
    retest_by: dt.date | None
    notes: str | None
    corrects_id: uuid.UUID | None
    corrected_by_id: uuid.UUID | None = None
    policy_id: uuid.UUID | None
    policy_version: int | None
    interval_months: int
    listing_id: uuid.UUID | None = None
    created_at: dt.datetime
