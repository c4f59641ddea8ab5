"""Eligibility of a known official (R17, R21): the verdict-level answer both countries get."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field


class EligibilityRead(BaseModel):
    official_id: uuid.UUID
    verdict: Literal["eligible", "ineligible", "overridden"]
    reasons: list[str] = Field(description="Reason codes of DESIGN §3; empty when eligible")
    valid_until: dt.date | None = Field(
        description="Last day an eligible verdict holds unless new facts arrive"
    )
    assessed_at: dt.datetime
    view: Literal["full", "public"]
    attestation: str | None = Field(
        default=None,
        description="With ?attest=true: a compact JWS (EdDSA, typ eligibility+jwt) verifiable "
        "offline against /.well-known/jwks.json (R21)",
    )
    attestation_expires_at: dt.datetime | None = None
    task_force_id: uuid.UUID | None = Field(
        default=None, description="Judged for this task force (its vetting age and reciprocity)"
    )
    override_id: uuid.UUID | None = Field(
        default=None, description="The active commission override behind an overridden verdict"
    )
