"""The revetting part of ``registry sweep`` (R15, R16): run the checks, shape the report.

``registry sweep`` itself is ``app.cli.sweep``: it runs these checks, then the task-force
transitions (R19), then links pending audit events, and prints one report (one JSON document
with ``--json``). ``app`` here is a standalone typer with ``run`` for the revetting checks
alone. Safe to run repeatedly and from several machines at once (see
``app.services.revetting.sweep``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from app.clock import Clock
from app.config import load_settings
from app.db import make_engine, make_sessionmaker
from app.services.revetting.sweep import SweepReport, run_sweep

app = typer.Typer(help="Record time-driven transitions (validity ends, deadlines)")


@app.callback()
def sweep() -> None:
    """Record time-driven transitions (validity ends, retest windows, random and draw
    deadlines) once each; safe to run repeatedly and concurrently."""


def report_fields(report: SweepReport) -> dict[str, Any]:
    """The revetting report as JSON-ready fields (``now``, ``found``, ``recorded``)."""
    return {"now": report.now.isoformat(), "found": report.found, "recorded": report.recorded}


def report_lines(report: SweepReport) -> list[str]:
    """The revetting report as text, one line per check and a total."""
    lines = [
        f"{name}: {report.found[name]} found, {report.recorded[name]} new" for name in report.checks
    ]
    lines.append(f"recorded {report.total_recorded} new transition(s)")
    return lines


@app.command("run")
def run(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Run every revetting check once and report what was newly recorded."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        report = run_sweep(make_sessionmaker(engine), now=Clock().now())
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report_fields(report), sort_keys=True))
        return
    for line in report_lines(report):
        typer.echo(line)
