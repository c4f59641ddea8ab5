"""Re-vetting policy request and response shapes (R14)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.domain.access import Country
from app.domain.outcome import ComponentType
from app.domain.vocabulary import RankTier
from app.schemas.agency import Sector
from app.schemas.common import StrictModel

IntervalMonths = Field(
    default=None, ge=1, le=120, description="A pass is valid this many months (R6)"
)
RetestDays = Field(
    default=None, ge=1, le=365, description="An inconclusive result is retaken within (R6)"
)
DueSoonDays = Field(
    default=None, ge=0, le=365, description="A schedule is due_soon this many days ahead"
)
RandomDueDays = Field(
    default=None, ge=1, le=365, description="A random selection is answered within (R16)"
)
Components = Field(
    default=None, min_length=1, max_length=7, description="Components an evaluation must pass (R5)"
)


def _unique(values: list[ComponentType] | None) -> list[ComponentType] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("each component may appear once")
    return values


class PolicyValues(StrictModel):
    interval_months: int | None = IntervalMonths
    required_components: list[ComponentType] | None = Components
    retest_days: int | None = RetestDays
    promotion_requires_vetting: bool | None = None
    due_soon_days: int | None = DueSoonDays
    random_due_days: int | None = RandomDueDays

    @field_validator("required_components")
    @classmethod
    def _components_unique(cls, value: list[ComponentType] | None) -> list[ComponentType] | None:
        return _unique(value)


class PolicyCreate(PolicyValues):
    """A scope (country, and optionally sector, rank tier or agency) and its values. Values
    left out are copied from the policy that applies to the scope today."""

    country: Country | None = Field(
        default=None, description="Your own country (the default); admins set only their own"
    )
    sector: Sector | None = Field(default=None, description="Omit with agency_id (implied)")
    rank_tier: RankTier | None = None
    agency_id: uuid.UUID | None = None


class PolicyUpdate(PolicyValues):
    """Values and ``active`` only: a different scope is a different policy."""

    active: bool | None = Field(
        default=None, description="Inactive policies are skipped; the country policy stays"
    )


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    country: str
    sector: str | None
    rank_tier: str | None
    agency_id: uuid.UUID | None
    scope_key: str
    specificity: int = Field(
        description="agency 4 + rank tier 2 + sector 1; the highest applicable wins"
    )
    interval_months: int
    required_components: list[str]
    retest_days: int
    promotion_requires_vetting: bool
    due_soon_days: int
    random_due_days: int
    active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PolicyVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    snapshot: dict[str, object]
    changed_by: uuid.UUID | None
    changed_at: dt.datetime


class EffectivePolicy(BaseModel):
    """The policy that applies to a scope today, and why."""

    scope_key: str
    specificity: int
    policy: PolicyRead
