"""``registry deliver --once``: the worker command, configured by the environment only."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.commands.deliver import app as deliver_app
from app.db import unit_of_work
from app.models import Notification
from app.services.notifications.notifications import enqueue_deliveries
from tests.conftest import T0


def test_deliver_once_posts_what_is_due(
    client: TestClient,
    factory: Any,
    settings: Any,
    world: dict[str, Any],
    receivers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receivers()
    r = client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=world["us_hr"].headers)
    receiver.secret = r.json()["secret"]
    with unit_of_work(factory) as session:
        note = Notification(
            agency_id=world["us_fbi"],
            country="US",
            kind="listing.listed",
            payload={},
            created_at=T0,
        )
        session.add(note)
        session.flush()
        enqueue_deliveries(session, [note], now=T0)

    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", settings.database_url)
    # The receiver is on 127.0.0.1, refused by default (SSRF, docs/security.md).
    monkeypatch.setenv("REGISTRY_WEBHOOK_ALLOW_PRIVATE_HOSTS", "true")
    for key in ("jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
        monkeypatch.setenv(f"REGISTRY_{key.upper()}", getattr(settings, key))

    result = CliRunner().invoke(deliver_app, ["--once"])
    assert result.exit_code == 0, result.output
    assert "attempted 1 deliveries" in result.output
    (request,) = receiver.requests
    assert request.signature_ok is True  # the real clock: the receiver checks against now
    again = CliRunner().invoke(deliver_app, ["--once"])
    assert "attempted 0 deliveries" in again.output
