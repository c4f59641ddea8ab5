"""The arithmetic of random re-vetting draws (R16), exactly as the brief publishes it.

Everything here is what an outside verifier recomputes by hand (see ``docs/draws.md``), so each
function does one published step with the standard library and nothing clever:

* a *secret* is 32 random bytes, exchanged as 64 lowercase hexadecimal characters;
* a *commitment* is ``sha256(secret_bytes)`` as 64 lowercase hex characters — the hash is over
  the raw 32 bytes, not over the hex text;
* the *seed* is ``sha256(secret_MX_bytes || secret_US_bytes)`` — Mexico's secret first;
* an official's *ranking MAC* is ``HMAC-SHA256(key=seed, msg=canonical_id)`` where
  ``canonical_id`` is the UUID as ``str(uuid)``: 36 lowercase characters with dashes, in UTF-8;
* the *selection* is the ``k`` officials with the smallest MACs, ordered by ``(mac, canonical_id)``
  (two equal MACs would need a SHA-256 collision; the id only makes the order total);
* the *population hash* is ``sha256("\\n".join(sorted(canonical_ids)).encode("utf-8"))`` as
  lowercase hex: ids sorted as strings, one newline *between* ids, no trailing newline; an empty
  population hashes the empty string.

Pure: no database, no HTTP.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Final

from app.errors import Unprocessable

__all__ = [
    "SECRET_BYTES",
    "DrawMathError",
    "MalformedCommitmentError",
    "MalformedSecretError",
    "canonical_id",
    "commitment_of",
    "generate_secret",
    "parse_commitment",
    "parse_secret",
    "population_hash",
    "ranking_mac",
    "seed_from",
    "select",
    "verify_reveal",
]

SECRET_BYTES: Final = 32
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


class DrawMathError(Unprocessable, ValueError):
    """A value given to a draw is malformed (422). Also a ``ValueError``, so Pydantic validators
    may call the parsers directly."""

    code = "DRAW_VALUE_MALFORMED"
    title = "Malformed draw value"


class MalformedSecretError(DrawMathError):
    """A revealed secret is not exactly 64 lowercase hex characters (R16)."""

    code = "DRAW_SECRET_MALFORMED"
    title = "Malformed draw secret"

    def __init__(self) -> None:
        super().__init__(
            "A draw secret must be exactly 64 lowercase hexadecimal characters (32 random bytes)"
        )


class MalformedCommitmentError(DrawMathError):
    """A commitment is not exactly 64 lowercase hex characters (R16)."""

    code = "DRAW_COMMITMENT_MALFORMED"
    title = "Malformed draw commitment"

    def __init__(self) -> None:
        super().__init__(
            "A draw commitment must be exactly 64 lowercase hexadecimal characters (a SHA-256)"
        )


def _is_hex64(value: object) -> bool:
    # fullmatch, not match: "$" would accept a trailing newline. Uppercase is refused rather than
    # lowered because the published text must be byte-for-byte what verifiers hash and compare.
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def parse_secret(hex_str: str) -> bytes:
    """Decode a revealed secret (R16): exactly 64 lowercase hex characters → 32 bytes.

    Raises ``MalformedSecretError`` (code ``DRAW_SECRET_MALFORMED``) for anything else —
    uppercase, whitespace, a ``0x`` prefix, or the wrong length.
    """
    if not _is_hex64(hex_str):
        raise MalformedSecretError()
    return bytes.fromhex(hex_str)


def parse_commitment(hex_str: str) -> str:
    """Check a submitted commitment (R16) is 64 lowercase hex characters and return it.

    Raises ``MalformedCommitmentError`` (code ``DRAW_COMMITMENT_MALFORMED``).
    """
    if not _is_hex64(hex_str):
        raise MalformedCommitmentError()
    return hex_str


def generate_secret() -> str:
    """A fresh secret in its published form (R16), for admins' tooling and tests."""
    return secrets.token_hex(SECRET_BYTES)


def commitment_of(secret: bytes) -> str:
    """``sha256(secret)`` over the raw 32 bytes, as lowercase hex (R16)."""
    _require_secret_bytes(secret, "secret")
    return hashlib.sha256(secret).hexdigest()


def verify_reveal(secret_hex: str, commitment_hex: str) -> bool:
    """Whether a revealed secret matches the earlier commitment (R16).

    The secret must be well formed (else ``MalformedSecretError``: a typo deserves a different
    answer from a mismatch). The comparison is constant-time, so response timing says nothing
    about how much of a guessed secret was right. A malformed commitment simply never matches.
    """
    secret = parse_secret(secret_hex)
    expected = commitment_of(secret).encode("ascii")
    # Encode first: compare_digest refuses non-ASCII str, and a stored commitment is not ours
    # to trust.
    return hmac.compare_digest(expected, commitment_hex.encode("utf-8"))


def seed_from(secret_mx: bytes, secret_us: bytes) -> bytes:
    """The draw seed ``sha256(secret_MX || secret_US)`` (R16), 32 raw bytes.

    The order is fixed (Mexico first); pass the arguments by keyword, because swapping them yields
    a different, equally random-looking — and wrong — selection.
    """
    _require_secret_bytes(secret_mx, "secret_mx")
    _require_secret_bytes(secret_us, "secret_us")
    return hashlib.sha256(secret_mx + secret_us).digest()


def canonical_id(official_id: uuid.UUID) -> str:
    """The id as hashed everywhere in R16: ``str(uuid)``, 36 lowercase characters with dashes."""
    if not isinstance(official_id, uuid.UUID):
        # A str would be hashed as given; "{...}" or uppercase forms would silently change the
        # selection, so only real UUIDs are accepted.
        raise TypeError(f"expected uuid.UUID, got {type(official_id).__name__}")
    return str(official_id)  # uuid's str() is already the lowercase, dashed form


def ranking_mac(seed: bytes, official_id: uuid.UUID) -> str:
    """``HMAC-SHA256(key=seed, msg=canonical_id)`` as lowercase hex (R16)."""
    _require_seed(seed)
    return _mac(seed, canonical_id(official_id))


def population_hash(ids: Iterable[uuid.UUID]) -> str:
    """SHA-256 of the population (R16), as lowercase hex.

    Exactly: ``sha256("\\n".join(sorted(str(i) for i in ids)).encode("utf-8")).hexdigest()`` —
    canonical ids sorted as strings (which is also UUID order), joined by one ``"\\n"`` with no
    trailing newline. Duplicates are refused: a population is a set of people.
    """
    ordered = sorted(_canonical_unique(ids))
    return hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()


def select(seed: bytes, ids: Iterable[uuid.UUID], k: int) -> list[uuid.UUID]:
    """The ``k`` officials with the smallest ranking MACs, smallest first (R16).

    ``k`` larger than the population selects everyone; ``k == 0`` selects no one. The result
    does not depend on the order of ``ids``; duplicates are refused.
    """
    _require_seed(seed)
    if k < 0:
        raise ValueError("sample size must not be negative")
    # Keying HMAC once and copying its state per id halves the cost against re-keying each
    # time; raw digests sort exactly like their hex. nsmallest keeps k entries in memory instead
    # of sorting a million MACs.
    keyed = hmac.new(seed, digestmod=hashlib.sha256)
    ranked = ((_raw_mac(keyed, cid), cid) for cid in _canonical_unique(ids))
    return [uuid.UUID(cid) for _, cid in heapq.nsmallest(k, ranked)]


def _raw_mac(keyed: hmac.HMAC, cid: str) -> bytes:
    mac = keyed.copy()
    mac.update(cid.encode("utf-8"))
    return mac.digest()


def _mac(seed: bytes, cid: str) -> str:
    return hmac.digest(seed, cid.encode("utf-8"), "sha256").hex()


def _canonical_unique(ids: Iterable[uuid.UUID]) -> list[str]:
    out = [canonical_id(i) for i in ids]
    if len(set(out)) != len(out):
        raise ValueError("population contains duplicate official ids")
    return out


def _require_secret_bytes(value: bytes, name: str) -> None:
    # A hex *string* or its ASCII bytes passed by mistake would hash to a different, valid-looking
    # value; the length check catches both.
    if not isinstance(value, bytes) or len(value) != SECRET_BYTES:
        raise ValueError(f"{name} must be {SECRET_BYTES} raw bytes (parse the hex first)")


def _require_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise ValueError("seed must be the 32 raw bytes of seed_from(), not its hex")
