"""Helpers for the watch, inbox and webhook tests: screenings with watches written straight
into the database (the screening service calls ``create_watch`` the same way), and a real HTTP
receiver on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import unit_of_work
from app.domain.access import Principal
from app.models import Screening, ScreeningMatch
from app.services.notifications.webhooks import verify_signature
from app.services.registry.identifiers import blind_index, normalise_identifier
from app.services.screening.watches import create_watch, identity_key
from tests.conftest import T0, Caller


def principal(caller: Caller, roles: Sequence[str] = ("personnel_officer",)) -> Principal:
    return Principal(
        user_id=caller.id,
        username=caller.username,
        roles=frozenset(roles),
        country=caller.country,
        agency_id=caller.agency_id,
        via="token",
    )


def watch_screening(
    factory: sessionmaker[Session],
    settings: Settings,
    caller: Caller,
    *,
    given: str,
    first: str,
    second: str | None,
    dob: dt.date,
    identifiers: Sequence[tuple[str, str]] = (),
    matches: Sequence[tuple[str | uuid.UUID, str]] = (),
    roles: Sequence[str] = ("personnel_officer",),
    now: dt.datetime = T0,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A screening by ``caller`` with candidate ``matches`` (official id, band) that leaves a
    watch; returns (screening id, watch id)."""
    indexes = [
        blind_index(settings.blind_index_key_bytes, scheme, normalise_identifier(scheme, value))
        for scheme, value in identifiers
    ]
    with unit_of_work(factory) as session:
        screening = Screening(
            requested_by=caller.id,
            agency_id=caller.agency_id,
            country=caller.country,
            given_names=given,
            first_surname=first,
            second_surname=second,
            date_of_birth=dob,
            identifier_indexes=indexes,
            identity_key=identity_key(settings, given, first, second, dob),
            verdict="review" if matches else "clear",
            top_score=None,
            created_at=now,
        )
        session.add(screening)
        session.flush()
        for rank, (official_id, band) in enumerate(matches):
            session.add(
                ScreeningMatch(
                    screening_id=screening.id,
                    official_id=uuid.UUID(str(official_id)),
                    rank=rank,
                    score=80.0 if band == "review" else (95.0 if band == "high" else 40.0),
                    band=band,
                    features={},
                    listing_id=None,
                )
            )
        session.flush()
        watch = create_watch(session, screening=screening, actor=principal(caller, roles), now=now)
        return screening.id, watch.id


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every POST. ``statuses`` are answered
    in turn (the last one repeats); ``delay`` seconds are slept before answering; with a
    ``secret`` the signature is checked as a real receiver would, and a bad one answers 401."""

    statuses: list[int] = field(default_factory=lambda: [204])
    delay: float = 0.0
    secret: str | None = None
    now: Any = None  # a callable giving the receiver's idea of the time
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = None
                if receiver.secret is not None:
                    ok = verify_signature(
                        receiver.secret,
                        self.headers.get("X-Registry-Timestamp", ""),
                        body,
                        self.headers.get("X-Registry-Signature", ""),
                        now=receiver.now() if receiver.now else time.time(),
                    )
                receiver.requests.append(
                    Received(time.monotonic(), dict(self.headers.items()), body, ok)
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = (
                    receiver.statuses.pop(0)
                    if len(receiver.statuses) > 1
                    else (receiver.statuses[0])
                )
                if ok is False:
                    status = 401
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
