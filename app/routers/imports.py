"""Bulk import (docs/import.md): upload a file, follow the job and its per-row report.

The upload is read from the request stream in chunks up to a limit and kept in the job row, so
any process can run or resume it; the work runs outside the request, in a thread with its own
sessions (or ``registry import resume JOB_ID``).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.idempotency import IdempotencyGuard
from app.api.pagination import (
    ID_CURSOR,
    TIME_ID_CURSOR,
    Cursor,
    Limit,
    decode_cursor,
    paginate,
)
from app.auth.principal import Principal, Role, SettingsDep, require_roles
from app.auth.scoping import ScopedImport
from app.clock import ClockDep
from app.db import SessionDep
from app.errors import PayloadTooLarge, Unprocessable
from app.models import ImportJob, ImportRowError
from app.schemas.common import Page, problem_responses
from app.schemas.imports import (
    ImportFormat,
    ImportJobDetail,
    ImportJobRead,
    ImportKind,
    ImportRowErrorRead,
    ImportStatus,
)
from app.services.imports import imports as import_service

# Admins import officials and separations of their country; vetting officers import the
# evaluations their own vetting body conducted and follow their own jobs (R25, #18 F7;
# ``import_service.check_import_authority``).
Importer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.VETTING_OFFICER))]

router = APIRouter(prefix="/imports", tags=["imports"])

_FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself: CSV with a header line, or NDJSON (docs/import.md)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/ndjson": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def max_upload_bytes(settings: Any) -> int:
    return int(getattr(settings, "import_max_bytes", import_service.DEFAULT_MAX_UPLOAD_BYTES))


async def _read_upload(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk; more than ``limit`` bytes is refused with 413 without
    reading further."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge("The file is larger than {limit} bytes", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("The file is larger than {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _read(job: ImportJob) -> ImportJobRead:
    return ImportJobRead(
        id=job.id,
        kind=ImportKind(job.kind),
        format=ImportFormat(job.file_format),
        status=ImportStatus(job.status),
        filename=job.filename,
        country=job.country,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_line=job.last_line,
        total_rows=job.total_rows,
        accepted=job.accepted,
        rejected=job.rejected,
        duplicates=job.duplicates,
        error=job.error,
    )


def _error_view(e: ImportRowError) -> ImportRowErrorRead:
    return ImportRowErrorRead(line=e.line, source_ref=e.source_ref, code=e.code, reason=e.reason)


@router.post(
    "",
    status_code=202,
    response_model=ImportJobRead,
    responses=problem_responses(401, 403, 413, 415, 422),
    openapi_extra=_FILE_BODY,
)
async def create_import(
    request: Request,
    actor: Importer,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    kind: Annotated[ImportKind, Query(description="What the file holds")],
    file_format: Annotated[ImportFormat, Query(alias="format", description="csv or ndjson")],
    filename: Annotated[str | None, Query(max_length=200)] = None,
) -> ImportJobRead | Response:
    """Upload a file of officials or separations of the caller's own country (admins), or of
    evaluations conducted by the caller's own vetting body (vetting officers only, as
    ``POST /officials/{id}/evaluations``; an admin is answered 403 VETTING_OFFICER_ONLY) (R24,
    R25). Answers 202 with the queued job at once; the rows are validated by the API's own
    rules (R1, R4, R5, R7) and written outside the request. Follow the job at
    ``GET /imports/{id}``. Accepts ``Idempotency-Key``."""
    import_service.check_import_authority(actor, kind.value)
    payload = await _read_upload(request, max_upload_bytes(settings))
    if not payload.strip():
        raise Unprocessable(
            "The file is empty",
            code="IMPORT_EMPTY",
            extra={"errors": [{"field": "body", "message": "empty", "type": "empty"}]},
        )
    method_path = f"{request.method} {request.url.path}?kind={kind}&format={file_format}"
    idem = IdempotencyGuard(
        session=session,
        principal=actor,
        key=request.headers.get("idempotency-key"),
        method_path=f"{request.method} {request.url.path}",
        body_hash=hashlib.sha256(method_path.encode() + b"\n" + payload).hexdigest(),
        now=clock.now(),
        status_code=202,
    )

    def create() -> ImportJobRead:
        job = import_service.create_job(
            session,
            actor=actor,
            kind=kind.value,
            file_format=file_format.value,
            payload=payload,
            filename=filename,
            now=clock.now(),
        )
        import_service.start_in_background(
            session,
            factory=request.app.state.sessionmaker,
            settings=settings,
            clock=clock,
            job_id=job.id,
        )
        return _read(job)

    # The session's work is blocking I/O: off the event loop. ``once``: a retry gets the first
    # answer, a first request's answer is remembered (the body is streamed, so the guard is
    # built here from what was read rather than declared with ``@idempotent``).
    return await run_in_threadpool(idem.once, create)


@router.get("", response_model=Page[ImportJobRead], responses=problem_responses(401, 403, 422))
def list_imports(
    actor: Importer, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[ImportJobRead]:
    """The caller's country's import jobs, newest first (a vetting officer: its own)."""
    after = decode_cursor(cursor, TIME_ID_CURSOR)
    jobs = import_service.list_jobs(session, actor, after=after, limit=limit)
    page = paginate(jobs, limit, lambda j: (j.created_at, j.id))
    return Page[ImportJobRead](items=[_read(j) for j in page.rows], next_cursor=page.next_cursor)


@router.get(
    "/{import_id}",
    response_model=ImportJobDetail,
    responses=problem_responses(401, 403, 404, 422),
)
def read_import(
    actor: Importer,
    job: ScopedImport,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ImportJobDetail:
    """Status, counts and the rejected rows (line, source_ref, code, reason), paged with
    ``limit`` and ``cursor``. Another country's job answers 404 (R24)."""
    after = decode_cursor(cursor, ID_CURSOR)
    errors = import_service.row_errors(
        session, job.id, after=after[0] if after else None, limit=limit
    )
    page = paginate(errors, limit, lambda e: (e.id,))
    return ImportJobDetail(
        **_read(job).model_dump(),
        errors=Page[ImportRowErrorRead](
            items=[_error_view(e) for e in page.rows], next_cursor=page.next_cursor
        ),
    )
