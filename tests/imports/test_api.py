"""``/api/v1/imports``: upload → 202 → the job runs outside the request → status and the
per-row report, paged; admins only, own country only (R23-R25)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.routers import imports as imports_router
from tests.imports.conftest import World
from tests.imports.support import OFFICIAL_HEADER, official, to_csv

BASE = "/api/v1/imports"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(autouse=True)
def _routes(app: FastAPI) -> None:
    """Mount the router unless app.main already does."""
    if not any(getattr(r, "path", "").startswith(BASE) for r in app.routes):
        app.include_router(imports_router.router, prefix="/api/v1")


def _wait(client: TestClient, job_id: str, headers: dict[str, str], **params: Any) -> Any:
    deadline = time.monotonic() + 60
    while True:
        r = client.get(f"{BASE}/{job_id}", headers=headers, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in {"completed", "failed"}:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_upload_runs_in_the_background_and_reports_rows(client: TestClient, world: World) -> None:
    rows = [official(n) for n in range(5)]
    rows[1]["curp"] = "NOT-A-CURP"
    rows[3]["agency"] = "NOPE"
    r = client.post(
        f"{BASE}?kind=officials&format=csv&filename=roster.csv",
        content=to_csv(OFFICIAL_HEADER, rows).encode(),
        headers={**world.mx_admin.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["kind"], job["format"], job["country"]) == ("officials", "csv", "MX")
    assert job["filename"] == "roster.csv"

    done = _wait(client, job["id"], world.mx_admin.headers, limit=1)
    assert done["status"] == "completed"
    assert (done["accepted"], done["rejected"], done["duplicates"]) == (3, 2, 0)
    assert done["total_rows"] == 5
    first = done["errors"]["items"]
    assert [(e["line"], e["source_ref"], e["code"]) for e in first] == [
        (3, "OFF-1", "CURP_INVALID_FORMAT")
    ]
    r = client.get(
        f"{BASE}/{job['id']}",
        headers=world.mx_admin.headers,
        params={"limit": 1, "cursor": done["errors"]["next_cursor"]},
    )
    page = r.json()["errors"]
    assert [(e["line"], e["code"]) for e in page["items"]] == [(5, "AGENCY_NOT_FOUND")]
    assert page["next_cursor"] is None

    listed = client.get(BASE, headers=world.mx_admin.headers).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    officials = client.get("/api/v1/officials", headers=world.mx_admin.headers).json()
    assert len(officials["items"]) == 3


def test_ndjson_upload(client: TestClient, world: World) -> None:
    text = "".join(json.dumps(official(n)) + "\n" for n in range(3))
    r = client.post(
        f"{BASE}?kind=officials&format=ndjson",
        content=text.encode(),
        headers={**world.mx_admin.headers, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 202, r.text
    assert _wait(client, r.json()["id"], world.mx_admin.headers)["accepted"] == 3


def test_only_admins_and_only_their_own_country(
    client: TestClient, world: World, make_user: Any
) -> None:
    hr = make_user("personnel_officer", "MX", agency_id=world.mx_police)
    body = to_csv(OFFICIAL_HEADER, [official(0)]).encode()
    r = client.post(
        f"{BASE}?kind=officials&format=csv", content=body, headers={**hr.headers, **CSV}
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post(f"{BASE}?kind=officials&format=csv", content=body, headers=CSV)
    assert r.status_code == 401

    r = client.post(
        f"{BASE}?kind=officials&format=csv", content=body, headers={**world.mx_admin.headers, **CSV}
    )
    job_id = r.json()["id"]
    _wait(client, job_id, world.mx_admin.headers)
    assert client.get(f"{BASE}/{job_id}", headers=world.us_admin.headers).status_code == 404
    assert client.get(f"{BASE}/{job_id}", headers={**hr.headers, **CSV}).status_code == 403
    assert client.get(BASE, headers=world.us_admin.headers).json()["items"] == []


def test_bad_requests_are_problems_not_errors(client: TestClient, world: World) -> None:
    h = {**world.mx_admin.headers, **CSV}
    r = client.post(f"{BASE}?kind=officials&format=csv", content=b"  \n", headers=h)
    assert (r.status_code, r.json()["code"]) == (422, "IMPORT_EMPTY")
    r = client.post(f"{BASE}?kind=people&format=csv", content=b"x", headers=h)
    assert r.status_code == 422
    r = client.post(f"{BASE}?kind=officials&format=xlsx", content=b"x", headers=h)
    assert r.status_code == 422
    r = client.get(f"{BASE}/not-a-uuid", headers=h)
    assert r.status_code == 422
    r = client.get(f"{BASE}/00000000-0000-0000-0000-000000000000", headers=h)
    assert r.status_code == 404
    # A file that cannot be read at all fails the job, with a reason.
    r = client.post(f"{BASE}?kind=officials&format=csv", content=b"shoe_size\n42\n", headers=h)
    failed = _wait(client, r.json()["id"], h)
    assert failed["status"] == "failed"
    assert "unknown columns" in failed["error"]


def test_upload_limit(client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports_router, "max_upload_bytes", lambda settings: 100)
    r = client.post(
        f"{BASE}?kind=officials&format=csv",
        content=b"x" * 101,
        headers={**world.mx_admin.headers, **CSV},
    )
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")

    def chunks() -> Any:
        yield b"x" * 60
        yield b"x" * 60

    r = client.post(
        f"{BASE}?kind=officials&format=csv",
        content=chunks(),
        headers={**world.mx_admin.headers, **CSV},
    )
    assert r.status_code == 413


def test_idempotency_key_returns_the_same_job(client: TestClient, world: World) -> None:
    body = to_csv(OFFICIAL_HEADER, [official(0)]).encode()
    h = {**world.mx_admin.headers, **CSV, "Idempotency-Key": "roster-2026-11"}
    first = client.post(f"{BASE}?kind=officials&format=csv", content=body, headers=h)
    again = client.post(f"{BASE}?kind=officials&format=csv", content=body, headers=h)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = client.post(f"{BASE}?kind=separations&format=csv", content=body, headers=h)
    assert other.status_code == 422
    _wait(client, first.json()["id"], world.mx_admin.headers)
