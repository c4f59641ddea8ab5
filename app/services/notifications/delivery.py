"""Webhook delivery from the outbox (R12b, DESIGN §7).

A notification's ``webhook_deliveries`` rows are committed with it
(app.services.notifications.notifications);
this module posts them, never inside a request:

1. **Claim** due rows in a short transaction of their own: PostgreSQL takes them with
   ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers pass each other by; SQLite, whose
   writers are serialised anyway, claims each with a conditional ``UPDATE … WHERE locked_until
   IS NULL OR locked_until < now``. Either way a claimed row carries a lease
   (``locked_until``), so a worker that dies mid-post releases it when the lease runs out.
2. **Post** outside any transaction, a few at a time in threads, each with an httpx timeout:
   a receiver that hangs holds up nobody but itself, and for no longer than the timeout.
3. **Record** every attempt (``webhook_attempts``, the delivery log) and the row's new state in
   another short transaction, fenced by the lease so a worker that lost its lease cannot
   overwrite a newer outcome.

A failed attempt is retried after 30 s, 2 min, 10 min, 1 h and 6 h; the sixth failure makes the
row ``dead``. Delivery is at least once: a receiver that answered 2xx but whose answer was lost
gets the same ``X-Registry-Delivery`` id again, which is what it de-duplicates on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock
from app.config import Settings
from app.models import Notification, Webhook, WebhookAttempt, WebhookDelivery
from app.services.notifications.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSecretError,
    decrypt_secret,
    destination_problem,
    sign,
)

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, … failed attempt; after the last one the row is dead.
BACKOFF: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(hours=1),
    dt.timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
DUE_STATUSES = ("pending", "failed")
DEFAULT_BATCH = 50
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT_SECONDS = 5.0
LEASE_MARGIN = dt.timedelta(seconds=60)
USER_AGENT = "vetting-registry-webhooks/1"


def retry_delay(failed_attempts: int) -> dt.timedelta | None:
    """How long to wait after ``failed_attempts`` failures, or None to give up."""
    if failed_attempts < 1:
        return dt.timedelta(0)
    if failed_attempts > len(BACKOFF):
        return None
    return BACKOFF[failed_attempts - 1]


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    webhook_id: uuid.UUID
    url: str
    secret_ciphertext: bytes
    body: bytes
    attempts: int
    lease: dt.datetime


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _body(delivery_id: int, notification: Notification) -> bytes:
    """The JSON posted: the notification as the inbox shows it, plus the delivery id. The
    same bytes on every attempt of one delivery."""
    document = {
        "delivery_id": delivery_id,
        "notification_id": notification.id,
        "kind": notification.kind,
        "created_at": notification.created_at.isoformat(),
        "agency_id": str(notification.agency_id) if notification.agency_id else None,
        "country": notification.country,
        "listing_id": str(notification.listing_id) if notification.listing_id else None,
        "official_id": str(notification.official_id) if notification.official_id else None,
        "payload": notification.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _due(now: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        WebhookDelivery.status.in_(DUE_STATUSES),
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    ]


def claim_due(
    factory: sessionmaker[Session], *, now: dt.datetime, batch: int, lease: dt.datetime
) -> list[_Job]:
    """Claim up to ``batch`` due deliveries of active webhooks, oldest first, until ``lease``;
    safe with any number of workers in any number of processes."""
    with factory() as session, session.begin():
        postgres = session.get_bind().dialect.name == "postgresql"
        stmt = (
            select(WebhookDelivery.id)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(*_due(now), Webhook.active.is_(True))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(batch)
        )
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
        candidates = list(session.scalars(stmt))
        if not candidates:
            return []
        if postgres:
            # The rows are locked by this transaction: nobody else can claim them meanwhile.
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(candidates))
                .values(locked_until=lease)
                .execution_options(synchronize_session=False)
            )
            claimed = candidates
        else:
            claimed = []
            for delivery_id in candidates:
                result = session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id, *_due(now))
                    .values(locked_until=lease)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(delivery_id)
        rows = session.execute(
            select(WebhookDelivery, Webhook.url, Webhook.secret_ciphertext, Notification)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .join(Notification, Notification.id == WebhookDelivery.notification_id)
            .where(WebhookDelivery.id.in_(claimed))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .execution_options(populate_existing=True)
        ).all()
        return [
            _Job(
                delivery_id=delivery.id,
                webhook_id=delivery.webhook_id,
                url=url,
                secret_ciphertext=ciphertext,
                body=_body(delivery.id, notification),
                attempts=delivery.attempts,
                lease=lease,
            )
            for delivery, url, ciphertext, notification in rows
        ]


def _post(
    job: _Job,
    *,
    settings: Settings,
    now: dt.datetime,
    http_client: httpx.Client,
    timeout: float,
) -> _Outcome:
    started = time.monotonic()

    def done(status_code: int | None, error: str | None) -> _Outcome:
        elapsed = int((time.monotonic() - started) * 1000)
        return _Outcome(status_code, error[:500] if error else None, elapsed)

    # SSRF (docs/security.md): the host is resolved and every address checked before the call;
    # a refused destination is a failed attempt like any other, retried and in the log.
    refused = destination_problem(job.url, settings=settings)
    if refused is not None:
        log.warning("webhook delivery %s not sent: %s", job.delivery_id, refused)
        return done(None, refused)
    try:
        secret = decrypt_secret(settings, job.secret_ciphertext, webhook_id=job.webhook_id)
    except WebhookSecretError:
        return done(None, "the signing secret cannot be decrypted")
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, job.body),
        DELIVERY_HEADER: str(job.delivery_id),
    }
    try:
        # Streamed and closed unread: the receiver's answer body is of no interest, and a
        # large one must not be loaded.
        with http_client.stream(
            "POST", job.url, content=job.body, headers=headers, timeout=timeout
        ) as response:
            code = response.status_code
    except httpx.TimeoutException:
        return done(None, f"timeout after {timeout:g}s")
    except httpx.HTTPError as exc:
        return done(None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bad stored URL must not stop the other deliveries
        log.exception("webhook delivery %s failed unexpectedly", job.delivery_id)
        return done(None, f"{type(exc).__name__}")
    return done(code, None if 200 <= code < 300 else f"HTTP {code}")


def _record(
    factory: sessionmaker[Session], job: _Job, outcome: _Outcome, *, now: dt.datetime
) -> None:
    attempts = job.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "locked_until": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if outcome.delivered:
        values |= {"status": "delivered", "delivered_at": now}
    else:
        delay = retry_delay(attempts)
        if delay is None:
            values |= {"status": "dead"}
        else:
            values |= {"status": "failed", "next_attempt_at": now + delay}
    with factory() as session, session.begin():
        session.add(
            WebhookAttempt(
                delivery_id=job.delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == job.delivery_id,
                WebhookDelivery.locked_until == job.lease,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 1) != 1:
            log.warning("webhook delivery %s: lease lost, outcome not recorded", job.delivery_id)


def deliver_due(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    now: dt.datetime,
    http_client: httpx.Client,
    batch: int = DEFAULT_BATCH,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> int:
    """Claim up to ``batch`` due deliveries, post them (``concurrency`` at a time, each with
    ``timeout``), record each attempt; return how many were attempted (R12b, DESIGN §7).
    ``settings`` gives the key that decrypts the signing secrets."""
    # Long enough for every post of the batch to time out in turn, and then some.
    waves = math.ceil(batch / max(concurrency, 1))
    lease = now + dt.timedelta(seconds=timeout * waves) + LEASE_MARGIN
    jobs = claim_due(factory, now=now, batch=batch, lease=lease)
    if not jobs:
        return 0

    def run(job: _Job) -> None:
        outcome = _post(job, settings=settings, now=now, http_client=http_client, timeout=timeout)
        _record(factory, job, outcome, now=now)

    if concurrency <= 1 or len(jobs) == 1:
        for job in jobs:
            run(job)
    else:
        with ThreadPoolExecutor(
            max_workers=min(concurrency, len(jobs)), thread_name_prefix="webhook"
        ) as pool:
            for future in [pool.submit(run, job) for job in jobs]:
                future.result()
    return len(jobs)


# --- the worker loop -------------------------------------------------------------------------

_wakers: set[threading.Event] = set()
_wakers_lock = threading.Lock()


def wake() -> None:
    """Wake the delivery loops of this process (called after a commit that wrote outbox rows;
    other processes find the rows when they next poll)."""
    with _wakers_lock:
        events = list(_wakers)
    for event in events:
        event.set()


class DeliveryWorker:
    """Delivers the outbox until stopped: a pass whenever woken, or every ``poll_seconds``.

    ``run`` loops in the calling thread (the ``registry deliver`` command); ``start`` runs it
    in a daemon thread of a server process (``REGISTRY_DELIVER_IN_PROCESS``). Errors of a pass,
    the database being away included, are logged and the loop carries on.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        settings: Settings,
        clock: Clock | None = None,
        poll_seconds: float | None = None,
        batch: int = DEFAULT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock or Clock()
        self.poll_seconds = poll_seconds or settings.deliver_poll_seconds
        self.batch = batch
        self.concurrency = concurrency
        self.timeout = settings.webhook_timeout_seconds
        self._client = http_client
        self._owns_client = http_client is None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Deliver until nothing is due now; return how many were attempted."""
        total = 0
        while True:
            done = deliver_due(
                self.factory,
                settings=self.settings,
                now=self.clock.now(),
                http_client=self._http(),
                batch=self.batch,
                concurrency=self.concurrency,
                timeout=self.timeout,
            )
            total += done
            if done < self.batch or self._stop.is_set():
                return total

    def run(self) -> None:
        with _wakers_lock:
            _wakers.add(self._wake)
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self.run_once()
                except Exception:
                    log.exception(
                        "webhook delivery pass failed; retrying in %ss", self.poll_seconds
                    )
                self._wake.wait(self.poll_seconds)
        finally:
            with _wakers_lock:
                _wakers.discard(self._wake)
            self._close_client()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="webhook-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to end after the current pass; with a thread, wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.timeout * 2 + 5)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._client

    def _close_client(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None
