"""NUL characters are refused in every string a request carries (docs/security.md, 3.4).

PostgreSQL cannot store U+0000 in text (it refuses the statement), SQLite stores it and cuts
strings short in some functions, and no name, identifier, reason or URL of the registry has a
legitimate use for it. So a NUL anywhere in the query string, the path, a JSON body (keys and
values, at any depth, batch items included) or a form field is a 422 validation problem naming
each field where it was found, as any other invalid field is, before a route reads anything.

It is one dependency of the whole application (``create_app``), not a rule per field: a field
added tomorrow is covered without anyone remembering to. The body it inspects is the one FastAPI
has already read and parsed (Starlette caches it on the request), so nothing is read twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile

NUL = "\x00"
MESSAGE = "must not contain NUL characters (U+0000)"


def _name(value: str) -> str:
    # A field name is echoed in the problem: the NUL itself is shown escaped.
    return value.replace(NUL, "\\u0000")


def _error(loc: tuple[str | int, ...]) -> dict[str, Any]:
    return {"type": "string_nul", "loc": loc, "msg": MESSAGE, "input": None}


def _walk(node: Any, loc: tuple[str | int, ...], errors: list[dict[str, Any]]) -> None:
    if isinstance(node, str):
        if NUL in node:
            errors.append(_error(loc))
    elif isinstance(node, dict):
        for key, value in node.items():
            here = (*loc, _name(str(key)))
            if NUL in str(key):
                errors.append(_error(here))
            _walk(value, here, errors)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, (*loc, index), errors)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def refuse_nul_characters(request: Request) -> None:
    """Answer 422 (``VALIDATION_ERROR``, one ``errors[]`` entry per field, e.g.
    ``body.items.0.given_names`` or ``query.name``) when any string of the request holds a NUL
    character."""
    errors: list[dict[str, Any]] = []
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            errors.append(_error(("query", _name(name))))
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            errors.append(_error(("path", name)))
    media = _media_type(request)
    if media == "application/json" or media.endswith("+json"):
        if await request.body():
            try:
                body = await request.json()
            except ValueError:
                body = None  # malformed JSON: FastAPI has answered it already
            _walk(body, ("body",), errors)
    elif media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        for field, item in form.multi_items():
            if isinstance(item, UploadFile):
                # A file's contents are the import's to judge; its name is a string like any.
                if item.filename and NUL in item.filename:
                    errors.append(_error(("body", _name(field))))
            elif NUL in field or NUL in item:
                errors.append(_error(("body", _name(field))))
    if errors:
        raise RequestValidationError(errors)
