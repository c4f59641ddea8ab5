"""Strict request content types (docs/security.md): a body must come in the media type its
operation declares, or the request is refused with a 415 problem document.

The declared type is the one FastAPI derives for the route and publishes in the OpenAPI document:
``application/json`` for JSON bodies, ``application/x-www-form-urlencoded`` for the OAuth2 token
form (``/auth/token``), or what a route declares in ``openapi_extra`` (a file import, say). A
route that declares no body accepts none in particular, so nothing is checked for it.

The check is plain ASGI middleware that looks at the request when the body is first read: by
then routing has chosen the route (``scope["route"]``), so no second route match is needed and
requests without a body (every GET) cost nothing. It raises an ``HTTPException`` from
``receive``, which FastAPI passes on to the problem handler (any other error met while reading
the body would become a 400). A body that is never read (a form route given JSON: Starlette's
form parser ignores it) is checked when the answer starts, and the 415 replaces that answer.

A JSON body must also *be* UTF-8 without a byte-order mark (RFC 8259 §8.1; #19): Python's
``json.loads`` would guess UTF-16 or UTF-32 from the first bytes and skip a UTF-8 BOM, so the
first four bytes are looked at as they arrive and such a body is refused with the same 422
(naming ``body``) as JSON that is not UTF-8 further on. A ``charset`` other than UTF-8 is a
415, as above. Nothing runs for a refused body.
"""

from __future__ import annotations

import codecs
import json
from email.message import Message as EmailMessage
from typing import Any, cast

from asgi_correlation_id import correlation_id
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import TYPE_BASE
from app.i18n import negotiate, translate

TITLE = "Unsupported media type"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
JSON_DETAIL = "Send the request body as JSON (Content-Type: application/json)"
FORM_DETAIL = "Send the request body as a form (Content-Type: application/x-www-form-urlencoded)"
OTHER_DETAIL = "This operation does not accept a request body of this media type"
ACCEPT_HEADER = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}

_ROUTE_TYPES = "_strict_content_types"
# json.detect_encoding needs four bytes to tell UTF-8 from UTF-16 and UTF-32.
_SNIFF_BYTES = 4
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)


class UnsupportedMediaType(HTTPException):
    def __init__(self, accepted: tuple[str, ...], method: str) -> None:
        if accepted == (JSON,):
            detail = JSON_DETAIL
        elif accepted == (FORM,):
            detail = FORM_DETAIL
        else:
            detail = OTHER_DETAIL
        header = ACCEPT_HEADER.get(method)
        super().__init__(
            status_code=415,
            detail=detail,
            headers={header: ", ".join(accepted)} if header else None,
        )


def declared_media_types(route: APIRoute) -> tuple[str, ...] | None:
    """The media types ``route`` accepts for its body, or None when it declares no body."""
    cached: Any = getattr(route, _ROUTE_TYPES, False)
    if cached is not False:
        return cast(tuple[str, ...] | None, cached)
    types: tuple[str, ...] | None = None
    extra = (route.openapi_extra or {}).get("requestBody", {}).get("content")
    if isinstance(extra, dict) and extra:
        types = tuple(str(t).lower() for t in extra)
    elif route.body_field is not None:
        media_type = getattr(route.body_field.field_info, "media_type", None) or JSON
        types = (str(media_type).lower(),)
    setattr(route, _ROUTE_TYPES, types)
    return types


def parse_media_type(value: str | None) -> tuple[str, dict[str, str]] | None:
    """``type/subtype`` in lower case and the parameters of a Content-Type, or None."""
    if not value:
        return None
    message = EmailMessage()
    message["content-type"] = value
    media_type = message.get_content_type()
    # email.message falls back to text/plain for a header it cannot read.
    if media_type == "text/plain" and not value.strip().lower().startswith("text/plain"):
        return None
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:]}
    return media_type, params


def plain_utf8(head: bytes) -> bool:
    """Whether a JSON body starting with ``head`` (its first four bytes, or all of a shorter
    body) is UTF-8 without a byte-order mark, as far as those bytes can tell."""
    return not head.startswith(_BOMS) and json.detect_encoding(head) == "utf-8"


class NotUtf8Json(HTTPException):
    """A JSON body in another encoding: the problem handler answers it as the 422 of a body
    that is not UTF-8 (``app.api.problems.handle_http`` looks for the UnicodeDecodeError)."""

    def __init__(self, head: bytes) -> None:
        super().__init__(status_code=400, detail="JSON must be UTF-8")
        self.__cause__ = UnicodeDecodeError(
            "utf-8", head, 0, len(head), "JSON must be UTF-8 without a byte-order mark"
        )


def acceptable(content_type: str | None, accepted: tuple[str, ...]) -> bool:
    parsed = parse_media_type(content_type)
    if parsed is None:
        return False
    media_type, params = parsed
    if media_type not in accepted:
        return False
    charset = params.get("charset")
    # RFC 8259 §8.1: JSON exchanged between systems is UTF-8; a form is read as UTF-8 too.
    return charset is None or charset.lower() in ("utf-8", "utf8")


class StrictContentTypeMiddleware:
    """Refuse, with 415, a request body whose Content-Type the chosen route does not accept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        announced = headers.get("content-length", "0") not in ("", "0") or (
            "transfer-encoding" in headers
        )
        checked = refused = sniffing = False
        head = b""

        async def checked_receive() -> Message:
            nonlocal checked, sniffing, head
            message = await receive()
            if message["type"] != "http.request":
                return message
            if not checked and (message.get("body") or message.get("more_body")):
                checked = True
                _check(scope)
                sniffing = _is_json(scope)
            if sniffing:
                head += message.get("body", b"")[: _SNIFF_BYTES - len(head)]
                if len(head) >= _SNIFF_BYTES or not message.get("more_body"):
                    sniffing = False
                    if not plain_utf8(head):
                        raise NotUtf8Json(head)
            return message

        async def checked_send(message: Message) -> None:
            # A form route never reads a body that is not a form (Starlette's parser skips
            # it), so the check above would not run: check when the answer starts instead and
            # answer 415 in its place. The route saw an empty form and refused it (422).
            nonlocal checked, refused
            if message["type"] == "http.response.start" and announced and not checked:
                checked = True
                try:
                    _check(scope)
                except UnsupportedMediaType as exc:
                    refused = True
                    await _send_problem(scope, send, exc)
                    return
            if not refused:
                await send(message)

        await self.app(scope, checked_receive, checked_send)


def _check(scope: Scope) -> None:
    route = scope.get("route")
    if not isinstance(route, APIRoute):
        return
    accepted = declared_media_types(route)
    if accepted is None:
        return
    content_type = Headers(scope=scope).get("content-type")
    if not acceptable(content_type, accepted):
        raise UnsupportedMediaType(accepted, scope["method"])


def _is_json(scope: Scope) -> bool:
    """Whether the (accepted) body of this request is JSON, whose encoding is checked."""
    parsed = parse_media_type(Headers(scope=scope).get("content-type"))
    return parsed is not None and (parsed[0] == JSON or parsed[0].endswith("+json"))


async def _send_problem(scope: Scope, send: Send, exc: UnsupportedMediaType) -> None:
    lang = negotiate(Headers(scope=scope).get("accept-language"))
    body = {
        "type": TYPE_BASE + "unsupported-media-type",
        "title": translate(TITLE, lang),
        "status": 415,
        "detail": translate(exc.detail, lang),
        "code": "UNSUPPORTED_MEDIA_TYPE",
        "instance": scope.get("path"),
        "request_id": correlation_id.get(),
    }
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(payload)).encode()),
        (b"content-language", lang.encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
    await send({"type": "http.response.start", "status": 415, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
