"""R12b webhooks: registration with a secret shown once, signed delivery to a real receiver on
127.0.0.1 from the outbox, retries with backoff, timeouts, restarts and concurrent workers."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import make_sessionmaker, unit_of_work
from app.main import create_app
from app.models import Notification, Webhook, WebhookAttempt, WebhookDelivery
from app.services.notifications import delivery
from app.services.notifications.delivery import BACKOFF, MAX_ATTEMPTS, deliver_due
from app.services.notifications.notifications import enqueue_deliveries
from app.services.notifications.webhooks import sign, verify_signature
from tests.conftest import T0
from tests.registry.builders import evaluate, official_body, register, with_result
from tests.watches.support import watch_screening

WEBHOOKS = "/api/v1/webhooks"
DOB = dt.date(1985, 3, 14)


def add_webhook(client: Any, caller: Any, url: str, **extra: Any) -> dict[str, Any]:
    r = client.post(WEBHOOKS, json={"url": url, **extra}, headers=caller.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def list_and_fail(
    client: Any, factory: Any, settings: Any, world: dict[str, Any], watcher: str = "us_hr"
) -> dict[str, Any]:
    """An official the watcher's screening matched is listed: one notification."""
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"], dob=DOB))
    watch_screening(
        factory,
        settings,
        world[watcher],
        given="JUAN CARLOS",
        first="HERNANDEZ",
        second="GARCIA",
        dob=DOB,
        matches=[(official["id"], "review")],
    )
    return evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "fail"),
    )


def deliveries(factory: Any) -> list[WebhookDelivery]:
    with factory() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def attempts(factory: Any) -> list[WebhookAttempt]:
    with factory() as session:
        return list(session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


def test_signature_scheme() -> None:
    body = b'{"a":1}'
    header = sign("whsec_x", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert len(header.split("v1=")[1]) == 64
    ok = {"now": 1_700_000_100}
    assert verify_signature("whsec_x", "1700000000", body, header, **ok)
    assert verify_signature("whsec_x", 1_700_000_000, body.decode(), header, **ok)
    assert not verify_signature("whsec_y", "1700000000", body, header, **ok)
    assert not verify_signature("whsec_x", "1700000000", b'{"a":2}', header, **ok)
    assert not verify_signature("whsec_x", "1700000001", body, header, **ok)
    assert not verify_signature("whsec_x", "1700000000", body, header, now=1_700_000_301)
    assert not verify_signature("whsec_x", "1700000000", body, "t=1700000000", **ok)
    assert not verify_signature("whsec_x", "soon", body, header, **ok)
    # A receiver rotating its secret may be sent several v1 values; any one may match.
    rotated = header + ",v1=" + "0" * 64
    assert verify_signature("whsec_x", "1700000000", body, rotated, **ok)


def test_secret_is_shown_once_and_kept_encrypted(
    client: TestClient, factory: Any, world: dict[str, Any]
) -> None:
    created = add_webhook(client, world["us_hr"], "https://hr.fbi.example/registry")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert created["agency_id"] == str(world["us_fbi"])
    assert created["country"] == "US"
    listed = client.get(WEBHOOKS, headers=world["us_hr"].headers).json()["items"]
    assert [h["id"] for h in listed] == [created["id"]]
    assert "secret" not in json.dumps(listed)
    with factory() as session:
        stored = session.get(Webhook, uuid.UUID(created["id"]))
        assert stored is not None
        assert secret.encode() not in stored.secret_ciphertext
    # Other agencies and countries do not see it; deleting it is for its agency or admin.
    assert client.get(WEBHOOKS, headers=world["mx_hr"].headers).json()["items"] == []
    assert (
        client.delete(f"{WEBHOOKS}/{created['id']}", headers=world["mx_admin"].headers).status_code
        == 404
    )
    assert (
        client.delete(f"{WEBHOOKS}/{created['id']}", headers=world["us_admin"].headers).status_code
        == 204
    )
    assert client.get(WEBHOOKS, headers=world["us_hr"].headers).json()["items"] == []


BAD_URLS = (
    "ftp://example.org/x",
    "file:///etc/passwd",
    "https://user:pw@example.org/",
    "https:///x",
    "http://exa mple.org/",
    "http://example.org:99999/",
    "https://example.org/" + "x" * 500,
)


def test_only_plain_http_urls_are_accepted(client: TestClient, world: dict[str, Any]) -> None:
    for url in BAD_URLS:
        r = client.post(WEBHOOKS, json={"url": url}, headers=world["us_hr"].headers)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["errors"][0]["field"] == "body.url"
    assert client.get(WEBHOOKS, headers=world["us_hr"].headers).json()["items"] == []


def test_personnel_officer_registers_for_own_agency_only(
    client: TestClient, world: dict[str, Any]
) -> None:
    r = client.post(
        WEBHOOKS,
        json={"url": "https://x.example/h", "agency_id": str(world["mx_fgr"])},
        headers=world["mx_hr"].headers,
    )
    assert r.status_code == 403
    r = client.post(
        WEBHOOKS,
        json={"url": "https://x.example/h", "agency_id": str(world["mx_fgr"])},
        headers=world["us_admin"].headers,
    )
    assert r.status_code == 404
    created = add_webhook(
        client, world["mx_admin"], "https://x.example/h", agency_id=str(world["mx_fgr"])
    )
    assert created["agency_id"] == str(world["mx_fgr"])
    assert (
        client.post(
            WEBHOOKS, json={"url": "https://x.example/h"}, headers=world["mx_vetter"].headers
        ).status_code
        == 403
    )


def test_delivery_to_a_real_receiver_is_signed_and_logged(
    client: TestClient,
    factory: Any,
    settings: Any,
    clock: Any,
    world: dict[str, Any],
    receivers: Any,
    http_client: httpx.Client,
) -> None:
    """The notification's outbox row is committed with it; the worker posts it outside the
    request, signed; the receiver verifies the signature with verify_signature."""
    receiver = receivers(now=clock.now)
    receiver.secret = add_webhook(client, world["us_hr"], receiver.url)["secret"]
    listing = list_and_fail(client, factory, settings, world)
    assert receiver.requests == []  # nothing is posted inside the request
    (row,) = deliveries(factory)
    assert row.status == "pending"
    assert row.next_attempt_at == T0

    assert deliver_due(factory, settings=settings, now=clock.now(), http_client=http_client) == 1
    (request,) = receiver.requests
    assert request.signature_ok is True
    assert request.headers["X-Registry-Delivery"] == str(row.id)
    assert request.headers["X-Registry-Timestamp"] == str(int(T0.timestamp()))
    assert request.headers["Content-Type"] == "application/json"
    document = json.loads(request.body)
    assert document["kind"] == "listing.listed"
    assert document["listing_id"] == listing["listing_id"]
    assert document["delivery_id"] == row.id
    text = request.body.decode()
    assert DOB.isoformat() not in text
    assert "identifiers" not in text
    assert "CURP" not in text
    (row,) = deliveries(factory)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 204)
    assert row.delivered_at == T0
    assert row.locked_until is None
    (attempt,) = attempts(factory)
    assert attempt.status_code == 204
    assert attempt.error is None
    # Delivered is delivered: nothing more to do.
    assert deliver_due(factory, settings=settings, now=clock.now(), http_client=http_client) == 0


def test_failure_is_retried_with_backoff_until_delivered(
    client: TestClient,
    factory: Any,
    settings: Any,
    clock: Any,
    world: dict[str, Any],
    receivers: Any,
    http_client: httpx.Client,
) -> None:
    receiver = receivers(statuses=[500, 200])
    add_webhook(client, world["us_hr"], receiver.url)
    list_and_fail(client, factory, settings, world)

    def run() -> int:
        return deliver_due(factory, settings=settings, now=clock.now(), http_client=http_client)

    assert run() == 1
    (row,) = deliveries(factory)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 500)
    assert row.next_attempt_at == T0 + BACKOFF[0]
    clock.advance(BACKOFF[0] - dt.timedelta(seconds=1))
    assert run() == 0  # not yet due
    clock.advance(dt.timedelta(seconds=1))
    assert run() == 1
    (row,) = deliveries(factory)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    assert [a.status_code for a in attempts(factory)] == [500, 200]
    ids = {r.headers["X-Registry-Delivery"] for r in receiver.requests}
    assert len(receiver.requests) == 2
    assert ids == {str(row.id)}


def test_a_receiver_that_keeps_failing_ends_dead(
    client: TestClient,
    factory: Any,
    settings: Any,
    clock: Any,
    world: dict[str, Any],
    receivers: Any,
    http_client: httpx.Client,
) -> None:
    receiver = receivers(statuses=[503])
    add_webhook(client, world["us_hr"], receiver.url)
    list_and_fail(client, factory, settings, world)
    for wait in (dt.timedelta(0), *BACKOFF):
        clock.advance(wait)
        assert (
            deliver_due(factory, settings=settings, now=clock.now(), http_client=http_client) == 1
        )
    (row,) = deliveries(factory)
    assert (row.status, row.attempts) == ("dead", MAX_ATTEMPTS)
    clock.advance(dt.timedelta(days=2))
    assert deliver_due(factory, settings=settings, now=clock.now(), http_client=http_client) == 0
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_a_hanging_receiver_delays_nobody_beyond_the_timeout_and_is_retried(
    client: TestClient,
    factory: Any,
    settings: Any,
    clock: Any,
    world: dict[str, Any],
    receivers: Any,
    http_client: httpx.Client,
) -> None:
    """Two agencies watch the same official; one receiver sleeps past the timeout. The other
    is served at once, the slow one is recorded as a timeout and retried later."""
    slow = receivers(delay=2.0)
    fast = receivers()
    add_webhook(client, world["us_hr"], slow.url)
    add_webhook(client, world["mx_hr_fgr"], fast.url)
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"], dob=DOB))
    for watcher in ("us_hr", "mx_hr_fgr"):
        watch_screening(
            factory,
            settings,
            world[watcher],
            given="JUAN CARLOS",
            first="HERNANDEZ",
            second="GARCIA",
            dob=DOB,
            matches=[(official["id"], "high")],
        )
    evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("financial", "fail"),
    )
    started = time.monotonic()
    done = deliver_due(
        factory, settings=settings, now=clock.now(), http_client=http_client, timeout=0.5
    )
    elapsed = time.monotonic() - started
    assert done == 2
    assert elapsed < 1.8, elapsed  # bounded by the timeout, not by the receiver's 2 s
    # The fast receiver was served while the slow one was still inside its timeout.
    assert fast.requests[0].at < slow.requests[0].at + 0.5
    by_status = {r.status: r for r in deliveries(factory)}
    assert set(by_status) == {"delivered", "failed"}
    assert by_status["failed"].last_error.startswith("timeout")
    assert by_status["failed"].last_status_code is None

    slow.delay = 0.0
    clock.advance(BACKOFF[0])
    assert deliver_due(factory, settings=settings, now=clock.now(), http_client=http_client) == 1
    assert {r.status for r in deliveries(factory)} == {"delivered"}
    assert len(fast.requests) == 1
    assert len(slow.requests) == 2


def test_delivery_survives_a_restart_and_happens_once(
    client: TestClient,
    factory: Any,
    settings: Any,
    clock: Any,
    world: dict[str, Any],
    receivers: Any,
    http_client: httpx.Client,
    app: Any,
) -> None:
    """The outbox row is committed with the notification: a brand-new process (app, engine,
    session factory) on the same database delivers it, exactly once."""
    receiver = receivers()
    add_webhook(client, world["us_hr"], receiver.url)
    list_and_fail(client, factory, settings, world)
    app.state.engine.dispose()  # the first process is gone

    fresh = create_app(settings, clock=clock)
    try:
        again = fresh.state.sessionmaker
        assert deliver_due(again, settings=settings, now=clock.now(), http_client=http_client) == 1
        assert deliver_due(again, settings=settings, now=clock.now(), http_client=http_client) == 0
        clock.advance(dt.timedelta(hours=7))
        assert deliver_due(again, settings=settings, now=clock.now(), http_client=http_client) == 0
    finally:
        fresh.state.engine.dispose()
    assert len(receiver.requests) == 1
    assert [d.status for d in deliveries(factory)] == ["delivered"]


def test_concurrent_workers_never_deliver_a_row_twice(
    client: TestClient,
    settings: Any,
    clock: Any,
    world: dict[str, Any],
    receivers: Any,
    engine_for: Any,
    factory: Any,
) -> None:
    """DESIGN §7: two workers, each with its own engine (as two processes), drain the same
    outbox at once; every row is posted exactly once (SKIP LOCKED on PostgreSQL, conditional
    claims on SQLite)."""
    receiver = receivers(delay=0.02)
    add_webhook(client, world["us_hr"], receiver.url)
    with unit_of_work(factory) as session:
        notes = [
            Notification(
                agency_id=world["us_fbi"],
                country="US",
                kind="listing.listed",
                payload={"n": n},
                created_at=T0,
            )
            for n in range(16)
        ]
        session.add_all(notes)
        session.flush()
        assert enqueue_deliveries(session, notes, now=T0) == 16

    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        own = make_sessionmaker(engine_for())
        try:
            with httpx.Client(timeout=2.0) as http:
                barrier.wait()
                total = 0
                while done := deliver_due(
                    own,
                    settings=settings,
                    now=clock.now(),
                    http_client=http,
                    batch=3,
                    concurrency=2,
                ):
                    total += done
                counts.append(total)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sum(counts) == 16
    ids = [r.headers["X-Registry-Delivery"] for r in receiver.requests]
    assert len(ids) == 16
    assert len(set(ids)) == 16
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 16
    assert {d.status for d in deliveries(factory)} == {"delivered"}


def test_in_process_worker_delivers_after_commit(
    settings: Any, clock: Any, receivers: Any, world: dict[str, Any]
) -> None:
    """With REGISTRY_DELIVER_IN_PROCESS the server's own thread delivers, woken by the commit
    that wrote the outbox row (a long poll interval shows it was the wake-up)."""
    app = create_app(
        settings.model_copy(update={"deliver_in_process": True, "deliver_poll_seconds": 60}),
        clock=clock,
    )
    receiver = receivers()
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            add_webhook(c, world["us_hr"], receiver.url)
            with unit_of_work(app.state.sessionmaker) as session:
                note = Notification(
                    agency_id=world["us_fbi"],
                    country="US",
                    kind="listing.listed",
                    payload={},
                    created_at=T0,
                )
                session.add(note)
                session.flush()
                assert enqueue_deliveries(session, [note], now=T0) == 1
            deadline = time.monotonic() + 10
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(receiver.requests) == 1
    finally:
        app.state.engine.dispose()
    assert not delivery._wakers  # the thread stopped with the app
