"""Engine and the request session (the unit of work: commit on success, roll back on error)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# Seconds a new PostgreSQL connection may take (TCP, TLS, authentication) before it fails: a
# database that is down or unreachable answers 503 promptly instead of holding the request.
CONNECT_TIMEOUT_SECONDS = 5
# Server settings for every PostgreSQL session (libpq ``options``; a URL with its own
# ``?options=`` keeps those instead). JIT off: the registry's large statements (due list,
# coverage, sweep) carry hundreds of expressions, and compiling them cost more than it saved —
# the due list over 1M officials took 14.9 s with JIT and 10.8 s without (docs/benchmark.md).
POSTGRES_OPTIONS = "-c jit=off"


def make_engine(
    url: str, *, pool_size: int = 10, connect_timeout: int = CONNECT_TIMEOUT_SECONDS
) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout on every connection,
    PostgreSQL a connect timeout and ``POSTGRES_OPTIONS``. ``hide_parameters``: the text of a
    database error never carries the statement's parameters (names, blind indexes), so logging
    one is safe."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling would start transactions lazily at the first
            # write and hide BEGIN from us; we issue BEGIN ourselves (see _sqlite_begin).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock at BEGIN, so two writers never both read a snapshot
            # and then fail to upgrade (SQLITE_BUSY_SNAPSHOT); SQLite serialises writers anyway.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    parsed = make_url(url)
    if parsed.get_driver_name() in ("psycopg", "psycopg2"):
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
        if "options" not in parsed.query:
            connect_args["options"] = POSTGRES_OPTIONS
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args=connect_args,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def run_after_commit(session: Session) -> None:
    """Run the hooks services registered for after a successful commit (audit chaining,
    outbox delivery nudges). They open their own sessions: this one is finished.

    The write is committed whatever a hook does, so a hook's failure is logged and the other
    hooks still run; the caller is answered as committed. Nothing is lost by it: an audit
    event left unlinked stays in ``audit_pending`` and is linked by the next chaining (any
    later write, ``GET /audit/verify``, ``registry sweep``), and an outbox row not nudged is
    found by the delivery worker's next poll (docs/security.md, 3.7)."""
    session.info.pop("audit_chain_scheduled", None)
    hooks: list[Callable[[], object]] = session.info.pop("after_commit", [])
    for hook in hooks:
        try:
            hook()
        except Exception as exc:
            # The class and the hook's name only: a driver error's text may quote SQL.
            log.error(
                "after-commit hook %s failed (%s); the write is committed and the work "
                "is picked up later",
                getattr(hook, "__qualname__", type(hook).__name__),
                type(exc).__name__,
                exc_info=exc,
            )


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work. Registered with scope="function" so the commit happens
    before the response is sent: a failed commit becomes an error answer, not a lie."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    session.info["factory"] = factory
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    run_after_commit(session)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The same unit of work outside HTTP (command line, sweep, workers)."""
    session = factory()
    session.info["factory"] = factory
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    run_after_commit(session)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
