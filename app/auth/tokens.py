"""Short-lived access tokens (HS256 JWTs via PyJWT) and Ed25519 signing for published statements.

Access tokens carry the user id and its ``token_version``; bumping the version revokes them.
Only HS256 is accepted, with issuer and audience checked, so ``alg: none``, a different
algorithm, or a token from another deployment (another key or audience) is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.config import Settings
from app.errors import Unauthorized

ACCESS_ALGORITHM = "HS256"
# Tolerated difference between the clocks of the processes that issue and check a token.
CLOCK_SKEW_SECONDS = 5


def issue_access_token(
    settings: Settings, *, user_id: uuid.UUID, token_version: int, now: dt.datetime
) -> tuple[str, int]:
    lifetime = settings.access_token_minutes * 60
    claims = {
        "sub": str(user_id),
        "ver": token_version,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()) - CLOCK_SKEW_SECONDS,
        "exp": int(now.timestamp()) + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_key, algorithm=ACCESS_ALGORITHM), lifetime


def decode_access_token(settings: Settings, token: str, *, now: dt.datetime) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ACCESS_ALGORITHM:
            raise Unauthorized("Token algorithm not accepted", code="TOKEN_INVALID")
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[ACCESS_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # Time claims are checked below against the service clock: PyJWT would compare
            # iat/nbf with the wall clock and refuse every token issued at a pinned date.
            options={
                "require": ["exp", "sub", "ver", "iat"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        exp, iat, nbf = int(claims["exp"]), int(claims["iat"]), int(claims.get("nbf", 0))
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise Unauthorized("Token is invalid", code="TOKEN_INVALID") from exc
    at = int(now.timestamp())
    if nbf > at or iat > at + CLOCK_SKEW_SECONDS:
        raise Unauthorized("Token is invalid", code="TOKEN_INVALID")
    if exp <= at:
        raise Unauthorized("Token has expired", code="TOKEN_EXPIRED")
    return claims


def signing_kid(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "kid": signing_kid(key),
        "alg": "EdDSA",
        "use": "sig",
    }


def sign_statement(settings: Settings, claims: dict[str, Any], *, typ: str) -> str:
    """Compact JWS (EdDSA) over ``claims``, verifiable offline with the published JWKS."""
    key = settings.ed25519_key
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": signing_kid(key), "typ": typ})
