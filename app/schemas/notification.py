"""An agency's inbox (R12b). Payloads carry verdict-level facts only (R9, R24)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="listing.listed, listing.overturned or listing.corrected")
    agency_id: uuid.UUID | None
    country: str
    watch_id: uuid.UUID | None
    listing_id: uuid.UUID | None
    official_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None
