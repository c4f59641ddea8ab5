"""``python -m bench wrk``: the request path against a bare FastAPI endpoint, in one run, with
one compiled load generator (issue #17, docs/benchmark.md "Against a bare endpoint").

A Python client saturates a 2-core machine before the server does, so the routes are driven
by wrk (``apt-get install wrk``; without it this says so and stops). In each round the bare
endpoint (``bench.bare``) and each checkout's service are served in turn by the same uvicorn
command (one process), and wrk drives each route with the same threads and connections
(``-t2 -c8``). Rounds alternate the order of the servers; medians over rounds are reported,
each route's rate as a ratio to the bare endpoint's of the same round.

Transactions per request are PostgreSQL's own count (``pg_stat_database``: ``xact_commit +
xact_rollback`` of the bench database) across the warm-up and measured runs of a route,
divided by the requests wrk completed in them. A backend reports its counters when idle, at
most every ten seconds (PostgreSQL 15), so the count waits ``STATS_SETTLE_SECONDS`` before each
reading; background work of the server (the outbox poll, an audit chainer) falls in the count,
which is what a request costs the database over time.

The database is created and populated once (``--size``, the bench's smoke-sized population:
20 task forces, the first of 100 members) and kept with its keys in ``bench/.data`` for the
next run (``--fresh`` rebuilds it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from bench import load
from bench.generate import SIZES, Manifest
from bench.populate import BenchDatabase, admin_url, bench_settings, populate, server_env
from bench.server import Server

BENCH_DIR = Path(__file__).resolve().parent
LUA = BENCH_DIR / "requests.lua"
STATS_SETTLE_SECONDS = 10.5
ROUTES: dict[str, str] = {
    "auth_me": "GET /auth/me",
    "identifier_screening": "POST /screenings (CURP/SSN)",
    "name_screening": "POST /screenings (names + DOB)",
    "eligibility": "GET /officials/{id}/eligibility",
    "compliance": "GET /task-forces/{id}/compliance (100 members)",
}
# The load scenarios (bench/load.py) each route's requests are drawn from.
SCENARIO_OF = {"auth_me": "baseline"} | {name: name for name in ROUTES if name != "auth_me"}
THREADS, CONNECTIONS = 2, 8
# What the server is given of the bench's settings (bench.populate.server_env), kept between runs.
SERVED_SETTINGS = (
    "env",
    "database_url",
    "jwt_secret",
    "identifier_key",
    "blind_index_key",
    "signing_key",
    "log_level",
    "access_token_minutes",
)


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    statuses: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(url: str, requests_file: Path, seconds: float, token: str | None) -> Run:
    """One wrk run: ``THREADS`` threads, ``CONNECTIONS`` connections, ``seconds`` long."""
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
    ]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    command += [url, "--", str(requests_file)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return Run(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["socket_errors"] + data["non_2xx_3xx"],
        statuses=data["statuses"],
    )


def _transactions(url: str, database: str) -> int:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :d"),
                {"d": database},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(value)


@dataclass
class State:
    """A populated database kept between runs, with what its server needs."""

    database: str
    size: str
    settings: dict[str, Any]
    password: str
    data: str

    @property
    def path(self) -> Path:
        return BENCH_DIR / ".data" / f"wrk-{self.database}.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.__dict__, indent=2))
        self.path.chmod(0o600)

    def settings_obj(self) -> Settings:
        return Settings(**self.settings)


def _exists(database: str) -> bool:
    engine = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
            ).first()
    finally:
        engine.dispose()
    return found is not None


def prepare(size: str, database: str, *, fresh: bool) -> State:
    from bench.run import Plan, _population

    state_path = BENCH_DIR / ".data" / f"wrk-{database}.json"
    if not fresh and state_path.exists() and _exists(database):
        state = State(**json.loads(state_path.read_text()))
        if state.size == size:
            print(f"database {database}: reusing ({state_path})", flush=True)
            return state
    plan = Plan.make(size, True)  # the smoke population: 20 task forces, the first of 100
    data, manifest = _population(plan)
    db = BenchDatabase.create(database)
    db.migrate()
    settings = bench_settings(db.url)
    print(f"populating {database} ({SIZES[size]:,} officials)", flush=True)
    started = time.perf_counter()
    _, users = populate(db, settings, data, manifest, workers=0)
    db.analyze()
    print(f"  populated in {time.perf_counter() - started:.0f} s", flush=True)
    state = State(
        database=database,
        size=size,
        settings={name: getattr(settings, name) for name in SERVED_SETTINGS},
        password=users.passwords["bench-admin-mx"],
        data=str(data),
    )
    state.save()
    return state


def request_files(state: State, directory: Path, count: int = 2000) -> dict[str, Path]:
    """Each route's requests, ``count`` of them, drawn as the load scenarios draw them."""
    settings = state.settings_obj()
    engine = make_engine(settings.database_url, pool_size=2)
    factory = make_sessionmaker(engine)
    factory.configure(info={"settings": settings})
    data = Path(state.data)
    samples = load.collect_samples(
        factory, data, Manifest.read(data / "manifest.json"), size=count, seed=7
    )
    engine.dispose()
    builders = load.scenarios(samples)
    directory.mkdir(parents=True, exist_ok=True)
    out = {"bare": directory / "bare.txt"}
    out["bare"].write_text("GET /bare\n")
    for route, scenario in SCENARIO_OF.items():
        _, build = builders[scenario]
        rng = random.Random(17)
        lines = []
        for _ in range(count):
            method, path, body = build(rng)
            lines.append(f"{method} {path}" + (f" {json.dumps(body)}" if body else ""))
        out[route] = directory / f"{route}.txt"
        out[route].write_text("\n".join(lines) + "\n")
    return out


def _serve(
    label: str,
    root: Path,
    state: State,
    files: dict[str, Path],
    *,
    duration: float,
    warmup: float,
    count_transactions: bool,
    log_dir: Path,
) -> dict[str, Any]:
    settings = state.settings_obj()
    env = server_env(settings)
    server = Server(env, log=log_dir / f"wrk-server-{label}.log", root=root)
    server.start()
    out: dict[str, Any] = {}
    try:
        token = asyncio.run(load.login(server.base_url, "bench-admin-mx", state.password))
        if count_transactions:
            time.sleep(STATS_SETTLE_SECONDS)
            before = _transactions(settings.database_url, state.database)
        for route in ROUTES:
            warm = drive(server.base_url + "/api/v1", files[route], warmup, token)
            run = drive(server.base_url + "/api/v1", files[route], duration, token)
            figures: dict[str, Any] = run.__dict__ | {"per_second": run.per_second}
            if count_transactions:
                time.sleep(STATS_SETTLE_SECONDS)
                after = _transactions(settings.database_url, state.database)
                # The reading's own transaction is one of them.
                figures["transactions_per_request"] = (after - before - 1) / max(
                    1, warm.requests + run.requests
                )
                before = after
            out[route] = figures
            xact = figures.get("transactions_per_request")
            print(
                f"  {label} {route}: {run.per_second:,.0f}/s p95 {run.p95_ms:.1f} ms "
                f"p99 {run.p99_ms:.1f} ms, {run.errors} errors"
                + (f", {xact:.2f} transactions/request" if xact is not None else ""),
                flush=True,
            )
    finally:
        server.stop()
    return out


def _bare(files: dict[str, Path], *, duration: float, warmup: float, log_dir: Path) -> Run:
    server = Server(
        {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
        log=log_dir / "wrk-server-bare.log",
        app="bench.bare:create_app",
    )
    server.start()
    try:
        drive(server.base_url, files["bare"], warmup, None)
        run = drive(server.base_url, files["bare"], duration, None)
    finally:
        server.stop()
    print(f"  bare: {run.per_second:,.0f}/s p95 {run.p95_ms:.2f} ms", flush=True)
    return run


def compare(
    *,
    size: str,
    database: str,
    checkouts: list[tuple[str, Path]],
    rounds: int,
    duration: float,
    warmup: float,
    transaction_rounds: int,
    fresh: bool,
    results_dir: Path,
) -> Path | None:
    if wrk_path() is None:
        print(
            "wrk is not installed: `apt-get install -y wrk` (Debian's package); "
            "skipping the wrk benchmark",
            flush=True,
        )
        return None
    started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    load_before = os.getloadavg()
    state = prepare(size, database, fresh=fresh)
    files = request_files(state, BENCH_DIR / ".data" / f"wrk-{database}-requests")
    results_dir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for n in range(rounds):
        k = n % len(checkouts)
        order = checkouts[k:] + checkouts[:k]
        if n % 2:
            order = order[::-1]
        print(f"round {n + 1}: bare, then {', '.join(label for label, _ in order)}", flush=True)
        bare = _bare(files, duration=duration, warmup=warmup, log_dir=results_dir)
        entry: dict[str, Any] = {"bare": bare.__dict__ | {"per_second": bare.per_second}}
        for label, root in order:
            served = _serve(
                label,
                root,
                state,
                files,
                duration=duration,
                warmup=warmup,
                count_transactions=n < transaction_rounds,
                log_dir=results_dir,
            )
            for figures in served.values():
                figures["ratio_to_bare"] = figures["per_second"] / bare.per_second
            entry[label] = served
        runs.append(entry)
    summary = summarise(runs, [label for label, _ in checkouts])
    meta = {
        "size": size,
        "database": database,
        "started_at": stamp,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": f"-t{THREADS} -c{CONNECTIONS}",
        "duration_s": duration,
        "warmup_s": warmup,
        "rounds": rounds,
        "checkouts": {label: str(root) for label, root in checkouts},
        "commits": {label: _commit(root) for label, root in checkouts},
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "total_s": round(time.perf_counter() - started, 1),
    }
    out = results_dir / f"wrk-{size}-{stamp}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2))
    md = render(meta, summary)
    out.with_suffix(".md").write_text(md)
    print(md, flush=True)
    for log in results_dir.glob("wrk-server-*.log"):
        if log.stat().st_size == 0:
            log.unlink()
    return out


def _commit(root: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(runs: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """Medians over rounds, per checkout and route."""
    out: dict[str, Any] = {"bare_per_second": _median([r["bare"]["per_second"] for r in runs])}
    for label in labels:
        routes: dict[str, Any] = {}
        for route in ROUTES:
            figures = [r[label][route] for r in runs if route in r.get(label, {})]
            routes[route] = {
                key: _median([f[key] for f in figures if f.get(key) is not None])
                for key in (
                    "per_second",
                    "ratio_to_bare",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "transactions_per_request",
                )
            } | {"errors": sum(f["errors"] for f in figures)}
        out[label] = routes
    return out


def render(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    lines = [
        f"# wrk against a bare endpoint, {meta['size']}, {meta['started_at']}",
        "",
        f"wrk {meta['wrk']}, one uvicorn process, {meta['duration_s']:.0f} s per route after "
        f"{meta['warmup_s']:.0f} s of warm-up, {meta['rounds']} rounds (medians); load average "
        f"{meta['load_before'][0]} before, {meta['load_after'][0]} after. "
        f"Bare FastAPI endpoint: {summary['bare_per_second']:,.0f} req/s.",
        "",
        "| checkout | route | req/s | / bare | p50 ms | p95 ms | p99 ms | transactions/request "
        "| errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in meta["checkouts"]:
        for route, title in ROUTES.items():
            f = summary[label][route]
            xact = f["transactions_per_request"]
            lines.append(
                f"| {label} ({meta['commits'][label]}) | {title} | {f['per_second']:,.0f} "
                f"| {100 * f['ratio_to_bare']:.1f} % | {f['p50_ms']:.1f} | {f['p95_ms']:.1f} "
                f"| {f['p99_ms']:.1f} | {'' if xact is None else f'{xact:.2f}'} "
                f"| {f['errors']} |"
            )
    return "\n".join(lines) + "\n"
