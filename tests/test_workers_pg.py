"""Several server processes on one PostgreSQL (#17, DESIGN §6, R22; README "Running several
workers", docs/operations.md).

Two real uvicorn processes serve the same database, as ``uvicorn --workers 2`` or two containers
would. Nothing that must hold across processes lives in a process:

* a per-user quota is counted in the database, so the (N+1)-th read is refused whichever
  process serves it;
* audited writes sent to both processes at once, with both processes' background chainers
  running, end in one audit chain that verifies with nothing pending.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.tokens import issue_access_token
from app.config import Settings
from app.models import AuditEvent, AuditPending
from tests.api.test_conventions import user_body
from tests.registry.builders import make_agency, official_body, register
from tests.security.conftest import free_port

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_READS = 4  # the per-user quota shared by both processes
WRITES_EACH = 8  # audited writes sent to each process, from two threads each
START_SECONDS = 30  # how long a server may take to answer /healthz


class Server:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env |= {
            "PYTHONPATH": str(ROOT),
            "REGISTRY_ENV": "test",
            "REGISTRY_DATABASE_URL": settings.database_url,
            "REGISTRY_DATABASE_POOL_SIZE": "4",
            "REGISTRY_DEV_SECRETS_FILE": str(log.with_suffix(".secrets.json")),
            "REGISTRY_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
            "REGISTRY_ARGON2_TIME_COST": str(settings.argon2_time_cost),
            "REGISTRY_QUOTA_OFFICIAL_READS": str(OFFICIAL_READS),
            # The longest volume window: the reads below never straddle two windows in practice.
            "REGISTRY_QUOTA_VOLUME_WINDOW_SECONDS": "86400",
            # Both processes' chainers tick often, so they contend for the leader lock.
            "REGISTRY_AUDIT_CHAIN_INTERVAL_SECONDS": "0.05",
            "REGISTRY_AUDIT_CHAIN_BATCH": "5",
        }
        for key in ("jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
            env[f"REGISTRY_{key.upper()}"] = getattr(settings, key)
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"server on {self.port} did not start:\n{self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text()[-4000:]

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture
def servers(settings: Settings, client: TestClient, tmp_path: Path) -> Iterator[list[Server]]:
    """Two server processes on the test's (migrated) database, beside the test's own app."""
    started: list[Server] = []
    try:
        started = [Server(settings, tmp_path / f"server_{n}.log") for n in range(2)]
        deadline = time.monotonic() + START_SECONDS
        for server in started:
            server.wait_ready(deadline)
        yield started
    finally:
        for server in started:
            server.stop()


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _headers(settings: Settings, user_id: Any) -> dict[str, str]:
    """A token minted at the real time: the servers run on the real clock, not the test's."""
    token, _ = issue_access_token(
        settings, user_id=user_id, token_version=1, now=dt.datetime.now(dt.UTC)
    )
    return {"Authorization": f"Bearer {token}"}


def _quota_is_counted_across_processes(
    servers: list[Server],
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """OFFICIAL_READS reads of one dossier, alternately on each process, are admitted; the
    next is refused (429 QUOTA_EXCEEDED) on either process, and stays refused on the other."""
    agency = make_agency(factory, country="MX", acronym="SSPC")
    hr = make_user("personnel_officer", "MX", agency_id=agency)
    official = register(client, hr.headers, official_body(agency))
    headers = _headers(settings, hr.id)
    path = f"/api/v1/officials/{official['id']}"

    statuses = [servers[n % 2].http.get(path, headers=headers).status_code for n in range(4)]
    assert statuses == [200] * OFFICIAL_READS
    for server in (servers[0], servers[1]):
        refused = server.http.get(path, headers=headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "QUOTA_EXCEEDED"
        assert refused.json()["quota"] == "official_reads"


def _audit_chain_holds_across_processes(
    servers: list[Server],
    make_user: Any,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """Two threads per process create users at once (each an audited write); the two
    processes' background chainers link every event by themselves, under one leader lock, and
    ``/audit/verify`` on either process finds one unbroken chain holding them all."""
    admin, auditor = make_user("admin", "MX"), make_user("auditor", "MX")
    admin_headers = _headers(settings, admin.id)
    failures: list[str] = []
    start = threading.Barrier(4, timeout=30)

    def writer(server: Server, n: int) -> None:
        start.wait()
        for i in range(WRITES_EACH // 2):
            body = user_body(username=f"w_{server.port}_{n}_{i}")
            response = server.http.post("/api/v1/users", json=body, headers=admin_headers)
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text}")

    threads = [
        threading.Thread(target=writer, args=(server, n)) for server in servers for n in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [t for t in threads if t.is_alive()], "a writer is stuck"
    assert not failures, failures

    # Nobody asks for the chain yet: the processes' background chainers link it by themselves.
    deadline = time.monotonic() + 30
    while _count(factory, AuditPending) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count(factory, AuditPending) == 0, "the background chainers left events pending"
    events = _count(factory, AuditEvent)
    assert events >= 2 * WRITES_EACH
    for server in servers:
        response = server.http.get("/api/v1/audit/verify", headers=_headers(settings, auditor.id))
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["ok"] is True, result
        assert (result["checked"], result["head_seq"], result["pending"]) == (events, events, 0)


def test_two_server_processes_share_quotas_and_one_audit_chain(
    servers: list[Server],
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """One test, so the two servers start once (CI time): a per-user quota counted across both
    processes, then concurrent audited writes to both ending in one chain that verifies."""
    _quota_is_counted_across_processes(servers, client, make_user, factory, settings)
    _audit_chain_holds_across_processes(servers, make_user, factory, settings)
