"""Signed eligibility attestations (R21; docs/attestations.md).

An attestation is a compact JWS (EdDSA over Ed25519, header ``typ: eligibility+jwt`` and the
``kid`` of the key published at ``/.well-known/jwks.json``) whose claims are the verdict-level
answer — what may cross the border (R24) — with a short expiry, so the other country can check
it offline with any standard JOSE library and cannot keep using a stale one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from app.auth.tokens import sign_statement
from app.config import Settings

if TYPE_CHECKING:
    from app.services.task_forces.eligibility import Eligibility

ATTESTATION_TYPE: Final = "eligibility+jwt"


@dataclass(frozen=True)
class Attestation:
    token: str
    jti: str
    issued_at: dt.datetime
    expires_at: dt.datetime


def eligibility_claims(
    settings: Settings,
    *,
    eligibility: Eligibility,
    now: dt.datetime,
    jti: str,
    task_force_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The claims: ``iss``, ``sub`` (the official's id), ``iat``, ``exp`` (``iat`` plus
    ``attestation_seconds``), ``jti``, ``verdict``, ``reasons``, ``valid_until`` (ISO date or
    null), ``country`` (the official's country of service) and, for a task force,
    ``task_force_id``. No names, birth dates or identifiers."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "sub": str(eligibility.official_id),
        "iat": iat,
        "exp": iat + settings.attestation_seconds,
        "jti": jti,
        "verdict": eligibility.verdict,
        "reasons": [str(r) for r in eligibility.reasons],
        "valid_until": eligibility.valid_until.isoformat() if eligibility.valid_until else None,
        "country": eligibility.country,
    }
    if task_force_id is not None:
        claims["task_force_id"] = str(task_force_id)
    return claims


def attest_eligibility(
    settings: Settings,
    *,
    eligibility: Eligibility,
    now: dt.datetime,
    task_force_id: uuid.UUID | None = None,
) -> Attestation:
    """Sign an eligibility answer (R21) with the service's Ed25519 key."""
    jti = uuid.uuid4().hex
    claims = eligibility_claims(
        settings, eligibility=eligibility, now=now, jti=jti, task_force_id=task_force_id
    )
    token = sign_statement(settings, claims, typ=ATTESTATION_TYPE)
    issued = dt.datetime.fromtimestamp(claims["iat"], dt.UTC)
    return Attestation(
        token=token,
        jti=jti,
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=settings.attestation_seconds),
    )
