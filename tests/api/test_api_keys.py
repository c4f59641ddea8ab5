"""API keys for machine clients (R26): shown once, stored hashed, scoped, revocable; a key acts
with its owner's roles (R23) and country (R24)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.models import ApiKey, AuditEvent
from tests.api.test_conventions import ME, USERS, assert_problem, user_body

KEYS = "/api/v1/api-keys"


def _create_key(
    client: TestClient, headers: dict[str, str], **body: Any
) -> tuple[dict[str, Any], str]:
    response = client.post(KEYS, json={"name": "hr-system", **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created, created["key"]


def _with_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _listed(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    response = client.get(KEYS, headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_key_lifecycle(client: TestClient, make_user: Any) -> None:
    """R26: the key is shown once at creation, never listed, works as X-API-Key, and stops
    working when revoked."""
    owner = make_user("personnel_officer")
    created, key = _create_key(client, owner.headers)
    assert key.startswith(f"bvr_{created['prefix']}_")
    assert created["user_id"] == str(owner.id)
    assert created["revoked_at"] is None

    listing = _listed(client, owner.headers)
    [item] = listing.json()["items"]
    assert item["id"] == created["id"]
    assert "key" not in item
    assert key not in listing.text
    assert key.split("_", 2)[2] not in listing.text

    me = client.get(ME, headers=_with_key(key))
    assert me.status_code == 200
    assert (me.json()["username"], me.json()["via"]) == (owner.username, "api_key")

    assert client.delete(f"{KEYS}/{created['id']}", headers=owner.headers).status_code == 204
    assert_problem(client.get(ME, headers=_with_key(key)), 401, "API_KEY_INVALID")
    [revoked] = _listed(client, owner.headers).json()["items"]
    assert revoked["revoked_at"] is not None
    # Revoking again changes nothing and is not an error.
    assert client.delete(f"{KEYS}/{created['id']}", headers=owner.headers).status_code == 204


def test_last_use_is_recorded_at_most_once_a_minute(
    client: TestClient, make_user: Any, clock: Any
) -> None:
    """R26: an owner sees when each key was last used, so a forgotten or stolen key shows up;
    the time moves in steps of a minute (no row lock on the key per request)."""
    owner = make_user("personnel_officer")
    _, key = _create_key(client, owner.headers)
    [item] = _listed(client, owner.headers).json()["items"]
    assert item["last_used_at"] is None

    assert client.get(ME, headers=_with_key(key)).status_code == 200
    first_use = clock.now()
    [item] = _listed(client, owner.headers).json()["items"]
    assert _when(item["last_used_at"]) == first_use

    clock.advance(dt.timedelta(seconds=30))
    assert client.get(ME, headers=_with_key(key)).status_code == 200
    [item] = _listed(client, owner.headers).json()["items"]
    assert _when(item["last_used_at"]) == first_use

    clock.advance(dt.timedelta(seconds=31))
    assert client.get(ME, headers=_with_key(key)).status_code == 200
    [item] = _listed(client, owner.headers).json()["items"]
    assert _when(item["last_used_at"]) == clock.now()

    # A wrong secret with the right prefix is not a use of the key.
    clock.advance(dt.timedelta(minutes=5))
    wrong = key[: key.rindex("_") + 1] + "x" * (len(key) - key.rindex("_") - 1)
    assert_problem(client.get(ME, headers=_with_key(wrong)), 401, "API_KEY_INVALID")
    [item] = _listed(client, owner.headers).json()["items"]
    assert _when(item["last_used_at"]) == clock.now() - dt.timedelta(minutes=5)


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_only_a_hash_of_the_key_is_stored(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    created, key = _create_key(client, make_user("auditor").headers)
    secret = key.split("_", 2)[2]
    with factory() as session:
        row = session.get(ApiKey, uuid.UUID(created["id"]))
        assert row is not None
        assert secret not in (row.secret_hash, row.name, row.prefix)
        assert len(row.secret_hash) == 64
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "api_key.create"))
        assert all(secret not in str(e.details) for e in events)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
        lambda key: "bvr_000000000000_" + key.split("_", 2)[2],
        lambda key: key.replace("bvr_", "xyz_", 1),
        lambda key: "bvr__",
        lambda key: "not a key at all",
    ],
    ids=["wrong-secret", "unknown-prefix", "wrong-scheme", "empty-parts", "garbage"],
)
def test_a_wrong_key_is_401(client: TestClient, make_user: Any, mangle: Any) -> None:
    _, key = _create_key(client, make_user("auditor").headers)
    assert_problem(client.get(ME, headers=_with_key(mangle(key))), 401, "API_KEY_INVALID")


def test_key_of_a_deactivated_user_stops_working(client: TestClient, make_user: Any) -> None:
    admin, machine = make_user("admin"), make_user("personnel_officer")
    _, key = _create_key(client, machine.headers)
    assert client.delete(f"{USERS}/{machine.id}", headers=admin.headers).status_code == 204
    assert_problem(client.get(ME, headers=_with_key(key)), 401, "API_KEY_INVALID")


def test_revoking_tokens_leaves_api_keys_working(client: TestClient, make_user: Any) -> None:
    machine = make_user("personnel_officer")
    _, key = _create_key(client, machine.headers)
    assert client.post("/api/v1/auth/revoke", headers=machine.headers).status_code == 204
    assert client.get(ME, headers=_with_key(key)).status_code == 200


def test_key_acts_with_its_owners_roles(client: TestClient, make_user: Any) -> None:
    """R23: a machine client is admitted exactly where its owner's roles are."""
    _, auditor_key = _create_key(client, make_user("auditor").headers)
    _, admin_key = _create_key(client, make_user("admin").headers)
    refused = client.post(USERS, json=user_body(), headers=_with_key(auditor_key))
    assert_problem(refused, 403, "ROLE_NOT_ADMITTED")
    assert client.post(USERS, json=user_body(), headers=_with_key(admin_key)).status_code == 201
    assert client.get("/api/v1/audit", headers=_with_key(auditor_key)).status_code == 200


def test_admin_makes_keys_for_users_of_its_own_country_only(
    client: TestClient, make_user: Any
) -> None:
    """R24: a user across the border answers 404, like one that does not exist."""
    admin = make_user("admin", "MX")
    machine, foreign = make_user("personnel_officer", "MX"), make_user("personnel_officer", "US")
    created, key = _create_key(client, admin.headers, user_id=str(machine.id))
    assert created["user_id"] == str(machine.id)
    assert client.get(ME, headers=_with_key(key)).json()["username"] == machine.username
    for target in (foreign.id, uuid.uuid4()):
        response = client.post(
            KEYS, json={"name": "x", "user_id": str(target)}, headers=admin.headers
        )
        assert_problem(response, 404, "USER_NOT_FOUND")


def test_non_admin_cannot_make_keys_for_someone_else(client: TestClient, make_user: Any) -> None:
    caller, other = make_user("personnel_officer"), make_user("personnel_officer")
    response = client.post(
        KEYS, json={"name": "x", "user_id": str(other.id)}, headers=caller.headers
    )
    assert_problem(response, 404, "USER_NOT_FOUND")
    own, _ = _create_key(client, caller.headers, user_id=str(caller.id))
    assert own["user_id"] == str(caller.id)


def test_who_sees_and_revokes_which_keys(client: TestClient, make_user: Any) -> None:
    """Users see and revoke their own keys; an admin those of its country's users; nobody
    reaches another country's keys (404)."""
    mx_admin, us_admin = make_user("admin", "MX"), make_user("admin", "US")
    alice, bob = make_user("auditor", "MX"), make_user("auditor", "MX")
    alice_key, _ = _create_key(client, alice.headers)
    bob_key, _ = _create_key(client, bob.headers)
    us_key, _ = _create_key(client, us_admin.headers)

    def ids(caller: Any) -> set[str]:
        return {k["id"] for k in _listed(client, caller.headers).json()["items"]}

    assert ids(alice) == {alice_key["id"]}
    assert ids(mx_admin) == {alice_key["id"], bob_key["id"]}
    assert ids(us_admin) == {us_key["id"]}

    for caller, key in ((bob, alice_key), (us_admin, alice_key), (mx_admin, us_key)):
        response = client.delete(f"{KEYS}/{key['id']}", headers=caller.headers)
        assert_problem(response, 404, "API_KEY_NOT_FOUND")
    assert_problem(client.delete(f"{KEYS}/{uuid.uuid4()}", headers=alice.headers), 404)
    assert client.delete(f"{KEYS}/{bob_key['id']}", headers=mx_admin.headers).status_code == 204


def test_key_name_is_validated(client: TestClient, make_user: Any) -> None:
    response = client.post(KEYS, json={"name": ""}, headers=make_user("auditor").headers)
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert [e["field"] for e in body["errors"]] == ["body.name"]


def test_key_routes_need_authentication(client: TestClient) -> None:
    for method, path in (("GET", KEYS), ("POST", KEYS), ("DELETE", f"{KEYS}/{uuid.uuid4()}")):
        response = client.request(method, path, json={"name": "x"} if method == "POST" else None)
        assert_problem(response, 401, "NOT_AUTHENTICATED")
