"""Opaque cursors for keyset pagination (DESIGN §5): ``limit`` ≤ 200 and ``cursor``."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query

from app.errors import Unprocessable

MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 200")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="Opaque cursor from a previous page")
]


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, json.JSONDecodeError) as exc:
        raise bad_cursor() from exc
    if not isinstance(values, list) or len(values) != arity:
        raise bad_cursor()
    return values


def bad_cursor() -> Unprocessable:
    return Unprocessable(
        "The cursor is not valid",
        code="VALIDATION_ERROR",
        extra={
            "errors": [{"field": "query.cursor", "message": "not a valid cursor", "type": "cursor"}]
        },
    )
