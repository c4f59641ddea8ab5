"""#18 F7: evaluations come in through ``/imports`` only under the authority
``POST /officials/{id}/evaluations`` asks for (R25): a vetting officer, for the vetting body it
works at. An admin, refused evaluations by the API, records none (and lists nobody) by upload,
by command line, or through a job queued before the rule."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.commands.imports import app as cli
from app.config import Settings
from app.db import unit_of_work
from app.models import Evaluation, ImportJob, Listing
from app.routers import imports as imports_router
from tests.imports.conftest import Importer, World
from tests.imports.support import (
    EVALUATION_HEADER,
    OFFICIAL_HEADER,
    evaluation,
    official,
    to_csv,
)
from tests.registry.builders import make_agency

BASE = "/api/v1/imports"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(autouse=True)
def _routes(app: FastAPI) -> None:
    if not any(getattr(r, "path", "").startswith(BASE) for r in app.routes):
        app.include_router(imports_router.router, prefix="/api/v1")


@pytest.fixture
def person(importer: Importer, world: World) -> str:
    assert importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, [official(1)])).accepted
    return "OFF-1"


def _failed_polygraph(ref: str, n: int = 1, body: str = "C3JAL") -> str:
    return to_csv(EVALUATION_HEADER, [evaluation(n, ref, body=body, results={"polygraph": "fail"})])


def test_an_admin_uploading_a_failed_polygraph_records_nothing_and_lists_nobody(
    client: TestClient, importer: Importer, world: World, person: str
) -> None:
    r = client.post(
        f"{BASE}?kind=evaluations&format=csv",
        content=_failed_polygraph(person).encode(),
        headers={**world.mx_admin.headers, **CSV},
    )
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "VETTING_OFFICER_ONLY"
    assert importer.count(ImportJob) == 1  # the officials' job only
    assert importer.count(Evaluation) == 0
    assert importer.count(Listing) == 0


def test_an_admins_job_queued_before_the_rule_is_refused_row_by_row(
    importer: Importer, world: World, person: str
) -> None:
    with unit_of_work(importer.factory) as session:
        job = ImportJob(
            id=uuid.uuid4(),
            kind="evaluations",
            file_format="csv",
            status="queued",
            filename="old.csv",
            payload=_failed_polygraph(person).encode(),
            country="MX",
            created_by=world.mx_admin.id,
            created_at=importer.clock.now(),
            last_line=0,
            total_rows=0,
            accepted=0,
            rejected=0,
            duplicates=0,
        )
        session.add(job)
    run = importer.run(job.id)
    assert (run.status, run.accepted, run.rejected) == ("completed", 0, 1)
    assert [e[2] for e in run.errors] == ["VETTING_OFFICER_ONLY"]
    assert importer.count(Evaluation) == 0
    assert importer.count(Listing) == 0


def test_a_vetting_officer_imports_only_its_own_bodys_results(
    importer: Importer, world: World, person: str
) -> None:
    make_agency(importer.factory, country="MX", acronym="C3CDMX", can_vet=True)
    text = to_csv(
        EVALUATION_HEADER,
        [
            evaluation(1, person, body="C3CDMX", results={"polygraph": "fail"}),
            evaluation(2, person, body="C3JAL", results={"polygraph": "fail"}),
        ],
    )
    run = importer(world.mx_vetter, "evaluations", text)
    assert (run.accepted, run.rejected) == (1, 1)
    assert [(e[1], e[2]) for e in run.errors] == [("EV-1", "NOT_OWN_VETTING_BODY")]
    with importer.factory() as session:
        got = session.scalars(select(Evaluation)).one()
        listing = session.scalars(select(Listing)).one()
    assert (got.source_ref, got.conducted_by, got.recorded_by) == (
        "EV-2",
        world.mx_vetter_body,
        world.mx_vetter.id,
    )
    assert listing.listed_by == world.mx_vetter_body


def test_the_vetting_officer_uploads_and_follows_its_own_job_only(
    client: TestClient, world: World, person: str, make_user: Any
) -> None:
    r = client.post(
        f"{BASE}?kind=evaluations&format=csv",
        content=_failed_polygraph(person).encode(),
        headers={**world.mx_vetter.headers, **CSV},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # Officials and separations stay with the admins (R25).
    other = client.post(
        f"{BASE}?kind=officials&format=csv",
        content=to_csv(OFFICIAL_HEADER, [official(2)]).encode(),
        headers={**world.mx_vetter.headers, **CSV},
    )
    assert other.status_code == 403
    assert other.json()["code"] == "ROLE_NOT_ADMITTED"
    listed = client.get(BASE, headers=world.mx_vetter.headers).json()["items"]
    assert [j["id"] for j in listed] == [job_id]  # not the admin's officials job
    assert client.get(f"{BASE}/{job_id}", headers=world.mx_admin.headers).status_code == 200
    colleague = make_user("vetting_officer", "MX", agency_id=world.mx_vetter_body)
    assert client.get(f"{BASE}/{job_id}", headers=colleague.headers).status_code == 404
    assert client.get(f"{BASE}/{job_id}", headers=world.us_vetter.headers).status_code == 404


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name in ("database_url", "jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
        monkeypatch.setenv(f"REGISTRY_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("REGISTRY_ARGON2_TIME_COST", "1")


def test_the_command_line_imports_evaluations_as_a_named_vetting_officer(
    env: None, importer: Importer, world: World, person: str, tmp_path: Path
) -> None:
    path = tmp_path / "results.csv"
    path.write_text(_failed_polygraph(person))
    runner = CliRunner()
    system = runner.invoke(cli, ["evaluations", str(path), "--country", "MX", "--quiet"])
    assert system.exit_code != 0
    assert "vetting officer" in system.output
    admin = runner.invoke(cli, ["evaluations", str(path), "--actor", world.mx_admin.username])
    assert admin.exit_code == 1
    assert "vetting officer" in admin.output
    assert importer.count(Evaluation) == 0
    vetter = runner.invoke(
        cli, ["evaluations", str(path), "--actor", world.mx_vetter.username, "--quiet"]
    )
    assert vetter.exit_code == 0, vetter.output
    assert "1 rows: 1 accepted" in vetter.output or "1 accepted" in vetter.output
    assert importer.count(Listing) == 1
