"""Bulk import of officials, evaluations and separations (docs/import.md).

Every row is judged by the API's rules: the request models and R1 identifier checks
(``services.import_rows``), R5 outcome derivation under the resolved policy
(``services.outcome.derive_outcome``, ``services.policy.resolve_policy``), R25 recorder rules,
and R4/R7 listings through ``services.listings.open_listing`` and
``services.appointments.record_separation`` exactly as the API calls them. A rejected row is
reported with its line and the API's code and writes nothing.

What differs is how accepted rows are written. Officials and evaluations go in batches (1,000
rows by default): one COPY per table on PostgreSQL (one multi-row INSERT elsewhere), a single
``import.batch`` audit event per batch (counts only, no identifiers: R22), listings opened one by
one for the rows that cause them, and the task forces whose members the batch touched
re-derived once (R19). A for-cause separation goes through ``record_separation`` itself, in a
savepoint; the others only end an appointment and are written in bulk. The CPU-bound part
(validating and preparing rows) can run in worker processes ahead of the writer.

Idempotency and resumption: every row carries the source system's own record id
(``source_ref``, unique per table). A row whose id is already stored counts as a duplicate and
is skipped, so re-running a file adds nothing. Each batch commits together with the job's
``last_line`` and counters, so a job that stops anywhere resumes after its last committed batch
and re-reads nothing twice; the ``source_ref`` check covers any other overlap.

Several processes may try to run one job: a runner holds a lease (``locked_until``) renewed at
every batch, and each batch locks the job row and checks that ``last_line`` is still where it
left it, so exactly one runner commits each batch.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import multiprocessing
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, any_, bindparam, exists, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, defer, sessionmaker

from app.auth.passwords import PasswordHasher
from app.clock import Clock
from app.config import Settings
from app.db import after_commit, unit_of_work
from app.domain.access import Principal, Role
from app.domain.dates import add_months
from app.domain.outcome import Outcome, derive_outcome
from app.domain.vocabulary import FOR_CAUSE_REASONS
from app.errors import AppError, Conflict, Forbidden, NotFound
from app.models import (
    Agency,
    Appointment,
    Evaluation,
    ImportJob,
    ImportRowError,
    Listing,
    Official,
    OfficialIdentifier,
    OfficialNameKey,
    Separation,
    TaskForce,
    TaskForceMember,
    TaskForceNomination,
    User,
)
from app.schemas.imports import ImportFormat, ImportKind, ImportStatus
from app.services.audit import audit
from app.services.imports.import_rows import (
    APPOINTMENT_COLS,
    IDENTIFIER_COLS,
    NAME_KEY_COLS,
    OFFICIAL_COLS,
    AgencyCatalog,
    AgencyFacts,
    EvaluationRow,
    FileError,
    OfficialBatch,
    OfficialMeta,
    PrepareContext,
    Prepared,
    PreparedBatch,
    PreparedOfficial,
    Record,
    Rejected,
    RowError,
    SeparationRow,
    app_error,
    copy_line,
    copy_text,
    init_worker,
    prepare_batch,
    prepare_in_worker,
    read_records,
)
from app.services.registry.listings import open_listing
from app.services.registry.officials import check_personnel_scope
from app.services.revetting.evaluations import LISTING_BASIS, is_currently_vetted
from app.services.revetting.policy import Policy, resolve_policy
from app.services.screening.screening import (
    GateScreening,
    Match,
    RegistrationIdentity,
    keep_gate_batch,
    screen_registrations,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 5000
LEASE = dt.timedelta(minutes=5)
# An upload is kept in the job row (any process can run it); this bounds one request.
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
BATCH_RETRIES = 3
SYSTEM_USER_PREFIX = "system-import-"


class ImportInterrupted(Exception):
    """Raised by ``run_job(stop_after_batches=...)``: the runner stops as a crash would,
    leaving the job ``running`` under its lease (tests of resumption)."""


class JobTakenOver(Conflict):
    code = "IMPORT_TAKEN_OVER"


@dataclass
class Progress:
    """What a runner reports after each batch."""

    job_id: uuid.UUID
    bytes_read: int
    total_bytes: int | None
    last_line: int
    total_rows: int
    accepted: int
    rejected: int
    duplicates: int


@dataclass
class _Counts:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    listings: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, source_ref: str | None, error: RowError) -> None:
        self.rejected += 1
        self.errors.append(
            {"line": line, "source_ref": source_ref, "code": error.code, "reason": error.reason}
        )


# --- jobs --------------------------------------------------------------------------------------


def create_job(
    session: Session,
    *,
    actor: Principal,
    kind: str,
    file_format: str,
    payload: bytes | None,
    filename: str | None,
    now: dt.datetime,
) -> ImportJob:
    """Queue an import for ``actor``'s country (R24) under the authority the API asks for the
    same records (R25, #18 F7): officials and separations by an admin of the country;
    evaluations only by a vetting officer, in the name of the vetting body it works at (as
    ``POST /officials/{id}/evaluations``, which admits no admin): an admin with no vetting body
    must not author results, nor the listings a fail or refusal opens (R7). ``payload`` is the
    file for uploads; ``None`` when a command line reads ``filename`` itself."""
    check_import_authority(actor, kind)
    job = ImportJob(
        id=uuid.uuid4(),
        kind=ImportKind(kind).value,
        file_format=ImportFormat(file_format).value,
        status=ImportStatus.QUEUED.value,
        filename=filename[:300] if filename else None,
        payload=payload,
        country=actor.country,
        created_by=actor.user_id,
        created_at=now,
        last_line=0,
        total_rows=0,
        accepted=0,
        rejected=0,
        duplicates=0,
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import.create",
        resource_type="import_job",
        resource_id=job.id,
        details={
            "kind": job.kind,
            "format": job.file_format,
            "bytes": len(payload) if payload is not None else None,
            "source": "upload" if payload is not None else "file",
        },
        now=now,
    )
    return job


def check_import_authority(actor: Principal, kind: str) -> None:
    """Who may import what (R25, #18 F7): see ``create_job``. A vetting officer without a
    vetting body speaks for no body and imports nothing."""
    if ImportKind(kind) == ImportKind.EVALUATIONS:
        if not actor.has(Role.VETTING_OFFICER) or actor.agency_id is None:
            raise Forbidden(
                "Evaluations are imported by a vetting officer, for the vetting body it works at",
                code="VETTING_OFFICER_ONLY",
            )
    elif not actor.has(Role.ADMIN):
        raise Forbidden("Your role does not allow this operation", code="ROLE_NOT_ADMITTED")


def get_job(session: Session, actor: Principal, job_id: uuid.UUID) -> ImportJob:
    """A job of the caller's own country, for its admins, or the caller's own job (a vetting
    officer's import of evaluations); anything else answers 404 (R24)."""
    job = session.scalar(
        select(ImportJob).where(ImportJob.id == job_id).options(_without_payload())
    )
    if (
        job is None
        or job.country != actor.country
        or not (actor.has(Role.ADMIN) or job.created_by == actor.user_id)
    ):
        raise NotFound("No such import", code="IMPORT_NOT_FOUND")
    return job


def _without_payload() -> Any:
    # The uploaded file can be large; reading a job's status never needs it.
    return defer(ImportJob.payload)


def list_jobs(
    session: Session, actor: Principal, *, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[ImportJob]:
    stmt = (
        select(ImportJob)
        .where(ImportJob.country == actor.country)
        .options(_without_payload())
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
    )
    if not actor.has(Role.ADMIN):  # a vetting officer sees its own imports only
        stmt = stmt.where(ImportJob.created_by == actor.user_id)
    if after:
        at, last = after
        stmt = stmt.where(
            (ImportJob.created_at < at) | ((ImportJob.created_at == at) & (ImportJob.id < last))
        )
    return list(session.scalars(stmt.limit(limit + 1)))


def row_errors(
    session: Session, job_id: uuid.UUID, *, after: int | None, limit: int
) -> list[ImportRowError]:
    stmt = select(ImportRowError).where(ImportRowError.job_id == job_id)
    if after is not None:
        stmt = stmt.where(ImportRowError.id > after)
    return list(session.scalars(stmt.order_by(ImportRowError.id).limit(limit + 1)))


def system_actor(
    session: Session, *, country: str, hasher: PasswordHasher, now: dt.datetime
) -> Principal:
    """The account command-line imports run as when no ``--actor`` is named: an inactive admin
    of the country (it cannot log in; it only attributes the job and its audit events)."""
    username = f"{SYSTEM_USER_PREFIX}{country.lower()}"
    user = session.scalar(select(User).where(User.country == country, User.username == username))
    if user is None:
        user = User(
            username=username,
            password_hash=hasher.hash(secrets.token_urlsafe(32)),
            roles=[Role.ADMIN.value],
            country=country,
            is_active=False,
            created_at=now,
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor=None,
            actor_username="system",
            action="user.create",
            resource_type="user",
            resource_id=user.id,
            details={"roles": user.roles, "country": country, "purpose": "import"},
            now=now,
        )
    return principal_of(user)


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=frozenset(user.roles),
        country=user.country,
        agency_id=user.agency_id,
        via="import",
        official_id=user.official_id,
    )


def actor_by_username(session: Session, username: str, country: str | None = None) -> Principal:
    """The active account a command-line import runs as (``--actor``): an admin for officials
    and separations, a vetting officer for evaluations (``create_job`` checks which).
    Usernames are unique per country (#18 F5): when both countries have an importer of that
    name, ``country`` (``--country``) picks one."""
    importers = {Role.ADMIN.value, Role.VETTING_OFFICER.value}
    users = [
        u
        for u in session.scalars(select(User).where(User.username == username))
        if u.is_active and importers.intersection(u.roles)
    ]
    if len(users) > 1 and country is not None:
        users = [u for u in users if u.country == country]
    if len(users) != 1:
        # Two (one per country) when --country is not given: the operator names it.
        raise NotFound(
            "No active admin or vetting officer with this username", code="ACTOR_NOT_FOUND"
        )
    return principal_of(users[0])


# --- running -----------------------------------------------------------------------------------


@dataclass
class _Job:
    id: uuid.UUID
    kind: str
    file_format: str
    status: str
    filename: str | None
    country: str
    created_by: uuid.UUID
    last_line: int
    total_rows: int
    accepted: int
    rejected: int
    duplicates: int


@dataclass
class _Context:
    job: _Job
    actor: Principal
    settings: Settings
    clock: Clock
    factory: sessionmaker[Session]
    catalog: AgencyCatalog
    copy_format: bool
    # Policies resolved so far, by (country, sector, tier, agency): one job judges every row by
    # the policies in force when it first needed them (R5, R6), as one long request would.
    policies: dict[tuple[str, str | None, str | None, uuid.UUID | None], Policy] = field(
        default_factory=dict
    )


def _claim(
    factory: sessionmaker[Session], job_id: uuid.UUID, now: dt.datetime, *, force: bool
) -> _Job | None:
    """Take the job's lease; ``None`` if it is already completed. A job another runner holds
    (lease not expired) is refused unless ``force``."""
    with unit_of_work(factory) as session:
        row = session.execute(
            select(
                ImportJob.id,
                ImportJob.kind,
                ImportJob.file_format,
                ImportJob.status,
                ImportJob.filename,
                ImportJob.country,
                ImportJob.created_by,
                ImportJob.last_line,
                ImportJob.total_rows,
                ImportJob.accepted,
                ImportJob.rejected,
                ImportJob.duplicates,
                ImportJob.locked_until,
            )
            .where(ImportJob.id == job_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound("No such import", code="IMPORT_NOT_FOUND")
        if row.status == ImportStatus.COMPLETED:
            return None
        held = row.locked_until is not None and row.locked_until > now
        if row.status == ImportStatus.RUNNING and held and not force:
            raise Conflict(
                "Another process is running this import (lease until {until})",
                code="IMPORT_RUNNING",
                until=row.locked_until.isoformat(),
            )
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status=ImportStatus.RUNNING.value,
                started_at=func.coalesce(ImportJob.started_at, now),
                locked_until=now + LEASE,
                error=None,
            )
        )
        return _Job(
            id=row.id,
            kind=row.kind,
            file_format=row.file_format,
            status=ImportStatus.RUNNING.value,
            filename=row.filename,
            country=row.country,
            created_by=row.created_by,
            last_line=row.last_line,
            total_rows=row.total_rows,
            accepted=row.accepted,
            rejected=row.rejected,
            duplicates=row.duplicates,
        )


def _open_source(
    factory: sessionmaker[Session], job: _Job, source_path: Path | None
) -> tuple[IO[bytes], int | None]:
    if source_path is not None:
        return source_path.open("rb"), source_path.stat().st_size
    with factory() as session:
        payload = session.scalar(select(ImportJob.payload).where(ImportJob.id == job.id))
    if payload is not None:
        return io.BytesIO(payload), len(payload)
    if job.filename:
        path = Path(job.filename)
        if path.is_file():
            return path.open("rb"), path.stat().st_size
    raise FileError("the job's file is not available: resume it naming the file")


def _load_actor(session: Session, job: _Job) -> Principal:
    """The job's author, still holding the authority its kind needs (``create_job``). A job
    queued before evaluations needed a vetting officer runs, and ``_evaluations`` refuses
    every row of an author that is not one."""
    user = session.get(User, job.created_by)
    system = user is not None and user.username.startswith(SYSTEM_USER_PREFIX)
    role = Role.VETTING_OFFICER if job.kind == ImportKind.EVALUATIONS else Role.ADMIN
    roles = {role.value, Role.ADMIN.value}
    if user is None or (not user.is_active and not system) or not roles.intersection(user.roles):
        raise FileError(f"the account that created this import is no longer an active {role.value}")
    return principal_of(user)


def _agency_facts(session: Session) -> list[AgencyFacts]:
    rows = session.execute(
        select(
            Agency.id, Agency.country, Agency.acronym, Agency.can_vet, Agency.sector, Agency.contact
        )
    ).all()
    return [(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]


def run_job(
    factory: sessionmaker[Session],
    *,
    job_id: uuid.UUID,
    settings: Settings,
    clock: Clock,
    batch_size: int = DEFAULT_BATCH_SIZE,
    source_path: Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    force: bool = False,
    workers: int = 0,
    stop_after_batches: int | None = None,
) -> Progress:
    """Run (or resume) an import to the end; returns the final counts.

    Records up to the job's ``last_line`` are skipped unread; each later batch commits with
    the new ``last_line``. With ``workers`` > 0, rows are validated and prepared in that many
    worker processes while this one writes (the rules are CPU-bound; the command line and the
    benchmark use it, the API's background thread does not fork). ``stop_after_batches`` stops
    the runner after that many committed batches by raising ``ImportInterrupted`` without any
    clean-up, as a crash would (the job stays ``running`` until its lease expires). Any other
    failure marks the job ``failed`` with a reason that quotes no row data; running it again
    resumes it.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be 1..{MAX_BATCH_SIZE}")
    job = _claim(factory, job_id, clock.now(), force=force)
    if job is None:
        return _progress_of(factory, job_id, 0, None)
    try:
        with factory() as session:
            actor = _load_actor(session, job)
            facts = _agency_facts(session)
            copy_format = session.get_bind().dialect.name == "postgresql"
        prepare_ctx = PrepareContext(
            kind=job.kind,
            country=job.country,
            agencies=facts,
            actor=actor,
            settings=settings.model_dump(),
            copy_format=copy_format,
        )
        ctx = _Context(
            job=job,
            actor=actor,
            settings=settings,
            clock=clock,
            factory=factory,
            catalog=AgencyCatalog(facts, job.country),
            copy_format=copy_format,
        )
        stream, total = _open_source(factory, job, source_path)
        with stream, _Preparer(prepare_ctx, workers) as preparer:
            position = [0]

            def _seen(n: int) -> None:
                position[0] = n

            records = read_records(stream, job.file_format, job.kind, on_bytes=_seen)
            batches = _batches(records, job.last_line, batch_size)
            for count, (batch, prepared) in enumerate(preparer.map(batches, clock), 1):
                _commit_batch(ctx, batch, prepared)
                if on_progress is not None:
                    on_progress(_progress(job, position[0], total))
                if stop_after_batches is not None and count >= stop_after_batches:
                    raise ImportInterrupted(f"stopped after {count} batches")
        _finish(ctx)
        return _progress(job, position[0], total)
    except (ImportInterrupted, JobTakenOver):
        raise  # a crash leaves the lease to expire; a takeover leaves the job to its new runner
    except Exception as exc:
        _fail(factory, job, exc, clock.now())
        raise


class _Preparer:
    """Validates batches in file order: here, or in worker processes ahead of the writer."""

    def __init__(self, ctx: PrepareContext, workers: int) -> None:
        self.ctx = ctx
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.local: Prepared | None = None

    def __enter__(self) -> _Preparer:
        if self.workers > 0:
            # spawn, not fork: the caller may be a threaded server process.
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(self.ctx,),
            )
        else:
            self.local = self.ctx.materialise()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def map(
        self, batches: Iterator[list[Record]], clock: Clock
    ) -> Iterator[tuple[list[Record], PreparedBatch]]:
        if self.pool is None:
            assert self.local is not None
            for batch in batches:
                yield batch, prepare_batch(self.local, batch, clock.now())
            return
        window: deque[tuple[list[Record], Future[PreparedBatch]]] = deque()
        ahead = self.workers * 2
        for batch in batches:
            window.append((batch, self.pool.submit(prepare_in_worker, batch, clock.now())))
            if len(window) > ahead:
                done, future = window.popleft()
                yield done, future.result()
        while window:
            done, future = window.popleft()
            yield done, future.result()


def _progress(job: _Job, bytes_read: int, total: int | None) -> Progress:
    return Progress(
        job_id=job.id,
        bytes_read=bytes_read,
        total_bytes=total,
        last_line=job.last_line,
        total_rows=job.total_rows,
        accepted=job.accepted,
        rejected=job.rejected,
        duplicates=job.duplicates,
    )


def _progress_of(
    factory: sessionmaker[Session], job_id: uuid.UUID, bytes_read: int, total: int | None
) -> Progress:
    with factory() as session:
        row = session.execute(
            select(
                ImportJob.last_line,
                ImportJob.total_rows,
                ImportJob.accepted,
                ImportJob.rejected,
                ImportJob.duplicates,
            ).where(ImportJob.id == job_id)
        ).one()
    return Progress(job_id, bytes_read, total, *row)


def _batches(records: Iterator[Record], last_line: int, size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        if record.end_line <= last_line:
            continue  # committed by an earlier run
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _describe(exc: BaseException) -> str:
    """A failure reason without row data: database errors carry their parameters (names,
    ciphertexts) in their text, so only the driver's first line is kept."""
    if isinstance(exc, FileError | AppError):
        return str(exc)[:500]
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]


def _fail(factory: sessionmaker[Session], job: _Job, exc: BaseException, now: dt.datetime) -> None:
    log.warning("import %s failed: %s", job.id, _describe(exc))
    try:
        with unit_of_work(factory) as session:
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == job.id)
                .values(
                    status=ImportStatus.FAILED.value,
                    error=_describe(exc),
                    locked_until=None,
                    finished_at=now,
                )
            )
    except Exception:  # the database itself may be what failed
        log.exception("could not mark import %s failed", job.id)


# What each kind of job fills. Listings, their events and the task forces' own tables change
# with a few rows per thousand and are left to autovacuum.
_FILLED: dict[str, tuple[type[Any], ...]] = {
    ImportKind.OFFICIALS: (Official, OfficialIdentifier, OfficialNameKey, Appointment),
    ImportKind.EVALUATIONS: (Evaluation,),
    ImportKind.SEPARATIONS: (Separation, Appointment),
}


def _analyze(session: Session, kind: str) -> None:
    """Refresh PostgreSQL's statistics of the tables a job filled, as part of completing it.

    A bulk import can multiply a table many times over within minutes; until autovacuum's next
    pass (or forever where it is off) the planner keeps the old row counts and plans screening,
    eligibility and compliance for the table as it was. Measured at 1M officials: importing
    the reciprocal evaluations, which re-derive task forces per batch, cost PostgreSQL 293 s
    with the statistics of the empty tables and 6 s with fresh ones (docs/benchmark.md).
    ANALYZE samples a fixed number of rows, so it costs about a second per table at that size,
    and it takes a lock that blocks no reader or writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in _FILLED.get(kind, ()):
        session.execute(text(f"ANALYZE {model.__tablename__}"))


def _finish(ctx: _Context) -> None:
    now = ctx.clock.now()
    job = ctx.job
    if job.accepted:
        with unit_of_work(ctx.factory) as session:
            _analyze(session, job.kind)
    with unit_of_work(ctx.factory) as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id)
            .values(
                status=ImportStatus.COMPLETED.value,
                finished_at=now,
                locked_until=None,
                error=None,
            )
        )
        audit.record(
            session,
            actor=ctx.actor,
            action="import.complete",
            resource_type="import_job",
            resource_id=job.id,
            details={
                "kind": job.kind,
                "rows": job.total_rows,
                "accepted": job.accepted,
                "rejected": job.rejected,
                "duplicates": job.duplicates,
            },
            now=now,
        )


def _commit_batch(ctx: _Context, batch: list[Record], prepared: PreparedBatch) -> None:
    """One batch in one transaction, retried when a concurrent writer stored one of its keys
    first (the retry sees that row and counts it as a duplicate or conflict)."""
    for attempt in range(1, BATCH_RETRIES + 1):
        try:
            with unit_of_work(ctx.factory) as session:
                session.info["settings"] = ctx.settings
                if ctx.copy_format:
                    # A batch need not wait for its commit to reach the disk: PostgreSQL writes
                    # its log in order, so a crash loses at most the last few batches whole,
                    # each together with its own advance of the job's last_line (nothing else
                    # has seen them: their audit event is in the same transaction), and any later
                    # synchronous commit (the job's completion, a chain link) makes them durable
                    # first. A resumed job starts after the last batch that survived;
                    # source_ref makes any overlap a duplicate.
                    session.execute(text("SET LOCAL synchronous_commit = off"))
                counts = _write_batch(session, ctx, batch, prepared)
            break
        except (IntegrityError, OperationalError):
            ctx.policies.clear()  # defaults seeded by the rolled-back attempt are gone
            if attempt == BATCH_RETRIES:
                raise
            log.info("import %s: batch at line %d retried", ctx.job.id, batch[0].line)
    job = ctx.job
    job.last_line = batch[-1].end_line
    job.accepted += counts.accepted
    job.rejected += counts.rejected
    job.duplicates += counts.duplicates
    job.total_rows += counts.accepted + counts.rejected + counts.duplicates


def _write_batch(
    session: Session, ctx: _Context, batch: list[Record], prepared: PreparedBatch
) -> _Counts:
    now = ctx.clock.now()
    job = ctx.job
    state = session.execute(
        select(ImportJob.last_line).where(ImportJob.id == job.id).with_for_update()
    ).scalar_one()
    if state != job.last_line:
        raise JobTakenOver("Another process has taken over this import")
    counts = _Counts()
    accepted: list[Any] = []
    for row in prepared.rejected if isinstance(prepared, OfficialBatch) else prepared:
        if isinstance(row, Rejected):
            counts.reject(row.line, row.source_ref, RowError(row.code, row.reason))
        else:
            accepted.append(row)
    if isinstance(prepared, OfficialBatch):
        _official_batch(session, ctx, prepared, counts)
    elif job.kind == ImportKind.OFFICIALS:
        _officials(session, ctx, accepted, counts)
    elif job.kind == ImportKind.EVALUATIONS:
        _evaluations(session, ctx, accepted, counts, now)
    else:
        _separations(session, ctx, accepted, counts, now)
    if counts.errors:
        counts.errors.sort(key=lambda e: int(e["line"]))
        session.execute(insert(ImportRowError), [{"job_id": job.id, **e} for e in counts.errors])
    done = counts.accepted + counts.rejected + counts.duplicates
    session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id)
        .values(
            last_line=batch[-1].end_line,
            total_rows=ImportJob.total_rows + done,
            accepted=ImportJob.accepted + counts.accepted,
            rejected=ImportJob.rejected + counts.rejected,
            duplicates=ImportJob.duplicates + counts.duplicates,
            locked_until=now + LEASE,
        )
    )
    audit.record(
        session,
        actor=ctx.actor,
        action="import.batch",
        resource_type="import_job",
        resource_id=job.id,
        details={
            "kind": job.kind,
            "first_line": batch[0].line,
            "last_line": batch[-1].end_line,
            "accepted": counts.accepted,
            "rejected": counts.rejected,
            "duplicates": counts.duplicates,
            "listings": counts.listings,
        },
        now=now,
    )
    return counts


def _write(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]] = (),
    copy: Sequence[str] = (),
) -> None:
    """Insert rows: PostgreSQL's COPY when the rows come as COPY text (the bulk path, several
    times faster than INSERT), else one executemany INSERT."""
    if copy:
        text = "".join(copy)
        if not text:
            return
        raw: Any = session.connection().connection.driver_connection
        cols = ", ".join(columns)
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({cols}) FROM STDIN") as cp:
            cp.write(text)
    elif rows:
        session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


def _existing(session: Session, column: Any, values: Sequence[str]) -> set[str]:
    if not values:
        return set()
    return {str(v) for v in session.scalars(select(column).where(_among(session, column, values)))}


def _among(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``. On PostgreSQL as ``= ANY(array)``: one parameter instead of a
    thousand, far cheaper to render, bind, send and parse (PostgreSQL plans an IN list as
    ``= ANY`` anyway, so the plan is the same)."""
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=ARRAY(column.type)))
    return column.in_(listed)


# --- officials ---------------------------------------------------------------------------------


def _keep_officials(
    session: Session, ctx: _Context, rows: Sequence[OfficialMeta], counts: _Counts
) -> list[int]:
    """Which rows to write (their positions): R1, R2, R25 were checked as ``register_official``
    checks them (``import_rows.official_row``); here a ``source_ref`` already stored is a
    duplicate, and the rest pass the registration's R3 gate, screened set-wise for the whole
    batch in a constant number of statements, whatever its size (docs/import.md):

    - one statement finds the batch's identifiers already registered, and whether a listed
      official holds them (the same lookup serves IDENTIFIER_EXISTS);
    - one finds which of the batch's blocking keys some listed official holds;
    - only the rows sharing such a key or identifier are screened
      (``screening.screen_registrations``, the matcher of ``POST /officials``); every other
      row, most of any real file, costs no Python work beyond a set test.

    A row whose identifier a listed official holds, or whose names and date of birth match a
    listed person decisively, is refused with ``OFFICIAL_LISTED``; a near-match with
    ``SCREENING_REVIEW_REQUIRED``, its screening kept for a reviewer to rule on (R12a) so a
    re-run lets it in once ruled out: the batch's kept screenings are written together and
    audited in one ``screening.batch`` event per 500 (``screening.keep_gate_batch``). No import
    forces the gate: an admin registers such a person through the API, with a justification.
    Identifiers already registered are then refused as the API refuses them
    (IDENTIFIER_EXISTS)."""
    stored_refs = _existing(session, Official.source_ref, [r[2] for r in rows])
    fresh = [r for r in rows if r[2] not in stored_refs]
    stored_indexes, listed_indexes = _held_indexes(
        session, [i for r in rows for i in r[4]], country=ctx.actor.country
    )
    listed_keys = _listed_keys(session, sorted({k for r in fresh for k in r[5][4]}))
    hits = [
        r
        for r in fresh
        if (listed_keys and not listed_keys.isdisjoint(r[5][4]))
        or (listed_indexes and not listed_indexes.isdisjoint(r[4]))
    ]
    now = ctx.clock.now()
    gates = screen_registrations(
        session,
        actor=ctx.actor,
        settings=ctx.settings,
        items=[
            RegistrationIdentity(
                given_names=given,
                first_surname=first,
                second_surname=second,
                date_of_birth=born,
                identifiers=tuple(zip(schemes, indexes, strict=True)),
                keys=keys,
            )
            for _line, _end, _ref, schemes, indexes, (given, first, second, born, keys) in hits
        ],
        now=now,
    )
    gate_of = {r[2]: g for r, g in zip(hits, gates, strict=True)}
    to_keep: list[GateScreening] = []
    kept: list[int] = []
    for n, (line, _end, source_ref, schemes, indexes, _identity) in enumerate(rows):
        if source_ref in stored_refs:
            counts.duplicates += 1
            continue
        gate = gate_of.get(source_ref)
        refusal = _gate_refusal(gate, to_keep) if gate is not None else None
        if refusal is not None:
            counts.reject(line, source_ref, refusal)
            continue
        clash = next(
            (s for s, i in zip(schemes, indexes, strict=True) if i in stored_indexes), None
        )
        if clash is not None:
            counts.reject(
                line,
                source_ref,
                RowError(
                    "IDENTIFIER_EXISTS", f"An official with this {clash} is already registered"
                ),
            )
            continue
        stored_refs.add(source_ref)
        stored_indexes.update(indexes)
        kept.append(n)
        counts.accepted += 1
    # In the batch's transaction: the rows are refused, the batch commits.
    keep_gate_batch(session, to_keep, now=now)
    return kept


def _held_indexes(
    session: Session, indexes: Sequence[str], *, country: str
) -> tuple[set[str], set[str]]:
    """Which of these blind indexes a record of ``country`` holds (identifiers are unique per
    country, #18 F4: the other country's are no duplicates, and no oracle), and which a listed
    official of either country holds (R3): one statement (``= ANY`` of one array on
    PostgreSQL)."""
    if not indexes:
        return set(), set()
    stored: set[str] = set()
    listed: set[str] = set()
    held = exists().where(Listing.official_id == OfficialIdentifier.official_id)
    for index, holder_country, is_listed in session.execute(
        select(OfficialIdentifier.blind_index, OfficialIdentifier.country, held).where(
            _among(session, OfficialIdentifier.blind_index, indexes)
        )
    ):
        if holder_country == country:
            stored.add(index)
        if is_listed:
            listed.add(index)
    return stored, listed


def _listed_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these blocking keys some listed official holds (any listing status, as the
    screening engine's lookups): on PostgreSQL one statement, whatever the batch's size."""
    out: set[str] = set()
    # One array on PostgreSQL; elsewhere IN lists short enough for SQLite's parameter limit.
    step = len(keys) if session.get_bind().dialect.name == "postgresql" else 2000
    for start in range(0, len(keys), step or 1):
        out.update(
            session.scalars(
                select(OfficialNameKey.key)
                .where(
                    _among(session, OfficialNameKey.key, keys[start : start + step]),
                    exists().where(Listing.official_id == OfficialNameKey.official_id),
                )
                .distinct()
            )
        )
    return out


def _listed_facts(matches: Sequence[Match]) -> str:
    """Verdict-level facts of the listings (R9: basis, listing agency, date), never the record's
    id, names or identifiers: a reason is stored with the job and may cross the border."""
    return "; ".join(
        f"{m.listing.basis}, {m.listing.listed_by_acronym} ({m.listing.listed_by_country}), "
        f"{m.listing.listed_on.isoformat()}"
        for m in matches
        if m.listing is not None
    )


def _gate_refusal(gate: GateScreening, to_keep: list[GateScreening]) -> RowError | None:
    """The R3 gate's answer for one row, as ``appointments.gate_new_official`` and
    ``judge_gate`` give it to ``POST /officials``; a screening to keep joins ``to_keep``."""
    if gate.verdict == "clear":
        return None
    by_identifier = gate.identifier_listed()
    if by_identifier:
        return RowError(
            "OFFICIAL_LISTED",
            f"A listed official holds this identifier ({_listed_facts(by_identifier)}): the "
            "person already has a record; appoint the existing record instead",
        )
    to_keep.append(gate)
    decisive = gate.decisive()
    if decisive:
        return RowError(
            "OFFICIAL_LISTED",
            f"The official is listed ({_listed_facts(decisive)}) and cannot be appointed; "
            f"screening {gate.screening_id} is kept for a reviewer",
        )
    return RowError(
        "SCREENING_REVIEW_REQUIRED",
        "The official resembles a listed person; a reviewer must rule on the candidates of "
        f"screening {gate.screening_id} first",
    )


def _official_batch(session: Session, ctx: _Context, batch: OfficialBatch, counts: _Counts) -> None:
    """The COPY path of ``_officials``: the batch's text as the worker packed it, less the rows
    dropped here."""
    texts = batch.texts_of(_keep_officials(session, ctx, batch.rows, counts))
    _write(session, _table(Official), OFFICIAL_COLS, copy=[texts[0]])
    _write(session, _table(OfficialIdentifier), IDENTIFIER_COLS, copy=[texts[1]])
    _write(session, _table(OfficialNameKey), NAME_KEY_COLS, copy=[texts[2]])
    _write(session, _table(Appointment), APPOINTMENT_COLS, copy=[texts[3]])


def _officials(
    session: Session, ctx: _Context, prepared: list[PreparedOfficial], counts: _Counts
) -> None:
    """Officials by INSERT (databases without COPY); see ``_keep_officials``."""
    metas = [(r.line, r.end_line, r.source_ref, r.schemes, r.indexes, r.identity) for r in prepared]
    kept = [prepared[n] for n in _keep_officials(session, ctx, metas, counts)]
    _write(session, _table(Official), OFFICIAL_COLS, [r.official for r in kept if r.official])
    ident_rows = [i for r in kept for i in r.identifiers]
    _write(session, _table(OfficialIdentifier), IDENTIFIER_COLS, ident_rows)
    _write(session, _table(OfficialNameKey), NAME_KEY_COLS, [k for r in kept for k in r.keys])
    appt_rows = [r.appointment for r in kept if r.appointment]
    _write(session, _table(Appointment), APPOINTMENT_COLS, appt_rows)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


# --- evaluations -------------------------------------------------------------------------------

EVALUATION_COLS = (
    "id",
    "official_id",
    "conducted_by",
    "conducted_by_country",
    "recorded_by",
    "trigger",
    "components",
    "outcome",
    "conducted_on",
    "valid_until",
    "retest_by",
    "notes",
    "corrects_id",
    "policy_id",
    "policy_version",
    "interval_months",
    "source_ref",
    "created_at",
)


def evaluation_copy_line(values: tuple[Any, ...]) -> str:
    """``copy_line`` of an evaluation row (``EVALUATION_COLS``), written out by hand: the
    generic form costs more than the rest of an evaluation's preparation. Components come in a
    few combinations only, so their JSON is kept."""
    (
        evaluation_id,
        official_id,
        body_id,
        body_country,
        recorded_by,
        trigger,
        components,
        outcome,
        conducted_on,
        valid_until,
        retest_by,
        notes,
        corrects_id,
        policy_id,
        policy_version,
        interval_months,
        source_ref,
        created_at,
    ) = values
    return (
        f"{evaluation_id}\t{official_id}\t{body_id}\t{copy_text(body_country)}\t{recorded_by}\t"
        f"{copy_text(trigger)}\t{_components_text(tuple(components.items()))}\t"
        f"{copy_text(outcome)}\t{conducted_on.isoformat()}\t{copy_text(valid_until)}\t"
        f"{copy_text(retest_by)}\t{copy_text(notes)}\t{copy_text(corrects_id)}\t{policy_id}\t"
        f"{policy_version}\t{interval_months}\t{copy_text(source_ref)}\t"
        f"{_timestamp_text(created_at)}\n"
    )


@lru_cache(maxsize=4096)
def _components_text(items: tuple[tuple[str, str], ...]) -> str:
    return copy_text(dict(items))


@lru_cache(maxsize=64)
def _timestamp_text(at: dt.datetime) -> str:
    return at.isoformat()


@dataclass(frozen=True, slots=True)
class _OfficialFacts:
    id: uuid.UUID
    country: str
    date_of_birth: dt.date


def _resolve_officials(
    session: Session, refs: Sequence[str], ids: Sequence[uuid.UUID]
) -> tuple[dict[str, _OfficialFacts], dict[uuid.UUID, _OfficialFacts]]:
    cols = (Official.id, Official.source_ref, Official.country, Official.date_of_birth)
    by_ref: dict[str, _OfficialFacts] = {}
    by_id: dict[uuid.UUID, _OfficialFacts] = {}
    if refs:
        for oid, ref, country, dob in session.execute(
            select(*cols).where(_among(session, Official.source_ref, sorted(set(refs))))
        ):
            by_id[oid] = _OfficialFacts(oid, country, dob)
            if ref is not None:
                by_ref[ref] = by_id[oid]
    missing = sorted({i for i in ids if i not in by_id})
    if missing:
        for oid, _ref, country, dob in session.execute(
            select(*cols).where(_among(session, Official.id, missing))
        ):
            by_id[oid] = _OfficialFacts(oid, country, dob)
    return by_ref, by_id


def _official_of(
    row: EvaluationRow | SeparationRow,
    by_ref: dict[str, _OfficialFacts],
    by_id: dict[uuid.UUID, _OfficialFacts],
) -> _OfficialFacts | None:
    if row.official_ref is not None:
        return by_ref.get(row.official_ref)
    return by_id.get(row.official_id) if row.official_id is not None else None


def _current_appointments(
    session: Session, official_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, str, dt.date]]:
    """Per official, the most recent active appointment (id, agency, tier, start), as
    ``registry.current_appointment`` picks it."""
    out: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, str, dt.date]] = {}
    if not official_ids:
        return out
    rows = session.execute(
        select(
            Appointment.official_id,
            Appointment.id,
            Appointment.agency_id,
            Appointment.rank_tier,
            Appointment.started_on,
        )
        .where(
            _among(session, Appointment.official_id, sorted(set(official_ids))),
            Appointment.ended_on.is_(None),
        )
        .order_by(Appointment.official_id, Appointment.started_on, Appointment.id)
    )
    for official_id, appt_id, agency_id, tier, started in rows:
        out[official_id] = (appt_id, agency_id, tier, started)  # later rows win: the latest
    return out


def _task_forces_follow(
    session: Session, ctx: _Context, official_ids: Sequence[uuid.UUID], now: dt.datetime
) -> None:
    """R19: the live task forces these officials sit on re-derive their status once the batch
    is written, in its transaction, recording any transition with its cause (the API does it
    per write; a batch does it once per task force, which ends in the same state)."""
    if not official_ids:
        return
    from app.services.task_forces.task_forces import refresh_status

    touched: dict[uuid.UUID, list[str]] = {}
    ids = sorted(set(official_ids))
    for start in range(0, len(ids), 5000):
        for tf_id, official_id in session.execute(
            select(TaskForceMember.task_force_id, TaskForceMember.official_id)
            .join(TaskForce, TaskForce.id == TaskForceMember.task_force_id)
            .where(
                _among(session, TaskForceMember.official_id, ids[start : start + 5000]),
                TaskForceMember.left_on.is_(None),
                TaskForce.dissolved_at.is_(None),
            )
        ):
            touched.setdefault(tf_id, []).append(str(official_id))
    for tf_id in sorted(touched):
        tf = session.get(TaskForce, tf_id)
        if tf is None:
            continue
        refresh_status(
            session,
            tf=tf,
            cause={
                "kind": f"import.{ctx.job.kind}",
                "import_job_id": str(ctx.job.id),
                "official_ids": sorted(touched[tf_id])[:100],
            },
            actor=ctx.actor,
            now=now,
        )


def _nominees_or_members(session: Session, official_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The set form of ``task_forces.is_nominee_or_member`` (R25, reciprocal evaluations)."""
    if not official_ids:
        return set()
    ids = sorted(set(official_ids))
    nominated = session.scalars(
        select(TaskForceNomination.official_id).where(
            _among(session, TaskForceNomination.official_id, ids),
            TaskForceNomination.status == "open",
        )
    )
    members = session.scalars(
        select(TaskForceMember.official_id).where(
            _among(session, TaskForceMember.official_id, ids),
            TaskForceMember.left_on.is_(None),
        )
    )
    return set(nominated) | set(members)


def _evaluations(
    session: Session,
    ctx: _Context,
    parsed: list[EvaluationRow],
    counts: _Counts,
    now: dt.datetime,
) -> None:
    """R5-R7, R13, R25 as ``record_evaluation``: the outcome is derived under the policy of the
    official's current appointment and a contradicting one is refused; a fail or refusal lists
    the official through ``open_listing``; task forces the official sits on follow (R19)."""
    today = now.date()
    actor = ctx.actor
    stored_refs = _existing(session, Evaluation.source_ref, [r.source_ref for r in parsed])
    by_ref, by_id = _resolve_officials(
        session,
        [r.official_ref for r in parsed if r.official_ref],
        [r.official_id for r in parsed if r.official_id],
    )
    appointments = _current_appointments(session, [f.id for f in by_id.values()])
    foreign = [f.id for f in by_id.values() if f.country != actor.country]
    reachable = _nominees_or_members(session, foreign)
    # R25 (#18 F7): results are authored by a vetting officer, for the body it works at only.
    vetting_officer = actor.has(Role.VETTING_OFFICER) and actor.agency_id is not None
    # R13: a vetter linked to an official record records only while itself currently vetted.
    vetter_ok = actor.official_id is None or is_currently_vetted(session, actor.official_id, today)
    policies = ctx.policies

    rows: list[tuple[Any, ...]] = []
    listed: list[tuple[EvaluationRow, uuid.UUID, _OfficialFacts, Outcome]] = []
    accepted: list[tuple[uuid.UUID, _OfficialFacts, Outcome]] = []
    for row in parsed:
        if row.source_ref in stored_refs:
            counts.duplicates += 1
            continue
        official = _official_of(row, by_ref, by_id)
        try:
            if not vetting_officer:
                raise RowError(
                    "VETTING_OFFICER_ONLY",
                    "Evaluations are imported by a vetting officer, for the vetting body it "
                    "works at",
                )
            if row.body_id != actor.agency_id:
                raise RowError(
                    "NOT_OWN_VETTING_BODY", "conducted_by: must be the vetting body you work at"
                )
            if official is None:
                raise RowError("OFFICIAL_NOT_FOUND", "official: no such official")
            if official.country != actor.country:
                if official.id not in reachable:
                    raise RowError("OFFICIAL_NOT_FOUND", "official: no such official")
                if row.trigger != "reciprocal":
                    raise RowError(
                        "RECIPROCAL_ONLY",
                        "trigger: across the border only reciprocal evaluations may be recorded",
                    )
            if actor.official_id == official.id:
                raise RowError("SELF_EVALUATION", "Nobody records an evaluation of themselves")
            if not vetter_ok:
                raise RowError(
                    "VETTER_NOT_VETTED",
                    "Your own vetting is not current; you cannot record evaluations",
                )
            if row.conducted_on > today:
                raise RowError("VALIDATION_ERROR", "conducted_on: must not be in the future")
            if row.conducted_on < official.date_of_birth:
                raise RowError("VALIDATION_ERROR", "conducted_on: precedes the official's birth")
            appt = appointments.get(official.id)
            employer = ctx.catalog.by_id.get(appt[1]) if appt else None
            scope = (
                official.country,
                employer.sector if employer else None,
                appt[2] if appt else None,
                appt[1] if appt else None,
            )
            policy = policies.get(scope)
            if policy is None:
                policy = policies[scope] = resolve_policy(
                    session,
                    country=scope[0],
                    sector=scope[1],
                    rank_tier=scope[2],
                    agency_id=scope[3],
                    now=now,
                )
            derived = derive_outcome(row.components, policy.required_components)
            if row.outcome is not None and row.outcome != derived:
                raise RowError(
                    "OUTCOME_MISMATCH",
                    f"outcome: {row.outcome} contradicts the components, which give "
                    f"{derived.value} (R5)",
                )
        except RowError as err:
            counts.reject(row.line, row.source_ref, err)
            continue
        stored_refs.add(row.source_ref)
        evaluation_id = uuid.uuid4()
        rows.append(
            (
                evaluation_id,
                official.id,
                row.body_id,
                row.body_country,
                actor.user_id,
                row.trigger,
                {k.value: v.value for k, v in row.components.items()},
                derived.value,
                row.conducted_on,
                add_months(row.conducted_on, policy.interval_months)
                if derived == Outcome.PASS
                else None,
                row.conducted_on + dt.timedelta(days=policy.retest_days)
                if derived == Outcome.INCONCLUSIVE
                else None,
                row.notes,
                None,
                policy.id,
                policy.version,
                policy.interval_months,
                row.source_ref,
                now,
            )
        )
        accepted.append((evaluation_id, official, derived))
        if derived in LISTING_BASIS:
            listed.append((row, evaluation_id, official, derived))
        counts.accepted += 1
    table = _table(Evaluation)
    if ctx.copy_format:
        _write(session, table, EVALUATION_COLS, copy=[evaluation_copy_line(r) for r in rows])
    else:
        _write(session, table, EVALUATION_COLS, rows)

    if listed:
        # The API holds the official's row lock while it lists (R7); so do we, in id order.
        locked = {
            o.id: o
            for o in session.scalars(
                select(Official)
                .where(Official.id.in_(sorted({o.id for _, _, o, _ in listed})))
                .order_by(Official.id)
                .with_for_update()
            )
        }
        for row, evaluation_id, facts, derived in listed:
            body = session.get(Agency, row.body_id)
            assert body is not None
            open_listing(
                session,
                official=locked[facts.id],
                basis=LISTING_BASIS[derived],
                source_type="evaluation",
                source_id=evaluation_id,
                listed_by=body,
                listed_on=row.conducted_on,
                actor=actor,
                now=now,
            )
            counts.listings += 1
    _task_forces_follow(session, ctx, [o.id for _, o, _ in accepted], now)


# --- separations -------------------------------------------------------------------------------


def _separations(
    session: Session,
    ctx: _Context,
    parsed: list[SeparationRow],
    counts: _Counts,
    now: dt.datetime,
) -> None:
    """R4 as ``record_separation``, in file order. A for-cause separation goes through
    ``record_separation`` itself (in a savepoint: a rejected row leaves nothing), so its listing
    is opened, or joined to the failed evaluation's, exactly as the API does. The others only
    end an appointment: they are checked by the same rules (own country, the official's own
    active appointment, R25 agency scope, not before it began) and written in bulk."""
    from app.services.registry.appointments import record_separation

    stored_refs = _existing(session, Separation.source_ref, [r.source_ref for r in parsed])
    by_ref, by_id = _resolve_officials(
        session,
        [r.official_ref for r in parsed if r.official_ref],
        [r.official_id for r in parsed if r.official_id],
    )
    own = sorted(f.id for f in by_id.values() if f.country == ctx.actor.country)
    # The API locks the official for the write; so do we, in id order (no deadlocks).
    if own:
        session.execute(
            select(Official.id).where(Official.id.in_(own)).order_by(Official.id).with_for_update()
        )
    appointments = _appointments_of(session, own)
    current = {
        oid: max(
            (a for a in appts.values() if a.ended_on is None),
            key=lambda a: (a.started_on, a.id),
            default=None,
        )
        for oid, appts in appointments.items()
    }
    pending: list[tuple[SeparationRow, _Appt]] = []

    def flush_pending() -> None:
        _write_separations(session, ctx, pending, now)
        pending.clear()

    for row in parsed:
        if row.source_ref in stored_refs:
            counts.duplicates += 1
            continue
        official = _official_of(row, by_ref, by_id)
        try:
            if official is None or official.country != ctx.actor.country:
                raise RowError("OFFICIAL_NOT_FOUND", "official: no such official")
            mine = appointments.get(official.id, {})
            appt = mine.get(row.appointment_id) if row.appointment_id else current.get(official.id)
            if appt is None:
                if row.appointment_id is not None:
                    raise RowError(
                        "VALIDATION_ERROR", "appointment_id: no appointment of this official"
                    )
                raise RowError(
                    "APPOINTMENT_ENDED", "appointment_id: the official holds no active appointment"
                )
            if row.reason in FOR_CAUSE_REASONS:
                flush_pending()
                try:
                    with session.begin_nested():
                        separation = record_separation(
                            session,
                            actor=ctx.actor,
                            official_id=official.id,
                            appointment_id=appt.id,
                            reason=row.reason,
                            effective_on=row.effective_on,
                            summary=row.summary,
                            now=now,
                            source_ref=row.source_ref,
                        )
                except AppError as exc:
                    raise app_error(exc, {}) from None
                if separation.listing_id is not None:
                    counts.listings += 1
            else:
                if appt.ended_on is not None:
                    raise RowError("APPOINTMENT_ENDED", "The appointment has already ended")
                agency = ctx.catalog.by_id.get(appt.agency_id)
                if agency is None:
                    raise RowError("AGENCY_NOT_FOUND", "No such agency")
                try:
                    check_personnel_scope(ctx.actor, agency)
                except AppError as exc:
                    raise app_error(exc, {}) from None
                if row.effective_on < appt.started_on:
                    raise RowError(
                        "VALIDATION_ERROR",
                        "effective_on: must not precede the start of the appointment",
                    )
                pending.append((row, appt))
        except RowError as err:
            counts.reject(row.line, row.source_ref, err)
            continue
        appt.ended_on = row.effective_on  # later rows of this batch see it ended
        stored_refs.add(row.source_ref)
        counts.accepted += 1
    flush_pending()


@dataclass(slots=True)
class _Appt:
    id: uuid.UUID
    official_id: uuid.UUID
    agency_id: uuid.UUID
    started_on: dt.date
    ended_on: dt.date | None


def _appointments_of(
    session: Session, official_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, _Appt]]:
    out: dict[uuid.UUID, dict[uuid.UUID, _Appt]] = {}
    if not official_ids:
        return out
    rows = session.execute(
        select(
            Appointment.id,
            Appointment.official_id,
            Appointment.agency_id,
            Appointment.started_on,
            Appointment.ended_on,
        ).where(_among(session, Appointment.official_id, official_ids))
    )
    for appt_id, official_id, agency_id, started, ended in rows:
        out.setdefault(official_id, {})[appt_id] = _Appt(
            appt_id, official_id, agency_id, started, ended
        )
    return out


SEPARATION_COLS = (
    "id",
    "official_id",
    "appointment_id",
    "agency_id",
    "reason",
    "effective_on",
    "summary",
    "recorded_by",
    "listing_id",
    "source_ref",
    "created_at",
)


def _write_separations(
    session: Session, ctx: _Context, rows: list[tuple[SeparationRow, _Appt]], now: dt.datetime
) -> None:
    """Separations that list nobody: end the appointments, store the separations, and let the
    task forces the officials sit on follow (R19), as ``record_separation`` does."""
    if not rows:
        return
    session.flush()
    appts = _table(Appointment)
    session.connection().execute(
        update(appts)
        .where(appts.c.id == bindparam("appt_id"))
        .values(ended_on=bindparam("ended"), version=appts.c.version + 1),
        [{"appt_id": a.id, "ended": r.effective_on} for r, a in rows],
    )
    values = [
        (
            uuid.uuid4(),
            a.official_id,
            a.id,
            a.agency_id,
            r.reason,
            r.effective_on,
            r.summary,
            ctx.actor.user_id,
            None,
            r.source_ref,
            now,
        )
        for r, a in rows
    ]
    table = _table(Separation)
    if ctx.copy_format:
        _write(session, table, SEPARATION_COLS, copy=[copy_line(v) for v in values])
    else:
        _write(session, table, SEPARATION_COLS, values)
    session.expire_all()  # appointments changed underneath the identity map
    _task_forces_follow(session, ctx, [a.official_id for _, a in rows], now)


# --- background runs ---------------------------------------------------------------------------


def start_in_background(
    session: Session,
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    job_id: uuid.UUID,
) -> None:
    """Run the job in a thread of its own once ``session`` has committed it. The thread opens
    its own sessions; if the process stops first, ``registry import resume`` finishes it."""

    def work() -> None:
        try:
            run_job(factory, job_id=job_id, settings=settings, clock=clock)
        except Exception:
            log.exception("import %s stopped", job_id)

    def start() -> None:
        threading.Thread(target=work, name=f"import-{job_id}", daemon=True).start()

    after_commit(session, start)
