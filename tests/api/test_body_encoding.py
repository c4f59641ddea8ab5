"""A JSON body is UTF-8 without a byte-order mark (RFC 8259 §8.1; #19, DESIGN §5): a body in
UTF-16 or UTF-32, or with a BOM, is a 422 naming ``body`` like any malformed JSON, and nothing
is written; a ``charset`` parameter other than UTF-8 is a 415 (docs/api.md, docs/security.md).

Python's ``json.loads`` guesses UTF-16 and UTF-32 from the first bytes and skips a UTF-8 BOM, so
such bodies used to be read and acted on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.models import User
from tests.api.test_conventions import USERS, assert_problem, user_body

JSON_TYPE = {"Content-Type": "application/json"}


def _users(factory: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),  # with its BOM
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("utf-16-be"),
        lambda text: text.encode("utf-32"),
        lambda text: text.encode("utf-32-le"),
        lambda text: b"\xef\xbb\xbf" + text.encode(),  # UTF-8 with a BOM
        lambda text: text.encode("latin-1"),  # not UTF-8 at all
    ],
    ids=["utf-16-bom", "utf-16-le", "utf-16-be", "utf-32-bom", "utf-32-le", "utf-8-bom", "latin-1"],
)
def test_a_json_body_that_is_not_plain_utf8_is_422(
    client: TestClient, make_user: Any, factory: Any, encode: Any
) -> None:
    admin = make_user("admin")
    before = _users(factory)
    text = json.dumps(user_body(password="contraseña muy larga y segura"), ensure_ascii=False)
    response = client.post(USERS, content=encode(text), headers={**admin.headers, **JSON_TYPE})
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert [e["field"] for e in body["errors"]] == ["body"]
    assert _users(factory) == before


def test_a_body_sent_in_small_chunks_is_checked_too(
    client: TestClient, make_user: Any, factory: Any
) -> None:
    """The encoding is told by the first four bytes, even when they arrive one by one."""
    admin = make_user("admin")
    before = _users(factory)
    data = json.dumps(user_body()).encode("utf-16")

    def chunks() -> Iterator[bytes]:
        for i in range(len(data)):
            yield data[i : i + 1]

    response = client.post(USERS, content=chunks(), headers={**admin.headers, **JSON_TYPE})
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert _users(factory) == before


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "latin-1"])
def test_a_charset_other_than_utf8_is_415(client: TestClient, make_user: Any, charset: str) -> None:
    admin = make_user("admin")
    response = client.post(
        USERS,
        content=json.dumps(user_body()).encode(charset),
        headers={**admin.headers, "Content-Type": f"application/json; charset={charset}"},
    )
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_plain_utf8_json_is_read(client: TestClient, make_user: Any, content_type: str) -> None:
    """The control: the same body in UTF-8, non-ASCII letters included, is accepted."""
    admin = make_user("admin")
    text = json.dumps(user_body(password="contraseña muy larga y segura"), ensure_ascii=False)
    response = client.post(
        USERS, content=text.encode(), headers={**admin.headers, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
