"""R16: draw commitments, seed and selection, checked against an independent recomputation."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import Unprocessable
from app.services.revetting.draw_math import (
    MalformedCommitmentError,
    MalformedSecretError,
    canonical_id,
    commitment_of,
    generate_secret,
    parse_commitment,
    parse_secret,
    population_hash,
    ranking_mac,
    seed_from,
    select,
    verify_reveal,
)

SECRET_MX = "11" * 32
SECRET_US = "a7" * 32
POPULATION = [uuid.UUID(int=n * 0x1234_5678_9ABC_DEF1 + 7) for n in range(1, 41)]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "draws.md"


def reference_selection(mx_hex: str, us_hex: str, ids: list[str], k: int) -> list[str]:
    """R16 from the brief, with nothing but hashlib and hmac."""
    seed = hashlib.sha256(bytes.fromhex(mx_hex) + bytes.fromhex(us_hex)).digest()

    def mac(official_id: str) -> bytes:
        return hmac.new(seed, official_id.lower().encode("utf-8"), hashlib.sha256).digest()

    return sorted(ids, key=lambda i: (mac(i), i))[:k]


def test_selection_matches_the_independent_recomputation() -> None:
    seed = seed_from(parse_secret(SECRET_MX), parse_secret(SECRET_US))
    expected = reference_selection(SECRET_MX, SECRET_US, [str(i) for i in POPULATION], 7)
    assert [str(i) for i in select(seed, POPULATION, 7)] == expected
    assert [str(i) for i in select(seed, reversed(POPULATION), 7)] == expected


def test_seed_commitment_and_mac_are_the_published_formulas() -> None:
    mx, us = parse_secret(SECRET_MX), parse_secret(SECRET_US)
    assert mx == b"\x11" * 32
    assert commitment_of(mx) == hashlib.sha256(b"\x11" * 32).hexdigest()
    # Hash over the raw bytes, never over the hex text.
    assert commitment_of(mx) != hashlib.sha256(SECRET_MX.encode()).hexdigest()
    seed = seed_from(mx, us)
    assert seed == hashlib.sha256(mx + us).digest()
    assert seed != seed_from(us, mx)  # Mexico first
    official = POPULATION[0]
    assert (
        ranking_mac(seed, official)
        == hmac.new(seed, str(official).encode(), hashlib.sha256).hexdigest()
    )


def test_known_answer() -> None:
    # Pinned so a change to any published formula fails loudly, not just consistently.
    seed = seed_from(parse_secret(SECRET_MX), parse_secret(SECRET_US))
    assert seed.hex() == hashlib.sha256(bytes.fromhex(SECRET_MX + SECRET_US)).hexdigest()
    ids = [uuid.UUID(f"00000000-0000-4000-8000-{n:012x}") for n in range(5)]
    assert population_hash(ids) == (
        hashlib.sha256(
            "\n".join(f"00000000-0000-4000-8000-{n:012x}" for n in range(5)).encode()
        ).hexdigest()
    )
    assert population_hash([]) == hashlib.sha256(b"").hexdigest()


def test_population_hash_is_order_free_and_exact() -> None:
    shuffled = POPULATION[::-1]
    expected = hashlib.sha256("\n".join(sorted(map(str, POPULATION))).encode()).hexdigest()
    assert population_hash(POPULATION) == population_hash(shuffled) == expected
    assert population_hash(POPULATION[:-1]) != expected
    with pytest.raises(ValueError, match="duplicate"):
        population_hash([POPULATION[0], POPULATION[0]])


def test_canonical_id_is_lowercase_with_dashes() -> None:
    official = uuid.UUID("6F1D2A0E-3B4C-4D5E-8F70-0123456789AB")
    assert canonical_id(official) == "6f1d2a0e-3b4c-4d5e-8f70-0123456789ab"
    with pytest.raises(TypeError):
        canonical_id("6f1d2a0e-3b4c-4d5e-8f70-0123456789ab")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "AB" * 32,  # uppercase
        "ab" * 31,  # 31 bytes
        "ab" * 33,  # 33 bytes
        "zz" * 32,  # not hex
        "0x" + "ab" * 31,
        " " + "ab" * 32,
        "ab" * 32 + "\n",
        "",
    ],
)
def test_malformed_secrets_are_refused(value: str) -> None:
    with pytest.raises(MalformedSecretError) as info:
        parse_secret(value)
    assert info.value.instance_code == "DRAW_SECRET_MALFORMED"
    assert isinstance(info.value, Unprocessable)
    assert "64 lowercase hexadecimal" in str(info.value)
    with pytest.raises(MalformedCommitmentError):
        parse_commitment(value)


def test_reveal_verification() -> None:
    secret = generate_secret()
    assert re.fullmatch("[0-9a-f]{64}", secret)
    commitment = commitment_of(parse_secret(secret))
    assert parse_commitment(commitment) == commitment
    assert verify_reveal(secret, commitment)
    assert not verify_reveal(generate_secret(), commitment)
    assert not verify_reveal(secret, commitment.upper())
    assert not verify_reveal(secret, "é" * 64)  # non-ASCII must not raise
    with pytest.raises(MalformedSecretError):
        verify_reveal(secret.upper(), commitment)


def test_sample_size_edges() -> None:
    seed = seed_from(parse_secret(SECRET_MX), parse_secret(SECRET_US))
    assert sorted(select(seed, POPULATION, 1000)) == sorted(POPULATION)
    assert select(seed, POPULATION, 0) == []
    assert select(seed, [], 5) == []
    with pytest.raises(ValueError, match="negative"):
        select(seed, POPULATION, -1)
    with pytest.raises(ValueError, match="duplicate"):
        select(seed, [POPULATION[0], POPULATION[0]], 1)


def test_raw_bytes_are_required_where_the_protocol_says_bytes() -> None:
    with pytest.raises(ValueError, match="32 raw bytes"):
        seed_from(SECRET_MX.encode(), parse_secret(SECRET_US))
    with pytest.raises(ValueError, match="seed"):
        select(seed_from(b"\0" * 32, b"\1" * 32).hex().encode(), POPULATION, 1)


@given(
    ids=st.lists(st.uuids(), unique=True, max_size=60),
    k=st.integers(min_value=0, max_value=80),
    mx=st.binary(min_size=32, max_size=32),
    us=st.binary(min_size=32, max_size=32),
    order=st.randoms(use_true_random=False),
)
def test_selection_properties(
    ids: list[uuid.UUID], k: int, mx: bytes, us: bytes, order: random.Random
) -> None:
    seed = seed_from(mx, us)
    chosen = select(seed, ids, k)
    assert set(chosen) <= set(ids)
    assert len(chosen) == len(set(chosen)) == min(k, len(ids))
    shuffled = list(ids)
    order.shuffle(shuffled)
    assert select(seed, shuffled, k) == chosen
    macs = [ranking_mac(seed, i) for i in chosen]
    assert macs == sorted(macs)
    assert [str(i) for i in chosen] == reference_selection(
        mx.hex(), us.hex(), [str(i) for i in ids], k
    )


# --- docs/draws.md: the hand-verification example must keep working ---------------------------


def _fenced(markdown: str, info: str) -> list[str]:
    return re.findall(rf"```{info}\n(.*?)```", markdown, flags=re.S)


def test_docs_example_verifies_its_published_values() -> None:
    text = DOCS.read_text(encoding="utf-8")
    (published,) = _fenced(text, "json")
    (script,) = _fenced(text, "python")
    values = json.loads(published)
    # The example's values are what this module computes …
    ids = [uuid.UUID(i) for i in values["population"]]
    mx, us = parse_secret(values["reveals"]["MX"]), parse_secret(values["reveals"]["US"])
    seed = seed_from(mx, us)
    assert values["population_hash"] == population_hash(ids)
    assert values["commitments"] == {"MX": commitment_of(mx), "US": commitment_of(us)}
    assert values["seed"] == seed.hex()
    assert values["selection"] == [str(i) for i in select(seed, ids, values["sample_size"])]
    # … and the standalone script accepts them, and refuses a forged selection.
    ok = subprocess.run(
        [sys.executable, "-c", script], input=published, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "selection verified" in ok.stdout
    forged = dict(values, selection=values["population"][: values["sample_size"]])
    assert forged["selection"] != values["selection"]
    bad = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(forged), capture_output=True, text=True
    )
    assert bad.returncode != 0
