from __future__ import annotations

from fastapi import APIRouter, Depends

from app.auth.principal import SettingsDep, public
from app.auth.tokens import public_jwk

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", dependencies=[Depends(public())])
def jwks(settings: SettingsDep) -> dict[str, list[dict[str, str]]]:
    """Public keys that verify attestations and audit checkpoints offline (EdDSA)."""
    return {"keys": [public_jwk(settings.ed25519_key)]}
