"""The ``registry`` command line (typer)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Annotated

import typer

from app.auth.passwords import PasswordHasher
from app.clock import Clock
from app.commands import deliver as deliver_commands
from app.commands import imports as import_commands
from app.commands import sweep as sweep_commands
from app.config import ConfigurationError, load_settings
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.domain.access import Country, Role
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


def _prepare_storage(database_url: str, *, min_free_bytes: int) -> None:
    """For SQLite: create the database's directory, then refuse a store that cannot be written
    (a read-only file or directory, a full disk) with ``ConfigurationError``, as the server
    refuses to start on one. PostgreSQL is left to the migration itself."""
    from sqlalchemy.engine import make_url

    from app.main import check_storage

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(str(url.database).removeprefix("file:").split("?", 1)[0])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"the directory of the SQLite database {path} cannot be created "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    engine = make_engine(database_url)
    try:
        check_storage(engine, min_free_bytes=min_free_bytes)
    finally:
        engine.dispose()


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (run before serving). Exits 2 with one line on standard
    error when the database cannot be written (read-only SQLite file or directory, full
    disk)."""
    from alembic import command
    from sqlalchemy.exc import OperationalError

    settings = load_settings()
    try:
        _prepare_storage(settings.database_url, min_free_bytes=settings.storage_min_free_bytes)
        command.upgrade(alembic_config(settings.database_url), revision)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except OperationalError as exc:
        # The first line of the driver's message: the rest may quote SQL.
        reason = (str(exc.orig).strip().splitlines() or [""])[0] if exc.orig else ""
        typer.echo(
            f"error: the database cannot be migrated ({type(exc.orig or exc).__name__}: {reason})",
            err=True,
        )
        raise typer.Exit(code=2) from None
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
    from app.services.accounts.users import create_user as create

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
    from app.services.registry.agency_seed import seed_agencies as seed

    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with unit_of_work(factory) as session:
        added = seed(session, now=Clock().now())
    typer.echo(f"added {added} agencies")


@app.command()
def sweep(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON document")
    ] = False,
) -> None:
    """Record time-driven transitions: validity ends, retest windows, random and draw
    deadlines (R15, R16), and task forces suspended or reinstated by the clock (R19). Safe to
    run repeatedly and from several processes at once. With --json, standard output is one
    JSON document; warnings and logs go to standard error."""
    from app.services.audit.audit import chain
    from app.services.revetting.sweep import run_sweep
    from app.services.task_forces.task_forces import sweep_task_forces

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        now = Clock().now()
        report = run_sweep(factory, now=now)
        changed = sweep_task_forces(factory, now=now)
        # Audit events whose chaining failed after their commit are linked here at the latest
        # (also by any later write and by GET /audit/verify; docs/security.md, 3.7).
        linked = chain(factory)
    finally:
        engine.dispose()
    if as_json:
        document = {
            **sweep_commands.report_fields(report),
            "task_forces": {"transitions": changed},
            "audit": {"linked": linked},
        }
        typer.echo(json.dumps(document, sort_keys=True))
        return
    for line in sweep_commands.report_lines(report):
        typer.echo(line)
    typer.echo(f"task forces: {changed} status transition(s) recorded")
    if linked:
        typer.echo(f"audit: {linked} pending event(s) linked into the chain")


def _today() -> dt.date:
    return Clock().today()


if __name__ == "__main__":  # pragma: no cover
    app()
