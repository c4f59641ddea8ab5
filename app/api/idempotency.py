"""``Idempotency-Key`` for creating POSTs (DESIGN §5).

A retry with the same key and body returns the first response; the same key with another body is
422. The record is written in the same transaction as the creation, so a failed request leaves
no record and can be retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from app.auth.principal import authenticate
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.access import Principal
from app.errors import Unprocessable
from app.models import IdempotencyRecord

REPLAY_HEADER = "Idempotent-Replayed"


class IdempotencyGuard:
    def __init__(
        self,
        *,
        session: Any,
        principal: Principal,
        key: str | None,
        method_path: str,
        body_hash: str,
        now: dt.datetime,
    ) -> None:
        self.session = session
        self.principal = principal
        self.key = key
        self.method_path = method_path
        self.body_hash = body_hash
        self.now = now

    def replay(self) -> JSONResponse | None:
        if not self.key:
            return None
        record = self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == self.principal.principal_key,
                IdempotencyRecord.key == self.key,
            )
        )
        if record is None:
            return None
        if record.request_hash != self.body_hash or record.method_path != self.method_path:
            raise Unprocessable(
                "This Idempotency-Key was used with a different request",
                code="IDEMPOTENCY_KEY_REUSED",
            )
        headers = dict(record.response_headers)
        headers[REPLAY_HEADER] = "true"
        return JSONResponse(record.response_body, status_code=record.status_code, headers=headers)

    def remember(
        self, status_code: int, body: BaseModel, headers: dict[str, str] | None = None
    ) -> None:
        if not self.key:
            return
        self.session.add(
            IdempotencyRecord(
                principal=self.principal.principal_key,
                key=self.key,
                method_path=self.method_path,
                request_hash=self.body_hash,
                status_code=status_code,
                response_body=jsonable_encoder(body),
                response_headers=headers or {},
                created_at=self.now,
            )
        )
        self.session.flush()


async def get_idempotency(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(authenticate)],
) -> IdempotencyGuard:
    key = request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 200):
        raise Unprocessable(
            "Idempotency-Key must be 1 to 200 characters",
            code="VALIDATION_ERROR",
            extra={
                "errors": [
                    {"field": "header.Idempotency-Key", "message": "1-200 chars", "type": "len"}
                ]
            },
        )
    body = await request.body()
    method_path = f"{request.method} {request.url.path}"
    body_hash = hashlib.sha256(method_path.encode() + b"\n" + body).hexdigest()
    return IdempotencyGuard(
        session=session,
        principal=principal,
        key=key,
        method_path=method_path,
        body_hash=body_hash,
        now=clock.now(),
    )


Idempotency = Annotated[IdempotencyGuard, Depends(get_idempotency)]
