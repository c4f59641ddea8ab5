"""``registry sweep``: record time-driven transitions (R15, R16, R19).

Wire it with ``app.add_typer(sweep.app, name="sweep")`` to get ``registry sweep run``. Safe to
run repeatedly and from several machines at once (see ``app.services.sweep``), e.g. from cron.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.clock import Clock
from app.config import load_settings
from app.db import make_engine, make_sessionmaker
from app.services.sweep import run_sweep

app = typer.Typer(help="Record time-driven transitions (validity ends, deadlines)")


@app.callback()
def sweep() -> None:
    """Record time-driven transitions (validity ends, retest windows, random and draw
    deadlines) once each; safe to run repeatedly and concurrently."""


@app.command("run")
def run(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Run every sweep check once and report what was newly recorded."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        report = run_sweep(make_sessionmaker(engine), now=Clock().now())
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "now": report.now.isoformat(),
                    "found": report.found,
                    "recorded": report.recorded,
                },
                sort_keys=True,
            )
        )
        return
    for name in report.checks:
        typer.echo(f"{name}: {report.found[name]} found, {report.recorded[name]} new")
    typer.echo(f"recorded {report.total_recorded} new transition(s)")


def sweep_command() -> None:
    """The same as ``run`` with defaults, for wiring as a plain ``@app.command("sweep")``."""
    run(as_json=False)
