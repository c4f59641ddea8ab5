"""Webhook receivers of an agency's notifications (R12b)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.principal import Principal, Role, SettingsDep, require_roles
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.webhook import WebhookCreate, WebhookCreated, WebhookRead
from app.services.notifications import webhooks as webhook_service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookKeeper = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER))]


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 404, 422),
)
def register_webhook(
    body: WebhookCreate,
    actor: WebhookKeeper,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> WebhookCreated:
    """The signing secret is in this answer only. Idempotency-Key is not honoured here on
    purpose: replaying the answer would mean storing the secret in clear."""
    webhook, secret = webhook_service.register_webhook(
        session,
        settings=settings,
        actor=actor,
        url=body.url,
        agency_id=body.agency_id,
        now=clock.now(),
    )
    return WebhookCreated(**WebhookRead.model_validate(webhook).model_dump(), secret=secret)


@router.get("", response_model=Page[WebhookRead], responses=problem_responses(401, 403))
def list_webhooks(actor: WebhookKeeper, session: SessionDep) -> Page[WebhookRead]:
    hooks = webhook_service.list_webhooks(session, actor=actor)
    return Page[WebhookRead](items=[WebhookRead.model_validate(h) for h in hooks])


@router.delete("/{webhook_id}", status_code=204, responses=problem_responses(401, 403, 404))
def delete_webhook(
    webhook_id: uuid.UUID, actor: WebhookKeeper, session: SessionDep, clock: ClockDep
) -> None:
    """Deactivate it; deliveries still waiting for it are given up."""
    webhook_service.delete_webhook(session, actor=actor, webhook_id=webhook_id, now=clock.now())
