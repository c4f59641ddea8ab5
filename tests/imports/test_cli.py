"""``registry import …`` (app.commands.imports) driven through typer's CliRunner."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.clock import Clock
from app.commands.imports import app as cli
from app.config import Settings
from app.db import unit_of_work
from app.models import ImportJob, Official, User
from app.services.imports import imports as import_service
from tests.imports.conftest import Importer, World
from tests.imports.support import OFFICIAL_HEADER, official, to_csv, to_ndjson


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The command line reads the same database and keys as the test app, from REGISTRY_*."""
    for name in ("database_url", "jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
        monkeypatch.setenv(f"REGISTRY_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("REGISTRY_ARGON2_TIME_COST", "1")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_import_officials_as_an_admin(
    env: None, world: World, importer: Importer, tmp_path: Path
) -> None:
    rows = [official(n) for n in range(4)]
    rows[2]["curp"] = "BAD"
    path = tmp_path / "roster.csv"
    path.write_text(to_csv(OFFICIAL_HEADER, rows))
    result = run("officials", str(path), "--actor", world.mx_admin.username, "--quiet")
    assert result.exit_code == 0, result.output
    assert "completed; 4 rows: 3 accepted, 1 rejected, 0 duplicates" in result.output
    assert "line 4 [OFF-2] CURP_INVALID_FORMAT" in result.output
    assert importer.count(Official) == 3

    again = run("officials", str(path), "--actor", world.mx_admin.username, "--quiet")
    assert "0 accepted, 1 rejected, 3 duplicates" in again.output
    assert importer.count(Official) == 3


def test_import_as_the_system_importer_with_a_progress_bar(
    env: None, world: World, importer: Importer, tmp_path: Path
) -> None:
    path = tmp_path / "roster.ndjson"
    path.write_text(to_ndjson([official(n) for n in range(3)]))
    result = run("officials", str(path), "--country", "MX")
    assert result.exit_code == 0, result.output
    assert "3 accepted" in result.output
    with importer.factory() as session:
        user = session.scalars(select(User).where(User.username == "system-import-mx")).one()
        assert (user.is_active, user.roles, user.country) == (False, ["admin"], "MX")
        job = session.scalars(select(ImportJob)).one()
        assert (job.created_by, job.payload, job.filename) == (user.id, None, str(path))


def test_the_command_needs_an_actor_and_a_known_format(
    env: None, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(to_csv(OFFICIAL_HEADER, [official(0)]))
    assert run("officials", str(path)).exit_code == 2
    assert run("officials", str(path), "--actor", "nobody").exit_code == 1
    odd = tmp_path / "roster.txt"
    odd.write_text("x")
    assert run("officials", str(odd), "--country", "MX").exit_code == 2
    result = run("officials", str(path), "--country", "US", "--actor", world.mx_admin.username)
    assert result.exit_code == 2


def test_resume_finishes_an_interrupted_job(
    env: None, world: World, importer: Importer, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(to_csv(OFFICIAL_HEADER, [official(n) for n in range(7)]))
    with unit_of_work(importer.factory) as session:
        user = session.get(User, world.mx_admin.id)
        assert user is not None
        job = import_service.create_job(
            session,
            actor=import_service.principal_of(user),
            kind="officials",
            file_format="csv",
            payload=None,
            filename=str(path),
            now=Clock().now(),
        )
        job_id = job.id
    with pytest.raises(import_service.ImportInterrupted):
        import_service.run_job(
            importer.factory,
            job_id=job_id,
            settings=settings,
            clock=Clock(),
            batch_size=2,
            stop_after_batches=2,
        )
    assert importer.count(Official) == 4
    held = run("resume", str(job_id), "--quiet")
    assert held.exit_code == 1
    assert "Another process is running this import" in held.output
    done = run("resume", str(job_id), "--force", "--quiet", "--batch-size", "2")
    assert done.exit_code == 0, done.output
    assert "completed; 7 rows: 7 accepted, 0 rejected, 0 duplicates" in done.output
    assert importer.count(Official) == 7
    status = run("status", str(job_id))
    assert "completed" in status.output
    assert run("status", str(uuid.uuid4())).exit_code == 1


def test_worker_processes_prepare_rows(world: World, importer: Importer, tmp_path: Path) -> None:
    """The command line's parallel path: rows validated in worker processes give the same
    result as in-process validation."""
    rows = [official(n) for n in range(9)]
    rows[5]["curp"] = "BAD"
    job_id = importer.queue(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows))
    run_ = importer.run(job_id, batch_size=2, workers=2)
    assert (run_.status, run_.accepted, run_.rejected) == ("completed", 8, 1)
    assert [e[:3] for e in run_.errors] == [(7, "OFF-5", "CURP_INVALID_FORMAT")]
    assert importer.count(Official) == 8
