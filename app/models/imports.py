"""Bulk import aggregate: a job, where it got to, and the rows it rejected."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK, UTCDateTime, new_id


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))  # officials | evaluations | separations
    file_format: Mapped[str] = mapped_column(String(10))  # csv | ndjson
    status: Mapped[str] = mapped_column(String(20), default="queued")
    filename: Mapped[str | None] = mapped_column(String(300))
    # The uploaded file, kept in the database so any process can run or resume the job.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    country: Mapped[str] = mapped_column(String(2))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Last line fully processed and committed: a restarted job resumes after it.
    last_line: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class ImportRowError(Base):
    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("import_jobs.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    source_ref: Mapped[str | None] = mapped_column(String(120))
    code: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(500))
