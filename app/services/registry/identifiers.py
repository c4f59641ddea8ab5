"""Personal identifiers: normalisation and validation (R1), encryption and blind index (R2).

* CURP and RFC are checked with python-stdnum (``stdnum.mx.curp``, ``stdnum.mx.rfc``), never with
  hand-written check-digit rules (R1, DESIGN §7), and must agree with the date of birth.
* SSN is checked with ``stdnum.us.ssn`` (area, group and serial rules; it has no check digit).
* PASSPORT, EMPLOYEE_ID and NATIONAL_ID have no public check: length and charset only.
* Values are stored encrypted with AES-256-GCM (``IdentifierCipher``) and looked up through a keyed
  hash of their compact form (``blind_index``), so equality search needs no decryption (R2).

``make_curp`` and ``make_rfc`` build valid identifiers for generated populations and tests; their
check digits come from stdnum too.

Pure: no database, no HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc
from stdnum.us import ssn as stdnum_ssn
from stdnum.util import clean

from app.domain.vocabulary import IdentifierScheme
from app.errors import FieldError

__all__ = [
    "MAX_INPUT_LENGTH",
    "UNIQUE_PERSON_SCHEMES",
    "CiphertextError",
    "IdentifierCipher",
    "IdentifierError",
    "IdentifierErrorCode",
    "birth_date_of",
    "blind_index",
    "make_curp",
    "make_rfc",
    "mask",
    "normalise_identifier",
    "parse_scheme",
    "validate_identifier",
]


# Schemes whose value names one person on its own. PASSPORT and NATIONAL_ID are unique only
# within an issuing country that this module does not see, and EMPLOYEE_ID only within an agency,
# so a match on them alone must not decide a screening (R11): corroborate it first.
UNIQUE_PERSON_SCHEMES: Final[frozenset[IdentifierScheme]] = frozenset(
    {IdentifierScheme.CURP, IdentifierScheme.RFC, IdentifierScheme.SSN}
)

# Longer input is refused before any Unicode work: no real identifier comes close, and it bounds
# the cost of a hostile request.
MAX_INPUT_LENGTH: Final = 64

# (min, max) compact length of the schemes checked only for length and charset.
_FREE_FORM_LENGTHS: Final[dict[IdentifierScheme, tuple[int, int]]] = {
    IdentifierScheme.PASSPORT: (5, 20),
    IdentifierScheme.EMPLOYEE_ID: (1, 32),
    IdentifierScheme.NATIONAL_ID: (4, 32),
}
_ALNUM: Final = re.compile(r"[A-Z0-9]+")


class IdentifierErrorCode(StrEnum):
    """Machine codes of ``IdentifierError`` (R1)."""

    UNKNOWN_SCHEME = "UNKNOWN_SCHEME"
    IDENTIFIER_INVALID = "IDENTIFIER_INVALID"
    CURP_INVALID_FORMAT = "CURP_INVALID_FORMAT"
    CURP_INVALID_CHECK_DIGIT = "CURP_INVALID_CHECK_DIGIT"
    CURP_BIRTH_DATE_MISMATCH = "CURP_BIRTH_DATE_MISMATCH"
    RFC_INVALID = "RFC_INVALID"
    RFC_INVALID_CHECK_DIGIT = "RFC_INVALID_CHECK_DIGIT"
    RFC_COMPANY_NOT_ALLOWED = "RFC_COMPANY_NOT_ALLOWED"
    RFC_BIRTH_DATE_MISMATCH = "RFC_BIRTH_DATE_MISMATCH"
    SSN_INVALID = "SSN_INVALID"


_C = IdentifierErrorCode
# English msgids, translated when the problem is rendered. They never quote the value: problem
# details end up in logs, and R22 keeps raw identifiers out of those.
_MESSAGES: Final[dict[IdentifierErrorCode, str]] = {
    _C.UNKNOWN_SCHEME: "Unknown identifier scheme",
    _C.IDENTIFIER_INVALID: "The identifier has an invalid length or characters",
    _C.CURP_INVALID_FORMAT: "The CURP is not 18 characters in the official structure",
    _C.CURP_INVALID_CHECK_DIGIT: "The CURP check digit is wrong",
    _C.CURP_BIRTH_DATE_MISMATCH: "The birth date in the CURP does not match the date of birth",
    _C.RFC_INVALID: "The RFC is not a 13-character personal RFC in the official structure",
    _C.RFC_INVALID_CHECK_DIGIT: "The RFC check digit is wrong",
    _C.RFC_COMPANY_NOT_ALLOWED: "A company RFC (12 characters) cannot identify a person",
    _C.RFC_BIRTH_DATE_MISMATCH: "The birth date in the RFC does not match the date of birth",
    _C.SSN_INVALID: "The SSN is not a valid Social Security Number",
}


class IdentifierError(FieldError, ValueError):
    """An identifier was refused (R1): rendered as a 422 problem whose ``code`` is one of
    ``IdentifierErrorCode``.

    ``error_code`` holds that code (``AppError.instance_code`` too), ``message`` the English
    text, ``field`` the input it concerns (``"value"`` or ``"scheme"``); ``at()`` re-anchors the
    field to its place in a request, e.g. ``err.at("identifiers.0.value")``. Also a
    ``ValueError``, so Pydantic validators may call ``validate_identifier`` directly.
    """

    code = "IDENTIFIER_INVALID"
    title = "Invalid identifier"

    def __init__(self, code: str, message: str | None = None, field: str = "value") -> None:
        self.error_code = IdentifierErrorCode(code)
        text = message or _MESSAGES[self.error_code]
        value = self.error_code.value
        super().__init__(field, text, value, kind=value, detail=text)

    def at(self, field: str) -> IdentifierError:
        """The same error, pointing at ``field``."""
        return IdentifierError(self.error_code, self.message, field)


class CiphertextError(Exception):
    """A stored identifier could not be decrypted: wrong key, wrong scheme, or tampering (R2).

    Deliberately not an ``AppError``: it is never the client's fault, so it must surface as a
    server error and an alert, not as a 4xx.
    """


def parse_scheme(scheme: str) -> IdentifierScheme:
    """The scheme as an ``IdentifierScheme``; case-insensitive, surrounding spaces ignored.

    Raises ``IdentifierError`` ``UNKNOWN_SCHEME`` (field ``scheme``).
    """
    # The exact spellings (and the members themselves) first: bulk imports call this for
    # every identifier several times over, and the general path costs a few microseconds.
    known = _SCHEMES.get(scheme) if isinstance(scheme, str) else None
    if known is not None:
        return known
    try:
        return IdentifierScheme(scheme.strip().upper())
    except (ValueError, AttributeError):
        raise IdentifierError(_C.UNKNOWN_SCHEME, field="scheme") from None


# A str-keyed dict: a member hashes and compares as its value, so members hit too.
_SCHEMES: Final[dict[str, IdentifierScheme]] = {s.value: s for s in IdentifierScheme}


# --- normalisation and validation (R1) -------------------------------------------------------


_MAX_FOLD_PASSES: Final = 8


def normalise_identifier(scheme: str, value: str) -> str:
    """The compact form of ``value``: what is validated, encrypted and blind-indexed (R1, R2).

    Unicode is folded with NFKC (full-width and other look-alike characters become ASCII),
    letters are upper-cased, and all whitespace, dashes and underscores are removed — stdnum's
    ``compact`` for CURP and RFC, the same separators for the other schemes, so ``"goDE-561231
    gr8"`` and ``"GODE561231GR8"`` index alike. Idempotent; never raises for a known scheme.
    """
    kind = parse_scheme(scheme)
    if value.isascii():
        # The common case: ASCII needs no Unicode folding, and one pass is a fixed point.
        # Keeping it cheap matters to bulk imports and identifier screenings.
        return _fold_ascii(value)
    # One pass is not always a fixed point: NFKC turns some symbols into a space plus a combining
    # mark (¯ → " ̄"), and removing the space lets the mark compose with the previous letter on
    # the next pass; upper() can also undo NFKC. Repeating until nothing changes is what makes
    # the function idempotent, which the blind index relies on. Real input settles at once.
    text = value
    for _ in range(_MAX_FOLD_PASSES):
        folded = _fold(kind, text)
        if folded == text:
            break
        text = folded
    return text


# For ASCII text, every scheme's compact form amounts to: drop whitespace (as str.split() sees
# it), "-" and "_", map "`" to "'" (stdnum's _clean_chars table does), upper-case. A unit test
# holds this equal to the general path on random ASCII.
_ASCII_FOLD: Final = str.maketrans(
    {"`": "'", "-": None, "_": None} | {chr(c): None for c in range(128) if chr(c).isspace()}
)


def _fold_ascii(value: str) -> str:
    return value.translate(_ASCII_FOLD).upper()


def _fold(kind: IdentifierScheme, value: str) -> str:
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).upper())
    # str.split() without arguments splits on every Unicode space (tab, NBSP, …), not only " ".
    text = "".join(text.split())
    if kind is IdentifierScheme.CURP:
        return stdnum_curp.compact(text)
    if kind is IdentifierScheme.RFC:
        return stdnum_rfc.compact(text)
    # stdnum's clean() also maps Unicode dashes to "-", so they are removed with it.
    return clean(text, "-_").upper()


def validate_identifier(scheme: str, value: str, *, date_of_birth: date | None) -> str:
    """Validate an identifier and return its compact form (R1).

    ``date_of_birth`` is keyword-only and has no default so that no caller skips the R1
    agreement check by accident; pass ``None`` only where no date is known (a screening
    without one). Raises ``IdentifierError`` with one of:

    * ``UNKNOWN_SCHEME`` — not an ``IdentifierScheme``;
    * ``CURP_INVALID_FORMAT``, ``CURP_INVALID_CHECK_DIGIT``, ``CURP_BIRTH_DATE_MISMATCH``;
    * ``RFC_INVALID`` (structure, or a 10-character RFC without homoclave, which many people
      share), ``RFC_INVALID_CHECK_DIGIT``, ``RFC_COMPANY_NOT_ALLOWED`` (a 12-character company
      RFC), ``RFC_BIRTH_DATE_MISMATCH``;
    * ``SSN_INVALID``;
    * ``IDENTIFIER_INVALID`` — PASSPORT, EMPLOYEE_ID, NATIONAL_ID length or charset, or any
      value over ``MAX_INPUT_LENGTH``.
    """
    kind = parse_scheme(scheme)
    if not isinstance(value, str) or len(value) > MAX_INPUT_LENGTH:
        raise IdentifierError(_C.IDENTIFIER_INVALID)
    compact = normalise_identifier(kind, value)
    if kind is IdentifierScheme.CURP:
        return _validate_curp(compact, date_of_birth)
    if kind is IdentifierScheme.RFC:
        return _validate_rfc(compact, date_of_birth)
    if kind is IdentifierScheme.SSN:
        try:
            return stdnum_ssn.validate(compact)
        except ValidationError:
            raise IdentifierError(_C.SSN_INVALID) from None
    low, high = _FREE_FORM_LENGTHS[kind]
    if not low <= len(compact) <= high or not _ALNUM.fullmatch(compact):
        raise IdentifierError(_C.IDENTIFIER_INVALID)
    return compact


def _validate_curp(compact: str, date_of_birth: date | None) -> str:
    try:
        stdnum_curp.validate(compact)
    except InvalidChecksum:
        raise IdentifierError(_C.CURP_INVALID_CHECK_DIGIT) from None
    except ValidationError:
        # Length, pattern, birth date, sex, state or an inconvenient-word prefix: all structure.
        raise IdentifierError(_C.CURP_INVALID_FORMAT) from None
    # The CURP fixes the century (position 17: digit → 1900s, letter → 2000s), so the whole date
    # can be compared.
    if date_of_birth is not None and not _curp_born_on(compact, date_of_birth):
        raise IdentifierError(_C.CURP_BIRTH_DATE_MISMATCH)
    return compact


def _curp_born_on(compact: str, day: date) -> bool:
    """``stdnum_curp.get_birth_date(compact) == day`` for a CURP stdnum has just validated,
    without compacting it a fourth time (stdnum's ``validate`` compacts it three times already):
    positions 5–10 are YYMMDD and position 17 is a digit for the 1900s, a letter for the 2000s.
    A unit test holds the two equal."""
    if not 1900 <= day.year <= 2099 or compact[4:10] != _yymmdd(day):
        return False
    return compact[16].isdigit() == (day.year < 2000)


def _validate_rfc(compact: str, date_of_birth: date | None) -> str:
    if len(compact) == 13:
        # A personal RFC: one stdnum call with the check digit decides it as the two below do
        # (stdnum checks the structure first, so a structural fault never reads as a checksum
        # fault); what is left for other lengths is which code the refusal gets.
        try:
            stdnum_rfc.validate(compact, validate_check_digits=True)
        except InvalidChecksum:
            raise IdentifierError(_C.RFC_INVALID_CHECK_DIGIT) from None
        except ValidationError:
            raise IdentifierError(_C.RFC_INVALID) from None
        if date_of_birth is not None and compact[4:10] != _yymmdd(date_of_birth):
            raise IdentifierError(_C.RFC_BIRTH_DATE_MISMATCH)
        return compact
    try:
        stdnum_rfc.validate(compact)
    except ValidationError:
        raise IdentifierError(_C.RFC_INVALID) from None
    if len(compact) == 12:
        raise IdentifierError(_C.RFC_COMPANY_NOT_ALLOWED)
    if len(compact) != 13:
        raise IdentifierError(_C.RFC_INVALID)
    # R1 asks for the check digit too. stdnum leaves it off by default because about 1.5 % of
    # RFCs in circulation carry a wrong one; such a person is registered by CURP instead.
    try:
        stdnum_rfc.validate(compact, validate_check_digits=True)
    except InvalidChecksum:
        raise IdentifierError(_C.RFC_INVALID_CHECK_DIGIT) from None
    except ValidationError:
        raise IdentifierError(_C.RFC_INVALID) from None
    # An RFC carries YYMMDD without the century, so only those six digits can be compared.
    if date_of_birth is not None and compact[4:10] != _yymmdd(date_of_birth):
        raise IdentifierError(_C.RFC_BIRTH_DATE_MISMATCH)
    return compact


def birth_date_of(scheme: str, compact_value: str) -> date | None:
    """The birth date a *valid* identifier encodes in full, else ``None`` (R11 uses it when a
    screening gives a CURP but no date). Only the CURP carries the century; an RFC does not."""
    if parse_scheme(scheme) is not IdentifierScheme.CURP:
        return None
    try:
        return stdnum_curp.get_birth_date(stdnum_curp.validate(compact_value))
    except ValidationError:
        return None


def _yymmdd(day: date) -> str:
    return f"{day.year % 100:02d}{day.month:02d}{day.day:02d}"


def mask(scheme: str, value: str) -> str:
    """The compact value with all but its last characters replaced by ``*`` (R2, R24 display).

    At most four characters show, and never more than the length minus four, so a short
    employee number is hidden entirely.
    """
    compact = normalise_identifier(scheme, value)
    visible = min(4, max(0, len(compact) - 4))
    return "*" * (len(compact) - visible) + compact[len(compact) - visible :]


# --- encryption at rest and blind index (R2) -------------------------------------------------

_TOKEN_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_MIN_KEY_BYTES: Final = 32


class IdentifierCipher:
    """AES-256-GCM for identifiers at rest (R2).

    A token is ``version (1 byte) || nonce (12 random bytes) || ciphertext || tag (16 bytes)``.
    The scheme is bound as associated data, so a ciphertext copied into another scheme's row
    fails to decrypt instead of being shown as, say, a passport number. Random nonces are safe
    for far more than 2**32 encryptions under one key (NIST SP 800-38D); a registry of a few
    million identifiers stays well below that. The version byte leaves room for key rotation.
    """

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != 32:
            raise ValueError("the identifier key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "IdentifierCipher(<key hidden>)"

    def encrypt(self, plaintext: str, *, scheme: str) -> bytes:
        """Encrypt ``plaintext`` (normally the compact value) for ``scheme``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _aad(scheme))
        return _TOKEN_VERSION + nonce + sealed

    def decrypt(self, token: bytes, *, scheme: str) -> str:
        """Decrypt a token made by ``encrypt`` for the same ``scheme``.

        Raises ``CiphertextError`` if the token is truncated, of an unknown version, tampered
        with, made under another key, or made for another scheme.
        """
        aad = _aad(scheme)
        if len(token) < 1 + _NONCE_BYTES + _TAG_BYTES or token[:1] != _TOKEN_VERSION:
            raise CiphertextError("not an identifier token of a known version")
        nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, aad).decode("utf-8")
        except InvalidTag:
            raise CiphertextError("identifier token failed authentication") from None


def _aad(scheme: str) -> bytes:
    return _AAD[parse_scheme(scheme)]


# The version is part of the label so a future format cannot be confused with this one.
_AAD: Final[dict[IdentifierScheme, bytes]] = {
    s: b"vetting-registry/identifier/v1:" + s.value.encode("ascii") for s in IdentifierScheme
}


def blind_index(key: bytes, scheme: str, compact_value: str) -> str:
    """``HMAC-SHA256(key, scheme + ":" + compact_value)`` as lowercase hex (R2).

    Equal identifiers of one scheme get equal indexes, so they are found by an indexed equality
    lookup without decrypting anything; without the key the index reveals nothing, not even for
    the small SSN space that a plain hash would give away to brute force. Use a key distinct from
    the encryption key. ``compact_value`` must already be compact (``normalise_identifier``):
    indexing a raw spelling would make lookups silently miss, so that is refused.
    """
    if not isinstance(key, bytes) or len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"the blind-index key must be at least {_MIN_KEY_BYTES} bytes")
    kind = parse_scheme(scheme)
    if normalise_identifier(kind, compact_value) != compact_value:
        raise ValueError("blind_index takes the compact value; call normalise_identifier first")
    message = f"{kind.value}:{compact_value}".encode()
    # hmac.digest: the same HMAC-SHA256, computed in one call by OpenSSL.
    return hmac.digest(key, message, "sha256").hex()


# --- builders for generated populations and tests --------------------------------------------

# Particles skipped when taking letters from a name (RENAPO and SAT instructions).
_PARTICLES: Final = frozenset(
    "DA DAS DE DEL DER DI DIE DD EL LA LAS LE LES LOS MAC MC VAN VON Y".split()  # noqa: SIM905
)
# A first given name so common that the second is used instead (MARÍA JOSÉ → JOSÉ).
_COMMON_GIVEN: Final = frozenset({"MARIA", "MA", "JOSE", "J"})
_VOWELS: Final = frozenset("AEIOU")
_DROPPED_PUNCTUATION: Final = frozenset(".'’´`\"")
# Characters SAT allows in the first two homoclave positions (as stdnum checks them).
_HOMOCLAVE_FIRST: Final = "123456789ABCDEFGHIJKLMNOPQRSTUV"
_HOMOCLAVE_SECOND: Final = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _words(name: str | None) -> list[str]:
    """Upper-case A–Z words of a name: Ñ → X, accents dropped, other characters → X."""
    if not name:
        return []
    text = unicodedata.normalize("NFC", name).upper().replace("Ñ", "X")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words = []
    for raw in re.split(r"[\s\-]+", text):
        word = "".join(c if "A" <= c <= "Z" else "X" for c in raw if c not in _DROPPED_PUNCTUATION)
        if word:
            words.append(word)
    return words


def _key_word(name: str | None, *, given: bool = False) -> str:
    words = _words(name)
    kept = [w for w in words if w not in _PARTICLES] or words
    if given and len(kept) > 1 and kept[0] in _COMMON_GIVEN:
        return kept[1]
    return kept[0] if kept else ""


def _initial(word: str) -> str:
    return word[0] if word else "X"


def _first_inner(word: str, wanted: Callable[[str], bool]) -> str:
    return next((c for c in word[1:] if wanted(c)), "X")


def _is_vowel(c: str) -> bool:
    return c in _VOWELS


def _is_consonant(c: str) -> bool:
    return c not in _VOWELS


def _male(sex: str) -> bool:
    # "M" is male here, as in stdnum.mx.curp.get_gender — not the CURP's own "M" (mujer).
    token = sex.strip().upper()
    if token in {"M", "MALE"}:
        return True
    if token in {"F", "FEMALE"}:
        return False
    raise ValueError("sex must be 'M' (male) or 'F' (female)")


def make_curp(
    given_names: str,
    first_surname: str,
    second_surname: str | None,
    date_of_birth: date,
    sex: str,
    state: str = "DF",
    *,
    differentiator: str | None = None,
) -> str:
    """A structurally valid CURP with a correct check digit for this person (tests, R1).

    Follows RENAPO's construction closely enough for generated populations: surname and given
    name letters with particles and a leading MARÍA/JOSÉ skipped, ``sex`` ``"M"``/``"F"`` (male
    or female, as stdnum reports it), a two-letter ``state`` (``"NE"`` for born abroad) and
    ``differentiator`` (position 17) defaulting to ``"0"`` before 2000 and ``"A"`` from 2000 —
    pass another to tell namesakes apart. The check digit is ``stdnum.mx.curp.calc_check_digit``
    and the result always passes ``validate_identifier`` with the same date of birth. Raises
    ``ValueError`` for a date outside 1900–2099 or an unknown state.
    """
    if not 1900 <= date_of_birth.year <= 2099:
        raise ValueError("a CURP encodes birth years 1900–2099 only")
    born_2000s = date_of_birth.year >= 2000
    diff = differentiator if differentiator is not None else ("A" if born_2000s else "0")
    # Position 17 also carries the century, so a differentiator of the wrong kind would move
    # the encoded birth date by a hundred years.
    if not re.fullmatch("[A-Z]" if born_2000s else "[0-9]", diff):
        raise ValueError("differentiator must be a letter from 2000 on, a digit before")
    if not re.fullmatch("[A-Z]{2}", state):
        raise ValueError("state must be a two-letter CURP state code")
    first, second, given = (
        _key_word(first_surname),
        _key_word(second_surname),
        _key_word(given_names, given=True),
    )
    head = _initial(first) + _first_inner(first, _is_vowel) + _initial(second) + _initial(given)
    tail = (
        _yymmdd(date_of_birth)
        + ("H" if _male(sex) else "M")
        + state
        + _first_inner(first, _is_consonant)
        + _first_inner(second, _is_consonant)
        + _first_inner(given, _is_consonant)
        + diff
    )
    # RENAPO replaces the second letter of an inconvenient word with X; stdnum refuses those
    # words as InvalidComponent, so the replacement is tried only when stdnum asks for it.
    for prefix in (head, head[0] + "X" + head[2:]):
        body = prefix + tail
        number = body + stdnum_curp.calc_check_digit(body)
        try:
            return stdnum_curp.validate(number)
        except InvalidComponent:
            continue
    raise ValueError("stdnum refuses this CURP: is the state code one of RENAPO's?")


def make_rfc(
    given_names: str,
    first_surname: str,
    second_surname: str | None,
    date_of_birth: date,
    *,
    homoclave: str | None = None,
) -> str:
    """A valid 13-character personal RFC with a correct check digit (tests, R1).

    Four letters from the names (SAT style; with no second surname, two letters of the given
    name), ``YYMMDD``, a two-character ``homoclave`` and the check digit from
    ``stdnum.mx.rfc.calc_check_digit``. SAT derives the homoclave from the full name with an
    algorithm stdnum does not provide; here it defaults to a stable hash of the name, which is
    all a generated population needs to keep namesakes born on different days apart.
    """
    first, second, given = (
        _key_word(first_surname),
        _key_word(second_surname),
        _key_word(given_names, given=True),
    )
    head = _initial(first) + _first_inner(first, _is_vowel)
    if second:
        head += _initial(second) + _initial(given)
    else:
        head += (given + "XX")[:2]
    if homoclave is None:
        digest = hashlib.sha256(
            " ".join(_words(first_surname) + _words(second_surname) + _words(given_names)).encode()
        ).digest()
        homoclave = (
            _HOMOCLAVE_FIRST[digest[0] % len(_HOMOCLAVE_FIRST)]
            + _HOMOCLAVE_SECOND[digest[1] % len(_HOMOCLAVE_SECOND)]
        )
    elif not re.fullmatch("[1-9A-V][1-9A-Z]", homoclave):
        raise ValueError("homoclave must match [1-9A-V][1-9A-Z]")
    # SAT replaces the last letter of an inconvenient word with X.
    for prefix in (head, head[:3] + "X"):
        body = prefix + _yymmdd(date_of_birth) + homoclave
        number = body + stdnum_rfc.calc_check_digit(body)
        try:
            return stdnum_rfc.validate(number, validate_check_digits=True)
        except InvalidComponent:
            continue
    raise ValueError("stdnum refuses this RFC")  # pragma: no cover - X breaks every bad word
