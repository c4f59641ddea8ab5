"""Webhook receivers (R12b). The signing secret appears in the creation answer only."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import StrictModel


class WebhookCreate(StrictModel):
    url: str = Field(
        min_length=8,
        max_length=500,
        description="An http or https URL without credentials; notifications are POSTed there",
    )
    agency_id: uuid.UUID | None = Field(
        default=None,
        description="Admins only: an agency of their country (default: their own agency, or "
        "without one the country's notifications that have no agency)",
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    agency_id: uuid.UUID | None
    country: str
    active: bool
    created_by: uuid.UUID
    created_at: dt.datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The signing secret, shown this once: keep it to verify "
        "X-Registry-Signature (docs/notifications.md)"
    )
