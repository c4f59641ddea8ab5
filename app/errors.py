"""Domain errors with stable machine codes, rendered as RFC 9457 problem documents."""

from __future__ import annotations

from typing import Any, ClassVar, Literal


class AppError(Exception):
    """Base of every error a service may raise. ``title`` and ``detail`` are English msgids
    (translated at rendering); ``params`` fill the detail's ``{placeholders}``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        self.detail = detail or self.title
        self.instance_code = code or self.code
        self.extra = extra or {}
        self.headers = headers or {}
        self.params = params
        super().__init__(self.detail.format(**params) if params else self.detail)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status = 401
    code = "UNAUTHORIZED"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    code = "FORBIDDEN"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "CONFLICT"
    title = "Conflict"


class PreconditionFailed(AppError):
    status = 412
    code = "PRECONDITION_FAILED"
    title = "Precondition failed"


class PreconditionRequired(AppError):
    status = 428
    code = "PRECONDITION_REQUIRED"
    title = "Precondition required"


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "Unsupported media type"


class Unprocessable(AppError):
    status = 422
    code = "UNPROCESSABLE"
    title = "Unprocessable request"


class FieldError(Unprocessable):
    """A field of the request that a rule refuses (422), named as the rules know it
    (``agency_id``, ``identifiers.0.value``), not by how HTTP carried it: the problem handler
    places it (``body.agency_id``, ``query.state``) as FastAPI places its own validation errors,
    and an import names the row's column instead (#16). The answer lists the field in
    ``errors`` in the shape of those validation errors; ``kind`` is its ``type`` there."""

    def __init__(
        self,
        field: str,
        message: str,
        code: str = "VALIDATION_ERROR",
        *,
        location: Literal["body", "query"] = "body",
        kind: str | None = None,
        detail: str | None = None,
        extra: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.field = field
        self.message = message
        self.location = location
        self.kind = kind or code.lower()
        if detail is None:
            detail, params = "Invalid fields: {fields}", {**params, "fields": field}
        super().__init__(detail, code=code, extra=extra, **params)

    @property
    def path(self) -> str:
        """The field where the request carried it: ``body.agency_id``."""
        return f"{self.location}.{self.field}"


class TooManyRequests(AppError):
    status = 429
    code = "TOO_MANY_REQUESTS"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service unavailable"
