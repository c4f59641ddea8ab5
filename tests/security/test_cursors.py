"""Forged cursors (#19, DESIGN §5): a cursor comes from the client, so it is input like any other.
Whatever it holds, every list answers a 422 problem naming ``query.cursor``, never a 500 (a
cursor of the wrong element types was a 500 on several lists, and ``[2**63]`` overflowed
SQLite's integers).

The routes are read from the API's OpenAPI document, so a new list is covered without anyone
remembering to add it here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.pagination import (
    AGENCY_CURSOR,
    DATE_ID_CURSOR,
    ID_CURSOR,
    TEXT_CURSOR,
    TEXT_ID_CURSOR,
    TIME_ID_CURSOR,
    decode_cursor,
    encode_cursor,
)
from app.db import unit_of_work
from app.domain.access import ALL_ROLES
from app.errors import Unprocessable
from app.main import api_router
from app.models import User
from app.services.imports import imports as import_service
from app.services.imports.imports import principal_of
from tests.api.test_conventions import assert_problem
from tests.conftest import Caller
from tests.registry.builders import make_agency


def _cursor_routes() -> list[tuple[str, str]]:
    """(method, path) of every operation with a ``cursor`` query parameter."""
    app = FastAPI()
    app.include_router(api_router())
    routes = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            if any(p["name"] == "cursor" and p["in"] == "query" for p in params):
                routes.append((method.upper(), path))
    return sorted(routes)


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


ROUTES = _cursor_routes()

# Each is invalid for every list's keyset (a one-string cursor, say, is a valid position in a
# list ordered by a name, so it is not here; the shapes are tested one by one below).
FORGED = {
    # The reported ones.
    "strings": encode_cursor(["x", "y"]),
    "nested-list": encode_cursor([["x"]]),
    "int-overflow": encode_cursor([2**63]),
    "int-overflow-pair": encode_cursor([2**63, 2**63]),
    "nulls": encode_cursor([None, None]),
    "not-base64": "%%%not base64%%%",
    "not-json": _raw("[1, 2"),
    "json-object": _raw(json.dumps({"a": 1})),
    "json-string": _raw(json.dumps("x")),
    "empty-list": encode_cursor([]),
    "three-strings": encode_cursor(["x", "y", "z"]),
    "too-many": encode_cursor([1, 2, 3, 4, 5]),
    "negative": encode_cursor([-1]),
    "float": encode_cursor([1.5]),
    "bool": encode_cursor([True]),
    "date-and-bad-uuid": encode_cursor(["2026-01-01", "not-a-uuid"]),
    "nul-in-string": encode_cursor(["\x00", str(uuid.uuid4())]),
    "lone-surrogate": _raw('["\\ud800", "' + str(uuid.uuid4()) + '"]'),
    "invalid-utf8": base64.urlsafe_b64encode(b'["\xff\xfe", 1]').decode().rstrip("="),
}


def test_the_route_list_is_not_empty() -> None:
    """The walk found the lists (a broken walk would make the test below vacuous)."""
    paths = {path for _, path in ROUTES}
    assert {
        "/api/v1/listings",
        "/api/v1/officials",
        "/api/v1/task-forces/{task_force_id}/events",
        "/api/v1/imports/{import_id}",
    } <= paths


@pytest.fixture
def caller(make_user: Any, factory: Any) -> Caller:
    agency = make_agency(factory, country="MX", acronym="CURSORS", can_vet=True)
    return make_user([r.value for r in ALL_ROLES], "MX", agency_id=agency)


def _path_values(path: str, client: TestClient, app: FastAPI, caller: Caller) -> dict[str, str]:
    """Real objects for the route's path ids, so its answer is about the cursor, not a 404."""
    values: dict[str, str] = {}
    if "{task_force_id}" in path:
        body = {
            "name": "Fuerza de prueba",
            "focus": "fentanyl",
            "lead_agency_id": str(caller.agency_id),
            "lead_user_ids": [str(caller.id)],
        }
        r = client.post("/api/v1/task-forces", json=body, headers=caller.headers)
        assert r.status_code == 201, r.text
        values["task_force_id"] = r.json()["id"]
    if "{import_id}" in path:
        with unit_of_work(app.state.sessionmaker) as session:
            user = session.get(User, caller.id)
            assert user is not None
            job = import_service.create_job(
                session,
                actor=principal_of(user),
                kind="officials",
                file_format="csv",
                payload=b"given_names\n",
                filename="test.csv",
                now=app.state.clock.now(),
            )
            values["import_id"] = str(job.id)
    unknown = {p for p in _placeholders(path) if p not in values}
    assert not unknown, f"add a builder for {unknown} so {path} is tested with a real object"
    return values


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_a_forged_cursor_is_a_422_naming_the_cursor(
    client: TestClient, app: FastAPI, caller: Caller, method: str, path: str
) -> None:
    """DESIGN §5: never a 500 for bad input; the problem names ``query.cursor``."""
    url = path.format(**_path_values(path, client, app, caller))
    failures = []
    for name, cursor in FORGED.items():
        response = client.request(method, url, params={"cursor": cursor}, headers=caller.headers)
        if response.status_code != 422:
            failures.append(f"{name}: {response.status_code} {response.text[:200]}")
            continue
        body = assert_problem(response, 422, "VALIDATION_ERROR")
        fields = [e["field"] for e in body.get("errors", [])]
        if fields != ["query.cursor"]:
            failures.append(f"{name}: fields {fields}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_the_first_page_still_answers(
    client: TestClient, app: FastAPI, caller: Caller, method: str, path: str
) -> None:
    """The control: the same caller and path without a cursor are admitted (so the 422s above
    are about the cursor, not about access)."""
    url = path.format(**_path_values(path, client, app, caller))
    response = client.request(method, url, headers=caller.headers)
    assert response.status_code == 200, response.text


ID = uuid.UUID("5f0c6f8e-3c1a-4a51-9d43-1d7f3a7c2b10")
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("shape", "values", "expected"),
    [
        (ID_CURSOR, [2**63 - 1], (2**63 - 1,)),
        (TEXT_CURSOR, ["MX|*|*|*"], ("MX|*|*|*",)),
        (TEXT_ID_CURSOR, ["HERNANDEZ GARCIA JUAN", str(ID)], ("HERNANDEZ GARCIA JUAN", ID)),
        (DATE_ID_CURSOR, ["2026-11-27", str(ID)], (dt.date(2026, 11, 27), ID)),
        (TIME_ID_CURSOR, [NOW.isoformat(), str(ID)], (NOW, ID)),
        (AGENCY_CURSOR, ["US", "FBI", str(ID)], ("US", "FBI", ID)),
    ],
)
def test_a_cursor_of_the_right_shape_decodes_to_typed_values(
    shape: Any, values: list[Any], expected: tuple[Any, ...]
) -> None:
    assert decode_cursor(encode_cursor(values), shape) == expected


@pytest.mark.parametrize(
    ("shape", "values"),
    [
        (ID_CURSOR, [2**63]),
        (ID_CURSOR, [-1]),
        (ID_CURSOR, ["1"]),
        (ID_CURSOR, [True]),
        (TEXT_CURSOR, [1]),
        (TEXT_CURSOR, ["a\x00b"]),
        (TEXT_ID_CURSOR, ["x", "y"]),
        (DATE_ID_CURSOR, ["2026-11-27T00:00:00", str(ID)]),
        (TIME_ID_CURSOR, ["2026-11-27T12:00:00", str(ID)]),  # naive: ambiguous
        (AGENCY_CURSOR, ["CA", "RCMP", str(ID)]),
    ],
)
def test_a_cursor_of_another_shape_is_refused(shape: Any, values: list[Any]) -> None:
    with pytest.raises(Unprocessable):
        decode_cursor(encode_cursor(values), shape)
