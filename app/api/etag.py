"""``ETag`` / ``If-Match`` for updates (DESIGN §5): a stale write is 412, never a lost update.

The ETag is the row's version counter, which SQLAlchemy also checks in the UPDATE itself
(``version_id_col``), so two writers holding the same ETag cannot both succeed.
"""

from __future__ import annotations

from fastapi import Request, Response

from app.errors import PreconditionFailed, PreconditionRequired


def etag_of(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_of(version)


def check_if_match(request: Request, current_version: int) -> None:
    header = request.headers.get("if-match")
    if not header:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the version you are changing", code="IF_MATCH_REQUIRED"
        )
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    if "*" in candidates or etag_of(current_version) in candidates:
        return
    raise PreconditionFailed(
        "The resource was changed by someone else; fetch it again", code="STALE_ETAG"
    )
