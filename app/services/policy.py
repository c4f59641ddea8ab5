"""Re-vetting policy resolution (R6, R14).

Until editable policies exist, every lookup answers the R14 defaults: Mexico 36 months (the
control-de-confianza certification period), the United States 60 months; all seven components
for senior tiers. Choices where the brief is silent (documented in docs/policies.md): Mexico
requires all components at every tier (its control-de-confianza battery is the same for all);
U.S. non-senior tiers require background, financial, toxicology, psychological and medical.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.services.outcome import ALL_COMPONENTS, ComponentType

SENIOR = frozenset({"command", "executive"})
US_NON_SENIOR = (
    ComponentType.BACKGROUND,
    ComponentType.FINANCIAL,
    ComponentType.TOXICOLOGY,
    ComponentType.PSYCHOLOGICAL,
    ComponentType.MEDICAL,
)


@dataclass(frozen=True)
class Policy:
    id: uuid.UUID | None
    version: int | None
    interval_months: int
    required_components: tuple[ComponentType, ...]
    retest_days: int
    promotion_requires_vetting: bool
    due_soon_days: int
    random_due_days: int


def default_policy(country: str, rank_tier: str | None) -> Policy:
    senior = rank_tier in SENIOR
    if country == "MX":
        interval, required = 36, ALL_COMPONENTS
    else:
        interval, required = 60, (ALL_COMPONENTS if senior else US_NON_SENIOR)
    return Policy(
        id=None,
        version=None,
        interval_months=interval,
        required_components=tuple(required),
        retest_days=90,
        promotion_requires_vetting=True,
        due_soon_days=60,
        random_due_days=30,
    )


def resolve_policy(
    *, country: str, sector: str | None, rank_tier: str | None, agency_id: uuid.UUID | None
) -> Policy:
    """The most specific policy for this scope (R14)."""
    return default_policy(country, rank_tier)
