"""Request hygiene as plain ASGI middleware: body size limit and security headers."""

from __future__ import annotations

import json
from typing import Any

from asgi_correlation_id import correlation_id
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import handle_unexpected
from app.i18n import negotiate, translate

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
# The interactive docs load their own scripts; everything else may load nothing.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope["path"].startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS:
                    if key not in present:
                        headers.append((key, value))
                if not is_docs and API_CSP[0] not in present:
                    headers.append(API_CSP)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UnexpectedErrorMiddleware:
    """Turn an unexpected exception into the 500 problem document here, inside the other
    middleware, rather than in Starlette's ServerErrorMiddleware, which wraps all of them: its
    answer would pass none of theirs, so it would lack ``X-Request-ID`` (the id a caller must
    quote), the security headers and CORS. HTTP exceptions are left to their handlers; an error
    after the answer has started cannot be answered again and goes on up."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except HTTPException:
            raise
        except Exception as exc:
            if started:
                raise
            response = await handle_unexpected(Request(scope, receive), exc)
            await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuse bodies above ``max_bytes`` with a 413 problem, whether or not the client sent
    Content-Length, without reading more than the limit into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _too_large(scope, send)
            return
        seen = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(scope, send)


TOO_LARGE_TITLE = "Payload too large"
TOO_LARGE_DETAIL = "The request body is larger than the service accepts"


class _BodyTooLarge(HTTPException):
    """Raised by ``receive`` once a body without Content-Length passes the limit. It is an
    HTTPException because FastAPI turns any other error met while reading the body into a 400;
    this one reaches the problem handler as a 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE_DETAIL)


async def _too_large(scope: Scope, send: Send) -> None:
    lang = negotiate(Headers(scope=scope).get("accept-language"))
    body: dict[str, Any] = {
        "type": "https://vetting-registry.example/problems/payload-too-large",
        "title": translate(TOO_LARGE_TITLE, lang),
        "status": 413,
        "detail": translate(TOO_LARGE_DETAIL, lang),
        "code": "PAYLOAD_TOO_LARGE",
        "instance": scope.get("path"),
        "request_id": correlation_id.get(),
    }
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"content-language", lang.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
