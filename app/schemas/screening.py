"""Screening before hiring (R11, R12, R12a): requests and answers.

A screening answers about listed people only; what it shows of a candidate follows R9 and R24
(docs/screening.md, "What a candidate shows").
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.domain.names import normalise_name
from app.schemas.common import Problem, StrictModel
from app.schemas.official import IdentifierIn

Verdict = Literal["clear", "review", "listed"]
Band = Literal["high", "review"]


class ScreeningPurpose(enum.StrEnum):
    """Why a screening was made (kept with it; never free text, so no names leak into it)."""

    HIRING = "hiring"
    APPOINTMENT = "appointment"
    PROMOTION = "promotion"
    TRANSFER = "transfer"
    CONTRACTOR = "contractor"
    TASK_FORCE = "task_force"
    OTHER = "other"
    # Set by the appointment gate (R3) on the screenings it makes; not accepted from clients.
    APPOINTMENT_GATE = "appointment_gate"


class DecisionKind(enum.StrEnum):
    NOT_SAME_PERSON = "not_same_person"
    SAME_PERSON = "same_person"


def _has_letters(value: str | None) -> str | None:
    if value is not None and not normalise_name(value):
        raise ValueError("must contain at least one letter or digit")
    return value


class ScreeningCreate(StrictModel):
    """One identity to screen (R11). Identifiers are optional and validated like registration
    (R1), except that a CURP or RFC disagreeing with the date of birth is reported as the
    warning ``identifier_dob_conflict`` instead of refused."""

    given_names: str = Field(min_length=1, max_length=120)
    first_surname: str = Field(min_length=1, max_length=80)
    second_surname: str | None = Field(default=None, max_length=80)
    date_of_birth: dt.date = Field(ge=dt.date(1900, 1, 1))
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=10)
    purpose: ScreeningPurpose | None = Field(
        default=None, description="Why the person is screened; `appointment_gate` is reserved"
    )
    watch: bool = Field(
        default=False,
        description="Leave a watch: the agency is told if the person is later listed, or a "
        "listing they carry is overturned (R12b)",
    )

    _names = field_validator("given_names", "first_surname", "second_surname")(_has_letters)

    @field_validator("purpose")
    @classmethod
    def _not_reserved(cls, value: ScreeningPurpose | None) -> ScreeningPurpose | None:
        if value is ScreeningPurpose.APPOINTMENT_GATE:
            raise ValueError("appointment_gate is set by the service only")
        return value


class ScreeningBatchCreate(StrictModel):
    """Up to ``screening_batch_max_items`` (1,000) identities. Each item has the shape of a
    single screening request; an item that is not valid gets a problem in its place without
    failing the others, so items are checked one by one rather than by the whole body."""

    # Items are not typed as ScreeningCreate here on purpose: FastAPI would then refuse the
    # whole batch for one bad item. The router validates each item on its own. The hard cap
    # only bounds parsing; the configured limit (default 1,000) is the service's.
    items: list[Any] = Field(
        min_length=1,
        max_length=10_000,
        description="Each item is a ScreeningCreate (given_names, first_surname, "
        "second_surname, date_of_birth, identifiers, purpose, watch); at most "
        "screening_batch_max_items (1,000)",
        json_schema_extra={"items": {"$ref": "#/components/schemas/ScreeningCreate"}},
    )


class CandidateRead(BaseModel):
    """The listed person a match points at. Names are shown to both countries (the screener
    typed them); the date of birth only to the official's own country (R24)."""

    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date | None = Field(description="Own country only (R24)")
    year_of_birth: int


class PreviousDecisionRead(BaseModel):
    """A reviewer's earlier ruling on this candidate for the same identity (R12a)."""

    decision: DecisionKind
    screening_id: uuid.UUID
    decided_at: dt.datetime
    agency_id: uuid.UUID | None
    reasons: str | None


class MatchRead(BaseModel):
    official_id: uuid.UUID
    rank: int
    score: float = Field(description="0-100; only an identical identity scores 100 (R12a)")
    band: Band
    verdict: Verdict = Field(description="What this candidate contributes to the verdict")
    matched_by: Literal["identifier", "name_and_birth_date"]
    features: dict[str, Any]
    view: Literal["full", "public"]
    candidate: CandidateRead
    # The listing, at the disclosure of R9 (both countries).
    listing_id: uuid.UUID | None
    basis: str | None
    listing_status: str | None
    listed_by: uuid.UUID | None
    listed_by_name: str | None
    listed_by_acronym: str | None
    listed_by_country: str | None
    listed_on: dt.date | None
    contact: str | None
    previous_decision: PreviousDecisionRead | None = None


class DecisionCreate(StrictModel):
    official_id: uuid.UUID
    decision: DecisionKind
    reasons: str = Field(min_length=3, max_length=2000)


class DecisionRead(BaseModel):
    id: uuid.UUID
    screening_id: uuid.UUID
    official_id: uuid.UUID
    decision: DecisionKind
    reasons: str | None
    decided_by: uuid.UUID
    agency_id: uuid.UUID | None
    created_at: dt.datetime


class ScreeningQueryRead(BaseModel):
    """What was screened (the screening's own country only reads a screening)."""

    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date
    identifiers_given: int


class ScreeningRead(BaseModel):
    id: uuid.UUID
    verdict: Verdict
    top_score: float | None
    country: str
    agency_id: uuid.UUID | None
    purpose: str | None
    batch_id: uuid.UUID | None
    created_at: dt.datetime
    query: ScreeningQueryRead
    matches: list[MatchRead]
    warnings: list[str] = Field(
        default_factory=list,
        description="identifier_dob_conflict: a CURP or RFC encodes another birth date",
    )
    candidates_truncated: bool = False
    decisions: list[DecisionRead] = Field(default_factory=list)
    watch_id: uuid.UUID | None = None


class BatchItemRead(BaseModel):
    """One answer per item, in order: the screening, or a problem in its place."""

    index: int
    result: ScreeningRead | None = None
    problem: Problem | None = None


class BatchSummary(BaseModel):
    items: int
    clear: int
    review: int
    listed: int
    errors: int


class ScreeningBatchRead(BaseModel):
    batch_id: uuid.UUID
    summary: BatchSummary
    items: list[BatchItemRead]
