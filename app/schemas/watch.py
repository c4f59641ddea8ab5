"""Watches left by screenings (R12b)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field


class WatchSubject(BaseModel):
    """The names the screening asked about (the caller's own screening, so its own data); the
    date of birth and identifiers stay with the screening."""

    given_names: str
    first_surname: str
    second_surname: str | None


class WatchRead(BaseModel):
    id: uuid.UUID
    screening_id: uuid.UUID
    agency_id: uuid.UUID | None
    country: str
    created_by: uuid.UUID
    subject: WatchSubject
    matched_official_ids: list[uuid.UUID] = Field(
        description="Officials the watch follows by id: the screening's candidates at or above "
        "the review band, and officials later found by identity or identifier"
    )
    active: bool
    expires_on: dt.date | None
    created_at: dt.datetime
