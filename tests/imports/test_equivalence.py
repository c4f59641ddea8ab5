"""The import's shortcuts give exactly what the rule code they stand for gives.

Bulk imports validate rows by the API's rules; to do it at thousands of rows a second some
steps are computed more cheaply than the general path computes them. Each such step is held
equal to the general one here, on generated and adversarial input (docs/benchmark.md, Import).
"""

from __future__ import annotations

import datetime as dt
import string
import uuid
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc

from app.domain.vocabulary import IdentifierScheme
from app.services.imports.import_rows import copy_line, fast_search_name, uuid4_texts
from app.services.imports.imports import evaluation_copy_line
from app.services.registry import identifiers as ids
from app.services.registry.identifiers import (
    IdentifierError,
    IdentifierErrorCode,
    make_curp,
    make_rfc,
    parse_scheme,
)
from app.services.registry.registry import search_name
from app.services.screening.matching import Identity, blocking_keys, prepare

DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
NAMES = st.sampled_from(
    [
        *("JOSÉ", "MARÍA DE LOS ÁNGELES", "NÚÑEZ", "DE LA CRUZ", "O'BRIEN", "MC DONALD", "X"),
        *("N/A", "SMITH-JONES", "ÑANDÚ", "GARCÍA", "HERNÁNDEZ", "  ", "-", "Ma.", "ß", "Ø", ""),
        "S/N",
    ]
)
TEXT = st.one_of(NAMES, st.text(max_size=12))


# --- identifiers -------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(DATES, DATES, st.sampled_from("MF"), st.booleans())
def test_curp_birth_date_check_equals_stdnum(
    born: date, claimed: date, sex: str, same: bool
) -> None:
    curp = make_curp("JUAN", "PEREZ", "LOPEZ", born, sex)
    day = born if same else claimed
    assert ids._curp_born_on(curp, day) == (stdnum_curp.get_birth_date(curp) == day)


def _rfc_reference(compact: str, day: date | None) -> str:
    """``_validate_rfc`` as it was, with two stdnum calls."""
    try:
        stdnum_rfc.validate(compact)
    except ValidationError:
        raise IdentifierError(IdentifierErrorCode.RFC_INVALID) from None
    if len(compact) == 12:
        raise IdentifierError(IdentifierErrorCode.RFC_COMPANY_NOT_ALLOWED)
    if len(compact) != 13:
        raise IdentifierError(IdentifierErrorCode.RFC_INVALID)
    try:
        stdnum_rfc.validate(compact, validate_check_digits=True)
    except InvalidChecksum:
        raise IdentifierError(IdentifierErrorCode.RFC_INVALID_CHECK_DIGIT) from None
    except ValidationError:
        raise IdentifierError(IdentifierErrorCode.RFC_INVALID) from None
    if day is not None and compact[4:10] != ids._yymmdd(day):
        raise IdentifierError(IdentifierErrorCode.RFC_BIRTH_DATE_MISMATCH)
    return compact


def _outcome(fn: object, compact: str, day: date | None) -> str:
    try:
        return str(fn(compact, day))  # type: ignore[operator]
    except IdentifierError as exc:
        return f"error {exc.error_code}"


RFC_CHARS = string.ascii_uppercase + string.digits + "&Ñ"


@settings(max_examples=600, deadline=None)
@given(
    DATES,
    st.one_of(st.none(), DATES),
    st.lists(st.tuples(st.integers(0, 12), st.sampled_from(RFC_CHARS)), max_size=3),
    st.integers(-3, 2),
)
@example(date(1956, 12, 31), None, [], 0)
def test_rfc_one_call_equals_two(
    born: date, day: date | None, edits: list[tuple[int, str]], cut: int
) -> None:
    rfc = make_rfc("DOLORES", "GOMEZ", "DIAZ", born)
    chars = list(rfc)
    for position, char in edits:  # typos, including in the homoclave and the check digit
        chars[position] = char
    text = "".join(chars)
    text = text[:cut] if cut < 0 else text + "A" * cut  # 10-, 12- and 14-character forms
    assert _outcome(ids._validate_rfc, text, day) == _outcome(_rfc_reference, text, day)


@pytest.mark.parametrize(
    "value", ["GODE561231GR8", "MAB9307148T4", "VACE460910SX6", "GODE561231", "GODE5612"]
)
def test_rfc_one_call_equals_two_on_stdnum_examples(value: str) -> None:
    for day in (None, date(1956, 12, 31), date(1946, 9, 10)):
        assert _outcome(ids._validate_rfc, value, day) == _outcome(_rfc_reference, value, day)


@given(st.one_of(st.sampled_from([s.value for s in IdentifierScheme]), st.text(max_size=12)))
def test_parse_scheme_fast_path_equals_general(text: str) -> None:
    try:
        expected: object = IdentifierScheme(text.strip().upper())
    except ValueError:
        expected = "refused"
    try:
        got: object = parse_scheme(text)
    except IdentifierError:
        got = "refused"
    assert got == expected


# --- names -------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT, st.one_of(st.none(), TEXT))
@example("JOSÉ\u0301", "-", "\u0301A")
@example(" MARÍA ", "DE-LA ROSA", "  ")
def test_search_name_from_parts_equals_whole(given_: str, first: str, second: str | None) -> None:
    assert fast_search_name(given_, first, second) == search_name(given_, first, second)


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT, st.one_of(st.none(), TEXT), DATES)
def test_blocking_keys_without_preparing_equal_prepared(
    given_: str, first: str, second: str | None, born: date
) -> None:
    identity = Identity(given_, first, second, born)
    assert blocking_keys(identity) == blocking_keys(prepare(identity))


def test_uuid4_texts_are_version_4_uuids() -> None:
    texts = uuid4_texts(500)
    assert len(set(texts)) == 500
    for text in texts:
        value = uuid.UUID(text)
        assert value.version == 4
        assert value.variant == uuid.RFC_4122
        assert str(value) == text


# --- COPY text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("notes", [None, "tab\there\nnewline \\ back", "ñandú"])
@pytest.mark.parametrize(
    "dates", [(date(2027, 1, 1), None), (None, date(2026, 5, 1)), (None, None)]
)
def test_evaluation_copy_line_equals_the_generic_form(
    notes: str | None, dates: tuple[date | None, date | None]
) -> None:
    values = (
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        "MX",
        uuid.uuid4(),
        "periodic",
        {"polygraph": "pass", "background": "fail", "medical": "not_applicable"},
        "fail",
        date(2026, 1, 31),
        *dates,
        notes,
        None,
        uuid.uuid4(),
        3,
        12,
        "EV-1\t2",
        dt.datetime(2026, 11, 28, 4, 30, 1, 12, tzinfo=dt.UTC),
    )
    assert evaluation_copy_line(values) == copy_line(values)
