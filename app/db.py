"""Engine and the request session (the unit of work: commit on success, roll back on error),
and the one way to act once a session's transaction is over (``after_commit``,
``after_transaction``)."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

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
            # Reads too (#17 point 4): a DEFERRED transaction that writes after reading fails
            # that upgrade at once, busy_timeout or not, when anyone committed since its first
            # read, and every hot route reads before writing (authentication, then the quota,
            # the audit event of R12/#19, the screening). docs/benchmark.md, "SQLite".
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    parsed = make_url(url)
    if parsed.get_driver_name() in ("psycopg", "psycopg2"):
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
        if "options" not in parsed.query:
            connect_args["options"] = POSTGRES_OPTIONS
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=POOL_RECYCLE_SECONDS,
        hide_parameters=True,
        connect_args=connect_args,
    )
    event.listen(engine, "checkout", _check_pooled_connection)
    event.listen(engine, "checkin", _note_checkin)
    return engine


# A pooled connection is replaced after this many seconds of life, whatever its state.
POOL_RECYCLE_SECONDS = 1800
# A connection idle in the pool longer than this is pinged (one round trip) before it is handed
# out: a peer that vanished without closing the socket (a dropped route, a failed-over host) is
# only found by talking to it. Younger connections are not pinged (#17: ``pool_pre_ping`` sent a
# ``SELECT 1`` before every request's statements, a round trip and a transaction each time).
PING_AFTER_IDLE_SECONDS = 30.0


def _check_pooled_connection(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Hand out only a connection that is still alive, without a round trip when it was used
    recently. A server that ends a session (``pg_terminate_backend``, a restart, an idle
    timeout) sends its last message and closes the socket, so the socket of a dead pooled
    connection is readable while a live idle one's is not: one ``poll`` finds it. Raising
    ``DisconnectionError`` makes the pool discard the connection and try another (or a new
    one, up to three times) before the caller sees anything."""
    now = time.monotonic()
    checked_in = record.info.get(_CHECKED_IN)  # None: a connection just opened
    try:
        fd = dbapi_conn.fileno()
    except Exception as exc:  # closed or broken: no descriptor at all
        raise DisconnectionError("pooled connection is closed") from exc
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    if poller.poll(0):  # POLLHUP and POLLERR are reported whatever was asked
        raise DisconnectionError("pooled connection was closed by the server")
    if checked_in is not None and now - checked_in > PING_AFTER_IDLE_SECONDS:
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError("pooled connection did not answer a ping") from exc


_CHECKED_IN = "checked_in_at"


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


Hook = Callable[[], object]
_HOOKS = "after_transaction_hooks"


@dataclass
class _Hooks:
    on_commit: list[Hook] = field(default_factory=list)
    on_end: list[Hook] = field(default_factory=list)
    committed: bool = False


def after_commit(session: Session, fn: Hook) -> None:
    """Run ``fn`` once the session's current (outermost) transaction has committed; never if
    it rolls back. Registering the same hook twice runs it once. For work that must follow a
    committed write: outbox delivery nudges, an import's worker thread (audit chaining runs in
    the background chainer, ``app.services.audit.chainer``, never after a request's commit).

    ``fn`` runs after the session has given its connection back, and opens its own session.
    The write is committed whatever ``fn`` does, so a failure is logged and the other hooks
    still run; the caller is answered as committed. Nothing is lost by it: an outbox row not
    nudged is found by the delivery worker's next poll (docs/security.md, 3.7)."""
    hooks = _hooks(session).on_commit
    if fn not in hooks:
        hooks.append(fn)


def after_transaction(session: Session, fn: Hook) -> None:
    """Run ``fn`` once the session's current (outermost) transaction has ended, whichever way:
    for what a refused request must still leave behind (the screening an appointment gate
    refused on, R3; a draw that a late request found past its deadline, R16). ``fn`` writes in
    a unit of work of its own, so it never waits on the caller's locks; a failure is logged."""
    _hooks(session).on_end.append(fn)


def _hooks(session: Session) -> _Hooks:
    hooks: _Hooks | None = session.info.get(_HOOKS)
    if hooks is None:
        hooks = session.info[_HOOKS] = _Hooks()
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_transaction_end", _ended)
    return hooks


def _committed(session: Session) -> None:
    # Fired for savepoints too; only the outermost transaction's commit counts.
    if not session.in_nested_transaction():
        session.info[_HOOKS].committed = True


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    hooks: _Hooks = session.info[_HOOKS]
    run = (hooks.on_commit if hooks.committed else []) + hooks.on_end
    # Reset first: a later transaction of the same session starts with no hooks.
    session.info[_HOOKS] = _Hooks()
    for hook in run:
        kind = "after-transaction" if hook in hooks.on_end else "after-commit"
        try:
            hook()
        except Exception as exc:
            # The class and the hook's name only: a driver error's text may quote SQL.
            log.error(
                "%s hook %s failed (%s); the transaction is over and the work is picked up later",
                kind,
                getattr(hook, "__qualname__", type(hook).__name__),
                type(exc).__name__,
                exc_info=exc,
            )


_BEFORE = "before_commit_hooks"


def before_commit(session: Session, fn: Hook) -> None:
    """Run ``fn`` at the end of the session's unit of work (``get_session``,
    ``unit_of_work``), inside its transaction, just before it commits: for a statement that
    must come last so its row lock is held only to the commit (a request's quota, #17). If
    ``fn`` raises, the unit of work rolls back and the error is the answer. Intermediate
    ``session.commit()`` calls do not run it."""
    hooks: list[Hook] = session.info.setdefault(_BEFORE, [])
    hooks.append(fn)


def _finish(session: Session) -> None:
    while hooks := session.info.pop(_BEFORE, None):
        for hook in hooks:
            hook()
    session.commit()


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work. Registered with scope="function" so the commit happens
    before the response is sent: a failed commit becomes an error answer, not a lie."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    session.info["factory"] = factory
    try:
        yield session
        _finish(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The same unit of work outside HTTP (command line, sweep, workers)."""
    session = factory()
    session.info["factory"] = factory
    try:
        yield session
        _finish(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
