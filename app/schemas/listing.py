from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import StrictModel


class AppealCreate(StrictModel):
    grounds: str = Field(min_length=10, max_length=8000)


class Decision(enum.StrEnum):
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class AppealDecision(StrictModel):
    decision: Decision
    reasons: str = Field(min_length=10, max_length=8000)


class AppealRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    listing_id: uuid.UUID
    filed_by: uuid.UUID
    grounds: str
    filed_at: dt.datetime
    status: str
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None
    decision_reasons: str | None
