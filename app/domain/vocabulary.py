"""The words the rules are written in: rank tiers, separation reasons, identifier schemes,
schedule states and obligations, eligibility reasons (DESIGN §3).

They live here, not in the schemas or the services that first needed them, so that models,
schemas, services and routers share one spelling of each value without importing each other.
Pure: no database, no HTTP, no validation framework.
"""

from __future__ import annotations

import enum

__all__ = [
    "FOR_CAUSE_REASONS",
    "SENIOR_TIERS",
    "TIER_ORDER",
    "EligibilityReason",
    "IdentifierScheme",
    "ObligationKind",
    "RankTier",
    "ScheduleState",
    "SeparationReason",
]


class RankTier(enum.StrEnum):
    LINE = "line"
    SUPERVISORY = "supervisory"
    COMMAND = "command"
    EXECUTIVE = "executive"


SENIOR_TIERS = frozenset({RankTier.COMMAND.value, RankTier.EXECUTIVE.value})
TIER_ORDER = {t.value: i for i, t in enumerate(RankTier)}


class SeparationReason(enum.StrEnum):
    RESIGNATION = "resignation"
    RETIREMENT = "retirement"
    TRANSFER = "transfer"
    DEATH = "death"
    DISMISSAL_FOR_CAUSE = "dismissal_for_cause"
    EXPELLED_CORRUPTION = "expelled_corruption"
    EXPELLED_HUMAN_RIGHTS = "expelled_human_rights"
    FAILED_VETTING = "failed_vetting"
    OTHER = "other"


FOR_CAUSE_REASONS = frozenset(
    {
        SeparationReason.DISMISSAL_FOR_CAUSE.value,
        SeparationReason.EXPELLED_CORRUPTION.value,
        SeparationReason.EXPELLED_HUMAN_RIGHTS.value,
        SeparationReason.FAILED_VETTING.value,
    }
)


class IdentifierScheme(enum.StrEnum):
    """Identifier schemes an official may carry (DESIGN §3, Official)."""

    CURP = "CURP"  # Mexico, population registry; encodes birth date and sex
    RFC = "RFC"  # Mexico, tax registry; a person's encodes the birth date
    SSN = "SSN"  # United States, Social Security Number
    PASSPORT = "PASSPORT"  # any issuing country (not recorded here)
    EMPLOYEE_ID = "EMPLOYEE_ID"  # agency-issued personnel number
    NATIONAL_ID = "NATIONAL_ID"  # any other national identity document


class ScheduleState(enum.StrEnum):
    CURRENT = "current"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    NEVER_VETTED = "never_vetted"
    INACTIVE = "inactive"


class ObligationKind(enum.StrEnum):
    INITIAL_VETTING = "initial_vetting"
    VALIDITY_END = "validity_end"
    VETTING_FAILED = "vetting_failed"
    VETTING_REFUSED = "vetting_refused"
    INCONCLUSIVE_RETEST = "inconclusive_retest"
    PROMOTION = "promotion"
    RANDOM_SELECTION = "random_selection"


class EligibilityReason(enum.StrEnum):
    """Why an official is not eligible (R17, R21), in the order they are reported; each is
    described in ``app.services.task_forces.eligibility``."""

    NOT_ACTIVE = "NOT_ACTIVE"
    LISTED = "LISTED"
    NEVER_VETTED = "NEVER_VETTED"
    VETTING_EXPIRED = "VETTING_EXPIRED"
    VETTING_FAILED = "VETTING_FAILED"
    VETTING_REFUSED = "VETTING_REFUSED"
    VETTING_INCONCLUSIVE = "VETTING_INCONCLUSIVE"
    VETTING_TOO_OLD = "VETTING_TOO_OLD"
    PROMOTION_REVETTING_DUE = "PROMOTION_REVETTING_DUE"
    RANDOM_REVETTING_OVERDUE = "RANDOM_REVETTING_OVERDUE"
    RECIPROCAL_VETTING_MISSING = "RECIPROCAL_VETTING_MISSING"
