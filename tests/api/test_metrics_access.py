"""Who may read ``/metrics`` (#19; docs/operations.md): request counts and latencies per route
are reconnaissance, so production closes it by default. ``REGISTRY_METRICS_PUBLIC`` opens or
closes it (unset: open outside production, closed in production); when closed, a scraper sends
``Authorization: Bearer <REGISTRY_METRICS_TOKEN>``, or an admin or auditor its own credentials.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.config import Settings
from tests.api.test_conventions import assert_problem

SCRAPE_TOKEN = "scrape-" + "s3cr3t" * 6
METRICS = "/metrics"


@pytest.fixture
def settings(request: pytest.FixtureRequest, base_settings: Settings, db_url: str) -> Settings:
    """The suite's settings, with the metrics settings a test asks for (indirect)."""
    extra: dict[str, Any] = getattr(request, "param", {})
    return base_settings.model_copy(update={"database_url": db_url, **extra})


CLOSED = {"metrics_public": False, "metrics_token": SecretStr(SCRAPE_TOKEN)}
CLOSED_NO_TOKEN = {"metrics_public": False}


def _is_metrics(response: Any) -> bool:
    return response.status_code == 200 and "http_requests_total" in response.text


@pytest.mark.parametrize("settings", [{}, {"metrics_public": True}], indirect=True)
def test_open_metrics_need_no_credentials(client: TestClient) -> None:
    client.get("/healthz")
    assert _is_metrics(client.get(METRICS))


@pytest.mark.parametrize("settings", [CLOSED], indirect=True)
def test_closed_metrics_refuse_anonymous_callers(client: TestClient) -> None:
    response = client.get(METRICS)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "http_requests_total" not in response.text


@pytest.mark.parametrize("settings", [CLOSED, CLOSED_NO_TOKEN], indirect=True)
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        "Bearer " + SCRAPE_TOKEN[:-1],
        "Bearer " + SCRAPE_TOKEN + "x",
        "Basic " + base64.b64encode(f"x:{SCRAPE_TOKEN}".encode()).decode(),
        SCRAPE_TOKEN,
    ],
)
def test_closed_metrics_refuse_a_wrong_token(client: TestClient, authorization: str) -> None:
    response = client.get(METRICS, headers={"Authorization": authorization})
    assert_problem(response, 401)


@pytest.mark.parametrize("settings", [CLOSED], indirect=True)
def test_closed_metrics_admit_the_scrape_token(client: TestClient) -> None:
    response = client.get(METRICS, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert _is_metrics(response), response.text


@pytest.mark.parametrize("settings", [CLOSED, CLOSED_NO_TOKEN], indirect=True)
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin", 200),
        ("auditor", 200),
        ("vetting_officer", 403),
        ("personnel_officer", 403),
        ("task_force_lead", 403),
        ("commission_member", 403),
    ],
)
def test_closed_metrics_admit_admins_and_auditors_only(
    client: TestClient, make_user: Any, role: str, status: int
) -> None:
    response = client.get(METRICS, headers=make_user(role).headers)
    if status == 200:
        assert _is_metrics(response), response.text
    else:
        assert_problem(response, status)


def test_metrics_are_closed_by_default_in_production_only(base_settings: Settings) -> None:
    production = base_settings.model_copy(update={"env": "production"})
    assert not production.metrics_open
    assert base_settings.model_copy(update={"env": "development"}).metrics_open
    assert base_settings.metrics_open  # test
    forced = production.model_copy(update={"metrics_public": True})
    assert forced.metrics_open


def test_the_metrics_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_METRICS_PUBLIC", "false")
    monkeypatch.setenv("REGISTRY_METRICS_TOKEN", SCRAPE_TOKEN)
    settings = Settings(env="test")
    assert not settings.metrics_open
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == SCRAPE_TOKEN
    assert SCRAPE_TOKEN not in repr(settings)


def test_a_short_metrics_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_METRICS_TOKEN", "short")
    with pytest.raises(ValueError, match="REGISTRY_METRICS_TOKEN"):
        Settings(env="test")
