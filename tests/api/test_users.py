"""User management (R23, R24, R26, DESIGN §5): admins manage users of their own country only,
other roles are refused, updates need a fresh ETag, and nothing answers with a password."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from app.db import unit_of_work
from app.domain.access import Role
from app.models import Agency, User
from tests.api.test_conventions import USERS, assert_problem, user_body
from tests.conftest import T0

NON_ADMIN_ROLES = [r.value for r in Role if r is not Role.ADMIN]


def _agency(factory: sessionmaker[Session], country: str) -> uuid.UUID:
    with unit_of_work(factory) as session:
        agency = Agency(
            country=country,
            name=f"Agency {uuid.uuid4().hex[:6]}",
            acronym="AG",
            level="federal",
            sector="law_enforcement",
            can_vet=False,
            created_at=T0,
        )
        session.add(agency)
        session.flush()
        return agency.id


def _comparable(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in response.json().items() if k not in ("request_id", "instance")}


def _create(client: TestClient, headers: dict[str, str], **overrides: Any) -> httpx.Response:
    response = client.post(USERS, json=user_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response


# --- Create, read, list -----------------------------------------------------------------------


def test_admin_creates_a_user_of_its_country(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    admin = make_user("admin", "MX")
    agency_id = _agency(factory, "MX")
    body = user_body(roles=["vetting_officer", "personnel_officer"], agency_id=str(agency_id))
    response = client.post(USERS, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["username"] == body["username"]
    assert created["roles"] == ["personnel_officer", "vetting_officer"]
    assert (created["country"], created["agency_id"]) == ("MX", str(agency_id))
    assert created["is_active"] is True
    assert response.headers["etag"] == '"1"'
    assert "password" not in response.text
    assert body["password"] not in response.text

    read = client.get(f"{USERS}/{created['id']}", headers=admin.headers)
    assert read.json() == created
    assert read.headers["etag"] == '"1"'


def test_new_user_can_log_in_with_its_password(client: TestClient, make_user: Any) -> None:
    body = user_body()
    _create(client, make_user("admin").headers, **body)
    token = client.post(
        "/api/v1/auth/token", data={"username": body["username"], "password": body["password"]}
    )
    assert token.status_code == 200


def test_duplicate_username_is_409(client: TestClient, make_user: Any) -> None:
    admin = make_user("admin")
    body = user_body()
    _create(client, admin.headers, **body)
    response = client.post(
        USERS, json={**body, "password": "another password!"}, headers=admin.headers
    )
    assert_problem(response, 409, "USERNAME_TAKEN")


@pytest.mark.parametrize(
    "agency_country", [None, "US"], ids=["no-such-agency", "agency-of-the-other-country"]
)
def test_agency_must_exist_in_the_users_country(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    agency_country: str | None,
) -> None:
    agency_id = _agency(factory, agency_country) if agency_country else uuid.uuid4()
    response = client.post(
        USERS, json=user_body(agency_id=str(agency_id)), headers=make_user("admin", "MX").headers
    )
    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["body.agency_id"]


def test_users_are_listed_by_page_within_the_admins_country(
    client: TestClient, make_user: Any
) -> None:
    """DESIGN §5 lists: ``limit`` and an opaque ``cursor``; R24: only the admin's country."""
    mx_admin, us_admin = make_user("admin", "MX"), make_user("admin", "US")
    for _ in range(4):
        _create(client, mx_admin.headers, country="MX")
    _create(client, us_admin.headers, country="US")

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(USERS, params=params, headers=mx_admin.headers).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    names = [u["username"] for u in seen]
    assert names == sorted(names)
    assert len(names) == len(set(names)) == 5  # four users and the admin itself
    assert {u["country"] for u in seen} == {"MX"}


@pytest.mark.parametrize("limit", [0, 201])
def test_list_limit_is_bounded(client: TestClient, make_user: Any, limit: int) -> None:
    response = client.get(USERS, params={"limit": limit}, headers=make_user("admin").headers)
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["field"] == "query.limit"


def test_garbage_cursor_is_422(client: TestClient, make_user: Any) -> None:
    response = client.get(USERS, params={"cursor": "%%%"}, headers=make_user("admin").headers)
    assert_problem(response, 422, "VALIDATION_ERROR")


# --- Roles and country scope (R23, R24) -----------------------------------------------------


def _user_routes(target: uuid.UUID) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", USERS, {"json": user_body()}),
        ("GET", USERS, {}),
        ("GET", f"{USERS}/{target}", {}),
        (
            "PATCH",
            f"{USERS}/{target}",
            {"json": {"roles": ["admin"]}, "headers": {"If-Match": "*"}},
        ),
        ("DELETE", f"{USERS}/{target}", {}),
        ("POST", f"{USERS}/{target}/revoke-tokens", {}),
    ]


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_only_admins_manage_users(client: TestClient, make_user: Any, role: str) -> None:
    """R23: the user routes admit ``admin`` only; any other role is 403, whatever it targets."""
    caller, target = make_user(role, "MX"), make_user("auditor", "MX")
    for method, path, kwargs in _user_routes(target.id):
        headers = {**caller.headers, **kwargs.pop("headers", {})}
        response = client.request(method, path, headers=headers, **kwargs)
        assert_problem(response, 403, "ROLE_NOT_ADMITTED")


def test_admin_of_the_other_country_finds_no_user(client: TestClient, make_user: Any) -> None:
    """R24: a user across the border answers 404 (not 403) to read, update, deactivate and
    token revocation, so its existence does not leak — and nothing changes."""
    mx_admin, us_user = make_user("admin", "MX"), make_user("auditor", "US")
    for method, path, kwargs in _user_routes(us_user.id)[2:]:
        headers = {**mx_admin.headers, **kwargs.pop("headers", {})}
        response = client.request(method, path, headers=headers, **kwargs)
        assert_problem(response, 404, "USER_NOT_FOUND")
    unknown = client.get(f"{USERS}/{uuid.uuid4()}", headers=mx_admin.headers)
    across = client.get(f"{USERS}/{us_user.id}", headers=mx_admin.headers)
    assert _comparable(unknown) == _comparable(across)
    assert client.get("/api/v1/auth/me", headers=us_user.headers).json()["is_active"] is True


def test_admin_cannot_create_a_user_of_the_other_country(
    client: TestClient, make_user: Any
) -> None:
    response = client.post(USERS, json=user_body(country="US"), headers=make_user("admin").headers)
    assert_problem(response, 403, "COUNTRY_SCOPE")


# --- ETag / If-Match ----------------------------------------------------------------------


def test_update_with_the_current_etag_succeeds_and_moves_it(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    admin = make_user("admin")
    created = _create(client, admin.headers)
    path = f"{USERS}/{created.json()['id']}"
    agency_id = _agency(factory, "MX")
    response = client.patch(
        path,
        json={"roles": ["vetting_officer"], "agency_id": str(agency_id)},
        headers={**admin.headers, "If-Match": created.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["vetting_officer"]
    assert response.json()["agency_id"] == str(agency_id)
    assert response.headers["etag"] == '"2"'
    assert client.get(path, headers=admin.headers).headers["etag"] == '"2"'

    stale = client.patch(
        path, json={"roles": ["auditor"]}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert_problem(stale, 412, "STALE_ETAG")
    assert client.get(path, headers=admin.headers).json()["roles"] == ["vetting_officer"]


def test_update_without_if_match_is_428(client: TestClient, make_user: Any) -> None:
    admin = make_user("admin")
    user_id = _create(client, admin.headers).json()["id"]
    response = client.patch(f"{USERS}/{user_id}", json={"roles": ["admin"]}, headers=admin.headers)
    assert_problem(response, 428, "IF_MATCH_REQUIRED")


@pytest.mark.parametrize("if_match", ['W/"1"', '"7", "1"', "*"])
def test_if_match_accepts_weak_lists_and_star(
    client: TestClient, make_user: Any, if_match: str
) -> None:
    admin = make_user("admin")
    user_id = _create(client, admin.headers).json()["id"]
    response = client.patch(
        f"{USERS}/{user_id}",
        json={"roles": ["admin"]},
        headers={**admin.headers, "If-Match": if_match},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body", [{"roles": []}, {"roles": ["king"]}, {"password": "x" * 20}])
def test_update_body_is_validated(client: TestClient, make_user: Any, body: dict[str, Any]) -> None:
    admin = make_user("admin")
    created = _create(client, admin.headers)
    response = client.patch(
        f"{USERS}/{created.json()['id']}",
        json=body,
        headers={**admin.headers, "If-Match": created.headers["etag"]},
    )
    assert_problem(response, 422, "VALIDATION_ERROR")


# --- Deactivation -----------------------------------------------------------------------------


def test_deactivation_keeps_the_user_but_disables_it(client: TestClient, make_user: Any) -> None:
    """Users are never deleted (the audit trail keeps its meaning): DELETE deactivates."""
    admin, clerk = make_user("admin"), make_user("personnel_officer")
    assert client.delete(f"{USERS}/{clerk.id}", headers=admin.headers).status_code == 204
    read = client.get(f"{USERS}/{clerk.id}", headers=admin.headers)
    assert read.status_code == 200
    assert read.json()["is_active"] is False
    assert_problem(client.get("/api/v1/auth/me", headers=clerk.headers), 401)


def test_admin_cannot_deactivate_itself(client: TestClient, make_user: Any) -> None:
    admin = make_user("admin")
    response = client.delete(f"{USERS}/{admin.id}", headers=admin.headers)
    assert_problem(response, 409, "SELF_DEACTIVATION")
    assert client.get("/api/v1/auth/me", headers=admin.headers).status_code == 200


# --- Concurrent writers (PostgreSQL) ------------------------------------------------------


@pytest.mark.postgres_only
def test_concurrent_updates_with_one_etag_let_exactly_one_win(
    app: FastAPI, client: TestClient, make_user: Any
) -> None:
    """DESIGN §5 / §6: two writers holding the same ETag — one 200, one 412, no lost update.

    Both requests are held just before their UPDATE until each has read the row and checked
    If-Match, so they really do race on the same version."""
    admin = make_user("admin")
    created = _create(client, admin.headers)
    path, etag = f"{USERS}/{created.json()['id']}", created.headers["etag"]
    both_checked = threading.Barrier(2, timeout=10)

    def hold_user_updates(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE users"):
            both_checked.wait()

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", hold_user_updates)
    responses: dict[str, httpx.Response] = {}

    def patch(roles: list[str]) -> None:
        # A client of its own per thread, outside ``with``: its own event loop, no lifespan.
        own = TestClient(app, raise_server_exceptions=False)
        responses["+".join(roles)] = own.patch(
            path, json={"roles": roles}, headers={**admin.headers, "If-Match": etag}
        )

    try:
        # Both differ from the user's current roles (auditor), so both really write.
        changes = (["admin"], ["admin", "auditor"])
        threads = [threading.Thread(target=patch, args=(roles,)) for roles in changes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        event.remove(engine, "before_cursor_execute", hold_user_updates)

    statuses = sorted(r.status_code for r in responses.values())
    assert statuses == [200, 412], {k: r.text for k, r in responses.items()}
    winner = next(roles for roles, r in responses.items() if r.status_code == 200)
    loser = next(r for r in responses.values() if r.status_code == 412)
    assert_problem(loser, 412, "PRECONDITION_FAILED")
    final = client.get(path, headers=admin.headers)
    assert "+".join(final.json()["roles"]) == winner
    assert final.headers["etag"] == '"2"'


def test_user_rows_carry_no_plain_password(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    body = user_body()
    user_id = _create(client, make_user("admin").headers, **body).json()["id"]
    with factory() as session:
        user = session.get(User, uuid.UUID(user_id))
        assert user is not None
        assert body["password"] not in user.password_hash
        assert user.password_hash.startswith("$argon2id$")
        assert user.created_at == T0
