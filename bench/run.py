"""``python -m bench run``: generate, import, load, measure, report (docs/benchmark.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from app.db import make_engine, make_sessionmaker
from bench import floor, load, profile
from bench.generate import (
    DEFAULT_AS_OF,
    DEFAULT_SEED,
    SIZES,
    TASK_FORCES,
    Manifest,
    generate,
    surname_share,
)
from bench.populate import PHASES, BenchDatabase, bench_settings, populate, server_env
from bench.report import write
from bench.server import Server

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
RESULTS_DIR = BENCH_DIR / "results"


@dataclass
class Plan:
    size_label: str
    smoke: bool
    seed: int = DEFAULT_SEED
    workers: int = 2
    concurrency: int = 8
    duration: float = 20.0
    warmup: float = 3.0
    samples: int = 5000
    task_forces: int = TASK_FORCES
    captures: int = 200
    database: str = "bvr_bench"
    keep_db: bool = False
    profile: bool = False
    results_dir: Path = RESULTS_DIR
    data_dir: Path = DATA_DIR
    # Generation and import only (no server, no load, no raw floor): to iterate on imports.
    import_only: bool = False
    phases: tuple[str, ...] = PHASES

    @classmethod
    def make(cls, size_label: str, smoke: bool, **overrides: Any) -> Plan:
        plan = cls(size_label=size_label, smoke=smoke)
        if smoke:
            plan.duration, plan.warmup, plan.samples, plan.captures = 1.0, 0.3, 500, 10
            # Spawning workers costs more than it saves on 10k rows; 20 task forces (the first
            # still of 100 members) keep the R19 re-derivations of the reciprocal evaluations
            # from dominating a run that only proves the harness.
            plan.workers, plan.task_forces = 0, 20
        for key, value in overrides.items():
            if value is not None:
                setattr(plan, key, value)
        return plan

    def timing(self, name: str) -> load.Timing:
        if name == "batch_screening":
            return load.Timing(self.duration, self.warmup, 3 if self.smoke else 30)
        if name == "due_list":
            return load.Timing(min(self.duration, 10.0), self.warmup, 5 if self.smoke else 200)
        return load.Timing(self.duration, self.warmup, 400 if self.smoke else 200_000)

    def concurrency_of(self, name: str) -> int:
        return 1 if name in {"batch_screening", "due_list"} else self.concurrency


def _population(plan: Plan) -> tuple[Path, Manifest]:
    size = SIZES[plan.size_label]
    directory = plan.data_dir / f"{plan.size_label}-{plan.seed}-tf{plan.task_forces}"
    manifest_path = directory / "manifest.json"
    if manifest_path.exists():
        manifest = Manifest.read(manifest_path)
        if (
            manifest.size == size
            and manifest.seed == plan.seed
            and manifest.as_of == DEFAULT_AS_OF.isoformat()
        ):
            print(f"population: reusing {directory}", flush=True)
            return directory, manifest
        shutil.rmtree(directory)
    print(f"population: generating {size:,} officials into {directory}", flush=True)
    started = time.perf_counter()
    manifest = generate(directory, size=size, seed=plan.seed, task_forces=plan.task_forces)
    print(f"  generated in {time.perf_counter() - started:.1f}s: {manifest.counts}", flush=True)
    return directory, manifest


def _load_avg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def _drive(
    plan: Plan, server: Server, token: str, samples: load.Samples, profiles: dict[str, Any]
) -> list[load.Result]:
    openapi = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    results: list[load.Result] = []
    headers = {"Authorization": f"Bearer {token}"}
    builders = load.scenarios(samples)
    for n, (name, (title, build)) in enumerate(builders.items()):
        concurrency = plan.concurrency_of(name)
        if not load.published(openapi, name):
            r = load.Result(name, title, concurrency, skipped="endpoint not available yet")
        elif name == "compliance" and samples.roster_100 is None:
            r = load.Result(name, title, concurrency, skipped="no 100-member task force")
        else:
            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            timing = plan.timing(name)
            recorder = None
            if plan.profile and profile.available() and server.proc is not None:
                recorder = profile.Recorder(
                    server.proc.pid,
                    plan.results_dir / f"profile-{name}.txt",
                    timing.warmup + timing.duration,
                )
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, timeout=120, limits=limits
            ) as client:
                r = await load.closed_loop(
                    client,
                    build,
                    name=name,
                    title=title,
                    concurrency=concurrency,
                    timing=timing,
                    seed=plan.seed + n,
                )
            if recorder is not None:
                summary = await asyncio.to_thread(recorder.finish)
                if summary:
                    profiles[name] = summary
        print(
            f"  {name}: {r.requests} requests, {r.throughput:,.1f}/s, p50 "
            f"{r.percentile(50) or 0:.1f} ms, p95 {r.percentile(95) or 0:.1f} ms, p99 "
            f"{r.percentile(99) or 0:.1f} ms, {r.errors} errors"
            + (f" (skipped: {r.skipped})" if r.skipped else ""),
            flush=True,
        )
        results.append(r)
    return results


async def _floor(plan: Plan, url: str, sets: dict[str, list[floor.Captured]]) -> list[load.Result]:
    out = []
    titles = {
        name: title
        for name, (title, _) in load.scenarios(load.Samples([], [], [], None, None, 0)).items()
    }
    for n, (name, captured) in enumerate(sets.items()):
        if not captured or not any(c.selects for c in captured):
            continue
        r = await floor.replay(
            url,
            captured,
            name=name,
            title=titles[name],
            concurrency=plan.concurrency_of(name),
            timing=plan.timing(name),
            seed=plan.seed + 100 + n,
        )
        print(
            f"  raw {name}: {r.throughput:,.1f}/s, p50 {r.percentile(50) or 0:.2f} ms, p95 "
            f"{r.percentile(95) or 0:.2f} ms ({r.note})",
            flush=True,
        )
        out.append(r)
    return out


def run(plan: Plan) -> tuple[Path, Path]:
    started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "meta": {
            "size_label": plan.size_label,
            "smoke": plan.smoke,
            "seed": plan.seed,
            "started_at": stamp,
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": _load_avg(),
            "duration_s": plan.duration,
            "warmup_s": plan.warmup,
            "concurrency": plan.concurrency,
        },
        "notes": [],
    }
    data, manifest = _population(plan)
    db_name = plan.database + ("_smoke" if plan.smoke else "")
    db = BenchDatabase.create(db_name)
    server: Server | None = None
    try:
        db.migrate()
        settings = bench_settings(db.url)
        print(f"import into {db.name} ({plan.workers} worker processes)", flush=True)
        loaded, users = populate(
            db, settings, data, manifest, workers=plan.workers, phases=plan.phases
        )
        results["import"] = {
            "workers": plan.workers,
            "officials_per_second": loaded.officials_per_second,
            "officials_cpu_us": loaded.officials_cpu_us,
            "idle_ceiling_per_second": (os.cpu_count() or 1) * 1e6 / loaded.officials_cpu_us
            if loaded.officials_cpu_us
            else None,
            "phases": [
                asdict(p) | {"per_second": p.per_second, "cpu_us_per_row": p.cpu_us_per_row}
                for p in loaded.phases
            ],
            "errors": loaded.errors,
        }
        if loaded.errors:
            results["notes"].append(f"import rejected rows: {loaded.errors[:5]}")
        if plan.import_only:
            return _import_only(plan, results, stamp, loaded)
        db.analyze()
        results["population"] = {
            "officials": loaded.officials,
            "listed": loaded.listed,
            "listed_share": round(100.0 * loaded.listed / max(loaded.officials, 1), 2),
            "evaluations": manifest.counts["evaluations"],
            "separations": manifest.counts["separations"],
            "task_forces": loaded.task_forces,
            "members": loaded.members,
            "top_surnames": ", ".join(
                f"{n} {s} %" for n, s in surname_share(data / manifest.files.officials["MX"], 5)
            ),
        }
        engine = make_engine(db.url, pool_size=2)
        factory = make_sessionmaker(engine)
        factory.configure(info={"settings": settings})
        with engine.connect() as conn:
            results["meta"]["postgres"] = str(conn.execute(text("SHOW server_version")).scalar())
        samples = load.collect_samples(factory, data, manifest, size=plan.samples, seed=plan.seed)
        actor = users.principals["bench-admin-mx"]

        print("capturing the service's SQL for the raw floor", flush=True)
        sets, failures = floor.capture_all(
            engine, factory, settings, actor, samples, per_scenario=plan.captures, seed=plan.seed
        )
        results["raw_skipped"] = failures
        try:
            results["compliance_statements"] = floor.statements_per_compliance(
                engine, factory, actor, samples
            )
        except Exception as exc:
            results["notes"].append(f"compliance statement count failed: {type(exc).__name__}")

        print("starting the server", flush=True)
        server = Server(server_env(settings), log=plan.results_dir / f"server-{stamp}.log")
        plan.results_dir.mkdir(parents=True, exist_ok=True)
        server.start()
        token = asyncio.run(
            load.login(server.base_url, "bench-admin-mx", users.passwords["bench-admin-mx"])
        )
        print("load", flush=True)
        if plan.profile and not profile.available():
            # Said out loud: a 25-minute run whose report silently lacks its profiles is lost.
            print("  --profile: py-spy is not installed (pip install py-spy); no profiles")
        profiles: dict[str, Any] = {}
        api = asyncio.run(_drive(plan, server, token, samples, profiles))
        results["profiles"] = profiles
        results["server_memory_kib"] = server.memory()
        results["api"] = [r.summary() for r in api]
        if not plan.smoke and any(r.name == "due_list" and not r.skipped for r in api):
            results["due_csv"] = asyncio.run(load.full_csv_export(server.base_url, token, 300))
        server.stop()
        print("raw SQL floor", flush=True)
        raw = asyncio.run(_floor(plan, db.url, sets))
        results["raw"] = [r.summary() for r in raw]
        engine.dispose()
    finally:
        if server is not None:
            server.stop()
        if not plan.keep_db:
            db.drop()
    results["meta"]["load_after"] = _load_avg()
    results["meta"]["total_s"] = round(time.perf_counter() - started, 1)
    stem = f"{plan.size_label}{'-smoke' if plan.smoke else ''}-{stamp}"
    json_path, md_path = write(results, plan.results_dir, stem)
    log = plan.results_dir / f"server-{stamp}.log"
    if log.exists() and log.stat().st_size == 0:
        log.unlink()
    print(f"report: {md_path} and {json_path} ({results['meta']['total_s']} s)", flush=True)
    return json_path, md_path


def _import_only(plan: Plan, results: dict[str, Any], stamp: str, loaded: Any) -> tuple[Path, Path]:
    """``--import-only``: the import's figures as JSON (no Markdown: nothing else was run)."""
    results["meta"]["load_after"] = _load_avg()
    results["meta"]["phases"] = list(plan.phases)
    results["meta"]["workers"] = plan.workers
    stem = f"{plan.size_label}-import-{stamp}"
    plan.results_dir.mkdir(parents=True, exist_ok=True)
    path = plan.results_dir / f"{stem}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(
        f"officials: {loaded.officials_per_second:,.0f}/s, {loaded.officials_cpu_us:,.0f} CPU "
        f"µs each; load average before {results['meta']['load_before']}, after "
        f"{results['meta']['load_after']}; {path}",
        flush=True,
    )
    return path, path


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - see bench/__main__.py
    from bench.__main__ import cli

    cli(argv or sys.argv[1:])
    return 0
