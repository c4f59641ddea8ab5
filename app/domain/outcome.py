"""Evaluation components, results and the outcome rule (R5).

The enums live here, not in the models or schemas, because the rule is what gives them meaning;
models, schemas and services import them from this module so there is one spelling of each value.
Pure: no database, no HTTP (the ``app.domain`` contract in pyproject.toml holds it to that).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Final

__all__ = [
    "ALL_COMPONENTS",
    "ComponentResult",
    "ComponentType",
    "Outcome",
    "derive_outcome",
]


class ComponentType(StrEnum):
    """The parts of a vetting evaluation (DESIGN §3, Evaluation)."""

    POLYGRAPH = "polygraph"
    BACKGROUND = "background"
    FINANCIAL = "financial"  # assets and income
    TOXICOLOGY = "toxicology"
    PSYCHOLOGICAL = "psychological"
    MEDICAL = "medical"
    SOCIOECONOMIC = "socioeconomic"


class ComponentResult(StrEnum):
    """The result of one component (R5)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    REFUSED = "refused"
    NOT_APPLICABLE = "not_applicable"


class Outcome(StrEnum):
    """The outcome of a whole evaluation (R5). There is no ``not_applicable`` outcome: an
    evaluation always says something about the person."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    REFUSED = "refused"


# Declaration order, so lists built from it (defaults of R14, API examples) are stable.
ALL_COMPONENTS: Final[tuple[ComponentType, ...]] = tuple(ComponentType)


def derive_outcome(
    components: Mapping[ComponentType, ComponentResult],
    required: Collection[ComponentType],
) -> Outcome:
    """Derive an evaluation's outcome from its component results and the policy's required
    components (R5).

    In order of precedence:

    1. any component ``refused`` → ``refused`` — refusal is never hidden behind another result
       (R7), so it wins even over a ``fail``;
    2. else any component ``fail`` → ``fail`` — a failure counts whether or not the policy
       required that component, because the evaluator saw it;
    3. else any *required* component missing, ``inconclusive`` or ``not_applicable`` →
       ``inconclusive`` — the policy asked for evidence that was not obtained;
    4. else ``pass``.

    Optional components that are ``inconclusive`` or ``not_applicable`` do not hold a pass back.
    Taken literally the rule passes an evaluation with no components when nothing is required;
    the request schema, not this function, is where "at least one component" belongs. A mapping
    cannot hold one component twice: the caller refuses duplicates before building it.
    """
    results = set(components.values())
    if ComponentResult.REFUSED in results:
        return Outcome.REFUSED
    if ComponentResult.FAIL in results:
        return Outcome.FAIL
    for component in required:
        if components.get(component) != ComponentResult.PASS:
            # Missing, inconclusive or not_applicable: refused and fail were handled above.
            return Outcome.INCONCLUSIVE
    return Outcome.PASS
