"""Random draw shapes (R16)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import AwareDatetime, BaseModel, Field

from app.domain.vocabulary import RankTier
from app.schemas.agency import Sector
from app.schemas.common import StrictModel

HEX64 = r"^[0-9a-f]{64}$"


class DrawCountry(enum.StrEnum):
    MX = "MX"
    US = "US"
    BOTH = "BOTH"


class DrawScopeIn(StrictModel):
    """Every given field must match (an official's current appointment). ``country`` defaults
    to your own; ``BOTH`` draws across the border. ``task_force_id`` stands alone."""

    agency_id: uuid.UUID | None = None
    country: DrawCountry | None = None
    sector: Sector | None = None
    rank_tier: RankTier | None = None
    task_force_id: uuid.UUID | None = None


class DrawCreate(StrictModel):
    scope: DrawScopeIn = Field(default_factory=DrawScopeIn)
    sample_size: int = Field(ge=1, le=100_000)
    commit_deadline: AwareDatetime | None = Field(
        default=None, description="Default: a week from now"
    )
    reveal_deadline: AwareDatetime | None = Field(
        default=None, description="Default: a week after the commit deadline"
    )


class CommitmentCreate(StrictModel):
    commitment: str = Field(
        min_length=64, max_length=64, description="sha256(secret) as 64 lowercase hex"
    )


class RevealCreate(StrictModel):
    secret: str = Field(
        min_length=64, max_length=64, description="The 32-byte secret as 64 lowercase hex"
    )


class ParticipationRead(BaseModel):
    country: str
    committed_at: dt.datetime
    revealed_at: dt.datetime | None


class DrawRead(BaseModel):
    id: uuid.UUID
    scope: dict[str, object]
    sample_size: int
    population_size: int
    population_hash: str
    status: str = Field(description="open, committed, completed or failed")
    failure_reason: str | None
    commit_deadline: dt.datetime
    reveal_deadline: dt.datetime
    random_due_days: int = Field(
        description="Reference value; each selection follows its official's own policy"
    )
    created_by: uuid.UUID | None = Field(
        description="The admin who created it; null across the border (#18, R24)"
    )
    created_at: dt.datetime
    completed_at: dt.datetime | None
    seed: str | None
    participation: list[ParticipationRead]
    selected: int


class SelectionRead(BaseModel):
    official_id: uuid.UUID
    rank: int
    ranking_mac: str
    selected_on: dt.date
    due_on: dt.date


class DrawVerification(BaseModel):
    """Every published value (docs/draws.md shows how to recompute the selection). Official
    ids — ``population``, ``selection``, ``selections`` — are the caller's own country's only
    (#18 F3a, R24); the hash covers the whole population."""

    draw_id: uuid.UUID
    status: str
    failure_reason: str | None
    scope: dict[str, object]
    population_size: int
    population_hash: str
    population: list[str] = Field(description="Your own country's officials in the population")
    population_withheld: int = Field(
        description="How many of the population are the other country's (ids not shown)"
    )
    sample_size: int
    commitments: dict[str, str]
    reveals: dict[str, str]
    seed: str | None
    selection: list[str] = Field(description="Your own country's selected officials")
    selection_withheld: int = Field(description="How many selected are the other country's")
    threshold_mac: str | None = Field(
        description="The largest ranking MAC selected: an official is selected exactly when "
        "their MAC is at most this"
    )
    selections: list[SelectionRead]
