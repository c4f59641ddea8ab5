"""Fixtures for bulk-import tests: a small world of agencies and admins, and a helper that
queues a file and runs it through the import service (the same path the API's background thread
and ``registry import`` take)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.db import unit_of_work
from app.models import ImportJob, ImportRowError, User
from app.services.imports import imports as import_service
from app.services.imports.imports import principal_of
from tests.conftest import Caller
from tests.registry.builders import make_agency


@dataclass
class World:
    mx_police: uuid.UUID
    mx_vetter_body: uuid.UUID
    mx_other: uuid.UUID
    us_fbi: uuid.UUID
    us_vetter_body: uuid.UUID
    mx_admin: Caller
    us_admin: Caller
    mx_vetter: Caller  # a vetting officer of mx_vetter_body: evaluations are imported by one
    us_vetter: Caller  # (R25, #18 F7)


@pytest.fixture
def world(factory: sessionmaker[Session], make_user: Any) -> World:
    mx_vetter_body = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    us_vetter_body = make_agency(factory, country="US", acronym="FBISEC", can_vet=True)
    return World(
        mx_police=make_agency(factory, country="MX", acronym="PEJAL"),
        mx_vetter_body=mx_vetter_body,
        mx_other=make_agency(factory, country="MX", acronym="FGR", sector="justice"),
        us_fbi=make_agency(factory, country="US", acronym="FBI"),
        us_vetter_body=us_vetter_body,
        mx_admin=make_user("admin", "MX"),
        us_admin=make_user("admin", "US"),
        mx_vetter=make_user("vetting_officer", "MX", agency_id=mx_vetter_body),
        us_vetter=make_user("vetting_officer", "US", agency_id=us_vetter_body),
    )


@dataclass
class Run:
    job_id: uuid.UUID
    status: str
    accepted: int
    rejected: int
    duplicates: int
    total_rows: int
    last_line: int
    errors: list[tuple[int, str | None, str, str]]


class Importer:
    def __init__(self, app: FastAPI, clock: FixedClock) -> None:
        self.app = app
        self.clock = clock
        self.factory: sessionmaker[Session] = app.state.sessionmaker

    def queue(self, caller: Caller, kind: str, text: str, fmt: str = "csv") -> uuid.UUID:
        with unit_of_work(self.factory) as session:
            user = session.get(User, caller.id)
            assert user is not None
            job = import_service.create_job(
                session,
                actor=principal_of(user),
                kind=kind,
                file_format=fmt,
                payload=text.encode(),
                filename=f"test.{fmt}",
                now=self.clock.now(),
            )
            return job.id

    def run(self, job_id: uuid.UUID, **kwargs: Any) -> Run:
        import_service.run_job(
            self.factory,
            job_id=job_id,
            settings=self.app.state.settings,
            clock=self.clock,
            **kwargs,
        )
        return self.result(job_id)

    def __call__(
        self, caller: Caller, kind: str, text: str, fmt: str = "csv", **kwargs: Any
    ) -> Run:
        return self.run(self.queue(caller, kind, text, fmt), **kwargs)

    def result(self, job_id: uuid.UUID) -> Run:
        with self.factory() as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            errors = session.execute(
                select(
                    ImportRowError.line,
                    ImportRowError.source_ref,
                    ImportRowError.code,
                    ImportRowError.reason,
                )
                .where(ImportRowError.job_id == job_id)
                .order_by(ImportRowError.id)
            ).all()
            return Run(
                job_id=job.id,
                status=job.status,
                accepted=job.accepted,
                rejected=job.rejected,
                duplicates=job.duplicates,
                total_rows=job.total_rows,
                last_line=job.last_line,
                errors=[tuple(e) for e in errors],  # type: ignore[misc]
            )

    def count(self, model: Any, *where: Any) -> int:
        with self.factory() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def importer(app: FastAPI, clock: FixedClock) -> Importer:
    return Importer(app, clock)
