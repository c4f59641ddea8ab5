"""R22: chaining after commit is shared by the writers of a process that finish together
(``services.audit.GroupChainer``), and each writer still returns only once its own event is
linked into the chain."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.config import Settings
from app.db import unit_of_work
from app.models import AuditLink, AuditPending
from app.services.audit import audit

WRITERS = 8


def _linked(factory: sessionmaker[Session], event_id: int) -> bool:
    with factory() as session:
        return (
            session.scalar(select(AuditLink.seq).where(AuditLink.event_id == event_id)) is not None
        )


def _write_audited(factory: sessionmaker[Session], clock: FixedClock, who: str) -> int:
    """One audited write in its own unit of work; returns once the unit of work (its commit
    and its after-commit chaining) is done."""
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


def test_writers_waiting_together_share_one_pass_and_return_linked(
    factory: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    chainer = audit.GroupChainer.of(factory)
    passes_before = chainer.passes
    linked_on_return: dict[int, bool] = {}
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            event_id = _write_audited(factory, clock, f"writer_{n}")
            linked_on_return[event_id] = _linked(factory, event_id)
        except BaseException as exc:  # reported below
            failures.append(exc)

    # Hold the pass, as a pass in progress would, while every writer commits and waits.
    with chainer._pass_lock:
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while chainer._issued - chainer._covered < WRITERS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert chainer._issued - chainer._covered == WRITERS, "the writers did not all commit"
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    assert not [t for t in threads if t.is_alive()], "a writer is stuck"

    # The first writer through ran one pass for all eight; the others found themselves covered.
    assert chainer.passes - passes_before == 1
    assert len(linked_on_return) == WRITERS
    assert all(linked_on_return.values()), linked_on_return
    with factory() as session:
        assert session.scalars(select(AuditPending)).all() == []
        assert audit.verify(session, settings=settings).ok


def test_a_writer_after_a_pass_runs_its_own(
    factory: sessionmaker[Session], clock: FixedClock
) -> None:
    """A ticket taken after a pass began is not covered by it: sequential writers each get a
    pass, and each one's event is linked when it returns."""
    chainer = audit.GroupChainer.of(factory)
    passes_before = chainer.passes
    for n in range(3):
        assert _linked(factory, _write_audited(factory, clock, f"sequential_{n}"))
    assert chainer.passes - passes_before == 3
