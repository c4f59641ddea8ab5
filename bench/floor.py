"""The database's own floor: the same lookups, as raw SQL through psycopg, at the same
concurrency.

"The same lookups" is taken literally: each scenario's service function is called in this
process inside a transaction that is rolled back, every SELECT it sends is captured with its
parameters (SQLAlchemy's ``before_cursor_execute``), and those statements are replayed by
async psycopg connections in a closed loop. Writes (the kept screening, the audit event) are
left out: the floor is what reading costs the database. Capturing also counts the statements
one request issues, which shows whether roster compliance grows with the roster (DESIGN §6).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock
from app.config import Settings
from app.db import POSTGRES_OPTIONS
from app.domain.access import Principal
from bench.load import Result, Samples, Timing, _pick, _vary

Statement = tuple[str, Any]


@dataclass
class Captured:
    selects: list[Statement]
    statements: int  # every statement the service sent, writes included


def capture(
    engine: Engine, factory: sessionmaker[Session], fn: Callable[[Session], object]
) -> Captured:
    seen: list[tuple[str, Any]] = []

    def listener(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        with factory() as session:
            try:
                fn(session)
            finally:
                session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    selects = [
        (sql, params)
        for sql, params in seen
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "FOR UPDATE" not in sql.upper()
    ]
    return Captured(selects, len(seen))


def capture_all(
    engine: Engine,
    factory: sessionmaker[Session],
    settings: Settings,
    actor: Principal,
    samples: Samples,
    *,
    per_scenario: int,
    seed: int,
) -> tuple[dict[str, list[Captured]], dict[str, str]]:
    """Captured statement sets per scenario; and why a scenario could not be captured."""
    from app.services.accounts import users as user_service
    from app.services.registry.officials import IdentifierInput
    from app.services.revetting import schedules
    from app.services.screening import screening
    from app.services.task_forces import eligibility, task_forces

    now = Clock().now()
    rng = random.Random(seed)

    def screening_input(identity: dict[str, Any]) -> Any:
        return screening.ScreeningInput(
            given_names=identity["given_names"],
            first_surname=identity["first_surname"],
            second_surname=identity.get("second_surname"),
            date_of_birth=dt.date.fromisoformat(identity["date_of_birth"]),
            identifiers=[
                IdentifierInput(i["scheme"], i["value"]) for i in identity.get("identifiers", [])
            ],
        )

    builders: dict[str, Callable[[], Callable[[Session], object]]] = {
        "baseline": lambda: (
            lambda s: user_service.get_user_in_scope(s, actor=actor, user_id=actor.user_id)
        ),
        "identifier_screening": lambda: (
            lambda data: (
                lambda s: screening.screen(s, actor=actor, settings=settings, data=data, now=now)
            )
        )(screening_input(_pick(rng, samples))),
        "name_screening": lambda: (
            lambda data: (
                lambda s: screening.screen(s, actor=actor, settings=settings, data=data, now=now)
            )
        )(screening_input(_vary(rng, _pick(rng, samples)))),
        "eligibility": lambda: (
            lambda oid: (
                lambda s: eligibility.answer(
                    s, actor=actor, settings=settings, official_id=oid, attest=False, now=now
                )
            )
        )(uuid.UUID(rng.choice(samples.official_ids))),
        "compliance": lambda: (
            lambda s: task_forces.compliance(
                s, task_forces.get_task_force(s, actor, uuid.UUID(str(samples.roster_100))), now=now
            )
        ),
        "batch_screening": lambda: (
            lambda items: (
                lambda s: screening.screen_batch(
                    s, actor=actor, settings=settings, items=items, now=now
                )
            )
        )([screening_input(_vary(rng, _pick(rng, samples))) for _ in range(1000)]),
        "due_list": lambda: (
            lambda s: schedules.due_list(
                s,
                filters=schedules.due_filters_for(
                    actor, agency_id=None, sector=None, rank_tier=None, states=None, due_before=None
                ),
                today=now.date(),
                after=None,
                limit=200,
            )
        ),
    }
    out: dict[str, list[Captured]] = {}
    failures: dict[str, str] = {}
    for name, build in builders.items():
        count = 1 if name in {"compliance", "due_list", "baseline"} else per_scenario
        if name == "batch_screening":
            count = min(3, per_scenario)
        try:
            out[name] = [capture(engine, factory, build()) for _ in range(count)]
        except Exception as exc:  # another engineer's service may not be there yet
            failures[name] = (
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            )
    return out, failures


def statements_per_compliance(
    engine: Engine, factory: sessionmaker[Session], actor: Principal, samples: Samples
) -> dict[str, int]:
    """Statements one compliance answer sends, for the 100-member roster and the smallest."""
    from app.services.task_forces import task_forces

    now = Clock().now()
    out: dict[str, int] = {}
    for tf_id, size in (
        (samples.roster_100, 100),
        (samples.roster_small, samples.roster_small_size),
    ):
        if tf_id is None:
            continue
        roster = uuid.UUID(tf_id)

        def answer(s: Session, roster: uuid.UUID = roster) -> object:
            return task_forces.compliance(s, task_forces.get_task_force(s, actor, roster), now=now)

        out[f"{size} members"] = capture(engine, factory, answer).statements
    return out


def _dsn(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


async def replay(
    url: str,
    sets: list[Captured],
    *,
    name: str,
    title: str,
    concurrency: int,
    timing: Timing,
    seed: int,
) -> Result:
    """Replay captured statement sets in a closed loop on ``concurrency`` connections."""
    result = Result(name, title, concurrency)
    started = time.perf_counter()
    measure_from = started + timing.warmup
    deadline = measure_from + timing.duration
    budget = [timing.max_requests]
    dsn = _dsn(url)

    async def loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        # The server's own session settings, so the floor measures the same planner and executor.
        async with await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, options=POSTGRES_OPTIONS
        ) as conn:
            while time.perf_counter() < deadline and budget[0] > 0:
                chosen = rng.choice(sets)
                t0 = time.perf_counter()
                ok = True
                try:
                    async with conn.cursor() as cur:
                        for sql, params in chosen.selects:
                            await cur.execute(sql, params)
                            await cur.fetchall()
                except psycopg.Error:
                    ok = False
                t1 = time.perf_counter()
                if t0 < measure_from:
                    continue
                budget[0] -= 1
                result.requests += 1
                result.latencies_ms.append((t1 - t0) * 1000.0)
                if not ok:
                    result.errors += 1

    await asyncio.wait_for(
        asyncio.gather(*(loop(i) for i in range(concurrency))),
        timeout=timing.warmup + timing.duration + 120.0,
    )
    result.seconds = max(1e-9, min(time.perf_counter(), deadline) - measure_from)
    result.note = f"{sum(len(s.selects) for s in sets) / max(len(sets), 1):.1f} SELECTs per request"
    return result
