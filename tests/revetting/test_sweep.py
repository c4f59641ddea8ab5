"""The sweep records each time-driven transition once, also when run concurrently; the
``registry sweep`` command drives it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.commands.sweep import app as sweep_cli
from app.db import unit_of_work
from app.models import AuditEvent, SweepEvent, VettingPolicy
from app.services.revetting.sweep import Finding, record_findings, register_check, run_sweep
from tests.revetting.conftest import add_evaluation, add_official


def _events(factory) -> list[tuple[str, str]]:
    with unit_of_work(factory) as session:
        return sorted(session.execute(select(SweepEvent.kind, SweepEvent.dedupe_key)).all())


def test_concurrent_sweeps_record_each_transition_once(factory, world, clock):
    expired = add_official(factory, world.mx_police)
    add_evaluation(factory, expired, world.mx_c3, conducted_on=dt.date(2023, 1, 1))
    retest = add_official(factory, world.mx_police)
    add_evaluation(
        factory, retest, world.mx_c3, outcome="inconclusive", conducted_on=dt.date(2026, 6, 1)
    )
    current = add_official(factory, world.mx_police)
    add_evaluation(factory, current, world.mx_c3, conducted_on=dt.date(2026, 6, 1))
    add_official(factory, world.mx_police)  # never vetted: not a time-driven transition

    barrier = threading.Barrier(3)
    reports, errors = [], []

    def sweep() -> None:
        try:
            barrier.wait(timeout=30)
            reports.append(run_sweep(factory, now=clock.now()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(r.total_recorded for r in reports) == 2
    kinds = [k for k, _ in _events(factory)]
    assert kinds == ["retest_overdue", "validity_expired"]
    with unit_of_work(factory) as session:
        # Defaults were seeded once despite three racing sweeps.
        assert session.scalar(select(func.count()).select_from(VettingPolicy)) == 6
        audited = session.scalar(select(func.count()).where(AuditEvent.action == "sweep.recorded"))
    assert audited >= 1
    # A later day finds nothing new until something else changes.
    clock.advance(dt.timedelta(days=1))
    assert run_sweep(factory, now=clock.now()).total_recorded == 0


def test_checks_are_extensible(factory, clock, monkeypatch):
    from app.services.revetting import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "CHECKS", list(sweep_module.CHECKS))

    @register_check
    def task_force_check(session, *, now):
        return [Finding(dedupe_key="tf:1", kind="task_force_suspended", effective_on=now.date())]

    assert run_sweep(factory, now=clock.now()).recorded["task_force_check"] == 1
    assert run_sweep(factory, now=clock.now()).recorded["task_force_check"] == 0
    with unit_of_work(factory) as session:
        again = [
            Finding(dedupe_key="tf:1", kind="task_force_suspended", effective_on=clock.now().date())
        ]
        assert record_findings(session, again, now=clock.now()) == 0


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> str:
    import os

    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", db_url)
    monkeypatch.setenv("REGISTRY_DEV_SECRETS_FILE", str(tmp_path / "dev-secrets.json"))
    return db_url


def test_sweep_command(cli_env: str, factory, world) -> None:
    expired = add_official(factory, world.mx_police)
    add_evaluation(factory, expired, world.mx_c3, conducted_on=dt.date(2000, 1, 1))
    result = CliRunner().invoke(sweep_cli, ["run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["recorded"]["overdue_obligations_check"] == 1
    result = CliRunner().invoke(sweep_cli, ["run"])
    assert result.exit_code == 0, result.output
    assert "recorded 0 new transition(s)" in result.output
