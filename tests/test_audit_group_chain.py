"""R22, #17: writers never chain, so they never queue on the chain head; the events of writers
that commit together are linked by one background chainer pass, in batches (the group commit
that ``GroupChainer`` did on the request path, now off it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.models import AuditPending
from app.services.audit import audit
from app.services.audit.chainer import AuditChainer

WRITERS = 8


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[FastAPI]:
    """The app without its background chainer: the test runs the chainer's pass itself."""
    application = create_app(settings.model_copy(update={"audit_chain_in_process": False}), clock)
    yield application
    application.state.engine.dispose()


def _write_audited(factory: sessionmaker[Session], clock: FixedClock, who: str) -> int:
    """One audited write in its own unit of work; returns once it has committed."""
    with unit_of_work(factory) as session:
        event = audit.record(
            session,
            actor=None,
            actor_username=who,
            action="test.group_write",
            resource_type="test",
            now=clock.now(),
        )
    return event.id


def _pending(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditPending)) or 0)


def _concurrent_writes(factory: sessionmaker[Session], clock: FixedClock) -> None:
    start = threading.Barrier(WRITERS, timeout=30)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            _write_audited(factory, clock, f"writer_{n}")
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not [t for t in threads if t.is_alive()], "a writer waited on the chain head"
    assert not failures, failures


@pytest.mark.postgres_only
def test_writers_commit_while_the_chain_head_is_locked(
    app: FastAPI, factory: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    """A chaining pass in progress holds ``audit_head``'s row lock; eight audited writers commit
    all the same and return, their events pending (before #17 each waited for that lock after
    its commit, to chain its own event)."""
    audit.chain(factory)  # the head row exists
    with app.state.engine.connect() as chaining:
        chaining.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
        _concurrent_writes(factory, clock)
        assert _pending(factory) == WRITERS
        chaining.rollback()
    assert AuditChainer(factory, settings=settings).run_once() == WRITERS
    with factory() as session:
        assert audit.verify(session, settings=settings).ok


def test_one_chainer_pass_links_what_writers_committed_together_in_batches(
    app: FastAPI, factory: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    """Eight writers commit at once; one pass of the chainer, in batches of three, links all
    eight in the order of their events, and the chain verifies."""
    audit.chain(factory)
    _concurrent_writes(factory, clock)
    assert _pending(factory) == WRITERS
    chainer = AuditChainer(factory, settings=settings.model_copy(update={"audit_chain_batch": 3}))
    assert chainer.run_once() == WRITERS
    assert chainer.run_once() == 0  # nothing left: an idle tick links nothing
    with factory() as session:
        result = audit.verify(session, settings=settings)
    assert (result.ok, result.pending) == (True, 0)
