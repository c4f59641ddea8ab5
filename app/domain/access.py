"""Who is calling, as the rules see it: roles, countries and the principal (R23, R24).

Routers obtain a ``Principal`` through the FastAPI dependencies in ``app.auth.principal``;
services receive it as a plain value, so they need nothing from the HTTP layer.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

__all__ = ["ALL_ROLES", "Country", "Principal", "Role"]


class Role(enum.StrEnum):
    ADMIN = "admin"
    VETTING_OFFICER = "vetting_officer"
    PERSONNEL_OFFICER = "personnel_officer"
    TASK_FORCE_LEAD = "task_force_lead"
    COMMISSION_MEMBER = "commission_member"
    AUDITOR = "auditor"


class Country(enum.StrEnum):
    MX = "MX"
    US = "US"


ALL_ROLES = tuple(Role)


@dataclass(frozen=True)
class Principal:
    """The caller, as services see it (no HTTP types)."""

    user_id: uuid.UUID
    username: str
    roles: frozenset[str]
    country: str
    agency_id: uuid.UUID | None
    via: str  # "token" or "api_key"
    api_key_id: uuid.UUID | None = None
    official_id: uuid.UUID | None = None  # R13: the caller's own official record

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def principal_key(self) -> str:
        return str(self.api_key_id or self.user_id)
