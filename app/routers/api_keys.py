from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.auth.principal import Authenticated
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.user import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.services.accounts import api_keys as key_service

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post(
    "", status_code=201, response_model=ApiKeyCreated, responses=problem_responses(401, 404, 422)
)
def create_api_key(
    body: ApiKeyCreate,
    principal: Authenticated,
    session: SessionDep,
    clock: ClockDep,
) -> ApiKeyCreated:
    """The key is in this answer only; the service keeps its hash. Idempotency-Key is not
    honoured here on purpose: replaying the answer would mean storing the key itself."""
    key, full = key_service.create_key(
        session, actor=principal, name=body.name, user_id=body.user_id, now=clock.now()
    )
    result = ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "key": full}
    )
    return result


@router.get("", response_model=Page[ApiKeyRead], responses=problem_responses(401))
def list_api_keys(principal: Authenticated, session: SessionDep) -> Page[ApiKeyRead]:
    keys = key_service.list_keys(session, actor=principal)
    return Page[ApiKeyRead](items=[ApiKeyRead.model_validate(k) for k in keys])


@router.delete("/{key_id}", status_code=204, responses=problem_responses(401, 404))
def revoke_api_key(
    key_id: uuid.UUID, principal: Authenticated, session: SessionDep, clock: ClockDep
) -> None:
    key_service.revoke_key(session, actor=principal, key_id=key_id, now=clock.now())
