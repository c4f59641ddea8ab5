"""The sweep (``registry sweep``): time-driven transitions, recorded once (R15, R16, R19).

Nothing the registry answers depends on the sweep — schedules, due lists and draw statuses are
derived from facts and the clock when read. The sweep *records* what time changed, as
``SweepEvent`` rows, so there is a history of when validity ended, retest windows and random
deadlines passed, and draws failed at their deadlines (which it also marks ``failed``).

Each finding carries a ``dedupe_key`` naming the transition (e.g.
``validity_expired:<official>:<due date>``); the insert is
``INSERT … ON CONFLICT (dedupe_key) DO NOTHING``, so running the sweep again, or in several
processes at once, records each transition exactly once. Each check runs in its own short
transaction.

Extending it: append a function ``(session, *, now) -> Iterable[Finding]`` to ``CHECKS`` (or
call ``register_check``); the task-force module adds its status checks this way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.db import unit_of_work
from app.domain.vocabulary import ObligationKind
from app.models import RandomDraw, SweepEvent
from app.services.audit import audit
from app.services.revetting.draws import COMMITTED, FAILED, OPEN
from app.services.revetting.policy import ensure_default_policies
from app.services.revetting.schedules import (
    BOTH_COUNTRIES,
    KIND_COLUMNS,
    ScheduleScope,
    build_schedule_sql,
)

INSERT_BATCH = 1000
# Obligation kinds whose due date passing is a time-driven transition, and the event it makes.
OVERDUE_EVENTS = {
    ObligationKind.VALIDITY_END: "validity_expired",
    ObligationKind.INCONCLUSIVE_RETEST: "retest_overdue",
    ObligationKind.PROMOTION: "promotion_revetting_overdue",
    ObligationKind.RANDOM_SELECTION: "random_revetting_overdue",
}


@dataclass(frozen=True)
class Finding:
    dedupe_key: str
    kind: str
    effective_on: dt.date
    official_id: uuid.UUID | None = None
    draw_id: uuid.UUID | None = None
    task_force_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


Check = Callable[..., Iterable[Finding]]


@dataclass
class SweepReport:
    now: dt.datetime
    checks: list[str] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)
    recorded: dict[str, int] = field(default_factory=dict)

    @property
    def total_recorded(self) -> int:
        return sum(self.recorded.values())


def overdue_obligations_check(session: Session, *, now: dt.datetime) -> Iterator[Finding]:
    """Validity ends (R6), retest windows (R6), promotion re-vetting and random deadlines
    (R15, R16) that have passed for officials with an active appointment.

    One set-based SELECT over every official. The key names the official and the due date:
    a policy change that moves a due date is a new transition."""
    today = now.date()
    summary = build_schedule_sql(ScheduleScope(countries=BOTH_COUNTRIES), today=today).summary
    columns = {kind: KIND_COLUMNS[kind] for kind in OVERDUE_EVENTS}
    overdue = [summary.c[column] < today for column in columns.values()]
    stmt = select(summary.c.official_id, *(summary.c[c] for c in columns.values())).where(
        or_(*overdue)
    )
    # Streamed: at a million officials the findings are not all held in memory at once.
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        for kind, column in columns.items():
            due = getattr(row, column)
            if due is None or due >= today:
                continue
            event = OVERDUE_EVENTS[kind]
            yield Finding(
                dedupe_key=f"{event}:{row.official_id}:{due.isoformat()}",
                kind=event,
                effective_on=due + dt.timedelta(days=1),
                official_id=row.official_id,
                details={"due_on": due.isoformat()},
            )


def draw_deadlines_check(session: Session, *, now: dt.datetime) -> list[Finding]:
    """Draws past a deadline are marked failed, never re-drawn (R16). The status change is a
    compare-and-set, so of two concurrent sweeps only one fails (and audits) each draw."""
    for status, deadline, reason in (
        (OPEN, RandomDraw.commit_deadline, "commit deadline passed before both committed"),
        (COMMITTED, RandomDraw.reveal_deadline, "reveal deadline passed before both revealed"),
    ):
        failed = (
            session.execute(
                update(RandomDraw)
                .where(RandomDraw.status == status, deadline < now)
                .values(status=FAILED, failure_reason=reason, version=RandomDraw.version + 1)
                .returning(RandomDraw.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        for draw_id in failed:
            audit.record(
                session,
                actor=None,
                actor_username="sweep",
                action="draw.failed",
                resource_type="random_draw",
                resource_id=draw_id,
                details={"reason": reason},
                now=now,
            )
    # Every failed draw gets its event, also those a request failed first.
    rows = session.execute(
        select(
            RandomDraw.id,
            RandomDraw.failure_reason,
            RandomDraw.commit_deadline,
            RandomDraw.reveal_deadline,
            RandomDraw.status,
        ).where(RandomDraw.status == FAILED)
    )
    return [
        Finding(
            dedupe_key=f"draw_failed:{r.id}",
            kind="draw_failed",
            effective_on=now.date(),
            draw_id=r.id,
            details={"reason": r.failure_reason},
        )
        for r in rows
    ]


CHECKS: list[Check] = [overdue_obligations_check, draw_deadlines_check]


def register_check(check: Check) -> Check:
    """Add a check (usable as a decorator); checks run in registration order."""
    if check not in CHECKS:
        CHECKS.append(check)
    return check


def record_findings(session: Session, findings: Iterable[Finding], *, now: dt.datetime) -> int:
    """Insert the findings not yet recorded (``ON CONFLICT DO NOTHING``), in batches; returns
    how many were new. Safe against concurrent sweeps on PostgreSQL and SQLite."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = 0
    for batch in _batches(findings, INSERT_BATCH):
        rows = [
            {
                "dedupe_key": f.dedupe_key,
                "kind": f.kind,
                "official_id": f.official_id,
                "draw_id": f.draw_id,
                "task_force_id": f.task_force_id,
                "effective_on": f.effective_on,
                "details": f.details,
                "detected_at": now,
            }
            for f in batch
        ]
        stmt = (
            insert(SweepEvent)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(SweepEvent.id)
        )
        inserted += len(session.execute(stmt).all())
    return inserted


def _batches(items: Iterable[Finding], size: int) -> Iterator[list[Finding]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _Counted:
    """Counts the findings a check yields while they stream into ``record_findings``."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = findings
        self.count = 0

    def __iter__(self) -> Iterator[Finding]:
        for finding in self.findings:
            self.count += 1
            yield finding


def run_sweep(
    factory: sessionmaker[Session], *, now: dt.datetime, checks: Iterable[Check] | None = None
) -> SweepReport:
    """Run every check, each in its own transaction, and record what it found (R15, R16, R19).

    Idempotent and safe to run concurrently: a transition already recorded is skipped."""
    report = SweepReport(now=now)
    with unit_of_work(factory) as session:
        ensure_default_policies(session, now)
    for check in list(checks if checks is not None else CHECKS):
        name = getattr(check, "__name__", repr(check))
        with unit_of_work(factory) as session:
            findings = _Counted(check(session, now=now))
            new = record_findings(session, findings, now=now)
            if new:
                audit.record(
                    session,
                    actor=None,
                    actor_username="sweep",
                    action="sweep.recorded",
                    resource_type="sweep_event",
                    details={"check": name, "recorded": new, "found": findings.count},
                    now=now,
                )
        report.checks.append(name)
        report.found[name] = findings.count
        report.recorded[name] = new
    return report
