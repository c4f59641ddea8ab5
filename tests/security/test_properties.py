"""Property tests that complete the ones beside the code (issue 8, DESIGN §7).

Already covered elsewhere, and not repeated here:

* name normalisation — idempotence, bounded and symmetric scores, blocking keys
  (tests/unit/test_matching.py);
* identifier validation — normalisation idempotence, the ASCII fast path against stdnum, only
  ``IdentifierError`` for any input, generated CURP/RFC always valid, encryption round trip
  (tests/unit/test_identifiers.py);
* R5 — the rule against an independent oracle (tests/unit/test_outcome.py);
* R16 — selection against a reference implementation, order independence, sizes
  (tests/unit/test_draw_math.py).

Added here, with the security reading of each: typography cannot hide a listed person from a
screening, identifier formatting cannot dodge a blind-index lookup, R5 is monotone (a worse
finding never improves the outcome), R16 cannot be steered by adding or removing people who are
not drawn, and the request parsers this suite owns never fail with anything but their own refusal.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from app.api.content_type import FORM, JSON, acceptable, parse_media_type
from app.api.pagination import (
    AGENCY_CURSOR,
    DATE_ID_CURSOR,
    ID_CURSOR,
    MAX_ID,
    TEXT_CURSOR,
    TEXT_ID_CURSOR,
    TIME_ID_CURSOR,
    decode_cursor,
    encode_cursor,
)
from app.domain.names import normalise_name
from app.domain.outcome import ComponentResult, ComponentType, Outcome, derive_outcome
from app.errors import Unprocessable
from app.services.audit.quotas import window_start
from app.services.registry.identifiers import blind_index, make_curp, validate_identifier
from app.services.revetting.draw_math import seed_from, select
from app.services.screening.matching import Identity, score

KEY = bytes(range(32))

# --- Names: typography never hides a person ----------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNÑOPQRSTUVWXYZÁÉÍÓÚÜabcdefghijklmnñopqrstuvwxyzáéíóúü"
WORDS = st.text(alphabet=LETTERS, min_size=1, max_size=10)
NAMES = st.lists(WORDS, min_size=1, max_size=3).map(" ".join)


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _retyped(text: str, style: int) -> str:
    """The same name as someone else might type it: case, accents, spacing, hyphens."""
    if style == 0:
        return text.lower()
    if style == 1:
        return _plain(text).upper()
    if style == 2:
        return "  " + "   ".join(text.split()) + " "
    return "-".join(_plain(text).lower().split())


@given(NAMES, st.integers(0, 3))
def test_typing_variants_of_a_name_normalise_alike(name: str, style: int) -> None:
    assert normalise_name(_retyped(name, style)) == normalise_name(name)


@given(st.text())
def test_normalised_names_are_plain_ascii(text: str) -> None:
    assert set(normalise_name(text)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")


@given(
    NAMES,
    NAMES,
    st.none() | NAMES,
    st.dates(dt.date(1930, 1, 1), dt.date(2005, 12, 31)),
    st.integers(0, 3),
)
def test_a_retyped_identity_scores_as_the_same_person(
    given_names: str, first: str, second: str | None, dob: dt.date, style: int
) -> None:
    """A screening of a listed person typed differently still scores the maximum (R11)."""
    listed = Identity(given_names, first, second, dob)
    typed = Identity(
        _retyped(given_names, style),
        _retyped(first, style),
        _retyped(second, style) if second else None,
        dob,
    )
    assert score(listed, typed).score == 100.0


# --- Identifiers: formatting never dodges the blind index --------------------------------------

CURP_NAMES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=10)
BIRTH = st.dates(dt.date(1930, 1, 1), dt.date(2009, 12, 31))


def _formatted(value: str, style: int) -> str:
    if style == 0:
        return value.lower()
    if style == 1:
        return f" {value[:4]}-{value[4:10]}-{value[10:]} "
    if style == 2:
        return "".join(chr(ord(c) + 0xFEE0) for c in value)  # full-width forms
    return "\t".join(value)


@given(CURP_NAMES, CURP_NAMES, CURP_NAMES, BIRTH, st.sampled_from("MF"), st.integers(0, 3))
def test_a_reformatted_curp_finds_the_same_record(
    given_names: str, first: str, second: str, dob: dt.date, sex: str, style: int
) -> None:
    curp = make_curp(given_names, first, second, dob, sex)
    compact = validate_identifier("CURP", _formatted(curp, style), date_of_birth=dob)
    assert compact == curp
    assert blind_index(KEY, "CURP", compact) == blind_index(KEY, "CURP", curp)


@given(st.lists(st.tuples(CURP_NAMES, CURP_NAMES, BIRTH), min_size=2, max_size=8, unique=True))
def test_distinct_curps_have_distinct_indexes(people: list[tuple[str, str, dt.date]]) -> None:
    curps = {make_curp(g, f, None, d, "M") for g, f, d in people}
    indexes = {blind_index(KEY, "CURP", c) for c in curps}
    assert len(indexes) == len(curps)
    assert not any(c.lower() in i for c in curps for i in indexes)


# --- R5: a worse finding never improves the outcome ---------------------------------------------

SEVERITY = [
    ComponentResult.PASS,
    ComponentResult.NOT_APPLICABLE,
    ComponentResult.INCONCLUSIVE,
    ComponentResult.FAIL,
    ComponentResult.REFUSED,
]
RANK = [Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.FAIL, Outcome.REFUSED]


def _outcome(
    components: Mapping[ComponentType, ComponentResult], required: Collection[ComponentType]
) -> int:
    return RANK.index(derive_outcome(components, required))


@given(
    components=st.dictionaries(st.sampled_from(ComponentType), st.sampled_from(SEVERITY)),
    required=st.sets(st.sampled_from(ComponentType)),
    which=st.sampled_from(ComponentType),
    worse=st.sampled_from(SEVERITY),
)
def test_outcome_is_monotone_in_each_component(
    components: dict[ComponentType, ComponentResult],
    required: set[ComponentType],
    which: ComponentType,
    worse: ComponentResult,
) -> None:
    before = components.get(which, ComponentResult.PASS)
    assume(SEVERITY.index(worse) >= SEVERITY.index(before))
    assume(which in components or which not in required)
    after = {**components, which: worse}
    assert _outcome(after, required) >= _outcome(components, required)


@given(
    components=st.dictionaries(st.sampled_from(ComponentType), st.sampled_from(SEVERITY)),
    required=st.sets(st.sampled_from(ComponentType)),
    extra=st.sampled_from(ComponentType),
)
def test_requiring_more_never_improves_the_outcome(
    components: dict[ComponentType, ComponentResult],
    required: set[ComponentType],
    extra: ComponentType,
) -> None:
    assert _outcome(components, required | {extra}) >= _outcome(components, required)


# --- R16: nobody steers the draw by adding or removing people who are not drawn ----------------

SECRETS = st.binary(min_size=32, max_size=32)


@given(st.lists(st.uuids(), unique=True, max_size=40), st.integers(0, 41), SECRETS, SECRETS)
def test_a_larger_sample_extends_a_smaller_one(
    ids: list[uuid.UUID], k: int, mx: bytes, us: bytes
) -> None:
    seed = seed_from(mx, us)
    assert select(seed, ids, k + 1)[:k] == select(seed, ids, k)


@given(
    st.lists(st.uuids(), unique=True, min_size=1, max_size=40),
    st.integers(1, 10),
    st.lists(st.uuids(), max_size=10),
    SECRETS,
    SECRETS,
)
def test_people_who_are_not_drawn_do_not_change_the_draw(
    ids: list[uuid.UUID], k: int, outsiders: list[uuid.UUID], mx: bytes, us: bytes
) -> None:
    """Removing anyone not selected, or adding people who rank after the last selected one,
    leaves the selection as it was: the only way to change it is to change the seed."""
    seed = seed_from(mx, us)
    chosen = select(seed, ids, k)
    assert select(seed, chosen, k) == chosen
    bigger = list(dict.fromkeys(ids + outsiders))
    grown = select(seed, bigger, k)
    newcomers = set(bigger) - set(ids)
    assert all(i in chosen or i in newcomers for i in grown)


# --- Parsers of this suite: refuse, never crash --------------------------------------------------


@given(st.text(max_size=200))
def test_any_content_type_header_is_judged_without_error(header: str) -> None:
    assert acceptable(header, (JSON,)) in (True, False)
    assert acceptable(header, (FORM,)) in (True, False)
    parsed = parse_media_type(header)
    if acceptable(header, (JSON,)):
        assert parsed is not None
        assert parsed[0] == JSON


SHAPES = [ID_CURSOR, TEXT_CURSOR, TEXT_ID_CURSOR, DATE_ID_CURSOR, TIME_ID_CURSOR, AGENCY_CURSOR]


@given(st.text(max_size=300), st.sampled_from(SHAPES))
def test_any_cursor_is_read_or_refused_as_422(cursor: str, shape: Any) -> None:
    try:
        decode_cursor(cursor, shape)
    except Unprocessable as exc:
        refused = exc
    else:
        return
    assert refused.status == 422


@given(st.integers(min_value=0, max_value=MAX_ID), st.text(max_size=20), st.uuids())
def test_cursors_round_trip(number: int, text: str, an_id: uuid.UUID) -> None:
    assert decode_cursor(encode_cursor([number]), ID_CURSOR) == (number,)
    if "\x00" not in text:  # refused in a cursor: PostgreSQL text cannot hold it
        assert decode_cursor(encode_cursor([text, an_id]), TEXT_ID_CURSOR) == (text, an_id)


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from([1, 7, 60, 300, 3600, 86400]),
)
def test_quota_windows_hold_their_instant(now: dt.datetime, seconds: int) -> None:
    start = window_start(now, seconds)
    assert start <= now < start + dt.timedelta(seconds=seconds)
    assert window_start(start, seconds) == start
    assert start.timestamp() % seconds == 0
