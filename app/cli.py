"""The ``registry`` command line (typer)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated

import typer

from app.auth.passwords import PasswordHasher
from app.auth.principal import Country, Role
from app.clock import Clock
from app.commands import deliver as deliver_commands
from app.commands import imports as import_commands
from app.config import load_settings
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.errors import AppError

app = typer.Typer(help="Binational Vetting Registry administration", no_args_is_help=True)
users_app = typer.Typer(help="Manage users", no_args_is_help=True)
app.add_typer(users_app, name="users")
seed_app = typer.Typer(help="Load reference data", no_args_is_help=True)
app.add_typer(seed_app, name="seed")
app.add_typer(deliver_commands.app, name="deliver")
app.add_typer(import_commands.app, name="import")

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> object:
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (run before serving)."""
    from alembic import command

    settings = load_settings()
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    command.upgrade(alembic_config(settings.database_url), revision)  # type: ignore[arg-type]
    typer.echo(f"database at {revision}")


@users_app.command("create")
def create_user(
    username: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    role: Annotated[list[Role], typer.Option(help="Repeat for several roles")],
    country: Annotated[Country, typer.Option()],
    agency: Annotated[str | None, typer.Option(help="Agency id")] = None,
) -> None:
    """Create a user (the first admin of a country, or a machine client's account)."""
    from app.services.users import create_user as create

    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    try:
        with unit_of_work(factory) as session:
            user = create(
                session,
                actor=None,
                hasher=PasswordHasher(settings),
                username=username,
                password=password,
                roles=[r.value for r in role],
                country=country.value,
                agency_id=uuid.UUID(agency) if agency else None,
                now=Clock().now(),
            )
            typer.echo(f"created user {user.username} ({user.id})")
    except AppError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@seed_app.command("agencies")
def seed_agencies() -> None:
    """Load the reference set of both countries' agencies (idempotent: adds only what is
    missing)."""
    from app.services.agency_seed import seed_agencies as seed

    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with unit_of_work(factory) as session:
        added = seed(session, now=Clock().now())
    typer.echo(f"added {added} agencies")


@app.command()
def sweep(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Record time-driven transitions: validity ends, retest windows, random and draw
    deadlines (R15, R16), and task forces suspended or reinstated by the clock (R19). Safe to
    run repeatedly and from several processes at once."""
    from app.commands.sweep import run as run_revetting_sweep
    from app.services.task_forces import sweep_task_forces

    run_revetting_sweep(as_json=as_json)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        changed = sweep_task_forces(make_sessionmaker(engine), now=Clock().now())
    finally:
        engine.dispose()
    typer.echo(f"task forces: {changed} status transition(s) recorded")


def _today() -> dt.date:
    return Clock().today()


if __name__ == "__main__":  # pragma: no cover
    app()
