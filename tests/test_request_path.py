"""The request path (#17): a token is checked against what the process last read of its user,
for at most ``principal_cache_seconds`` (docs/security.md, R26).

Two apps on one database stand for two server processes. The clock is moved, never waited on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.clock import FixedClock
from app.config import Settings
from app.main import create_app
from tests.api.test_conventions import assert_problem
from tests.conftest import Caller

ME = "/api/v1/auth/me"
BOUND = 5.0  # seconds, the default of REGISTRY_PRINCIPAL_CACHE_SECONDS
IF_MATCH = {"If-Match": "*"}


@pytest.fixture
def processes(settings: Settings, clock: FixedClock) -> Iterator[list[TestClient]]:
    """Two server processes on one database, each with its own pool and principal cache."""
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(
                settings.model_copy(update={"principal_cache_seconds": BOUND}), clock=clock
            )
            stack.callback(app.state.engine.dispose)
            clients.append(stack.enter_context(TestClient(app, raise_server_exceptions=False)))
        yield clients


def _token_headers(caller: Caller) -> dict[str, str]:
    return caller.headers  # minted now, at version 1


def test_a_revocation_through_the_same_process_applies_at_once(
    processes: list[TestClient], make_user: Any
) -> None:
    """R26: the revoking request's commit drops the user from its process's cache, so the very
    next request with an old token is refused, with no time passing."""
    a, _ = processes
    clerk = make_user("personnel_officer")
    old = _token_headers(clerk)
    assert a.get(ME, headers=old).status_code == 200  # cached now
    assert a.post("/api/v1/auth/revoke", headers=old).status_code == 204
    assert_problem(a.get(ME, headers=old), 401, "TOKEN_REVOKED")


def test_a_revocation_through_another_process_applies_within_the_bound(
    processes: list[TestClient], make_user: Any, clock: FixedClock
) -> None:
    """R26, #17: process B read the user before process A revoked its tokens; B may accept the
    old token until its entry is ``principal_cache_seconds`` old (docs/security.md), and
    refuses it once the bound has passed."""
    a, b = processes
    clerk = make_user("personnel_officer")
    old = _token_headers(clerk)
    assert b.get(ME, headers=old).status_code == 200  # B reads and keeps the user
    assert a.post("/api/v1/auth/revoke", headers=old).status_code == 204
    assert_problem(a.get(ME, headers=old), 401, "TOKEN_REVOKED")
    clock.advance(dt.timedelta(seconds=BOUND))
    assert_problem(b.get(ME, headers=old), 401, "TOKEN_REVOKED")


def test_a_deactivation_through_another_process_applies_within_the_bound(
    processes: list[TestClient], make_user: Any, clock: FixedClock
) -> None:
    a, b = processes
    admin = make_user("admin")
    clerk = make_user("personnel_officer")
    headers = _token_headers(clerk)
    assert b.get(ME, headers=headers).status_code == 200
    response = a.patch(
        f"/api/v1/users/{clerk.id}", json={"is_active": False}, headers=admin.headers | IF_MATCH
    )
    assert response.status_code == 200, response.text
    clock.advance(dt.timedelta(seconds=BOUND))
    assert b.get(ME, headers=_token_headers(clerk)).status_code == 401


def test_a_token_issued_after_a_revocation_is_accepted_at_once_everywhere(
    processes: list[TestClient], make_user: Any
) -> None:
    """A process whose entry predates the revocation reads the user again when a token newer
    than its entry arrives, instead of refusing it."""
    a, b = processes
    clerk = make_user("personnel_officer", password="correct horse battery staple")
    assert b.get(ME, headers=_token_headers(clerk)).status_code == 200
    assert a.post("/api/v1/auth/revoke", headers=_token_headers(clerk)).status_code == 204
    login = a.post(
        "/api/v1/auth/token",
        data={"username": clerk.username, "password": "correct horse battery staple"},
    )
    assert login.status_code == 200, login.text
    fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert b.get(ME, headers=fresh).status_code == 200


def test_new_roles_through_the_same_process_apply_at_once(
    processes: list[TestClient], make_user: Any
) -> None:
    """Roles are read with the version: a change committed through this process is seen by
    the next request (R23)."""
    a, _ = processes
    admin = make_user("admin")
    target = make_user("admin")
    assert a.get("/api/v1/users", headers=target.headers).status_code == 200
    response = a.patch(
        f"/api/v1/users/{target.id}", json={"roles": ["auditor"]}, headers=admin.headers | IF_MATCH
    )
    assert response.status_code == 200, response.text
    assert_problem(a.get("/api/v1/users", headers=target.headers), 403, "ROLE_NOT_ADMITTED")


def test_without_a_cache_every_request_reads_the_user(
    settings: Settings, clock: FixedClock, make_user: Any
) -> None:
    """``principal_cache_seconds = 0``: a revocation through another process applies at once."""
    apps = [
        create_app(settings.model_copy(update={"principal_cache_seconds": 0}), clock=clock)
        for _ in range(2)
    ]
    try:
        with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
            clerk = make_user("personnel_officer")
            old = _token_headers(clerk)
            assert b.get(ME, headers=old).status_code == 200
            assert a.post("/api/v1/auth/revoke", headers=old).status_code == 204
            assert_problem(b.get(ME, headers=old), 401, "TOKEN_REVOKED")
    finally:
        for app in apps:
            app.state.engine.dispose()


def test_a_known_token_is_checked_without_reading_its_user(
    processes: list[TestClient], make_user: Any
) -> None:
    """#17: within the bound, a second request with the same token sends no statement about
    its user (the route here reads agencies only)."""
    a, _ = processes
    clerk = make_user("personnel_officer")
    headers = _token_headers(clerk)
    engine = a.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    assert a.get("/api/v1/agencies", headers=headers).status_code == 200
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        assert a.get("/api/v1/agencies", headers=headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert statements  # the route did read
    assert not [s for s in statements if "FROM users" in s]
