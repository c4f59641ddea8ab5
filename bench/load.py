"""Closed-loop load driver: async httpx clients against the server on 127.0.0.1.

Each scenario runs ``concurrency`` clients that send a request, wait for the answer and send the
next, for a fixed time after a short warm-up, and never more than ``max_requests`` in all. It
records every latency and reports throughput and p50/p95/p99. A scenario whose route the server
does not publish (another engineer's work still in progress) is reported as skipped.
"""

from __future__ import annotations

import asyncio
import csv
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.models import Listing, Official, TaskForce, TaskForceMember
from bench.generate import Manifest

Request = tuple[str, str, Any]  # method, path, JSON body or None
Builder = Callable[[random.Random], Request]


@dataclass
class Result:
    name: str
    title: str
    concurrency: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    skipped: str | None = None
    note: str | None = None

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = max(0, min(len(ordered) - 1, math.ceil(p / 100.0 * len(ordered)) - 1))
        return ordered[rank]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(self.throughput, 1),
            "p50_ms": _round(self.percentile(50)),
            "p95_ms": _round(self.percentile(95)),
            "p99_ms": _round(self.percentile(99)),
            "max_ms": _round(max(self.latencies_ms) if self.latencies_ms else None),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "skipped": self.skipped,
            "note": self.note,
        }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@dataclass
class Timing:
    duration: float
    warmup: float
    max_requests: int


async def closed_loop(
    client: httpx.AsyncClient,
    build: Builder,
    *,
    name: str,
    title: str,
    concurrency: int,
    timing: Timing,
    seed: int,
) -> Result:
    """``concurrency`` clients in a closed loop, bounded in time and in count."""
    result = Result(name, title, concurrency)
    started = time.perf_counter()
    measure_from = started + timing.warmup
    deadline = measure_from + timing.duration
    budget = [timing.max_requests]

    last = [measure_from]

    async def client_loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.perf_counter() < deadline and budget[0] > 0:
            method, path, body = build(rng)
            t0 = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            t1 = time.perf_counter()
            if t1 < measure_from:
                continue  # warm-up: caches, pools and prepared statements
            budget[0] -= 1
            last[0] = max(last[0], t1)
            result.requests += 1
            result.latencies_ms.append((t1 - t0) * 1000.0)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if not 200 <= status < 300:
                result.errors += 1

    hard_stop = timing.warmup + timing.duration + 120.0
    await asyncio.wait_for(
        asyncio.gather(*(client_loop(i) for i in range(concurrency))), timeout=hard_stop
    )
    # Requests that end after the deadline count, and so does the time they took.
    result.seconds = max(1e-9, max(last[0], min(time.perf_counter(), deadline)) - measure_from)
    return result


# --- what the scenarios ask about --------------------------------------------------------------


@dataclass
class Samples:
    """Real people of the generated population: their names, birth dates and identifiers
    (read back from the import files: the database keeps identifiers encrypted)."""

    identities: list[dict[str, Any]]
    listed: list[dict[str, Any]]
    official_ids: list[str]
    roster_100: str | None
    roster_small: str | None
    roster_small_size: int


def _identity(row: dict[str, str], with_identifiers: bool = True) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "given_names": row["given_names"],
        "first_surname": row["first_surname"],
        "second_surname": row["second_surname"] or None,
        "date_of_birth": row["date_of_birth"],
    }
    if with_identifiers:
        for column, scheme in (("curp", "CURP"), ("ssn", "SSN"), ("rfc", "RFC")):
            if row.get(column):
                identity["identifiers"] = [{"scheme": scheme, "value": row[column]}]
                break
    return identity


def collect_samples(
    factory: sessionmaker[Session], data: Path, manifest: Manifest, *, size: int, seed: int
) -> Samples:
    with factory() as session:
        listed_refs = set(
            session.scalars(
                select(Official.source_ref)
                .join(Listing, Listing.official_id == Official.id)
                .order_by(Official.id)
                .limit(1000)
            )
        )
        # The caller is Mexico's admin: eligibility is asked of its own country's officials.
        mx = select(Official.id).where(Official.country == "MX")
        ids = [str(i) for i in session.scalars(mx.order_by(Official.id).limit(size))]
        rosters = session.execute(
            select(TaskForce.id, TaskForce.name).order_by(TaskForce.name)
        ).all()
        sizes: dict[uuid.UUID, int] = {}
        for tf_id in [r[0] for r in rosters]:
            sizes[tf_id] = len(
                session.scalars(
                    select(TaskForceMember.id).where(TaskForceMember.task_force_id == tf_id)
                ).all()
            )
    roster_100 = next((str(i) for i, n in sizes.items() if n == 100), None)
    small = min(sizes.items(), key=lambda kv: kv[1], default=None)
    rng = random.Random(seed)
    identities: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    # A reservoir sample of each file, and every listed person met on the way.
    for country in ("MX", "US"):
        reservoir: list[dict[str, str]] = []
        quota = int(size * (0.7 if country == "MX" else 0.3))
        with (data / manifest.files.officials[country]).open(encoding="utf-8") as handle:
            for n, row in enumerate(csv.DictReader(handle)):
                if row["source_ref"] in listed_refs:
                    listed.append(_identity(row))
                if len(reservoir) < quota:
                    reservoir.append(row)
                else:
                    j = rng.randrange(n + 1)
                    if j < quota:
                        reservoir[j] = row
        identities.extend(_identity(r) for r in reservoir)
    rng.shuffle(identities)
    return Samples(
        identities=identities,
        listed=listed,
        official_ids=ids,
        roster_100=roster_100,
        roster_small=str(small[0]) if small else None,
        roster_small_size=small[1] if small else 0,
    )


def _pick(rng: random.Random, s: Samples) -> dict[str, Any]:
    # One screening in ten is of a listed person, as in a registry that works.
    if s.listed and rng.random() < 0.1:
        return rng.choice(s.listed)
    return rng.choice(s.identities)


def _vary(rng: random.Random, identity: dict[str, Any]) -> dict[str, Any]:
    """The name as another clerk might type it: accents dropped, case changed, at times the
    second surname missing."""
    import unicodedata

    def plain(text: str) -> str:
        return "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )

    out = {k: v for k, v in identity.items() if k != "identifiers"}
    r = rng.random()
    if r < 0.4:
        out["given_names"] = plain(out["given_names"]).title()
        out["first_surname"] = plain(out["first_surname"]).title()
    elif r < 0.55 and out.get("second_surname"):
        out["second_surname"] = None
    return out


def scenarios(s: Samples) -> dict[str, tuple[str, Builder]]:
    """name → (title, request builder)."""
    out: dict[str, tuple[str, Builder]] = {
        "baseline": (
            "Bare authenticated endpoint (GET /auth/me)",
            lambda rng: ("GET", "/api/v1/auth/me", None),
        ),
        "identifier_screening": (
            "Identifier screening (POST /screenings with a CURP/SSN)",
            lambda rng: ("POST", "/api/v1/screenings", _pick(rng, s)),
        ),
        "name_screening": (
            "Name + date-of-birth screening (POST /screenings)",
            lambda rng: ("POST", "/api/v1/screenings", _vary(rng, _pick(rng, s))),
        ),
        "eligibility": (
            "Eligibility of an official (GET /officials/{id}/eligibility)",
            lambda rng: (
                "GET",
                f"/api/v1/officials/{rng.choice(s.official_ids)}/eligibility",
                None,
            ),
        ),
        "compliance": (
            "Roster compliance, 100-member task force (GET /task-forces/{id}/compliance)",
            lambda rng: ("GET", f"/api/v1/task-forces/{s.roster_100}/compliance", None),
        ),
        "batch_screening": (
            "Batch of 1,000 screenings (POST /screenings/batch)",
            lambda rng: (
                "POST",
                "/api/v1/screenings/batch",
                {"items": [_vary(rng, _pick(rng, s)) for _ in range(1000)]},
            ),
        ),
        "due_list": (
            "Due list, first page of 200 (GET /schedules/due)",
            lambda rng: ("GET", "/api/v1/schedules/due?limit=200", None),
        ),
    }
    return out


ROUTES = {
    "baseline": ("/api/v1/auth/me", "get"),
    "identifier_screening": ("/api/v1/screenings", "post"),
    "name_screening": ("/api/v1/screenings", "post"),
    "eligibility": ("/api/v1/officials/{official_id}/eligibility", "get"),
    "compliance": ("/api/v1/task-forces/{task_force_id}/compliance", "get"),
    "batch_screening": ("/api/v1/screenings/batch", "post"),
    "due_list": ("/api/v1/schedules/due", "get"),
}


def published(openapi: dict[str, Any], name: str) -> bool:
    path, method = ROUTES[name]
    return method in openapi.get("paths", {}).get(path, {})


async def login(base_url: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        r = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        r.raise_for_status()
        token: str = r.json()["access_token"]
        return token


async def full_csv_export(base_url: str, token: str, timeout: float) -> dict[str, Any]:
    """The whole due list as CSV (``Accept: text/csv``), timed once."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/csv"}
    started = time.perf_counter()
    rows = 0
    status = 0
    try:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=timeout) as client,
            client.stream("GET", "/api/v1/schedules/due", headers=headers) as r,
        ):
            status = r.status_code
            async for chunk in r.aiter_bytes():
                rows += chunk.count(b"\n")
    except httpx.HTTPError as exc:
        return {
            "status": status,
            "error": type(exc).__name__,
            "seconds": time.perf_counter() - started,
        }
    return {
        "status": status,
        "rows": max(0, rows - 1),
        "seconds": round(time.perf_counter() - started, 3),
    }
