"""R1 (identifier validation) and R2 (encryption at rest, blind index)."""

from __future__ import annotations

import hashlib
import hmac
import string
from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc
from stdnum.util import clean

from app.domain.vocabulary import IdentifierScheme
from app.errors import Unprocessable
from app.services.registry.identifiers import (
    CiphertextError,
    IdentifierCipher,
    IdentifierError,
    birth_date_of,
    blind_index,
    make_curp,
    make_rfc,
    mask,
    normalise_identifier,
    validate_identifier,
)

# stdnum's own documented examples, so these tests do not lean on make_curp / make_rfc.
STDNUM_CURP = "BOXW310820HNERXN09"  # born 1931-08-20
STDNUM_RFC_PERSON = "GODE561231GR8"  # born (19)56-12-31
STDNUM_RFC_COMPANY = "MAB9307148T4"
STDNUM_RFC_BAD_CHECK = "VACE460910SX6"

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def code_of(scheme: str, value: str, dob: date | None = None) -> str:
    with pytest.raises(IdentifierError) as info:
        validate_identifier(scheme, value, date_of_birth=dob)
    return info.value.error_code


# --- CURP (R1) ---------------------------------------------------------------------------------


def test_valid_curp_is_accepted_and_compacted() -> None:
    assert validate_identifier("CURP", STDNUM_CURP, date_of_birth=date(1931, 8, 20)) == STDNUM_CURP
    assert (
        validate_identifier("curp", " boxw-310820-hnerxn09 ", date_of_birth=date(1931, 8, 20))
        == STDNUM_CURP
    )


def test_curp_with_wrong_check_digit_is_refused() -> None:
    assert code_of("CURP", STDNUM_CURP[:-1] + "8") == "CURP_INVALID_CHECK_DIGIT"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "BOXW310820HNERXN0",  # too short
        "BOXW310820HNERXN091",  # too long
        "B0XW310820HNERXN09",  # digit where a letter belongs
        "BOXW311320HNERXN09",  # month 13
        "BOXW310820ZNERXN09",  # sex neither H nor M
        "BOXW310820HZZRXN09",  # no such state
        "BUEY310820HNERXN09",  # inconvenient word RENAPO never issues
        "BOXW310820HNERXN0\n",
    ],
)
def test_malformed_curp_is_refused(value: str) -> None:
    assert code_of("CURP", value) == "CURP_INVALID_FORMAT"


def test_curp_must_agree_with_date_of_birth() -> None:
    assert code_of("CURP", STDNUM_CURP, date(1931, 8, 21)) == "CURP_BIRTH_DATE_MISMATCH"
    # Same day and month a century later: the century digit is part of the agreement.
    assert code_of("CURP", STDNUM_CURP, date(2031, 8, 20)) == "CURP_BIRTH_DATE_MISMATCH"


def test_curp_without_date_of_birth_checks_structure_only() -> None:
    assert validate_identifier("CURP", STDNUM_CURP, date_of_birth=None) == STDNUM_CURP
    assert birth_date_of("CURP", STDNUM_CURP) == date(1931, 8, 20)
    assert birth_date_of("RFC", STDNUM_RFC_PERSON) is None
    assert birth_date_of("CURP", "nonsense") is None


# --- RFC (R1) ----------------------------------------------------------------------------------


def test_personal_rfc_is_accepted() -> None:
    assert (
        validate_identifier("RFC", "gode 561231 gr8", date_of_birth=date(1956, 12, 31))
        == STDNUM_RFC_PERSON
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("GODE561231", "RFC_INVALID"),  # no homoclave: many people share the first ten
        ("GODE561331GR8", "RFC_INVALID"),  # month 13
        ("G0DE561231GR8", "RFC_INVALID"),
        ("GODE561231GR", "RFC_INVALID"),  # 12 characters but not a company's shape
        ("CULO561231GR8", "RFC_INVALID"),  # inconvenient word
        (STDNUM_RFC_BAD_CHECK, "RFC_INVALID_CHECK_DIGIT"),
        (STDNUM_RFC_COMPANY, "RFC_COMPANY_NOT_ALLOWED"),
    ],
)
def test_invalid_rfc_is_refused(value: str, code: str) -> None:
    assert code_of("RFC", value) == code


def test_rfc_must_agree_with_date_of_birth() -> None:
    assert code_of("RFC", STDNUM_RFC_PERSON, date(1956, 12, 30)) == "RFC_BIRTH_DATE_MISMATCH"
    # The RFC has no century, so 2056 agrees as well as 1956 does.
    for year in (1956, 2056):
        assert validate_identifier("RFC", STDNUM_RFC_PERSON, date_of_birth=date(year, 12, 31))


# --- other schemes -----------------------------------------------------------------------------


def test_ssn() -> None:
    assert validate_identifier("SSN", "536-90-4399", date_of_birth=None) == "536904399"
    assert validate_identifier("SSN", "536 90 4399", date_of_birth=None) == "536904399"
    for bad in ("666-00-0000", "078-05-1120", "12345678", "ABC-DE-FGHI"):
        assert code_of("SSN", bad) == "SSN_INVALID"


@pytest.mark.parametrize(
    ("scheme", "good", "bad"),
    [
        ("PASSPORT", ["G12345678", "x 1234 567", "123456"], ["1234", "A" * 21, "G1234567$"]),
        ("EMPLOYEE_ID", ["7", "PF-004521", "A" * 32], ["", "A" * 33, "PF#1"]),
        ("NATIONAL_ID", ["AB12", "123-456-789"], ["ABC", "ÄB12"]),
    ],
)
def test_free_form_schemes_check_length_and_charset(
    scheme: str, good: list[str], bad: list[str]
) -> None:
    for value in good:
        assert validate_identifier(scheme, value, date_of_birth=None) == normalise_identifier(
            scheme, value
        )
    for value in bad:
        assert code_of(scheme, value) == "IDENTIFIER_INVALID"


def test_unknown_scheme_and_oversized_value() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_identifier("DNI", "123", date_of_birth=None)
    assert info.value.error_code == "UNKNOWN_SCHEME"
    assert info.value.field == "scheme"
    assert code_of("PASSPORT", "A" * 10_000) == "IDENTIFIER_INVALID"


def test_identifier_error_is_a_422_problem_that_does_not_quote_the_value() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_identifier("CURP", STDNUM_CURP, date_of_birth=date(2000, 1, 1))
    err = info.value
    assert isinstance(err, Unprocessable)
    assert isinstance(err, ValueError)  # usable from Pydantic validators
    assert err.status == 422
    assert err.instance_code == "CURP_BIRTH_DATE_MISMATCH"
    assert STDNUM_CURP not in str(err)
    # The field as the rules know it; the problem handler places it in the body (#16).
    moved = err.at("identifiers.0.value")
    assert moved.field == "identifiers.0.value"
    assert moved.path == "body.identifiers.0.value"
    assert moved.instance_code == err.instance_code


# --- builders ----------------------------------------------------------------------------------


def test_make_curp_follows_renapo_letters() -> None:
    value = make_curp("María de los Ángeles", "Núñez", "de la Peña", date(1985, 3, 14), "F", "JC")
    # NÚÑEZ → N U; PEÑA (particles dropped) → P; MARÍA is skipped → ÁNGELES → A; Ñ becomes X.
    assert value.startswith("NUPA850314MJC")
    assert value[13:16] == "XXN"
    assert value[16] == "0"  # born before 2000
    assert stdnum_curp.get_gender(value) == "F"
    assert validate_identifier("CURP", value, date_of_birth=date(1985, 3, 14)) == value


def test_make_curp_replaces_inconvenient_words_and_marks_the_century() -> None:
    value = make_curp("Yolanda", "Bueno", "Esparza", date(2004, 2, 29), "F")
    assert value.startswith("BXEY")
    assert value[16] == "A"
    assert stdnum_curp.get_birth_date(value) == date(2004, 2, 29)


def test_make_curp_refuses_what_a_curp_cannot_say() -> None:
    with pytest.raises(ValueError, match="1900"):
        make_curp("Ana", "Ruiz", "Paz", date(1899, 12, 31), "F")
    with pytest.raises(ValueError, match="state"):
        make_curp("Ana", "Ruiz", "Paz", date(1980, 1, 1), "F", state="ZZ")
    with pytest.raises(ValueError, match="differentiator"):
        make_curp("Ana", "Ruiz", "Paz", date(1980, 1, 1), "F", differentiator="A")
    with pytest.raises(ValueError, match="sex"):
        make_curp("Ana", "Ruiz", "Paz", date(1980, 1, 1), "X")


def test_make_rfc_is_a_valid_personal_rfc() -> None:
    value = make_rfc("José Luis", "García", "Ortega", date(1956, 12, 31))
    assert value[:10] == "GAOL561231"
    assert stdnum_rfc.validate(value, validate_check_digits=True) == value
    assert make_rfc("José Luis", "García", "Ortega", date(1956, 12, 31)) == value  # stable
    single = make_rfc("John", "Smith", None, date(1970, 1, 1), homoclave="K7")
    assert single[:12] == "SIJO700101K7"
    with pytest.raises(ValueError, match="homoclave"):
        make_rfc("John", "Smith", None, date(1970, 1, 1), homoclave="00")


# --- encryption and blind index (R2) ----------------------------------------------------------


def test_encryption_round_trip_uses_fresh_nonces() -> None:
    cipher = IdentifierCipher(KEY)
    first = cipher.encrypt(STDNUM_CURP, scheme="CURP")
    second = cipher.encrypt(STDNUM_CURP, scheme=IdentifierScheme.CURP)
    assert first != second  # random nonce: equal plaintexts do not show as equal ciphertexts
    assert STDNUM_CURP.encode() not in first
    assert cipher.decrypt(first, scheme="CURP") == STDNUM_CURP
    assert cipher.decrypt(second, scheme="curp") == STDNUM_CURP
    assert "key" in repr(cipher)
    assert repr(KEY) not in repr(cipher)


def test_tampered_truncated_or_foreign_ciphertext_is_rejected() -> None:
    cipher = IdentifierCipher(KEY)
    token = cipher.encrypt(STDNUM_CURP, scheme="CURP")
    for position in (0, 1, 13, len(token) - 1):
        tampered = bytearray(token)
        tampered[position] ^= 0x01
        with pytest.raises(CiphertextError):
            cipher.decrypt(bytes(tampered), scheme="CURP")
    with pytest.raises(CiphertextError):
        cipher.decrypt(token[:20], scheme="CURP")
    with pytest.raises(CiphertextError):
        IdentifierCipher(OTHER_KEY).decrypt(token, scheme="CURP")


def test_ciphertext_moved_to_another_scheme_is_rejected() -> None:
    cipher = IdentifierCipher(KEY)
    token = cipher.encrypt("G12345678", scheme="PASSPORT")
    with pytest.raises(CiphertextError):
        cipher.decrypt(token, scheme="NATIONAL_ID")


def test_cipher_refuses_a_key_that_is_not_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        IdentifierCipher(b"short")


def test_blind_index_is_stable_scheme_bound_and_key_dependent() -> None:
    index = blind_index(KEY, "CURP", STDNUM_CURP)
    assert index == blind_index(KEY, IdentifierScheme.CURP, STDNUM_CURP)
    assert len(index) == 64
    assert set(index) <= set(string.hexdigits.lower())
    assert index != blind_index(OTHER_KEY, "CURP", STDNUM_CURP)
    assert blind_index(KEY, "PASSPORT", "G12345678") != blind_index(KEY, "NATIONAL_ID", "G12345678")
    # Pinned: a change of construction would orphan every stored index.
    expected = hmac.new(KEY, b"CURP:" + STDNUM_CURP.encode(), hashlib.sha256).hexdigest()
    assert index == expected


def test_blind_index_refuses_raw_spellings_and_weak_keys() -> None:
    with pytest.raises(ValueError, match="compact"):
        blind_index(KEY, "CURP", "boxw310820hnerxn09")
    with pytest.raises(ValueError, match="32 bytes"):
        blind_index(b"k" * 16, "CURP", STDNUM_CURP)


def test_mask_shows_at_most_the_last_four() -> None:
    assert mask("CURP", STDNUM_CURP) == "*" * 14 + "XN09"
    assert mask("SSN", "536-90-4399") == "*****4399"
    assert mask("EMPLOYEE_ID", "4521") == "****"
    assert mask("EMPLOYEE_ID", "004521") == "****21"


# --- properties --------------------------------------------------------------------------------

WORD = st.one_of(
    st.text(
        alphabet=st.one_of(
            st.sampled_from("ABCDEFGHIJKLMNÑOPQRSTUVWXYZabcdefghijklmnñopqrstuvwxyzÁÉÍÓÚÜáéíóúü"),
            st.sampled_from("-.'´"),
            st.characters(categories=["L", "Mn", "Nd"]),
        ),
        max_size=12,
    ),
    # Particles and the common first given names that the builders skip.
    st.sampled_from(["de", "DEL", "la", "Los", "y", "Mc", "María", "MA.", "José", "J."]),
)
NAME = st.lists(WORD, max_size=4).map(" ".join)
BIRTH_DATE = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
STATES = st.sampled_from(["AS", "BC", "CH", "DF", "GR", "JC", "MC", "NE", "NL", "OC", "YN", "ZS"])


@given(
    given_names=NAME,
    first=NAME,
    second=st.one_of(st.none(), NAME),
    dob=BIRTH_DATE,
    sex=st.sampled_from(["M", "F"]),
    state=STATES,
)
def test_make_curp_always_validates_and_agrees_with_its_date(
    given_names: str, first: str, second: str | None, dob: date, sex: str, state: str
) -> None:
    value = make_curp(given_names, first, second, dob, sex, state)
    assert validate_identifier("CURP", value, date_of_birth=dob) == value
    assert stdnum_curp.get_birth_date(value) == dob
    assert stdnum_curp.get_gender(value) == sex
    assert value[11:13] == state


@given(given_names=NAME, first=NAME, second=st.one_of(st.none(), NAME), dob=BIRTH_DATE)
def test_make_rfc_always_validates_and_agrees_with_its_date(
    given_names: str, first: str, second: str | None, dob: date
) -> None:
    value = make_rfc(given_names, first, second, dob)
    assert validate_identifier("RFC", value, date_of_birth=dob) == value


@given(scheme=st.sampled_from(list(IdentifierScheme)), value=st.text(max_size=40))
@example(scheme=IdentifierScheme.CURP, value="A¯")  # NFKC gives " ̄"; the mark composes later
@example(scheme=IdentifierScheme.PASSPORT, value="ｇ１２３４５６７８")  # full-width
def test_normalisation_is_idempotent(scheme: IdentifierScheme, value: str) -> None:
    once = normalise_identifier(scheme, value)
    assert normalise_identifier(scheme, once) == once


@given(
    scheme=st.sampled_from(list(IdentifierScheme)), value=st.text(st.characters(max_codepoint=127))
)
def test_ascii_fast_path_agrees_with_stdnum_compact(scheme: IdentifierScheme, value: str) -> None:
    spaced_out = "".join(value.upper().split())
    if scheme is IdentifierScheme.CURP:
        expected = stdnum_curp.compact(spaced_out)
    elif scheme is IdentifierScheme.RFC:
        expected = stdnum_rfc.compact(spaced_out)
    else:
        expected = clean(spaced_out, "-_").upper()
    assert normalise_identifier(scheme, value) == expected


@given(
    scheme=st.sampled_from([*IdentifierScheme, "curp", "bogus"]),
    value=st.text(max_size=80),
    dob=st.one_of(st.none(), st.dates()),
)
def test_validation_refuses_only_with_identifier_error(
    scheme: str, value: str, dob: date | None
) -> None:
    # The API is fuzzed: any input must end as a 422 IdentifierError, never another exception.
    try:
        compact = validate_identifier(scheme, value, date_of_birth=dob)
    except IdentifierError:
        return
    assert normalise_identifier(scheme, compact) == compact
    assert blind_index(KEY, scheme, compact)  # a valid value can always be indexed


@given(
    plaintext=st.text(max_size=40),
    scheme=st.sampled_from(list(IdentifierScheme)),
)
def test_encryption_round_trips_any_text(plaintext: str, scheme: IdentifierScheme) -> None:
    cipher = IdentifierCipher(KEY)
    assert cipher.decrypt(cipher.encrypt(plaintext, scheme=scheme), scheme=scheme) == plaintext
