"""R5: the outcome follows from the components and the policy's required components."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.outcome import (
    ALL_COMPONENTS,
    ComponentResult,
    ComponentType,
    Outcome,
    derive_outcome,
)

C = ComponentType
R = ComponentResult
EVERYTHING_PASSED = dict.fromkeys(ALL_COMPONENTS, R.PASS)


def test_enum_values_are_the_api_spellings() -> None:
    assert [c.value for c in ALL_COMPONENTS] == [
        "polygraph",
        "background",
        "financial",
        "toxicology",
        "psychological",
        "medical",
        "socioeconomic",
    ]
    assert {r.value for r in ComponentResult} == {
        "pass",
        "fail",
        "inconclusive",
        "refused",
        "not_applicable",
    }
    assert {o.value for o in Outcome} == {"pass", "fail", "inconclusive", "refused"}


@pytest.mark.parametrize(
    ("components", "required", "expected"),
    [
        pytest.param(EVERYTHING_PASSED, ALL_COMPONENTS, Outcome.PASS, id="all-pass"),
        pytest.param(
            {**EVERYTHING_PASSED, C.POLYGRAPH: R.REFUSED, C.FINANCIAL: R.FAIL},
            ALL_COMPONENTS,
            Outcome.REFUSED,
            id="refused-beats-fail",
        ),
        pytest.param(
            {C.MEDICAL: R.REFUSED},
            [C.POLYGRAPH],
            Outcome.REFUSED,
            id="refused-optional-component-still-refuses",
        ),
        pytest.param(
            {**EVERYTHING_PASSED, C.TOXICOLOGY: R.FAIL, C.MEDICAL: R.INCONCLUSIVE},
            ALL_COMPONENTS,
            Outcome.FAIL,
            id="fail-beats-inconclusive",
        ),
        pytest.param(
            {C.POLYGRAPH: R.PASS, C.SOCIOECONOMIC: R.FAIL},
            [C.POLYGRAPH],
            Outcome.FAIL,
            id="fail-in-optional-component-fails",
        ),
        pytest.param(
            {C.POLYGRAPH: R.PASS, C.BACKGROUND: R.PASS},
            [C.POLYGRAPH, C.BACKGROUND, C.FINANCIAL],
            Outcome.INCONCLUSIVE,
            id="required-missing",
        ),
        pytest.param(
            {**EVERYTHING_PASSED, C.PSYCHOLOGICAL: R.INCONCLUSIVE},
            ALL_COMPONENTS,
            Outcome.INCONCLUSIVE,
            id="required-inconclusive",
        ),
        pytest.param(
            {**EVERYTHING_PASSED, C.MEDICAL: R.NOT_APPLICABLE},
            ALL_COMPONENTS,
            Outcome.INCONCLUSIVE,
            id="required-not-applicable",
        ),
        pytest.param(
            {C.POLYGRAPH: R.PASS, C.MEDICAL: R.NOT_APPLICABLE, C.FINANCIAL: R.INCONCLUSIVE},
            [C.POLYGRAPH],
            Outcome.PASS,
            id="optional-inconclusive-or-na-does-not-hold-back",
        ),
        pytest.param({}, [], Outcome.PASS, id="nothing-required-nothing-given-literal-rule"),
        pytest.param({}, [C.POLYGRAPH], Outcome.INCONCLUSIVE, id="nothing-given"),
    ],
)
def test_outcome_rule(
    components: Mapping[ComponentType, ComponentResult],
    required: Collection[ComponentType],
    expected: Outcome,
) -> None:
    assert derive_outcome(components, required) is expected


def test_accepts_plain_strings_from_loose_callers() -> None:
    # StrEnum members equal their values, so a mapping built from JSON strings behaves the same.
    loose: dict[ComponentType, ComponentResult] = {C.POLYGRAPH: "pass"}  # type: ignore[dict-item]
    assert derive_outcome(loose, {C.POLYGRAPH}) is Outcome.PASS


def oracle(
    components: Mapping[ComponentType, ComponentResult], required: Collection[ComponentType]
) -> Outcome:
    """R5 written again, the other way round: start from pass and let stronger findings win."""
    ranking = [Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.FAIL, Outcome.REFUSED]
    worst = Outcome.PASS
    for component in ALL_COMPONENTS:
        result = components.get(component)
        if result == "refused":
            finding = Outcome.REFUSED
        elif result == "fail":
            finding = Outcome.FAIL
        elif component in required and result != "pass":
            finding = Outcome.INCONCLUSIVE
        else:
            finding = Outcome.PASS
        worst = max(worst, finding, key=ranking.index)
    return worst


@given(
    components=st.dictionaries(st.sampled_from(ComponentType), st.sampled_from(ComponentResult)),
    required=st.sets(st.sampled_from(ComponentType)),
)
def test_matches_an_independent_oracle(
    components: dict[ComponentType, ComponentResult], required: set[ComponentType]
) -> None:
    outcome = derive_outcome(components, required)
    assert outcome == oracle(components, required)
    # Sanity properties of the rule itself.
    if outcome is Outcome.PASS:
        assert all(components.get(c) is R.PASS for c in required)
    if any(r is R.REFUSED for r in components.values()):
        assert outcome is Outcome.REFUSED
