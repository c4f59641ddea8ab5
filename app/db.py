"""Engine and the request session (the unit of work: commit on success, roll back on error)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

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
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def run_after_commit(session: Session) -> None:
    """Run the hooks services registered for after a successful commit (audit chaining,
    outbox delivery nudges). They open their own sessions: this one is finished."""
    session.info.pop("audit_chain_scheduled", None)
    for hook in session.info.pop("after_commit", []):
        hook()


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
