"""Bulk import (docs/import.md): jobs, their per-row report, and the row shapes that have no
API request model of their own.

Officials and evaluations rows are validated by the API's own request models
(``OfficialCreate``, ``EvaluationCreate``); a separation row differs from ``SeparationCreate``
only in that the appointment may be left out (the official's current one is meant), so it has
its own model here with the same field rules.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, Field

from app.domain.vocabulary import SeparationReason
from app.schemas.common import Page, StrictModel


class ImportKind(enum.StrEnum):
    OFFICIALS = "officials"
    EVALUATIONS = "evaluations"
    SEPARATIONS = "separations"


class ImportFormat(enum.StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class SeparationImportRow(StrictModel):
    """A separation row once the official is resolved: ``SeparationCreate`` with an optional
    appointment (R4 rules apply unchanged)."""

    appointment_id: uuid.UUID | None = None
    reason: SeparationReason
    effective_on: dt.date
    summary: str | None = Field(default=None, max_length=4000)


class ImportRowErrorRead(BaseModel):
    line: int = Field(description="Line of the file where the rejected record starts (1-based)")
    source_ref: str | None = Field(description="The row's own record id, when it could be read")
    code: str = Field(description="Machine code, the same the API answers for the same fault")
    reason: str


class ImportJobRead(BaseModel):
    id: uuid.UUID
    kind: ImportKind
    format: ImportFormat
    status: ImportStatus
    filename: str | None
    country: str
    created_by: uuid.UUID
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_line: int = Field(
        description="Last line processed and committed; a resumed job continues after it"
    )
    total_rows: int = Field(description="Records processed so far")
    accepted: int
    rejected: int
    duplicates: int = Field(
        description="Records skipped because their source_ref was already imported"
    )
    error: str | None = Field(description="Why the job failed, if it did (never row data)")


class ImportJobDetail(ImportJobRead):
    errors: Page[ImportRowErrorRead] = Field(
        description="Rejected rows in file order; page with `limit` and `cursor`"
    )
