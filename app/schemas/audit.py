from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int | None = None
    occurred_at: dt.datetime
    actor_id: uuid.UUID | None
    actor_username: str | None
    actor_country: str | None
    actor_agency_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    request_id: str | None
    outcome: str
    details: dict[str, Any]
    event_hash: str
    # True for an event by the other country about one of the reader's officials (a
    # nomination, a reciprocal evaluation), shown at verdict level only (R24, #19).
    cross_border: bool = False


class AuditVerifyRead(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    pending: int
    broken_seq: int | None = None
    broken_event_id: int | None = None
    # missing_link, link_altered, event_missing, event_altered, head_mismatch, and against the
    # newest signed checkpoint: truncated, checkpoint_mismatch, checkpoint_invalid (#19).
    reason: str | None = None
    checkpoint_id: uuid.UUID | None = None
    checkpoint_seq: int | None = None


class CheckpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    chain_hash: str
    created_at: dt.datetime
    created_by: uuid.UUID | None
    jws: str
