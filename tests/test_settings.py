"""Settings (STYLE habit 5, R26): production refuses development secrets and weak hashing;
development generates its secrets once and keeps them."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient

from app.config import (
    OWASP_ARGON2_MEMORY_KIB,
    OWASP_ARGON2_TIME_COST,
    SECRET_FIELDS,
    ConfigurationError,
    Settings,
    load_settings,
)
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.main import create_app
from app.services.registry.agency_seed import seed_agencies
from tests.conftest import T0


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


# Production also requires the audit key (#19), which development derives instead of storing.
PRODUCTION_KEYS = (*SECRET_FIELDS, "audit_key")


def _keys() -> dict[str, str]:
    return {name: _key() for name in PRODUCTION_KEYS}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read REGISTRY_* from the environment; start each test from none."""
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """create_app outside env=test configures process-wide JSON logging; undo it afterwards."""
    root = logging.getLogger()
    access = logging.getLogger("uvicorn.access")
    saved = (root.handlers[:], root.level, access.handlers[:], access.propagate)
    saved_structlog = structlog.get_config()
    yield
    root.handlers, access.handlers = saved[0], saved[2]
    root.setLevel(saved[1])
    access.propagate = saved[3]
    structlog.configure(**saved_structlog)


# --- production ----------------------------------------------------------------------------


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as err:
        Settings(env="production", dev_secrets_file=tmp_path / "dev.json")
    for name in PRODUCTION_KEYS:
        assert f"REGISTRY_{name.upper()}" in str(err.value)
    assert not (tmp_path / "dev.json").exists()


@pytest.mark.parametrize("missing", PRODUCTION_KEYS)
def test_production_refuses_each_missing_key(missing: str) -> None:
    keys = _keys()
    del keys[missing]
    with pytest.raises(ConfigurationError, match=f"REGISTRY_{missing.upper()}"):
        Settings(env="production", **keys)


def test_production_from_environment_refuses_without_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.setenv("REGISTRY_DEV_SECRETS_FILE", str(tmp_path / "dev.json"))
    with pytest.raises(ConfigurationError):
        load_settings()
    with pytest.raises(ConfigurationError):
        create_app()
    assert not (tmp_path / "dev.json").exists(), "production must never write dev secrets"


@pytest.mark.parametrize(
    ("memory_kib", "time_cost"),
    [
        (OWASP_ARGON2_MEMORY_KIB - 1, OWASP_ARGON2_TIME_COST),
        (OWASP_ARGON2_MEMORY_KIB, OWASP_ARGON2_TIME_COST - 1),
        (1024, 1),
    ],
)
def test_production_refuses_argon2_below_owasp_minimum(memory_kib: int, time_cost: int) -> None:
    with pytest.raises(ConfigurationError, match="Argon2id"):
        Settings(
            env="production", argon2_memory_kib=memory_kib, argon2_time_cost=time_cost, **_keys()
        )


def test_production_accepts_owasp_minimum_and_stronger() -> None:
    Settings(env="production", **_keys())
    Settings(
        env="production",
        argon2_memory_kib=OWASP_ARGON2_MEMORY_KIB * 2,
        argon2_time_cost=OWASP_ARGON2_TIME_COST + 1,
        **_keys(),
    )


def test_cheap_argon2_is_allowed_outside_production() -> None:
    for env in ("development", "test"):
        Settings(env=env, argon2_memory_kib=1024, argon2_time_cost=1)


def test_production_app_starts_with_all_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, restore_logging: None
) -> None:
    """Keys from the environment, as in the container: the app starts, answers health and
    readiness, publishes its signing key, and never writes a development secrets file."""
    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", db_url)
    monkeypatch.setenv("REGISTRY_DEV_SECRETS_FILE", str(tmp_path / "dev.json"))
    for name, value in _keys().items():
        monkeypatch.setenv(f"REGISTRY_{name.upper()}", value)

    settings = load_settings()
    assert settings.env == "production"
    assert settings.argon2_memory_kib >= OWASP_ARGON2_MEMORY_KIB
    # Readiness also needs the commission departments (R20), which the reference seed designates.
    engine = make_engine(db_url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        seed_agencies(session, now=T0)
    engine.dispose()
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        jwks = client.get("/.well-known/jwks.json").json()
        assert jwks["keys"][0]["kty"] == "OKP"
        r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 12})
        assert r.status_code == 401
    assert not (tmp_path / "dev.json").exists()


def test_keys_must_be_32_bytes() -> None:
    settings = Settings(env="production", **{**_keys(), "jwt_secret": "c2hvcnQ"})
    with pytest.raises(ConfigurationError, match="32 bytes"):
        _ = settings.jwt_key


def test_signing_key_accepts_pem() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings = Settings(env="production", **{**_keys(), "signing_key": pem})
    assert settings.ed25519_key.public_key().public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )


# --- development ---------------------------------------------------------------------------


def test_development_generates_secrets_once_and_reuses_them(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dev-secrets.json"
    first = Settings(env="development", dev_secrets_file=path).with_dev_secrets()
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == set(SECRET_FIELDS)
    for name in SECRET_FIELDS:
        assert getattr(first, name) == stored[name]
    assert len(first.jwt_key) == len(first.identifier_key_bytes) == 32
    assert len(first.blind_index_key_bytes) == 32
    first.ed25519_key.public_key()  # a usable Ed25519 seed

    content = path.read_bytes()
    second = Settings(env="development", dev_secrets_file=path).with_dev_secrets()
    for name in SECRET_FIELDS:
        assert getattr(second, name) == getattr(first, name)
    assert path.read_bytes() == content, "the file is written once, then only read"


def test_explicit_secrets_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    Settings(env="development", dev_secrets_file=path).with_dev_secrets()
    mine = _key()
    settings = Settings(env="development", dev_secrets_file=path, jwt_secret=mine)
    settings = settings.with_dev_secrets()
    assert settings.jwt_secret == mine
    assert settings.identifier_key == json.loads(path.read_text())["identifier_key"]


def test_all_explicit_secrets_touch_no_file(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    keys = _keys()
    settings = Settings(env="development", dev_secrets_file=path, **keys).with_dev_secrets()
    assert not path.exists()
    assert settings.jwt_secret == keys["jwt_secret"]


def test_a_partial_secrets_file_is_completed_and_keeps_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    kept = _key()
    path.write_text(json.dumps({"jwt_secret": kept}))
    settings = Settings(env="development", dev_secrets_file=path).with_dev_secrets()
    assert settings.jwt_secret == kept
    assert set(json.loads(path.read_text())) == set(SECRET_FIELDS)


def test_development_settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REGISTRY_DEV_SECRETS_FILE", str(tmp_path / "dev.json"))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", "sqlite:///" + str(tmp_path / "x.db"))
    monkeypatch.setenv("REGISTRY_CORS_ORIGINS", '["https://a.example"]')
    monkeypatch.setenv("REGISTRY_ACCESS_TOKEN_MINUTES", "5")
    settings = load_settings()
    assert settings.env == "development"
    assert settings.database_url.endswith("x.db")
    assert settings.cors_origins == ["https://a.example"]
    assert settings.access_token_minutes == 5
    assert (tmp_path / "dev.json").exists()


def test_default_database_is_a_sqlite_file() -> None:
    assert Settings().database_url.startswith("sqlite:///")


def test_readme_documents_every_setting() -> None:
    """The README's configuration table names every field of Settings (a new setting needs a
    line there)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [
        f"REGISTRY_{name.upper()}"
        for name in Settings.model_fields
        if f"`REGISTRY_{name.upper()}`" not in readme
    ]
    assert missing == []
