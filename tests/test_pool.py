"""The connection pool without a ping per checkout (#17): a pooled connection that the server
ended is found without a round trip and replaced before a request sees it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from app.config import Settings

pytestmark = pytest.mark.postgres_only


def _terminate_other_backends(url: str) -> int:
    """End every other session on the test's own database and wait until they are gone (a
    bounded poll of ``pg_stat_activity``, not a sleep)."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)
    database = make_url(url).database
    others = (
        "FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
    )
    try:
        with admin.connect() as conn:
            ended = conn.execute(
                text(f"SELECT count(pg_terminate_backend(pid)) {others}"), {"db": database}
            ).scalar_one()
            for _ in range(10_000):
                if not conn.execute(text(f"SELECT count(*) {others}"), {"db": database}).scalar():
                    break
            else:  # pragma: no cover - the server did not end them
                raise AssertionError("terminated backends are still there")
    finally:
        admin.dispose()
    return int(ended)


def test_a_request_after_the_server_ended_the_pooled_connections_succeeds(
    app: FastAPI, client: TestClient, make_user: Any, settings: Settings
) -> None:
    """``pg_terminate_backend`` on the pool's idle connections (a restart or an idle timeout
    looks the same): the checkout finds each dead socket and the pool opens new connections,
    so the next requests succeed; no ``pool_pre_ping`` round trip was needed."""
    clerk = make_user("personnel_officer")
    for _ in range(3):  # several requests, so the pool holds connections
        assert client.get("/api/v1/auth/me", headers=clerk.headers).status_code == 200
    assert app.state.engine.pool.checkedin() >= 1
    assert _terminate_other_backends(settings.database_url) >= 1
    for _ in range(3):
        response = client.get("/api/v1/auth/me", headers=clerk.headers)
        assert response.status_code == 200, response.text
    screened = client.post(
        "/api/v1/screenings",
        json={
            "given_names": "PERSONA",
            "first_surname": "INEXISTENTE",
            "date_of_birth": "1970-01-01",
            "purpose": "hiring",
        },
        headers=clerk.headers,
    )
    assert screened.status_code == 201, screened.text


def test_the_pool_does_not_ping_on_every_checkout(app: FastAPI) -> None:
    """#17: ``pool_pre_ping`` cost a round trip and a transaction per checkout."""
    assert app.state.engine.pool._pre_ping is False
