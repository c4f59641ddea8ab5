"""Enumeration limits (docs/security.md; OWASP API4 and API6): per-user quotas on screening and
search, shared by every server process through ``rate_counters``; 429 with ``Retry-After``;
the enumeration alert; page and batch size limits. The volume quotas on listings and official
records are in ``tests/security/test_bulk_reads.py``.

The quota dependency is exercised on probe routes added to the app here, so these tests do not
depend on how the screening and search routers are wired; ``test_real_routes_are_metered``
checks that wiring.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.api.quota import enforce_quota, record_outcome, record_outcomes
from app.auth.principal import Authenticated
from app.clock import ClockDep, FixedClock
from app.config import Settings
from app.db import SessionDep
from app.main import create_app
from app.models import AuditEvent, RateCounter
from app.services.audit.quotas import window_start
from tests.api.test_conventions import assert_problem
from tests.conftest import T0

PROBE = "/api/v1/test-quota"
WINDOW = 60


class ProbeBatch(BaseModel):
    items: list[dict[str, Any]]


def add_probe_routes(app: FastAPI) -> None:
    """Routes metered exactly as the screening and search routes are meant to be."""
    router = APIRouter(prefix=PROBE)

    @router.post("/screen", dependencies=[Depends(enforce_quota("screening"))])
    def screen(
        actor: Authenticated, session: SessionDep, clock: ClockDep, hit: bool = False
    ) -> dict[str, bool]:
        record_outcome(session, principal=actor, action="screening", hit=hit, now=clock.now())
        return {"hit": hit}

    @router.post("/batch", dependencies=[Depends(enforce_quota("screening_batch"))])
    def batch(
        body: ProbeBatch, actor: Authenticated, session: SessionDep, clock: ClockDep
    ) -> dict[str, int]:
        hits = [bool(item.get("hit")) for item in body.items]
        record_outcomes(
            session, principal=actor, action="screening_batch", hits=hits, now=clock.now()
        )
        return {"items": len(hits)}

    @router.get("/search", dependencies=[Depends(enforce_quota("search"))])
    def search(actor: Authenticated) -> dict[str, str]:
        return {"user": actor.username}

    app.include_router(router)


@pytest.fixture
def quota_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "quota_window_seconds": WINDOW,
            "quota_screenings": 5,
            "quota_screening_items": 10,
            "quota_searches": 3,
            "enumeration_miss_threshold": 5,
            "enumeration_window_seconds": 3600,
        }
    )


@pytest.fixture
def processes(quota_settings: Settings, clock: FixedClock) -> Iterator[list[TestClient]]:
    """Two server processes on one database: two apps, each with its own engine and pool."""
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(quota_settings, clock=clock)
            add_probe_routes(app)
            stack.callback(app.state.engine.dispose)
            clients.append(stack.enter_context(TestClient(app, raise_server_exceptions=False)))
        yield clients


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _screen(client: TestClient, headers: dict[str, str], hit: bool = False) -> httpx.Response:
    return client.post(f"{PROBE}/screen", params={"hit": hit}, headers=headers)


# --- Quotas -----------------------------------------------------------------------------------


def test_quota_is_shared_by_two_processes_and_answers_429_with_retry_after(
    processes: list[TestClient], make_user: Any, clock: FixedClock
) -> None:
    """Five screenings per minute, spread over two processes: the sixth is refused by either,
    with the seconds left in the window; the next window admits five again."""
    a, b = processes
    clerk = make_user("personnel_officer")
    clock.advance(dt.timedelta(seconds=15))  # 45 s left in the window
    for client in (a, b, a, b, a):
        assert _screen(client, clerk.headers).status_code == 200
    for client in (a, b):
        refused = _screen(client, clerk.headers)
        body = assert_problem(refused, 429, "QUOTA_EXCEEDED")
        assert refused.headers["retry-after"] == "45"
        assert (body["quota"], body["limit"], body["window_seconds"]) == ("screening", 5, 60)
        assert body["retry_after"] == 45
    clock.advance(dt.timedelta(seconds=45))
    for client in (b, a, b, a, b):
        assert _screen(client, clerk.headers).status_code == 200
    assert_problem(_screen(a, clerk.headers), 429, "QUOTA_EXCEEDED")


def test_429_is_a_spanish_problem_on_request(processes: list[TestClient], make_user: Any) -> None:
    a, _ = processes
    clerk = make_user("personnel_officer")
    for _ in range(5):
        assert _screen(a, clerk.headers).status_code == 200
    refused = _screen(a, {**clerk.headers, "Accept-Language": "es"})
    body = assert_problem(refused, 429, "QUOTA_EXCEEDED")
    assert body["title"] == "Demasiadas solicitudes"
    assert "segundos" in body["detail"]


def test_refused_requests_consume_nothing_and_the_first_is_audited_once(
    processes: list[TestClient],
    make_user: Any,
    clock: FixedClock,
    factory: sessionmaker[Session],
) -> None:
    a, b = processes
    clerk = make_user("personnel_officer")
    for _ in range(5):
        assert _screen(a, clerk.headers).status_code == 200
    for client in (a, b, a):
        assert_problem(_screen(client, clerk.headers), 429)
    [event] = _events(factory, "security.quota_exceeded")
    assert (event.actor_id, event.outcome, event.resource_id) == (clerk.id, "refused", "screening")
    assert event.details["limit"] == 5
    with factory() as session:
        row = session.get(RateCounter, (f"quota:screening:{clerk.id}", window_start(T0, WINDOW)))
        assert row is not None
        assert (row.count, row.misses) == (5, 3)  # admitted, refused


def test_users_have_quotas_of_their_own(processes: list[TestClient], make_user: Any) -> None:
    a, b = processes
    first, second = make_user("personnel_officer"), make_user("personnel_officer")
    for _ in range(5):
        assert _screen(a, first.headers).status_code == 200
    assert _screen(b, first.headers).status_code == 429
    assert _screen(b, second.headers).status_code == 200


def test_api_keys_count_against_their_user(processes: list[TestClient], make_user: Any) -> None:
    """A caller cannot multiply its quota by minting API keys: every key and token of a user
    draws on the user's one quota."""
    a, b = processes
    clerk = make_user("personnel_officer")
    keys = []
    for n in range(2):
        created = a.post("/api/v1/api-keys", json={"name": f"hr-{n}"}, headers=clerk.headers)
        assert created.status_code == 201, created.text
        keys.append({"X-API-Key": created.json()["key"]})
    for headers in (keys[0], keys[1], clerk.headers, keys[0], keys[1]):
        assert _screen(b, headers).status_code == 200
    for headers in (keys[0], keys[1], clerk.headers):
        assert_problem(_screen(a, headers), 429, "QUOTA_EXCEEDED")


def test_actions_are_metered_separately(processes: list[TestClient], make_user: Any) -> None:
    a, _ = processes
    clerk = make_user("personnel_officer")
    for _ in range(3):
        assert a.get(f"{PROBE}/search", headers=clerk.headers).status_code == 200
    assert_problem(a.get(f"{PROBE}/search", headers=clerk.headers), 429, "QUOTA_EXCEEDED")
    assert _screen(a, clerk.headers).status_code == 200


def test_batches_are_metered_by_their_identities(
    processes: list[TestClient], make_user: Any
) -> None:
    """Ten identities per window: 6 pass, then 5 more would be 11 and are refused whole
    (consuming nothing), then 4 fit exactly."""
    a, b = processes
    clerk = make_user("personnel_officer")

    def batch(client: TestClient, n: int) -> httpx.Response:
        return client.post(f"{PROBE}/batch", json={"items": [{}] * n}, headers=clerk.headers)

    assert batch(a, 6).status_code == 200
    body = assert_problem(batch(b, 5), 429, "QUOTA_EXCEEDED")
    assert body["quota"] == "screening_batch"
    assert batch(b, 4).status_code == 200
    assert batch(a, 1).status_code == 429


def test_a_batch_larger_than_the_quota_is_refused(
    processes: list[TestClient], make_user: Any
) -> None:
    a, _ = processes
    clerk = make_user("personnel_officer")
    response = a.post(f"{PROBE}/batch", json={"items": [{}] * 11}, headers=clerk.headers)
    assert_problem(response, 429, "QUOTA_EXCEEDED")
    assert a.post(f"{PROBE}/batch", json={"items": [{}] * 10}, headers=clerk.headers).is_success


def test_a_batch_over_the_batch_limit_costs_one_request(
    quota_settings: Settings, clock: FixedClock, make_user: Any
) -> None:
    """Validation refuses an oversized batch (422) without screening anyone: it must not use
    up the window, nor be told to come back later (429)."""
    settings = quota_settings.model_copy(update={"screening_batch_max_items": 10})
    app = create_app(settings, clock=clock)
    add_probe_routes(app)  # the probe does not validate the size: it shows what was charged
    clerk = make_user("personnel_officer")
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            over = c.post(f"{PROBE}/batch", json={"items": [{}] * 50}, headers=clerk.headers)
            assert over.status_code == 200
            fits = c.post(f"{PROBE}/batch", json={"items": [{}] * 9}, headers=clerk.headers)
            assert fits.status_code == 200
            assert_problem(
                c.post(f"{PROBE}/batch", json={"items": [{}]}, headers=clerk.headers), 429
            )
    finally:
        app.state.engine.dispose()


def test_unauthenticated_calls_are_refused_before_metering(
    processes: list[TestClient], factory: sessionmaker[Session]
) -> None:
    a, _ = processes
    assert_problem(a.post(f"{PROBE}/screen"), 401, "NOT_AUTHENTICATED")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(RateCounter)) == 0


def test_old_windows_are_dropped(
    processes: list[TestClient],
    make_user: Any,
    clock: FixedClock,
    factory: sessionmaker[Session],
) -> None:
    """The table keeps about one row per active caller and action, not one per minute."""
    a, _ = processes
    clerk = make_user("personnel_officer")
    for _ in range(4):
        assert _screen(a, clerk.headers).status_code == 200
        clock.advance(dt.timedelta(seconds=WINDOW))
    with factory() as session:
        keys = session.execute(select(RateCounter.key, RateCounter.window_start)).all()
    assert Counter(k for k, _ in keys) == {
        f"quota:screening:{clerk.id}": 1,
        f"streak:screening:{clerk.id}": 1,
    }


def test_concurrent_callers_on_two_processes_get_exactly_the_quota(
    quota_settings: Settings, clock: FixedClock, make_user: Any
) -> None:
    """No lost increment and no over-admission when many requests race on two processes (on
    PostgreSQL they truly run at once; on SQLite they queue for the write lock)."""
    limit, threads, each = 37, 12, 5
    settings = quota_settings.model_copy(update={"quota_screenings": limit})
    apps = [create_app(settings, clock=clock) for _ in range(2)]
    for app in apps:
        add_probe_routes(app)
    clerk = make_user("personnel_officer")
    statuses: list[int] = []
    start = threading.Barrier(threads, timeout=60)

    def caller(n: int) -> None:
        client = TestClient(apps[n % 2], raise_server_exceptions=False)
        start.wait()
        for _ in range(each):
            statuses.append(_screen(client, clerk.headers).status_code)

    try:
        workers = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=180)
    finally:
        for app in apps:
            app.state.engine.dispose()
    assert Counter(statuses) == {200: limit, 429: threads * each - limit}


# --- The enumeration alert ---------------------------------------------------------------------


def test_misses_in_a_window_raise_one_alert_per_window(
    processes: list[TestClient],
    make_user: Any,
    clock: FixedClock,
    factory: sessionmaker[Session],
) -> None:
    """Five misses within the enumeration window (the threshold), counted across both
    processes, raise ``security.enumeration_suspected`` once, hits between them or not (#19:
    a known hit now and then used to reset a run, and hid the enumeration); the next
    enumeration window can raise it again."""
    a, b = processes
    clerk = make_user("personnel_officer")

    def misses(n: int) -> None:
        for i in range(n):
            assert _screen((a, b)[i % 2], clerk.headers).status_code == 200
            clock.advance(dt.timedelta(seconds=WINDOW))  # stay within the per-minute quota

    clock.at = window_start(clock.now(), 3600)
    misses(2)
    assert _screen(a, clerk.headers, hit=True).status_code == 200
    misses(2)
    assert _screen(b, clerk.headers, hit=True).status_code == 200
    assert _events(factory, "security.enumeration_suspected") == []
    misses(1)
    [alert] = _events(factory, "security.enumeration_suspected")
    assert (alert.actor_id, alert.outcome, alert.resource_id) == (clerk.id, "alert", str(clerk.id))
    assert alert.details["activity"] == "screening"
    assert (alert.details["misses_in_window"], alert.details["threshold"]) == (5, 5)
    misses(6)
    assert len(_events(factory, "security.enumeration_suspected")) == 1

    clock.at = window_start(clock.now(), 3600) + dt.timedelta(hours=1)
    misses(4)
    assert len(_events(factory, "security.enumeration_suspected")) == 1  # a new window
    misses(1)
    assert len(_events(factory, "security.enumeration_suspected")) == 2


def test_a_batch_of_misses_counts_each_identity(
    processes: list[TestClient], make_user: Any, factory: sessionmaker[Session]
) -> None:
    a, _ = processes
    clerk = make_user("personnel_officer")
    items = [{"hit": True}, {}, {}, {}]  # a hit, then three misses
    assert a.post(f"{PROBE}/batch", json={"items": items}, headers=clerk.headers).is_success
    assert _events(factory, "security.enumeration_suspected") == []
    assert _screen(a, clerk.headers).status_code == 200
    assert _events(factory, "security.enumeration_suspected") == []
    assert _screen(a, clerk.headers).status_code == 200  # 3 + 2 = 5 in the window
    assert len(_events(factory, "security.enumeration_suspected")) == 1


def test_alerts_and_refusals_are_in_the_verified_audit_chain(
    processes: list[TestClient], make_user: Any
) -> None:
    a, _ = processes
    clerk, auditor = make_user("personnel_officer"), make_user("auditor")
    for _ in range(6):
        _screen(a, clerk.headers)
    verify = a.get("/api/v1/audit/verify", headers=auditor.headers)
    assert verify.status_code == 200, verify.text
    assert verify.json()["ok"] is True
    assert verify.json()["pending"] == 0
    listed = a.get(
        "/api/v1/audit", params={"action": "security.quota_exceeded"}, headers=auditor.headers
    )
    assert listed.status_code == 200, listed.text


def test_windows_are_aligned_for_every_process() -> None:
    at = dt.datetime(2026, 11, 27, 12, 0, 59, 999999, tzinfo=dt.UTC)
    assert window_start(at, 60) == dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    assert window_start(at + dt.timedelta(microseconds=1), 60).minute == 1
    assert window_start(at, 3600) == dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


# --- Page and batch size limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/officials", "/api/v1/listings", "/api/v1/users", "/api/v1/audit", "/api/v1/agencies"],
)
def test_pages_hold_at_most_200(client: TestClient, make_user: Any, path: str) -> None:
    admin = make_user("admin")
    assert client.get(path, params={"limit": 200}, headers=admin.headers).status_code == 200
    body = assert_problem(
        client.get(path, params={"limit": 201}, headers=admin.headers), 422, "VALIDATION_ERROR"
    )
    assert [e["field"] for e in body["errors"]] == ["query.limit"]


def test_batches_hold_at_most_1000_identities(client: TestClient, make_user: Any) -> None:
    admin = make_user("admin")
    item = {"given_names": "ANA", "first_surname": "LOPEZ", "date_of_birth": "1980-01-01"}
    response = client.post(
        "/api/v1/screenings/batch", json={"items": [item] * 1001}, headers=admin.headers
    )
    body = assert_problem(response, 422)
    assert "body.items" in {e["field"] for e in body.get("errors", [])}, body


# --- Wiring of the real routes -----------------------------------------------------------------

METERED = [
    ("POST", "/api/v1/screenings", "screening"),
    ("POST", "/api/v1/screenings/batch", "screening_batch"),
    ("GET", "/api/v1/officials", "search"),
    ("GET", "/api/v1/listings", "search"),
    ("GET", "/api/v1/listings", "listing_items"),
    ("GET", "/api/v1/officials/{official_id}", "official_reads"),
]


def _quota_actions(dependant: Any) -> set[str]:
    found = set()
    for dep in dependant.dependencies:
        action = getattr(dep.call, "quota_action", None)
        if action:
            found.add(action)
        found |= _quota_actions(dep)
    return found


@pytest.mark.parametrize(("method", "path", "action"), METERED)
def test_real_routes_are_metered(app: FastAPI, method: str, path: str, action: str) -> None:
    """Screening, search and the volume of listings and officials read carry their quota and
    document the 429."""
    from tests.test_route_declarations import api_routes

    [route] = [r for r in api_routes(app) if r.method_path == f"{method} {path}"]
    assert action in _quota_actions(route.dependant)
    assert "429" in app.openapi()["paths"][path][method.lower()]["responses"]


# --- The real routes under small quotas ---------------------------------------------------------

SCREENINGS = "/api/v1/screenings"


def _identity(n: int) -> dict[str, Any]:
    """Nobody the empty registry knows: every screening of it is a miss."""
    return {
        "given_names": f"PERSONA {chr(65 + n % 26)}",
        "first_surname": f"INEXISTENTE {chr(65 + (n // 26) % 26)}",
        "date_of_birth": (dt.date(1970, 1, 1) + dt.timedelta(days=n)).isoformat(),
        "purpose": "hiring",
    }


@pytest.fixture
def small(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The service with small quotas: 3 screenings, 4 batch identities and 2 searches per
    minute; an enumeration alert after 3 misses in a row."""
    app = create_app(
        settings.model_copy(
            update={
                "quota_window_seconds": WINDOW,
                "quota_screenings": 3,
                "quota_screening_items": 4,
                "quota_searches": 2,
                "enumeration_miss_threshold": 3,
            }
        ),
        clock=clock,
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c
    finally:
        app.state.engine.dispose()


@pytest.fixture
def clerk(factory: sessionmaker[Session], make_user: Any) -> Any:
    from tests.registry.builders import make_agency

    return make_user("personnel_officer", "MX", agency_id=make_agency(factory, country="MX"))


def _assert_429(response: httpx.Response, quota: str, retry_after: int) -> None:
    body = assert_problem(response, 429, "QUOTA_EXCEEDED")
    assert body["quota"] == quota
    assert response.headers["retry-after"] == str(retry_after)


def test_post_screenings_is_refused_429_after_its_quota(
    small: TestClient, clerk: Any, clock: FixedClock
) -> None:
    clock.advance(dt.timedelta(seconds=20))  # 40 s left in the window
    for n in range(3):
        response = small.post(SCREENINGS, json=_identity(n), headers=clerk.headers)
        assert response.status_code == 201, response.text
    _assert_429(small.post(SCREENINGS, json=_identity(3), headers=clerk.headers), "screening", 40)
    clock.advance(dt.timedelta(seconds=40))
    assert small.post(SCREENINGS, json=_identity(4), headers=clerk.headers).status_code == 201


def test_post_screenings_batch_is_refused_429_by_its_identities(
    small: TestClient, clerk: Any
) -> None:
    three = {"items": [_identity(n) for n in range(3)]}
    response = small.post(f"{SCREENINGS}/batch", json=three, headers=clerk.headers)
    assert response.status_code == 200, response.text
    two = {"items": [_identity(n) for n in range(3, 5)]}
    _assert_429(
        small.post(f"{SCREENINGS}/batch", json=two, headers=clerk.headers), "screening_batch", 60
    )
    one = {"items": [_identity(5)]}
    assert small.post(f"{SCREENINGS}/batch", json=one, headers=clerk.headers).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/officials", "/api/v1/listings"])
def test_searches_are_refused_429_after_their_quota(
    small: TestClient, clerk: Any, make_user: Any, path: str
) -> None:
    for _ in range(2):
        response = small.get(path, headers=clerk.headers)
        assert response.status_code == 200, response.text
    _assert_429(small.get(path, headers=clerk.headers), "search", 60)
    other = make_user("admin", "MX")
    assert small.get(path, headers=other.headers).status_code == 200  # a quota per user


def test_a_run_of_missed_screenings_raises_the_enumeration_alert(
    small: TestClient, clerk: Any, factory: sessionmaker[Session]
) -> None:
    """Through the real routes: two single screenings and a batch of one, all misses, reach
    the threshold of three in a row; the alert is raised once, and is in the audit log."""
    for n in range(2):
        response = small.post(SCREENINGS, json=_identity(n), headers=clerk.headers)
        assert response.status_code == 201, response.text
        assert response.json()["verdict"] == "clear"
    assert _events(factory, "security.enumeration_suspected") == []
    batch = {"items": [_identity(2)]}
    assert small.post(f"{SCREENINGS}/batch", json=batch, headers=clerk.headers).is_success
    [alert] = _events(factory, "security.enumeration_suspected")
    assert (alert.actor_id, alert.outcome) == (clerk.id, "alert")
    assert alert.details["activity"] == "screening"
    assert alert.details["misses_in_window"] == 3


def test_empty_search_pages_raise_the_enumeration_alert(
    settings: Settings, clock: FixedClock, clerk: Any, factory: sessionmaker[Session]
) -> None:
    app = create_app(
        settings.model_copy(update={"quota_searches": 10, "enumeration_miss_threshold": 3}),
        clock=clock,
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            for name in ("AAA", "BBB", "CCC"):
                response = c.get("/api/v1/officials", params={"name": name}, headers=clerk.headers)
                assert response.status_code == 200, response.text
                assert response.json()["items"] == []
    finally:
        app.state.engine.dispose()
    [alert] = _events(factory, "security.enumeration_suspected")
    assert alert.details["activity"] == "search"


def test_a_screenings_outcome_commits_with_the_screening(
    small: TestClient, clerk: Any, factory: sessionmaker[Session]
) -> None:
    """The miss streak and then the quota are counted in the request's own transaction, after
    the screening is written (docs/security.md): a request that rolls back leaves neither, and
    a metered screening is one transaction (#17), the quota row locked only at its end."""
    engine = small.app.state.engine  # type: ignore[attr-defined]
    transaction = 0
    writes: list[tuple[int, str]] = []  # (transaction, what was written)

    def on_begin(conn: Any) -> None:
        # Numbered in the order they begin, on the connection that runs them: the quota's
        # transaction (PostgreSQL) runs beside the request's, on another connection.
        nonlocal transaction
        transaction += 1
        conn.info["test_transaction"] = transaction

    def on_execute(*args: Any) -> None:
        conn, statement, context = args[0], args[2], args[4]
        if statement.startswith("INSERT INTO screenings "):
            writes.append((conn.info["test_transaction"], "screening"))
        elif statement.startswith("INSERT INTO rate_counters"):
            key: str = context.compiled_parameters[0]["key"]  # the same on both dialects
            writes.append((conn.info["test_transaction"], key.split(":")[0]))

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        response = small.post(SCREENINGS, json=_identity(0), headers=clerk.headers)
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_execute)
    assert response.status_code == 201, response.text
    assert [what for _, what in writes] == ["screening", "streak", "quota"]
    # One transaction for the answer, its outcome and its quota (the audit chain's pass after
    # the commit is another, app.services.audit).
    assert len({tx for tx, _ in writes}) == 1
    with factory() as session:
        streak = session.scalars(
            select(RateCounter).where(RateCounter.key == f"streak:screening:{clerk.id}")
        ).one()
        assert streak.misses == 1
