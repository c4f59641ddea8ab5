"""Test fixtures: a real database per test (SQLite file or PostgreSQL database cloned from a
migrated template), the real app through httpx, real Argon2id with cheap parameters.

Set ``TEST_DATABASE_URL`` to a PostgreSQL URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)
to run the suite on PostgreSQL; the default is SQLite.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from app.auth.passwords import PasswordHasher
from app.auth.tokens import issue_access_token
from app.clock import FixedClock
from app.config import Settings
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.main import create_app
from app.services.accounts.users import create_user

# A run lands only when it passes, so by default every property test draws the same examples on
# every run (a failure reproduces, and never depends on the day's luck). HYPOTHESIS_PROFILE=explore
# draws fresh, more numerous examples to hunt for new counterexamples; add any it finds as
# @example so the default run keeps them.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", max_examples=2000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgresql")
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def upgrade(url: str) -> None:
    from alembic import command

    from app.cli import alembic_config

    cfg: Any = alembic_config(url)
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")


class DatabaseFactory:
    """Hands out fresh, migrated databases quickly by copying a template."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = itertools.count()
        self.tag = f"bvr_{os.getpid()}_{secrets.token_hex(3)}"
        if ON_POSTGRES:
            self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            self.template = f"{self.tag}_tpl"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
            upgrade(self.url_for(self.template))
        else:
            self.template_path = workdir / "template.db"
            upgrade(f"sqlite:///{self.template_path}")

    def url_for(self, name: str) -> str:
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def fresh_empty(self) -> str:
        """An empty database (for migration tests)."""
        n = next(self.counter)
        if ON_POSTGRES:
            name = f"{self.tag}_{n}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            return self.url_for(name)
        return f"sqlite:///{self.workdir / f'empty_{n}.db'}"

    def fresh(self) -> str:
        n = next(self.counter)
        if ON_POSTGRES:
            name = f"{self.tag}_{n}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
            return self.url_for(name)
        path = self.workdir / f"db_{n}.db"
        shutil.copyfile(self.template_path, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        if ON_POSTGRES:
            name = make_url(url).database
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        if ON_POSTGRES:
            self.drop(self.url_for(self.template))
            self.admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env="test",
        database_url="sqlite://",
        jwt_secret=_key(),
        identifier_key=_key(),
        blind_index_key=_key(),
        signing_key=_key(),
        dev_secrets_file=tmp_path_factory.mktemp("secrets") / "dev.json",
        # Cheap Argon2id for tests only (R26); production refuses less than OWASP's minimum.
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        login_max_failures_per_user=3,
        login_max_failures_per_address=6,
        # No background audit chainer thread (#17): a test's events are linked when it asks
        # (GET /audit, /audit/verify, checkpoints, the sweep, or the chainer called by hand), so
        # nothing links behind its back. tests/test_workers_pg.py runs real servers with it on.
        audit_chain_in_process=False,
    )


@pytest.fixture
def db_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh()
    yield url
    databases.drop(url)


@pytest.fixture
def settings(base_settings: Settings, db_url: str) -> Settings:
    return base_settings.model_copy(update={"database_url": db_url})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[FastAPI]:
    application = create_app(settings, clock=clock)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def factory(app: FastAPI) -> sessionmaker[Session]:
    sm: sessionmaker[Session] = app.state.sessionmaker
    return sm


@dataclass
class Caller:
    """A user created directly in the database; ``headers`` authenticate as it with a token
    minted at the (pinned) clock's current time, so tests that move the clock stay signed in."""

    id: uuid.UUID
    username: str
    country: str
    agency_id: uuid.UUID | None
    mint: Any = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint()}"}


@pytest.fixture
def make_user(app: FastAPI, client: TestClient, clock: FixedClock) -> Any:
    hasher: PasswordHasher = app.state.hasher
    counter = itertools.count()

    def make(
        roles: list[str] | str = "admin",
        country: str = "MX",
        agency_id: uuid.UUID | None = None,
        username: str | None = None,
        password: str = PASSWORD,
    ) -> Caller:
        role_list = [roles] if isinstance(roles, str) else roles
        name = username or f"{role_list[0]}_{country.lower()}_{next(counter)}"
        with unit_of_work(app.state.sessionmaker) as session:
            user = create_user(
                session,
                actor=None,
                hasher=hasher,
                username=name,
                password=password,
                roles=role_list,
                country=country,
                agency_id=agency_id,
                now=clock.now(),
                # Tests may make agency-less officers to probe refusals; the API requires one.
                require_agency=False,
            )
            user_id = user.id

        # Tokens are minted directly (login itself is tested in tests/api/test_auth.py):
        # a full Argon2 round trip per user would dominate the suite's time.
        def mint(user_id: uuid.UUID = user_id) -> str:
            token, _ = issue_access_token(
                app.state.settings, user_id=user_id, token_version=1, now=clock.now()
            )
            return token

        return Caller(id=user_id, username=name, country=country, agency_id=agency_id, mint=mint)

    return make


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def engine_for(settings: Settings) -> Any:
    engines = []

    def make() -> Any:
        engine = make_engine(settings.database_url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


__all__ = ["ON_POSTGRES", "PASSWORD", "T0", "Caller", "login", "make_sessionmaker"]
