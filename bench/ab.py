"""Interleaved A/B of two checkouts' servers against one kept bench database.

Runs of a whole bench minutes apart differ by 10-25 % on a virtual machine whose speed drifts
(the raw SQL floor alone moved that much between two 1M runs), which hides changes of that
size. Here both servers answer the same database, the same samples and the same scenarios, in
alternating order (A B, B A, A B, ...), so drift falls on both sides; the medians over rounds
are compared.

    python -m bench ab --database bvr_bench_1m --a /tmp/old-checkout --b . --rounds 3

The database is one a run kept (``--keep-db``). Its keys are gone with that run, so this uses
fresh ones and a fresh password for ``bench-admin-mx``: scenarios that need the stored
identifiers' blind index (identifier screening) would find nothing and are not offered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import make_url, update

from app.auth.passwords import PasswordHasher
from app.db import make_engine, make_sessionmaker
from app.models import User
from bench import load
from bench.generate import Manifest
from bench.populate import admin_url, bench_settings, server_env
from bench.server import Server

SCENARIOS = ("baseline", "name_screening", "eligibility", "compliance", "due_list")
DEFAULT_SCENARIOS = ("baseline", "name_screening", "eligibility", "compliance")


@dataclass
class Comparison:
    rounds: int
    runs: dict[str, dict[str, list[dict[str, float]]]] = field(default_factory=dict)

    def add(self, scenario: str, side: str, result: load.Result) -> None:
        self.runs.setdefault(scenario, {}).setdefault(side, []).append(
            {
                "per_second": result.throughput,
                "p50_ms": result.percentile(50) or 0.0,
                "p95_ms": result.percentile(95) or 0.0,
            }
        )

    def table(self) -> str:
        lines = [
            "| scenario | A req/s | B req/s | change | A p95 ms | B p95 ms | change |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for scenario, sides in self.runs.items():
            a_rate, b_rate = _median(sides, "A", "per_second"), _median(sides, "B", "per_second")
            a_p95, b_p95 = _median(sides, "A", "p95_ms"), _median(sides, "B", "p95_ms")
            lines.append(
                f"| {scenario} | {a_rate:.1f} | {b_rate:.1f} | {_change(a_rate, b_rate)} "
                f"| {a_p95:.0f} | {b_p95:.0f} | {_change(a_p95, b_p95)} |"
            )
        return "\n".join(lines)


def _median(sides: dict[str, list[dict[str, float]]], side: str, key: str) -> float:
    values = sorted(run[key] for run in sides.get(side, []))
    return values[len(values) // 2] if values else 0.0


def _change(a: float, b: float) -> str:
    return f"{100 * (b / a - 1):+.0f} %" if a else "n/a"


def compare(
    *,
    database: str,
    a: Path,
    b: Path,
    data: Path,
    rounds: int,
    scenarios: tuple[str, ...],
    duration: float,
    results_dir: Path,
) -> Path:
    url = make_url(admin_url()).set(database=database).render_as_string(hide_password=False)
    settings = bench_settings(url)
    engine = make_engine(url, pool_size=2)
    factory = make_sessionmaker(engine)
    factory.configure(info={"settings": settings})
    password = secrets.token_urlsafe(18)
    with factory() as session, session.begin():
        session.execute(
            update(User)
            .where(User.username == "bench-admin-mx")
            .values(password_hash=PasswordHasher(settings).hash(password))
        )
    samples = load.collect_samples(
        factory, data, Manifest.read(data / "manifest.json"), size=2000, seed=7
    )
    engine.dispose()
    builders = load.scenarios(samples)
    comparison = Comparison(rounds)
    for n in range(rounds):
        order = (("A", a), ("B", b)) if n % 2 == 0 else (("B", b), ("A", a))
        for side, root in order:
            log = results_dir / f"ab-server-{side}.log"
            server = Server(server_env(settings), log=log, root=root)
            server.start()
            try:
                token = asyncio.run(load.login(server.base_url, "bench-admin-mx", password))
                for k, scenario in enumerate(scenarios):
                    result = asyncio.run(
                        _drive(
                            server.base_url,
                            token,
                            builders[scenario],
                            scenario,
                            duration,
                            n * 100 + k,
                        )
                    )
                    comparison.add(scenario, side, result)
                    print(
                        f"round {n} {side} {scenario}: {result.throughput:.1f}/s, p95 "
                        f"{result.percentile(95) or 0:.0f} ms",
                        flush=True,
                    )
            finally:
                server.stop()
                if log.exists() and log.stat().st_size == 0:
                    log.unlink()  # kept only when the server had something to say
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results_dir / f"ab-{database}-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "database": database,
                "a": str(a),
                "b": str(b),
                "rounds": rounds,
                "runs": comparison.runs,
            },
            indent=2,
        )
    )
    print(comparison.table())
    return out


async def _drive(
    base_url: str,
    token: str,
    scenario: tuple[str, load.Builder],
    name: str,
    duration: float,
    seed: int,
) -> load.Result:
    title, build = scenario
    concurrency = 1 if name == "due_list" else 8
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
        limits=limits,
    ) as client:
        return await load.closed_loop(
            client,
            build,
            name=name,
            title=title,
            concurrency=concurrency,
            timing=load.Timing(duration, 2.0, 10**6),
            seed=seed,
        )
