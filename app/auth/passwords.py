"""Argon2id password hashing through passlib (R26)."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError
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
        self._memory_kib = settings.argon2_memory_kib
        self._time_cost = settings.argon2_time_cost
        self._parallelism = settings.argon2_parallelism
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
        if not self._context.verify(password, stored_hash):
            return False, None
        return True, self.hash(password) if self._weaker(stored_hash) else None

    def _weaker(self, stored_hash: str) -> bool:
        """True when any parameter of ``stored_hash`` is below the configured one. Not passlib's
        ``needs_update``: it ignores a raised time cost and would also re-hash *down* to lower
        parameters (a process with older settings would weaken stored hashes)."""
        try:
            params = argon2.extract_parameters(stored_hash)
        except InvalidHashError:
            return True
        return (
            params.type is not argon2.Type.ID
            or params.memory_cost < self._memory_kib
            or params.time_cost < self._time_cost
            or params.parallelism < self._parallelism
        )
