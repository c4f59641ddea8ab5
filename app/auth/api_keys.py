"""API keys for machine clients: ``bvr_<prefix>_<secret>``, stored as prefix + SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "bvr"


def generate() -> tuple[str, str, str]:
    """Return (full key shown once, lookup prefix, hash of the secret)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}_{prefix}_{secret}", prefix, _digest(secret)


def split(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(_digest(secret), stored_hash)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
