"""Fault injection (DESIGN §6 "Reliability and security", issue 8; docs/security.md).

* Database loss (PostgreSQL): a TCP proxy written here sits between the app and PostgreSQL and
  is cut mid-run — every connection closed, new ones refused. Requests answer 503 problem
  documents (``DATABASE_UNAVAILABLE``), never 500; ``/readyz`` fails; ``/healthz`` still answers;
  nothing is half-written; when the proxy comes back the service recovers by itself (the pool
  pings before use), and clients retrying with their ``Idempotency-Key`` end with exactly one
  record per request.
* Storage at start (SQLite): a read-only database, a missing directory or a full disk stops the
  start with one clear message (``ConfigurationError``), not a stack of driver errors; a
  database that turns read-only while running answers 503, not 500.

A webhook receiver that hangs or fails is covered by tests/watches/ (delivery runs outside
requests, with a timeout and retries).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, make_url, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app import main as app_main
from app.cli import app as cli
from app.clock import FixedClock
from app.config import ConfigurationError, Settings
from app.main import create_app
from app.models import (
    Appointment,
    AuditPending,
    Evaluation,
    Listing,
    Official,
    OfficialIdentifier,
    User,
)
from app.services.audit.chainer import AuditChainer
from tests.api.test_conventions import assert_problem, user_body
from tests.conftest import upgrade
from tests.registry.builders import distinct_names, make_agency, official_body, with_result
from tests.security.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


# --- A TCP proxy that can be cut ------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut`` closes every connection and refuses new
    ones (the database "stopped"), ``restore`` accepts again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                # A connection accepted just before a cut must not outlive it.
                alive = self._listener is listener
                if alive:
                    self._sockets.update((client, upstream))
            if not alive:
                self._close(client, upstream)
                return
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            socks = list(self._sockets)
        if listener is not None:
            listener.close()
        self._close(*socks)

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()


@dataclass
class Attempt:
    key: str
    path: str
    body: dict[str, Any]
    statuses: list[int] = field(default_factory=list)


def _count(factory: sessionmaker[Session], model: Any, *where: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.mark.postgres_only
def test_database_loss_answers_503_and_the_service_recovers_by_itself(
    settings: Settings,
    clock: FixedClock,
    factory: sessionmaker[Session],
    make_user: Any,
) -> None:
    url = make_url(settings.database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app(settings.model_copy(update={"database_url": proxied}), clock=clock)
    police = make_agency(factory, country="MX", acronym="POL")
    c3 = make_agency(factory, country="MX", acronym="C3", can_vet=True)
    for seat in ("DOJ", "DHS", "STATE"):  # so /readyz answers for the database alone (R20)
        make_agency(factory, country="US", acronym=seat, commission_department=seat)
    clerk = make_user("personnel_officer", "MX", agency_id=police)
    vetter = make_user("vetting_officer", "MX", agency_id=c3)
    admin, auditor = make_user("admin", "MX"), make_user("auditor", "MX")
    attempts: list[Attempt] = []
    seq = iter(range(10_000))

    def registration() -> Attempt:
        n = next(seq)
        # A birth date of its own makes each CURP unique; names of their own keep each new
        # person clear of the R3 gate, which name-screens registrations against the people
        # this test lists (a look-alike would rightly be held for review).
        dob = dt.date(1960, 1, 1) + dt.timedelta(days=n)
        given, first, second = distinct_names(n)
        body = official_body(police, given=given, first=first, second=second, dob=dob)
        return Attempt(uuid.uuid4().hex, "/api/v1/officials", body)

    def failed_evaluation(official_id: str) -> Attempt:
        body = {
            "conducted_by": str(c3),
            "trigger": "periodic",
            "conducted_on": "2026-11-01",
            "components": with_result("polygraph", "fail"),
        }
        return Attempt(uuid.uuid4().hex, f"/api/v1/officials/{official_id}/evaluations", body)

    def send(client: TestClient, attempt: Attempt) -> httpx.Response:
        headers = (vetter if "evaluations" in attempt.path else clerk).headers
        response = client.post(
            attempt.path, json=attempt.body, headers={**headers, "Idempotency-Key": attempt.key}
        )
        attempt.statuses.append(response.status_code)
        return response

    stop = threading.Event()
    background: list[Attempt] = []

    def load() -> None:
        # Writes from another client while the database goes away and comes back.
        own = TestClient(app, raise_server_exceptions=False)
        while not stop.is_set():
            attempt = registration()
            background.append(attempt)
            send(own, attempt)
            stop.wait(0.05)

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            registered = []
            for _ in range(3):
                attempt = registration()
                attempts.append(attempt)
                response = send(client, attempt)
                assert response.status_code == 201, response.text
                registered.append(response.json()["id"])
            loader = threading.Thread(target=load, daemon=True)
            loader.start()
            time.sleep(0.5)

            proxy.cut()
            down = []
            for _ in range(3):
                for attempt in (registration(), failed_evaluation(registered[0])):
                    attempts.append(attempt)
                    down.append(send(client, attempt))
            down.append(client.get(f"/api/v1/officials/{registered[1]}", headers=clerk.headers))
            down.append(client.get("/api/v1/auth/me", headers=clerk.headers))
            down.append(client.post("/api/v1/users", json=user_body(), headers=admin.headers))
            login = {"username": clerk.username, "password": "correct horse battery staple"}
            down.append(client.post("/api/v1/auth/token", data=login))
            for response in down:
                body = assert_problem(response, 503, "DATABASE_UNAVAILABLE")
                assert response.headers["retry-after"]
                assert "Traceback" not in response.text
                assert "psycopg" not in body["detail"]
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["code"] == "DATABASE_UNAVAILABLE"
            assert client.get("/healthz").status_code == 200
            time.sleep(0.5)

            proxy.restore()
            assert client.get("/readyz").status_code == 200
            back = registration()
            attempts.append(back)
            assert send(client, back).status_code == 201, "no recovery after the database returned"
            stop.set()
            loader.join(timeout=60)
            assert not loader.is_alive()

            # Clients retry what failed, with the same Idempotency-Key: each request ends
            # with exactly one record, whether or not its first try had committed.
            everything = attempts + background
            for attempt in everything:
                if attempt.statuses[-1] != 201:
                    assert attempt.statuses[-1] == 503, attempt.statuses
                    assert send(client, attempt).status_code == 201
            assert (
                client.post("/api/v1/users", json=user_body(), headers=admin.headers).status_code
                == 201
            )  # one more write after recovery links any pending audit events
            verify = client.get("/api/v1/audit/verify", headers=auditor.headers).json()
    finally:
        stop.set()
        proxy.close()
        app.state.engine.dispose()

    statuses = {s for a in attempts + background for s in a.statuses}
    assert statuses <= {201, 503}, statuses  # never a 500, not even for writes cut mid-flight
    assert 503 in {s for a in background for s in a.statuses}, "the load never met the cut"
    registrations = [a for a in attempts + background if a.path == "/api/v1/officials"]
    evaluations = [a for a in attempts if a.path.endswith("/evaluations")]
    assert _count(factory, Official) == len(registrations)
    # No half-written registration: every official has its appointment and its CURP.
    assert _count(factory, Appointment) == len(registrations)
    assert _count(factory, OfficialIdentifier) == len(registrations)
    # No half-written evaluation: each failed one has its listing, and one listing blocks.
    assert _count(factory, Evaluation) == len(evaluations)
    assert _count(factory, Listing) == 1  # the official's later failures join the first listing
    assert verify["ok"] is True, verify
    assert _count(factory, AuditPending) == 0


# --- Storage at start (SQLite) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, whatever the suite's own backend."""
    path = tmp_path_factory.mktemp("storage") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "registry.db"
    shutil.copyfile(sqlite_template, path)
    return path


def _read_only_url(path: Path) -> str:
    # What the service meets when the file is read-only: a connection that cannot write.
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def _start(settings: Settings, url: str) -> None:
    app = create_app(settings.model_copy(update={"database_url": url}))
    try:
        with TestClient(app):
            pass
    finally:
        app.state.engine.dispose()


def test_a_read_only_database_stops_the_start_with_a_clear_message(
    base_settings: Settings, sqlite_db: Path
) -> None:
    with pytest.raises(ConfigurationError) as info:
        _start(base_settings, _read_only_url(sqlite_db))
    message = str(info.value)
    assert str(sqlite_db) in message
    assert "cannot be written" in message
    assert "readonly" in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files anyway")
@pytest.mark.parametrize("what", ["file", "directory"])
def test_read_only_permissions_stop_the_start(
    base_settings: Settings, sqlite_db: Path, what: str
) -> None:
    target = sqlite_db if what == "file" else sqlite_db.parent
    mode = target.stat().st_mode
    target.chmod(0o444 if what == "file" else 0o555)
    try:
        with pytest.raises(ConfigurationError, match="cannot be written"):
            _start(base_settings, f"sqlite:///{sqlite_db}")
    finally:
        target.chmod(mode)


def test_a_missing_directory_stops_the_start(base_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        _start(base_settings, f"sqlite:///{tmp_path / 'nowhere' / 'registry.db'}")


def test_a_full_disk_stops_the_start(
    base_settings: Settings, sqlite_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(app_main.shutil, "disk_usage", lambda p: real(p)._replace(free=4096))
    with pytest.raises(ConfigurationError, match="is full"):
        _start(base_settings, f"sqlite:///{sqlite_db}")


def test_a_writable_database_starts(base_settings: Settings, sqlite_db: Path) -> None:
    _start(base_settings, f"sqlite:///{sqlite_db}")


def test_the_server_refuses_to_start_with_one_plain_line_first(
    sqlite_db: Path, tmp_path: Path
) -> None:
    """As deployed: ``uvicorn app.main:create_app --factory`` on a read-only database exits
    with a failure, and its first error line says what is wrong, in words."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {
        "REGISTRY_DATABASE_URL": _read_only_url(sqlite_db),
        "REGISTRY_DEV_SECRETS_FILE": str(tmp_path / "dev-secrets.json"),
        "REGISTRY_LOG_JSON": "false",
    }
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if "cannot start" in line]
    assert lines, output[-2000:]
    assert "cannot be written" in lines[0]
    assert "readonly" in lines[0]
    assert output.index("cannot start") < output.index("Traceback")


def test_a_database_turned_read_only_while_running_answers_503(
    base_settings: Settings, sqlite_db: Path, clock: FixedClock
) -> None:
    """The start check passed, then the file became read-only (a remount, a full quota):
    writes answer 503 problem documents, not 500."""
    from app.auth.tokens import issue_access_token
    from app.db import unit_of_work
    from app.services.accounts.users import create_user

    writable = create_app(
        base_settings.model_copy(update={"database_url": f"sqlite:///{sqlite_db}"}), clock=clock
    )
    with unit_of_work(writable.state.sessionmaker) as session:
        admin = create_user(
            session,
            actor=None,
            hasher=writable.state.hasher,
            username="admin_ro",
            password="a long enough password",
            roles=["admin"],
            country="MX",
            agency_id=None,
            now=clock.now(),
        )
        admin_id = admin.id
    writable.state.engine.dispose()
    with sqlite3.connect(sqlite_db) as conn:  # leave no WAL behind for the read-only reader
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    app = create_app(
        base_settings.model_copy(update={"database_url": _read_only_url(sqlite_db)}), clock=clock
    )
    token, _ = issue_access_token(
        app.state.settings, user_id=admin_id, token_version=1, now=clock.now()
    )
    try:
        client = TestClient(app, raise_server_exceptions=False)  # no lifespan: started earlier
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        response = client.post("/api/v1/users", json=user_body(), headers=headers)
        assert_problem(response, 503, "DATABASE_UNAVAILABLE")
    finally:
        app.state.engine.dispose()


# --- After the commit: a failing hook does not turn a committed write into an error ----------


def _refuse_audit_links(engine: Any, *, on: bool) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            if on:
                conn.exec_driver_sql(
                    "CREATE FUNCTION refuse_audit_link() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'injected chaining failure'; END $$ LANGUAGE plpgsql"
                )
                conn.exec_driver_sql(
                    "CREATE TRIGGER refuse_audit_link BEFORE INSERT ON audit_links "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_audit_link()"
                )
            else:
                conn.exec_driver_sql("DROP TRIGGER refuse_audit_link ON audit_links")
                conn.exec_driver_sql("DROP FUNCTION refuse_audit_link()")
        elif on:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit_link BEFORE INSERT ON audit_links "
                "BEGIN SELECT RAISE(ABORT, 'injected chaining failure'); END"
            )
        else:
            conn.exec_driver_sql("DROP TRIGGER refuse_audit_link")


def test_a_failed_audit_chaining_after_commit_answers_the_committed_write(
    client: TestClient,
    factory: sessionmaker[Session],
    settings: Settings,
    make_user: Any,
    engine_for: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit chain is linked after the commit, off the request path (R22, #17). When
    chaining fails (here the database refuses new links), the write is committed all the same
    and is answered 201, not 500/503 (a client would retry a write that happened); the
    background chainer's failure is logged without the request's data; the event waits in
    ``audit_pending`` and is linked by the next chaining: ``registry sweep`` (a quiet system),
    the chainer's next tick, ``GET /audit/verify``."""
    admin, auditor = make_user("admin", "MX"), make_user("auditor", "MX")
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", settings.database_url)
    for key in ("jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
        monkeypatch.setenv(f"REGISTRY_{key.upper()}", getattr(settings, key))
    # A first sweep does its one-off work (default policies, audited), so the one below
    # records nothing of its own: what it links is what the failed chaining left.
    assert CliRunner().invoke(cli, ["sweep"]).exit_code == 0
    engine = engine_for()
    _refuse_audit_links(engine, on=True)
    body = user_body(username="hooked_user")
    response = client.post("/api/v1/users", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    with factory() as session:
        assert session.scalar(select(User).where(User.username == "hooked_user")) is not None
    assert _count(factory, AuditPending) >= 1
    with caplog.at_level(logging.ERROR, logger="app.services.audit.chainer"):
        assert AuditChainer(factory, settings=settings).tick() is None  # one tick, as the thread
    [record, *_] = [r for r in caplog.records if r.name == "app.services.audit.chainer"]
    assert "audit chaining failed" in record.getMessage()
    assert _count(factory, AuditPending) >= 1
    assert "hooked_user" not in caplog.text
    assert body["password"] not in caplog.text

    _refuse_audit_links(engine, on=False)
    result = CliRunner().invoke(cli, ["sweep"])
    assert result.exit_code == 0, result.output
    assert "pending event(s) linked into the chain" in result.output
    assert _count(factory, AuditPending) == 0
    verify = client.get("/api/v1/audit/verify", headers=auditor.headers)
    assert verify.status_code == 200, verify.text
    assert verify.json()["ok"] is True


# --- `registry migrate` on storage it cannot write ------------------------------------------


@pytest.mark.parametrize("case", ["read-only file", "missing read-only file"])
def test_migrate_on_a_read_only_database_exits_2_with_a_clear_error(
    sqlite_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """``registry migrate`` where SQLite cannot write (a read-only file or mount; as root,
    file modes do not stop writes, so the read-only open mode stands for them): one line on
    standard error saying so, exit status 2, no traceback, nothing created."""
    target = sqlite_db if case == "read-only file" else tmp_path / "absent.db"
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", _read_only_url(target))
    monkeypatch.setenv("REGISTRY_DEV_SECRETS_FILE", str(tmp_path / "dev-secrets.json"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(cli, ["migrate"])
    finally:
        root.handlers, _ = saved[0], root.setLevel(saved[1])
    assert result.exit_code == 2, (result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    assert "Traceback" not in result.output
    [line] = [x for x in result.output.splitlines() if x.strip()]
    assert line.startswith("error: ")
    assert str(target) in line
    assert "cannot be written" in line
    assert not (ROOT / "file:").exists()
    assert not Path("file:").exists()
    if case != "read-only file":
        assert not target.exists()


# --- The engine: parameters hidden, a dead database answered promptly -----------------------


def test_database_errors_never_carry_the_statements_parameters(app: Any) -> None:
    """A driver error's text ends up in logs and tracebacks: it must not quote the values
    bound to the statement (names, identifiers, blind indexes)."""
    secret = "HEGJ850314HDFRRN01"
    engine = app.state.engine
    with pytest.raises(DBAPIError) as info, engine.connect() as conn:
        conn.execute(text("SELECT x FROM no_such_table WHERE y = :v"), {"v": secret})
    assert secret not in str(info.value)
    assert "hidden" in str(info.value)


def test_an_unresponsive_database_is_answered_503_within_the_connect_timeout(
    settings: Settings, clock: FixedClock
) -> None:
    """A PostgreSQL host that accepts the connection and never answers (a hung server, a
    black-holed network): without a connect timeout every request would wait forever; with
    ``database_connect_timeout_seconds`` it fails in that time and is answered 503."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    url = f"postgresql+psycopg://registry@127.0.0.1:{port}/registry"
    app = create_app(
        settings.model_copy(update={"database_url": url, "database_connect_timeout_seconds": 2}),
        clock=clock,
    )
    answers: list[httpx.Response] = []

    def ask() -> None:
        answers.append(TestClient(app, raise_server_exceptions=False).get("/readyz"))

    started = time.monotonic()
    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    asker.join(timeout=15)
    elapsed = time.monotonic() - started
    try:
        assert not asker.is_alive(), "the request is still waiting for the database"
        [ready] = answers
        assert_problem(ready, 503, "DATABASE_UNAVAILABLE")
        assert 1.5 <= elapsed < 10
    finally:
        silent.close()  # releases a request stuck without the timeout
        asker.join(timeout=10)
        app.state.engine.dispose()
