"""The ``registry`` command line and the first-start bootstrap admin: the two ways a fresh
installation gets its first user."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings, load_settings
from app.main import create_app
from app.models import AuditEvent, User

ADMIN_PASSWORD = "a long enough admin password"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``registry migrate`` loads alembic.ini's logging configuration; undo it afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("alembic").level
    yield
    root.handlers = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("alembic").setLevel(saved[2])


def _operator_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> None:
    """The database named only by the environment, as an operator would; secrets in a
    temporary dev file; cheap Argon2id."""
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REGISTRY_ENV", "test")  # keeps create_app off process-wide logging
    monkeypatch.setenv("REGISTRY_DATABASE_URL", url)
    monkeypatch.setenv("REGISTRY_DEV_SECRETS_FILE", str(tmp_path / "dev-secrets.json"))
    monkeypatch.setenv("REGISTRY_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("REGISTRY_ARGON2_TIME_COST", "1")


@pytest.fixture
def empty_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, databases: Any, restore_logging: None
) -> Iterator[str]:
    """An empty database (SQLite file, or PostgreSQL under TEST_DATABASE_URL)."""
    url = databases.fresh_empty()
    _operator_env(monkeypatch, tmp_path, url)
    yield url
    databases.drop(url)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> str:
    """A database already at head (a copy of the suite's migrated template)."""
    _operator_env(monkeypatch, tmp_path, db_url)
    return db_url


def _run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input)


def _token(client: TestClient, username: str, password: str) -> str:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def _count_users(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(User)) or 0)
    finally:
        engine.dispose()


def test_migrate_then_create_user_then_log_in(empty_env: str) -> None:
    result = _run("migrate")
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    assert _run("migrate").exit_code == 0, "a second migrate is a no-op"

    result = _run(
        "users", "create",
        "--username", "root_mx",
        "--password", ADMIN_PASSWORD,
        "--role", "admin",
        "--country", "MX",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created user root_mx" in result.output

    app = create_app(load_settings())
    with TestClient(app) as client:
        token = _token(client, "root_mx", ADMIN_PASSWORD)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["username"] == "root_mx"
        assert body["roles"] == ["admin"]
        assert body["country"] == "MX"
        assert body["via"] == "token"
        # The same admin can now create users through the API.
        r = client.post(
            "/api/v1/users",
            json={
                "username": "auditor_mx",
                "password": "another long password",
                "roles": ["auditor"],
                "country": "MX",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text

    # The creation is in the audit log, attributed to the command line ("system").
    engine = create_engine(empty_env)
    try:
        with engine.connect() as conn:
            actors = conn.execute(
                select(AuditEvent.actor_username).where(AuditEvent.action == "user.create")
            ).scalars()
            assert "system" in set(actors)
    finally:
        engine.dispose()


def test_create_user_prompts_for_the_password(cli_env: str) -> None:
    result = _run(
        "users", "create",
        "--username", "vet_us",
        "--role", "admin",
        "--role", "auditor",
        "--country", "US",
        input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ADMIN_PASSWORD not in result.output, "the password must not be echoed"

    app = create_app(load_settings())
    with TestClient(app) as client:
        token = _token(client, "vet_us", ADMIN_PASSWORD)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["roles"] == ["admin", "auditor"]
        assert me["country"] == "US"


def test_create_user_needs_an_agency_for_agency_roles(cli_env: str) -> None:
    """DESIGN §2: every role but admin and auditor belongs to an agency."""
    result = _run(
        "users", "create", "--username", "vet_x", "--password", ADMIN_PASSWORD,
        "--role", "vetting_officer", "--country", "US",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "agency" in result.output.lower()


def test_create_user_refuses_a_taken_username(cli_env: str) -> None:
    args = ("users", "create", "--username", "dup", "--password", ADMIN_PASSWORD,
            "--role", "admin", "--country", "MX")  # fmt: skip
    assert _run(*args).exit_code == 0
    result = _run(*args)
    assert result.exit_code == 1
    assert "error:" in result.output
    assert _count_users(cli_env) == 1


def test_create_user_refuses_an_unknown_role_or_country(cli_env: str) -> None:
    base = ["users", "create", "--username", "x_user", "--password", ADMIN_PASSWORD]
    assert _run(*base, "--role", "wizard", "--country", "MX").exit_code == 2
    assert _run(*base, "--role", "admin", "--country", "CA").exit_code == 2
    assert _count_users(cli_env) == 0


def test_create_user_refuses_an_unknown_agency(cli_env: str) -> None:
    result = _run(
        "users", "create",
        "--username", "hr_mx",
        "--password", ADMIN_PASSWORD,
        "--role", "personnel_officer",
        "--country", "MX",
        "--agency", "00000000-0000-4000-8000-000000000000",
    )  # fmt: skip
    assert result.exit_code == 1
    assert _count_users(cli_env) == 0


# --- the bootstrap admin (REGISTRY_BOOTSTRAP_ADMIN_*) ----------------------------------------


def _bootstrap(settings: Settings, username: str = "boot_admin") -> Settings:
    return settings.model_copy(
        update={
            "bootstrap_admin_username": username,
            "bootstrap_admin_password": ADMIN_PASSWORD,
            "bootstrap_admin_country": "US",
        }
    )


def test_bootstrap_admin_is_created_on_first_start(settings: Settings) -> None:
    assert _count_users(settings.database_url) == 0
    app = create_app(_bootstrap(settings))
    with TestClient(app) as client:  # the lifespan runs the bootstrap
        token = _token(client, "boot_admin", ADMIN_PASSWORD)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["roles"] == ["admin"]
        assert me.json()["country"] == "US"
    assert _count_users(settings.database_url) == 1


def test_bootstrap_admin_is_not_created_twice(settings: Settings) -> None:
    for _ in range(2):
        with TestClient(create_app(_bootstrap(settings))) as client:
            _token(client, "boot_admin", ADMIN_PASSWORD)
    assert _count_users(settings.database_url) == 1

    # Once any user exists, a changed bootstrap name creates nobody either.
    with TestClient(create_app(_bootstrap(settings, "another_admin"))) as client:
        r = client.post(
            "/api/v1/auth/token",
            data={"username": "another_admin", "password": ADMIN_PASSWORD},
        )
        assert r.status_code == 401
    assert _count_users(settings.database_url) == 1


def test_no_bootstrap_without_all_three_settings(settings: Settings) -> None:
    partial = settings.model_copy(update={"bootstrap_admin_username": "half_admin"})
    with TestClient(create_app(partial)):
        pass
    assert _count_users(settings.database_url) == 0


def test_bootstrap_from_environment(empty_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the container: env variables only, then ``registry migrate``, then serve."""
    monkeypatch.setenv("REGISTRY_BOOTSTRAP_ADMIN_USERNAME", "env_admin")
    monkeypatch.setenv("REGISTRY_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("REGISTRY_BOOTSTRAP_ADMIN_COUNTRY", "MX")
    assert _run("migrate").exit_code == 0
    with TestClient(create_app()) as client:
        token = _token(client, "env_admin", ADMIN_PASSWORD)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["country"] == "MX"


# --- registry sweep (#15) ---------------------------------------------------------------------


def test_sweep_json_prints_one_json_document(cli_env: str) -> None:
    """``registry sweep --json`` is for machines: the whole of standard output is one JSON
    document (the revetting checks, the task-force transitions and the audit events linked);
    anything else goes to standard error."""
    import json

    result = CliRunner().invoke(cli, ["sweep", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {"now", "found", "recorded", "task_forces", "audit"}
    assert report["task_forces"] == {"transitions": 0}
    assert set(report["audit"]) == {"linked"}
    assert report["recorded"]["overdue_obligations_check"] == 0


def test_sweep_without_json_reports_each_part(cli_env: str) -> None:
    result = CliRunner().invoke(cli, ["sweep"])
    assert result.exit_code == 0, result.output
    assert "recorded 0 new transition(s)" in result.stdout
    assert "task forces: 0 status transition(s) recorded" in result.stdout
