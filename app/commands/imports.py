"""``registry import``: bulk import from the command line (docs/import.md).

Wire it into the command line with ``app.add_typer(imports.app, name="import")``.

``registry import officials FILE`` queues a job naming the file (the file is read from disk, not
copied into the database) and runs it here with a progress bar; ``registry import resume
JOB_ID`` finishes a job that stopped, whether it was started here or uploaded through the API.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, sessionmaker

from app.auth.passwords import PasswordHasher
from app.clock import Clock
from app.config import Settings, load_settings
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.domain.access import Country
from app.errors import AppError
from app.models import ImportJob, ImportRowError
from app.schemas.imports import ImportFormat, ImportKind
from app.services.imports import imports as import_service
from app.services.imports.import_rows import FileError

app = typer.Typer(
    help="Bulk import of officials, evaluations and separations (docs/import.md)",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or NDJSON file")
]
FormatOpt = Annotated[
    ImportFormat | None,
    typer.Option("--format", help="csv or ndjson (default: from the file's extension)"),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        help="Username the import runs as: an admin (officials, separations; default: the "
        "system importer) or, for evaluations (required), a vetting officer of the body that "
        "conducted them"
    ),
]
CountryOpt = Annotated[
    Country | None,
    typer.Option(help="Country of the system importer (needed without --actor)"),
]
BatchOpt = Annotated[
    int,
    typer.Option(min=1, max=import_service.MAX_BATCH_SIZE, help="Rows per transaction"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")]
WorkersOpt = Annotated[
    int,
    typer.Option(
        min=0, max=32, help="Processes that validate rows while this one writes (0: in-process)"
    ),
]


def _factory(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings.database_url, pool_size=2)
    factory = make_sessionmaker(engine)
    factory.configure(info={"settings": settings})
    return factory


def _guess_format(path: Path, given: ImportFormat | None) -> ImportFormat:
    if given is not None:
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ImportFormat.CSV
    if suffix in {".ndjson", ".jsonl"}:
        return ImportFormat.NDJSON
    typer.echo("error: cannot tell the format from the file name; pass --format", err=True)
    raise typer.Exit(code=2)


def _drive(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    job_id: uuid.UUID,
    source_path: Path | None,
    batch_size: int,
    quiet: bool,
    workers: int = 0,
    force: bool = False,
) -> None:
    clock = Clock()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=quiet, transient=False) as bar:
        task = bar.add_task(f"import {job_id}", total=None, rows=0)

        def report(p: import_service.Progress) -> None:
            bar.update(task, completed=p.bytes_read, total=p.total_bytes, rows=p.total_rows)

        try:
            final = import_service.run_job(
                factory,
                job_id=job_id,
                settings=settings,
                clock=clock,
                batch_size=batch_size,
                source_path=source_path,
                on_progress=report,
                force=force,
                workers=workers,
            )
        except (AppError, FileError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
        if final.total_bytes is not None:
            bar.update(task, completed=final.total_bytes, total=final.total_bytes)
    _summary(factory, job_id)


def _summary(factory: sessionmaker[Session], job_id: uuid.UUID) -> None:
    with factory() as session:
        job = session.get(ImportJob, job_id, options=[defer(ImportJob.payload)])
        assert job is not None
        typer.echo(
            f"import {job.id}: {job.status}; {job.total_rows} rows: {job.accepted} accepted, "
            f"{job.rejected} rejected, {job.duplicates} duplicates (last line {job.last_line})"
        )
        if job.error:
            typer.echo(f"error: {job.error}", err=True)
        errors = session.scalars(
            select(ImportRowError)
            .where(ImportRowError.job_id == job_id)
            .order_by(ImportRowError.id)
            .limit(20)
        ).all()
        for e in errors:
            typer.echo(f"  line {e.line} [{e.source_ref or '-'}] {e.code}: {e.reason}")
        if job.rejected > len(errors):
            typer.echo(f"  … and {job.rejected - len(errors)} more (GET /api/v1/imports/{job.id})")


def _start(
    kind: ImportKind,
    file: Path,
    file_format: ImportFormat | None,
    actor: str | None,
    country: Country | None,
    batch_size: int,
    quiet: bool,
    workers: int,
) -> None:
    fmt = _guess_format(file, file_format)
    settings = load_settings()
    factory = _factory(settings)
    now = Clock().now()
    try:
        with unit_of_work(factory) as session:
            if actor is not None:
                principal = import_service.actor_by_username(
                    session, actor, country.value if country is not None else None
                )
                if country is not None and country.value != principal.country:
                    raise typer.BadParameter("--country differs from the actor's country")
            elif kind == ImportKind.EVALUATIONS:
                # R25, #18 F7: the system importer is an admin of no vetting body; results are
                # authored by a vetting officer, who must be named.
                raise typer.BadParameter(
                    "evaluations are imported as a vetting officer: name one with --actor"
                )
            elif country is not None:
                principal = import_service.system_actor(
                    session, country=country.value, hasher=PasswordHasher(settings), now=now
                )
            else:
                raise typer.BadParameter("name an admin with --actor, or a --country")
            job = import_service.create_job(
                session,
                actor=principal,
                kind=kind.value,
                file_format=fmt.value,
                payload=None,
                filename=str(file.resolve()),
                now=now,
            )
            job_id = job.id
    except AppError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"import {job_id} queued ({kind.value}, {fmt.value})")
    _drive(
        factory,
        settings=settings,
        job_id=job_id,
        source_path=file,
        batch_size=batch_size,
        quiet=quiet,
        workers=workers,
    )


@app.command()
def officials(
    file: FileArg,
    file_format: FormatOpt = None,
    actor: ActorOpt = None,
    country: CountryOpt = None,
    batch_size: BatchOpt = import_service.DEFAULT_BATCH_SIZE,
    quiet: QuietOpt = False,
    workers: WorkersOpt = 0,
) -> None:
    """Import officials with their identifiers and first appointment (R1, R2)."""
    _start(ImportKind.OFFICIALS, file, file_format, actor, country, batch_size, quiet, workers)


@app.command()
def evaluations(
    file: FileArg,
    file_format: FormatOpt = None,
    actor: ActorOpt = None,
    country: CountryOpt = None,
    batch_size: BatchOpt = import_service.DEFAULT_BATCH_SIZE,
    quiet: QuietOpt = False,
    workers: WorkersOpt = 0,
) -> None:
    """Import vetting results as the vetting officer named by --actor, for its own vetting body;
    fails and refusals list the official (R5, R7, R25)."""
    _start(ImportKind.EVALUATIONS, file, file_format, actor, country, batch_size, quiet, workers)


@app.command()
def separations(
    file: FileArg,
    file_format: FormatOpt = None,
    actor: ActorOpt = None,
    country: CountryOpt = None,
    batch_size: BatchOpt = import_service.DEFAULT_BATCH_SIZE,
    quiet: QuietOpt = False,
    workers: WorkersOpt = 0,
) -> None:
    """Import separations; for-cause ones list the official (R4)."""
    _start(ImportKind.SEPARATIONS, file, file_format, actor, country, batch_size, quiet, workers)


@app.command()
def resume(
    job_id: Annotated[uuid.UUID, typer.Argument(help="The job to finish")],
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            help="The file, if it has moved since the job was queued",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Take the job even if another runner's lease has not expired"),
    ] = False,
    batch_size: BatchOpt = import_service.DEFAULT_BATCH_SIZE,
    quiet: QuietOpt = False,
    workers: WorkersOpt = 0,
) -> None:
    """Finish a job that stopped (a crash, a failure, a server restart): it continues after
    its last committed line, and rows already stored count as duplicates."""
    settings = load_settings()
    factory = _factory(settings)
    _drive(
        factory,
        settings=settings,
        job_id=job_id,
        source_path=file,
        batch_size=batch_size,
        quiet=quiet,
        workers=workers,
        force=force,
    )


@app.command()
def status(job_id: Annotated[uuid.UUID, typer.Argument(help="The job")]) -> None:
    """Show a job's status, counts and first rejected rows."""
    settings = load_settings()
    factory = _factory(settings)
    with factory() as session:
        if session.scalar(select(ImportJob.id).where(ImportJob.id == job_id)) is None:
            typer.echo("error: no such import", err=True)
            raise typer.Exit(code=1)
    _summary(factory, job_id)
