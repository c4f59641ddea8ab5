"""RFC 9457 problem documents for every error the service answers, in English or Spanish."""

from __future__ import annotations

import logging
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError, FieldError
from app.i18n import negotiate, translate

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://vetting-registry.example/problems/"

HTTP_TITLES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Authentication required"),
    403: ("FORBIDDEN", "Not allowed"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    406: ("NOT_ACCEPTABLE", "Not acceptable"),
    409: ("CONFLICT", "Conflict"),
    412: ("PRECONDITION_FAILED", "Precondition failed"),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    422: ("UNPROCESSABLE", "Unprocessable request"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
    500: ("INTERNAL_ERROR", "Internal error"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
}


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    lang = negotiate(request.headers.get("accept-language"))
    body: dict[str, Any] = {
        "type": TYPE_BASE + code.lower().replace("_", "-"),
        "title": translate(title, lang),
        "status": status,
        "detail": translate(detail, lang, **(params or {})),
        "code": code,
        "instance": request.url.path,
        "request_id": correlation_id.get(),
    }
    if extra:
        body.update(extra)
    response = JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
    response.headers["Content-Language"] = lang
    return response


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    # "body" / "query" / "header" prefixes are kept: they say where the field was sent.
    return ".".join(parts)


def placed(exc: AppError) -> tuple[dict[str, Any], dict[str, Any]]:
    """The error's detail parameters and extra members, a ``FieldError``'s field placed where
    the request carried it (#16): the service named ``agency_id``, the answer says
    ``body.agency_id``, as FastAPI's own validation errors do."""
    params, extra = exc.params, exc.extra
    if isinstance(exc, FieldError):
        if "fields" in params:
            params = {**params, "fields": exc.path}
        error = {"field": exc.path, "message": exc.message, "type": exc.kind}
        extra = {**extra, "errors": [error]}
    return params, extra


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    params, extra = placed(exc)
    return problem(
        request,
        status=exc.status,
        code=exc.instance_code,
        title=exc.title,
        detail=exc.detail,
        params=params,
        extra=extra,
        headers=exc.headers,
    )


async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        errors.append(
            {
                "field": _field_name(err.get("loc", ())),
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    fields = ", ".join(e["field"] for e in errors) or "-"
    return problem(
        request,
        status=422,
        code="VALIDATION_ERROR",
        title="Validation failed",
        detail="Invalid fields: {fields}",
        params={"fields": fields},
        extra={"errors": errors},
    )


async def handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers 400 "error parsing the body" to a JSON body that is not UTF-8; it is
        # malformed JSON like any other (RFC 8259 §8.1), so the same 422 as a syntax error.
        return problem(
            request,
            status=422,
            code="VALIDATION_ERROR",
            title="Validation failed",
            detail="Invalid fields: {fields}",
            params={"fields": "body"},
            extra={
                "errors": [
                    {"field": "body", "message": "JSON must be UTF-8", "type": "json_invalid"}
                ]
            },
        )
    code, title = HTTP_TITLES.get(exc.status_code, ("HTTP_ERROR", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else title
    return problem(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


async def handle_stale(request: Request, exc: Exception) -> JSONResponse:
    return problem(
        request,
        status=412,
        code="PRECONDITION_FAILED",
        title="Precondition failed",
        detail="The resource was changed by someone else; fetch it again",
    )


async def handle_integrity(request: Request, exc: Exception) -> JSONResponse:
    # A unique or foreign-key constraint caught a race the service's own checks could not see.
    log.info("integrity conflict: %s", type(exc).__name__)
    return problem(
        request,
        status=409,
        code="CONFLICT",
        title="Conflict",
        detail="The request conflicts with the current state of the registry",
    )


async def handle_db_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated or _looks_unavailable(exc):
        # The class and first line of the driver's message only: the full text of a DBAPIError
        # carries the SQL statement and its parameters (blind indexes, names).
        first_line = (str(exc.orig).strip().splitlines() or [""])[0][:200]
        log.warning("database unavailable: %s: %s", type(exc.orig or exc).__name__, first_line)
        return problem(
            request,
            status=503,
            code="DATABASE_UNAVAILABLE",
            title="Service unavailable",
            detail="The database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DataError):
        # The database refused a value the schemas let through: a NUL character in text, which
        # PostgreSQL cannot store, a number or text out of a column's range. Bad input, not a
        # fault of the service (DESIGN §5: never a 500 for bad input).
        log.warning("value refused by the database: %s", type(exc.orig or exc).__name__)
        return problem(
            request,
            status=422,
            code="VALIDATION_ERROR",
            title="Validation failed",
            detail="Invalid fields: {fields}",
            params={"fields": "request"},
            extra={
                "errors": [
                    {
                        "field": "request",
                        "message": "a value cannot be stored (a NUL character, or out of range)",
                        "type": "value_error",
                    }
                ]
            },
        )
    return await handle_unexpected(request, exc)


def _looks_unavailable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig else ""
    markers = (
        "connection",
        "server closed",
        "terminating",
        "could not connect",
        "locked",
        # Transient conflicts and timeouts of PostgreSQL: a retry can succeed.
        "deadlock detected",
        "could not serialize access",
        "canceling statement",
        # SQLite storage faults: a full disk, a file made read-only, a vanished directory.
        "disk is full",
        "readonly database",
        "disk i/o error",
        "unable to open database file",
    )
    return any(m in text for m in markers)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        request,
        status=500,
        code="INTERNAL_ERROR",
        title="Internal error",
        detail="An unexpected error occurred; quote the request id when reporting it",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(StaleDataError, handle_stale)
    app.add_exception_handler(IntegrityError, handle_integrity)
    app.add_exception_handler(DBAPIError, handle_db_error)
    app.add_exception_handler(Exception, handle_unexpected)
