"""R22 on PostgreSQL: audit appends must not serialise the whole service.

Events are inserted, pending, in each writer's own transaction; only chaining takes a lock (the
``audit_head`` row), and chaining is off the request path (#17): the background chainer, or a
reader that needs the whole chain, links committed events. Many concurrent writers must still
produce one unbroken chain, and a writer must never wait for another writer's open transaction.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.db import unit_of_work
from app.models import AuditEvent, AuditLink, AuditPending
from app.services.accounts.users import create_user
from app.services.audit import audit
from tests.api.test_conventions import USERS, user_body

pytestmark = pytest.mark.postgres_only

WRITERS = 16
WRITES_EACH = 10
VERIFY = "/api/v1/audit/verify"


def _verify(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(VERIFY, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_concurrent_writers_build_one_unbroken_chain(
    app: FastAPI,
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    """16 writers × 10 audited writes, each in its own transaction and session, all at once:
    every event ends up linked exactly once, in one chain that verifies."""
    auditor = make_user("auditor")
    start = threading.Barrier(WRITERS, timeout=30)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(WRITES_EACH):
                with unit_of_work(factory) as session:
                    create_user(
                        session,
                        actor=None,
                        hasher=app.state.hasher,
                        username=f"writer_{n}_{i}",
                        password="a long enough password",
                        roles=["auditor"],
                        country="MX",
                        agency_id=None,
                        now=clock.now(),
                    )
        except BaseException as exc:  # reported below, with the thread's own traceback
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not [t for t in threads if t.is_alive()], "a writer is stuck"
    assert not failures, failures

    result = _verify(client, auditor.headers)
    events = _count(factory, AuditEvent)
    assert events >= WRITERS * WRITES_EACH
    assert result["ok"] is True, result
    assert (result["checked"], result["head_seq"], result["pending"]) == (events, events, 0)
    with factory() as session:
        seqs = session.scalars(select(AuditLink.seq).order_by(AuditLink.seq)).all()
        linked = session.scalar(select(func.count(func.distinct(AuditLink.event_id))))
    assert list(seqs) == list(range(1, events + 1))
    assert linked == events


def test_an_open_audited_transaction_does_not_hold_up_other_writers(
    app: FastAPI,
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    """While one transaction has appended an audit event and not committed, another request
    commits its own audited write — without waiting for the first — and a reader's chaining
    links the committed event without waiting either (the open one is not visible to it)."""
    admin, auditor = make_user("admin"), make_user("auditor")
    appended, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with unit_of_work(factory) as session:
            audit.record(
                session,
                actor=None,
                actor_username="slow_writer",
                action="test.slow_write",
                resource_type="test",
                now=clock.now(),
            )
            appended.set()
            release.wait(timeout=60)

    slow = threading.Thread(target=slow_writer)
    slow.start()
    try:
        assert appended.wait(timeout=10)
        quick: dict[str, Any] = {}

        def quick_writer() -> None:
            # A client of its own, outside ``with``: its own event loop, no lifespan.
            own = TestClient(app, raise_server_exceptions=False)
            quick["response"] = own.post(USERS, json=user_body(), headers=admin.headers)
            quick["verify"] = _verify(own, auditor.headers)

        thread = threading.Thread(target=quick_writer)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the write waited for another writer's transaction"
        response: httpx.Response = quick["response"]
        assert response.status_code == 201, response.text
        assert quick["verify"]["ok"] is True, quick["verify"]

        with factory() as session:
            seq = session.scalar(
                select(AuditLink.seq)
                .join(AuditEvent, AuditEvent.id == AuditLink.event_id)
                .where(
                    AuditEvent.action == "user.create",
                    AuditEvent.resource_id == response.json()["id"],
                )
            )
        assert seq is not None, "the committed write was not chained"
    finally:
        release.set()
        slow.join(timeout=30)
    assert not slow.is_alive()

    result = _verify(client, auditor.headers)
    assert result["ok"] is True, result
    assert result["checked"] == _count(factory, AuditEvent)
    assert _count(factory, AuditPending) == 0
    with factory() as session:
        slow_event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "test.slow_write")
        ).one()
        slow_seq = session.scalar(select(AuditLink.seq).where(AuditLink.event_id == slow_event.id))
    # The earlier-started but later-committed event is linked after the quick one.
    assert slow_seq is not None
    assert slow_seq > seq
