"""Opaque cursors for keyset pagination (DESIGN §5): ``limit`` ≤ 200 and ``cursor``.

A cursor comes back from the client, so it is input like any other (#19): ``decode_cursor``
checks it against the shape of the keyset it stands for (one of the ``*_CURSOR`` adapters
below: element types, count, 64-bit integers, aware times, no NUL characters) and refuses
anything else with a 422 problem naming ``query.cursor``. Routers and services receive typed
values and parse nothing by hand.

A list fetches ``limit + 1`` rows and hands them to ``paginate`` with its keyset: the page is the
first ``limit`` rows, and ``next_cursor`` is the keyset of the last of them when there are more.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, Field, TypeAdapter, ValidationError

from app.domain.access import Country
from app.errors import Unprocessable

MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 500
# Keyset ids are BIGINT (PostgreSQL) or INTEGER (SQLite): both signed 64-bit. A greater number
# is a bad request, not an overflow in the database driver.
MAX_ID = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 200")]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="Opaque cursor from a previous page"),
]

T = TypeVar("T")
R = TypeVar("R")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: the comparison would fail in the driver.
    if "\x00" in value:
        raise ValueError("NUL character")
    return value


CursorId = Annotated[int, Field(ge=0, le=MAX_ID)]
CursorText = Annotated[str, Field(max_length=MAX_CURSOR_LENGTH), AfterValidator(_no_nul)]

# The keysets the lists page by, as (element, ...) tuples.
ID_CURSOR = TypeAdapter(tuple[CursorId])
TEXT_CURSOR = TypeAdapter(tuple[CursorText])
TEXT_ID_CURSOR = TypeAdapter(tuple[CursorText, uuid.UUID])
DATE_ID_CURSOR = TypeAdapter(tuple[dt.date, uuid.UUID])
TIME_ID_CURSOR = TypeAdapter(tuple[AwareDatetime, uuid.UUID])
AGENCY_CURSOR = TypeAdapter(tuple[Country, CursorText, uuid.UUID])


def _cursor_value(value: object) -> str:
    # Dates and times as ISO 8601 (what the keyset adapters read back), UUIDs as text.
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def encode_cursor(values: Sequence[Any]) -> str:
    # A tuple is a JSON array too; anything else is encoded as given (no list() coercion).
    raw = json.dumps(values, separators=(",", ":"), default=_cursor_value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Paged(Generic[R]):
    """One page of a list: its rows and the cursor of the next page (None on the last)."""

    rows: list[R]
    next_cursor: str | None


def paginate(rows: Sequence[R], limit: int, keyset: Callable[[R], Sequence[object]]) -> Paged[R]:
    """The page of ``rows``, which were fetched ``limit + 1`` at most: one more row than the
    page says there is a next page, whose cursor is ``keyset`` of the page's last row (the
    values the list orders by, in the order its ``*_CURSOR`` shape reads them; DESIGN §5)."""
    page = list(rows[:limit])
    more = len(rows) > limit and bool(page)
    return Paged(page, encode_cursor(keyset(page[-1])) if more else None)


def decode_cursor(cursor: str | None, shape: TypeAdapter[T]) -> T | None:
    """The values of ``cursor`` as ``shape`` types them, None for the first page; any cursor
    that is not exactly that shape is a 422 naming ``query.cursor`` (DESIGN §5)."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # Strict: a JSON number is not a string, a string not a number, true not an integer.
        return shape.validate_json(raw, strict=True)
    except (ValueError, binascii.Error, ValidationError) as exc:
        raise bad_cursor() from exc


def bad_cursor() -> Unprocessable:
    return Unprocessable(
        "The cursor is not valid",
        code="VALIDATION_ERROR",
        extra={
            "errors": [{"field": "query.cursor", "message": "not a valid cursor", "type": "cursor"}]
        },
    )
