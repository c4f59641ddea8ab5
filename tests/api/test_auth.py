"""Authentication (R26): password login with throttling, short-lived JWTs that are refused when
expired, tampered, unsigned, foreign or revoked, and Argon2id hashes upgraded on login."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

import argon2
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.config import Settings
from app.main import create_app
from app.models import AuditEvent, User
from tests.api.test_conventions import ME, TOKEN, USERS, assert_problem
from tests.conftest import PASSWORD, login


def _login(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post(TOKEN, data={"username": username, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login_events(factory: sessionmaker[Session], username: str) -> list[AuditEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "auth.login", AuditEvent.actor_username == username)
                .order_by(AuditEvent.id)
            )
        )


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    """What a client can observe of a refused login, minus the per-request id."""
    body = {k: v for k, v in response.json().items() if k != "request_id"}
    headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id",)}
    return response.status_code, body, headers


def _stored_hash(factory: sessionmaker[Session], user_id: uuid.UUID) -> str:
    with factory() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.password_hash


# --- Login --------------------------------------------------------------------------------


def test_login_issues_a_short_lived_bearer_token(
    client: TestClient, make_user: Any, settings: Settings
) -> None:
    user = make_user("vetting_officer")
    response = _login(client, user.username)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    me = client.get(ME, headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    assert me.json()["via"] == "token"


def test_wrong_password_is_401(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    user = make_user("auditor")
    response = _login(client, user.username, "not the password")
    assert_problem(response, 401, "INVALID_CREDENTIALS")
    assert response.headers["www-authenticate"] == "Bearer"
    failure = _login_events(factory, user.username)[-1]
    assert (failure.outcome, failure.details) == ("failure", {"reason": "bad_password"})
    assert failure.resource_id == str(user.id)


def test_unknown_user_is_answered_exactly_like_a_wrong_password(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """R26 / STYLE habit 6: an unknown username gets the same answer as a wrong password (and
    pays for one Argon2 verification), so usernames cannot be enumerated."""
    user = make_user("auditor")
    wrong_password = _login(client, user.username, "not the password")
    unknown = _login(client, "nobody_by_this_name", "not the password")
    assert_problem(unknown, 401, "INVALID_CREDENTIALS")
    assert _comparable(unknown) == _comparable(wrong_password)
    [failure] = _login_events(factory, "nobody_by_this_name")
    assert (failure.outcome, failure.details) == ("failure", {"reason": "unknown_user"})
    assert failure.resource_id is None


def test_deactivated_user_cannot_log_in_nor_use_its_tokens(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    admin, clerk = make_user("admin"), make_user("personnel_officer")
    wrong_password = _login(client, clerk.username, "not the password")
    assert client.delete(f"{USERS}/{clerk.id}", headers=admin.headers).status_code == 204

    refused = _login(client, clerk.username)
    assert_problem(refused, 401, "INVALID_CREDENTIALS")
    assert _comparable(refused) == _comparable(wrong_password)
    assert _login_events(factory, clerk.username)[-1].details == {"reason": "inactive"}
    assert_problem(client.get(ME, headers=clerk.headers), 401, "TOKEN_INVALID")


@pytest.mark.parametrize("missing", ["username", "password"])
def test_login_form_without_a_field_is_422(client: TestClient, missing: str) -> None:
    form = {"username": "someone", "password": "something"}
    del form[missing]
    body = assert_problem(client.post(TOKEN, data=form), 422, "VALIDATION_ERROR")
    assert [e["field"] for e in body["errors"]] == [f"body.{missing}"]


# --- Throttling -------------------------------------------------------------------------------


def test_failed_logins_per_user_are_throttled_until_the_lockout_ends(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> None:
    """R26: after ``login_max_failures_per_user`` failures the username is locked out for
    ``login_lockout_seconds`` — even the right password gets 429 with Retry-After — and the
    lockout ends by itself."""
    user = make_user("auditor")
    for _ in range(settings.login_max_failures_per_user):
        assert_problem(_login(client, user.username, "guess"), 401)

    locked = _login(client, user.username)
    body = assert_problem(locked, 429, "LOGIN_THROTTLED")
    assert locked.headers["retry-after"] == str(settings.login_lockout_seconds)
    assert str(settings.login_lockout_seconds) in body["detail"]

    clock.advance(dt.timedelta(seconds=settings.login_lockout_seconds - 100))
    still = _login(client, user.username)
    assert_problem(still, 429)
    assert still.headers["retry-after"] == "100"

    clock.advance(dt.timedelta(seconds=101))
    assert _login(client, user.username).status_code == 200


def test_failed_logins_per_address_are_throttled(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> None:
    """R26: spraying one guess over many usernames trips the per-address limit, which then
    also stops a user who has never failed."""
    bystander = make_user("auditor")
    per_user = settings.login_max_failures_per_user - 1
    for n in range(settings.login_max_failures_per_address):
        assert_problem(_login(client, f"target_{n // per_user}", "guess"), 401)

    blocked = _login(client, bystander.username)
    assert_problem(blocked, 429, "LOGIN_THROTTLED")
    assert int(blocked.headers["retry-after"]) == settings.login_lockout_seconds

    clock.advance(dt.timedelta(seconds=settings.login_lockout_seconds + 1))
    assert _login(client, bystander.username).status_code == 200


def test_a_successful_login_resets_the_user_count(
    client: TestClient, make_user: Any, settings: Settings
) -> None:
    user = make_user("auditor")
    almost = settings.login_max_failures_per_user - 1
    for _ in range(2):
        for _ in range(almost):
            assert_problem(_login(client, user.username, "guess"), 401)
        assert _login(client, user.username).status_code == 200


def test_failures_outside_the_window_are_forgotten(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> None:
    user = make_user("auditor")
    almost = settings.login_max_failures_per_user - 1
    for _ in range(almost):
        assert_problem(_login(client, user.username, "guess"), 401)
    clock.advance(dt.timedelta(seconds=settings.login_failure_window_seconds + 1))
    for _ in range(almost):
        assert_problem(_login(client, user.username, "guess"), 401)
    assert _login(client, user.username).status_code == 200


def test_throttled_attempts_are_audited(
    client: TestClient, make_user: Any, settings: Settings, factory: sessionmaker[Session]
) -> None:
    user = make_user("auditor")
    for _ in range(settings.login_max_failures_per_user + 1):
        _login(client, user.username, "guess")
    outcomes = [e.outcome for e in _login_events(factory, user.username)]
    assert outcomes == ["failure"] * settings.login_max_failures_per_user + ["throttled"]


# --- Tokens -----------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(claims: dict[str, Any], key: bytes | None, alg: str = "HS256") -> str:
    """A compact JWS built by hand (not with the library under test)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}.get(alg)
    signature = hmac.new(key, signing_input.encode(), digest).digest() if key and digest else b""
    return f"{signing_input}.{_b64(signature)}"


def claims_for(user_id: uuid.UUID, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    at = int(now.timestamp())
    return {
        "sub": str(user_id),
        "ver": 1,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": at,
        "nbf": at,
        "exp": at + 600,
        "jti": uuid.uuid4().hex,
    }


def test_hand_forged_token_with_the_right_key_is_accepted(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> None:
    """Control for the refusals below: the forging helper itself makes valid tokens."""
    user = make_user("auditor")
    token = forge(claims_for(user.id, settings, clock.now()), settings.jwt_key)
    assert client.get(ME, headers=_bearer(token)).status_code == 200


BAD_CLAIMS: dict[str, dict[str, Any]] = {
    "wrong-audience": {"aud": "some-other-api"},
    "wrong-issuer": {"iss": "someone-else"},
    "not-yet-valid": {"nbf": "+3600"},
    "issued-in-the-future": {"iat": "+3600"},
    "no-expiry": {"exp": None},
    "subject-not-a-uuid": {"sub": "admin"},
    "unknown-subject": {"sub": str(uuid.UUID(int=7))},
}


@pytest.mark.parametrize("change", BAD_CLAIMS.values(), ids=BAD_CLAIMS.keys())
def test_token_with_bad_claims_is_refused(
    client: TestClient,
    make_user: Any,
    settings: Settings,
    clock: FixedClock,
    change: dict[str, Any],
) -> None:
    user = make_user("auditor")
    claims = claims_for(user.id, settings, clock.now())
    for name, value in change.items():
        if value is None:
            del claims[name]
        elif isinstance(value, str) and value.startswith("+"):
            claims[name] += int(value)
        else:
            claims[name] = value
    response = client.get(ME, headers=_bearer(forge(claims, settings.jwt_key)))
    assert_problem(response, 401, "TOKEN_INVALID")


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("none", None),
        ("None", None),
        ("HS512", "service-key"),
        ("HS256", "another-key"),
    ],
    ids=["alg-none", "alg-None", "other-algorithm", "other-key"],
)
def test_token_not_signed_by_the_service_is_refused(
    client: TestClient,
    make_user: Any,
    settings: Settings,
    clock: FixedClock,
    alg: str,
    key: str | None,
) -> None:
    """Only HS256 with this deployment's key: not ``alg: none``, not another algorithm (even
    with the right key), not another deployment's key."""
    user = make_user("admin")
    secret = {"service-key": settings.jwt_key, "another-key": secrets.token_bytes(32)}.get(
        key or ""
    )
    token = forge(claims_for(user.id, settings, clock.now()), secret, alg)
    assert_problem(client.get(ME, headers=_bearer(token)), 401, "TOKEN_INVALID")


def _tamper_signature(token: str, _other: uuid.UUID) -> str:
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


def _tamper_payload(token: str, other: uuid.UUID) -> str:
    """Keep the signature, claim to be someone else (an admin)."""
    head, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims["sub"] = str(other)
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def _truncate(token: str, _other: uuid.UUID) -> str:
    return token.rsplit(".", 1)[0]


def _garbage(_token: str, _other: uuid.UUID) -> str:
    return "not-a-jwt"


@pytest.mark.parametrize(
    "tamper",
    [_tamper_signature, _tamper_payload, _truncate, _garbage],
    ids=["signature", "payload", "no-signature", "garbage"],
)
def test_tampered_token_is_refused(client: TestClient, make_user: Any, tamper: Any) -> None:
    user, admin = make_user("auditor"), make_user("admin")
    token = user.headers["Authorization"].removeprefix("Bearer ")
    response = client.get(ME, headers=_bearer(tamper(token, admin.id)))
    assert_problem(response, 401, "TOKEN_INVALID")


def test_token_expires_after_access_token_minutes(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> None:
    user = make_user("auditor")
    headers = user.headers  # one token, minted now (Caller.headers mints afresh each time)
    clock.advance(dt.timedelta(minutes=settings.access_token_minutes, seconds=-1))
    assert client.get(ME, headers=headers).status_code == 200
    clock.advance(dt.timedelta(seconds=1))
    assert_problem(client.get(ME, headers=headers), 401, "TOKEN_EXPIRED")


def test_token_times_follow_the_service_clock(
    client: TestClient, make_user: Any, clock: FixedClock
) -> None:
    """Tokens issued at a pinned date later than the wall clock are valid at that date
    (issued-at and not-before were checked against the wall clock, refusing them)."""
    user = make_user("auditor")
    clock.advance(dt.timedelta(days=3650))
    token = login(client, user.username)
    assert client.get(ME, headers=_bearer(token)).status_code == 200


# --- Revocation -----------------------------------------------------------------------------


def test_admin_revokes_every_token_of_a_user(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """R26: a user's tokens can be revoked; a fresh login works again."""
    admin, officer = make_user("admin"), make_user("vetting_officer")
    second_session = _bearer(login(client, officer.username))
    response = client.post(f"{USERS}/{officer.id}/revoke-tokens", headers=admin.headers)
    assert response.status_code == 204
    for headers in (officer.headers, second_session):
        assert_problem(client.get(ME, headers=headers), 401, "TOKEN_REVOKED")
    assert client.get(ME, headers=_bearer(login(client, officer.username))).status_code == 200
    assert client.get(ME, headers=admin.headers).status_code == 200
    with factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.revoke_tokens")
        ).one()
    assert (event.actor_id, event.resource_id) == (admin.id, str(officer.id))


def test_signing_out_everywhere_revokes_the_callers_tokens(
    client: TestClient, make_user: Any
) -> None:
    user = make_user("task_force_lead")
    other = _bearer(login(client, user.username))
    assert client.post("/api/v1/auth/revoke", headers=user.headers).status_code == 204
    for headers in (user.headers, other):
        assert_problem(client.get(ME, headers=headers), 401, "TOKEN_REVOKED")


# --- Password hashing ---------------------------------------------------------------------


def _argon2_parameters(encoded: str) -> tuple[argon2.Type, int, int, int]:
    params = argon2.extract_parameters(encoded)
    return params.type, params.memory_cost, params.time_cost, params.parallelism


def _log_in_with(
    settings: Settings, clock: FixedClock, username: str, **argon2_settings: int
) -> httpx.Response:
    app = create_app(settings.model_copy(update=argon2_settings), clock=clock)
    try:
        with TestClient(app) as other:
            return _login(other, username)
    finally:
        app.state.engine.dispose()


def test_passwords_are_argon2id_with_the_configured_parameters(
    make_user: Any, settings: Settings, factory: sessionmaker[Session]
) -> None:
    user = make_user("auditor")
    stored = _stored_hash(factory, user.id)
    assert PASSWORD not in stored
    assert _argon2_parameters(stored) == (
        argon2.Type.ID,
        settings.argon2_memory_kib,
        settings.argon2_time_cost,
        settings.argon2_parallelism,
    )


@pytest.mark.parametrize(
    "raised",
    [{"argon2_memory_kib": 2048}, {"argon2_time_cost": 2}, {"argon2_parallelism": 2}],
    ids=["memory", "iterations", "parallelism"],
)
def test_hash_is_upgraded_on_login_when_parameters_rise(
    make_user: Any,
    settings: Settings,
    clock: FixedClock,
    factory: sessionmaker[Session],
    raised: dict[str, int],
) -> None:
    """R26: a login under higher Argon2id parameters re-hashes the password with them (and
    only once: the next login leaves the new hash alone)."""
    user = make_user("auditor")
    before = _stored_hash(factory, user.id)

    assert _log_in_with(settings, clock, user.username, **raised).status_code == 200
    upgraded = _stored_hash(factory, user.id)
    wanted = {**settings.model_dump(), **raised}
    assert upgraded != before
    assert _argon2_parameters(upgraded) == (
        argon2.Type.ID,
        wanted["argon2_memory_kib"],
        wanted["argon2_time_cost"],
        wanted["argon2_parallelism"],
    )
    assert _login_events(factory, user.username)[-1].details == {"rehashed": True}

    assert _log_in_with(settings, clock, user.username, **raised).status_code == 200
    assert _stored_hash(factory, user.id) == upgraded


def test_hash_is_not_downgraded_by_a_process_with_lower_parameters(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock, factory: Any
) -> None:
    user = make_user("auditor")
    assert _log_in_with(settings, clock, user.username, argon2_memory_kib=2048).status_code == 200
    strong = _stored_hash(factory, user.id)
    assert _login(client, user.username).status_code == 200
    assert _stored_hash(factory, user.id) == strong
    assert _login_events(factory, user.username)[-1].details == {"rehashed": False}
