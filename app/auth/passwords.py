"""Argon2id password hashing through passlib (R26)."""

from __future__ import annotations

from passlib.context import CryptContext

from app.config import Settings


class PasswordHasher:
    """Hashes and verifies passwords; ``verify`` tells when a stored hash needs an upgrade
    because the configured parameters rose since it was made."""

    def __init__(self, settings: Settings) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        # Verified against when the username is unknown, so both paths cost one Argon2 run.
        self._dummy_hash = self._context.hash("unknown-user-timing-equaliser")

    def hash(self, password: str) -> str:
        hashed: str = self._context.hash(password)
        return hashed

    def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Return (valid, replacement hash or None)."""
        if stored_hash is None:
            self._context.verify(password, self._dummy_hash)
            return False, None
        valid, new_hash = self._context.verify_and_update(password, stored_hash)
        return bool(valid), new_hash
