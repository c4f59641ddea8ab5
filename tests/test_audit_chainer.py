"""R22, #17: audit chaining is off the request path. A request leaves its event pending; the
background chainer (``services.audit.chainer.AuditChainer``) links pending events in batches, one
leader at a time across processes; readers that need the whole chain link first; a batch cut
short (an aborted transaction, a killed process) leaves a chain that verifies, and the next run
links the rest (docs/security.md 3.6).

The app of these tests runs no chainer thread (``audit_chain_in_process`` off), so nothing is
linked unless a test says so: each step is observed, never waited for.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.models import AuditEvent, AuditLink, AuditPending
from app.services.audit import audit
from app.services.audit.chainer import AuditChainer
from tests.api.test_conventions import USERS, user_body

ROOT = Path(__file__).resolve().parents[1]
VERIFY = "/api/v1/audit/verify"
CHECKPOINTS = "/api/v1/audit/checkpoints"


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[FastAPI]:
    """The app without its background chainer: these tests run each chaining step by hand."""
    application = create_app(settings.model_copy(update={"audit_chain_in_process": False}), clock)
    yield application
    application.state.engine.dispose()


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _verify(factory: sessionmaker[Session], settings: Settings) -> audit.VerifyResult:
    """The chain as it stands, linking nothing first (the service function, not the route)."""
    with factory() as session:
        return audit.verify(session, settings=settings)


def _chainer(factory: sessionmaker[Session], settings: Settings, batch: int) -> AuditChainer:
    return AuditChainer(factory, settings=settings.model_copy(update={"audit_chain_batch": batch}))


def _record(factory: sessionmaker[Session], clock: FixedClock, n: int) -> list[int]:
    """``n`` audit events committed together, as a request's write commits its event."""
    with unit_of_work(factory) as session:
        return [
            audit.record(
                session,
                actor=None,
                actor_username=f"writer_{i}",
                action="test.chainer",
                resource_type="test",
                now=clock.now(),
            ).id
            for i in range(n)
        ]


def _linked_everything(factory: sessionmaker[Session]) -> int:
    """Link what the fixtures left pending (their users' events); returns the head's seq."""
    audit.chain(factory)
    with factory() as session:
        return int(session.scalar(select(func.max(AuditLink.seq))) or 0)


def test_a_request_leaves_its_event_pending_and_one_chainer_run_links_it(
    client: TestClient, make_user: Any, factory: sessionmaker[Session], settings: Settings
) -> None:
    """The write is answered with its event committed and pending: the request did not chain
    (#17). One run of the chainer links it, and the chain verifies."""
    admin = make_user("admin")
    _linked_everything(factory)
    created = client.post(USERS, json=user_body(), headers=admin.headers)
    assert created.status_code == 201, created.text
    with factory() as session:
        event_id = session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.action == "user.create",
                AuditEvent.resource_id == created.json()["id"],
            )
        )
        assert session.get(AuditPending, event_id) is not None
        assert session.scalar(select(AuditLink).where(AuditLink.event_id == event_id)) is None

    assert AuditChainer(factory, settings=settings).run_once() == 1
    assert _count(factory, AuditPending) == 0
    result = _verify(factory, settings)
    assert (result.ok, result.pending) == (True, 0)
    assert result.checked == _count(factory, AuditEvent)


def test_a_server_process_runs_one_chainer_thread_while_it_serves(
    settings: Settings, clock: FixedClock
) -> None:
    """With ``audit_chain_in_process`` (the default) the app's lifespan starts the chainer's
    thread and stops it at shutdown, before the engine is disposed."""
    served = create_app(settings.model_copy(update={"audit_chain_in_process": True}), clock)
    try:
        with TestClient(served):
            chainer = served.state.audit_chainer
            assert isinstance(chainer, AuditChainer)
            assert chainer.running
        assert not chainer.running
    finally:
        served.state.engine.dispose()


def test_readers_that_need_the_whole_chain_link_first(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """``GET /audit``, ``GET /audit/verify`` and ``POST /audit/checkpoints`` never see a half
    chain: what was committed before them is linked before they read or sign."""
    admin, auditor = make_user("admin"), make_user("auditor")
    created = client.post(USERS, json=user_body(), headers=admin.headers)
    assert created.status_code == 201, created.text
    assert _count(factory, AuditPending) >= 1

    listed = client.get(
        "/api/v1/audit",
        params={"action": "user.create", "resource_id": created.json()["id"]},
        headers=auditor.headers,
    )
    assert listed.status_code == 200, listed.text
    [event] = listed.json()["items"]
    assert event["seq"] is not None

    client.post(USERS, json=user_body(), headers=admin.headers)
    events = _count(factory, AuditEvent)
    checkpoint = client.post(CHECKPOINTS, headers=auditor.headers)
    assert checkpoint.status_code == 201, checkpoint.text
    assert checkpoint.json()["seq"] == events  # every event before it, the newest write's too

    client.post(USERS, json=user_body(), headers=admin.headers)
    verify = client.get(VERIFY, headers=auditor.headers).json()
    assert verify["ok"] is True, verify
    assert (verify["checked"], verify["pending"]) == (_count(factory, AuditEvent), 0)


def _refuse_links_from(engine: Engine, seq: int, *, on: bool) -> None:
    """A trigger that refuses any link at or past ``seq``: the batch holding it aborts midway,
    after some of its links were inserted."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            if on:
                conn.exec_driver_sql(
                    "CREATE FUNCTION refuse_late_link() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.seq >= {seq} THEN RAISE EXCEPTION 'injected failure'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
                conn.exec_driver_sql(
                    "CREATE TRIGGER refuse_late_link BEFORE INSERT ON audit_links "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_late_link()"
                )
            else:
                conn.exec_driver_sql("DROP TRIGGER refuse_late_link ON audit_links")
                conn.exec_driver_sql("DROP FUNCTION refuse_late_link()")
        elif on:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_late_link BEFORE INSERT ON audit_links "
                f"WHEN NEW.seq >= {seq} BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        else:
            conn.exec_driver_sql("DROP TRIGGER refuse_late_link")


def test_a_batch_aborted_midway_leaves_a_chain_that_verifies_and_the_next_run_links_the_rest(
    app: FastAPI,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """25 pending events, batches of 5; the third batch's fourth link is refused, so that
    transaction aborts after inserting three links. The two batches before it stay, the chain
    verifies up to them, the 15 others stay pending; the failure is logged and the chainer's
    next run links them all."""
    base = _linked_everything(factory)
    _record(factory, clock, 25)
    chainer = _chainer(factory, settings, batch=5)
    _refuse_links_from(app.state.engine, base + 14, on=True)
    with caplog.at_level(logging.ERROR, logger="app.services.audit.chainer"):
        assert chainer.tick() is None
    [logged] = [r for r in caplog.records if r.name == "app.services.audit.chainer"]
    assert "audit chaining failed" in logged.getMessage()

    cut = _verify(factory, settings)
    assert (cut.ok, cut.checked, cut.head_seq, cut.pending) == (True, base + 10, base + 10, 15)

    _refuse_links_from(app.state.engine, base + 14, on=False)
    assert chainer.run_once() == 15
    whole = _verify(factory, settings)
    assert (whole.ok, whole.checked, whole.pending) == (True, base + 25, 0)


@pytest.mark.postgres_only
def test_only_the_leader_chains_in_the_background_but_readers_always_link(
    app: FastAPI, factory: sessionmaker[Session], settings: Settings, clock: FixedClock
) -> None:
    """While another process holds the leader lock, this process's chainer skips its turn
    (PostgreSQL advisory lock); a reader's chaining does not wait for leadership and links
    everything; once the lock is free, the chainer links again."""
    base = _linked_everything(factory)
    chainer = _chainer(factory, settings, batch=5)
    with app.state.engine.connect() as other:
        assert other.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": audit.CHAIN_LEADER_LOCK}
        )
        _record(factory, clock, 12)
        assert chainer.run_once() == 0
        assert _count(factory, AuditPending) == 12
        assert audit.chain(factory) == 12  # as GET /audit/verify does first
        other.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": audit.CHAIN_LEADER_LOCK})
    _record(factory, clock, 7)
    assert chainer.run_once() == 7
    result = _verify(factory, settings)
    assert (result.ok, result.checked, result.pending) == (True, base + 19, 0)


KILLED_CHAINER = """
from app.config import load_settings
from app.db import make_engine, make_sessionmaker
from app.services.audit.chainer import AuditChainer

settings = load_settings()
factory = make_sessionmaker(make_engine(settings.database_url))
factory.configure(info={"settings": settings})
AuditChainer(factory, settings=settings).run_once()
"""


def _waiting_backend(engine: Engine) -> int | None:
    with engine.connect() as conn:
        pid = conn.scalar(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
    return int(pid) if pid is not None else None


def _backend_alive(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
    return found is not None


@pytest.mark.postgres_only
def test_a_chainer_killed_mid_batch_leaves_a_chain_that_verifies_and_the_next_run_links_the_rest(
    app: FastAPI,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    """A chainer process linking 250 pending events in batches of 50 is SIGKILLed in the middle
    of its third batch (its links inserted, the head moved, not committed: the test holds a row
    lock its batch needs, so the kill lands there for certain). The two committed batches form
    a chain that verifies; the third batch left nothing; the next run links the other 150."""
    base = _linked_everything(factory)
    ids = _record(factory, clock, 250)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "REGISTRY_ENV": "test",
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_DEV_SECRETS_FILE": str(tmp_path / "dev-secrets.json"),
        "REGISTRY_AUDIT_CHAIN_BATCH": "50",
    }
    for key in ("jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
        env[f"REGISTRY_{key.upper()}"] = getattr(settings, key)
    engine = app.state.engine
    with engine.connect() as holder:
        # The pending row of the third batch's 20th event: the batch's DELETE waits on it.
        holder.execute(
            text("SELECT event_id FROM audit_pending WHERE event_id = :id FOR UPDATE"),
            {"id": ids[119]},
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_CHAINER],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            backend = _waiting_backend(engine)
            while backend is None and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                backend = _waiting_backend(engine)
            assert backend is not None, proc.communicate(timeout=30)[0].decode()[-3000:]
            in_flight = _verify(factory, settings)
            assert (in_flight.ok, in_flight.checked) == (True, base + 100)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        holder.rollback()
    # The killed chainer's backend ends its transaction (rolled back) once it finds its client
    # gone; the leader lock and the head's row lock go with it.
    deadline = time.monotonic() + 60
    while _backend_alive(engine, backend) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _backend_alive(engine, backend)
    assert proc.returncode == -signal.SIGKILL

    cut = _verify(factory, settings)
    assert (cut.ok, cut.checked, cut.head_seq, cut.pending) == (True, base + 100, base + 100, 150)
    assert _chainer(factory, settings, batch=50).run_once() == 150
    whole = _verify(factory, settings)
    assert (whole.ok, whole.checked, whole.pending) == (True, base + 250, 0)
