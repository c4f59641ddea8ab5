"""The benchmark harness end to end at 10k in smoke mode (tiny durations): it generates,
imports, serves, loads, replays the SQL floor and reports. It asserts that everything ran,
never how fast (DESIGN §6 figures come from full runs: docs/benchmark.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres_only
def test_bench_smoke_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["BENCH_PG_URL"] = PG_URL
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--size",
            "10k",
            "--smoke",
            "--database",
            f"bvr_bench_t{os.getpid()}",
            "--results-dir",
            str(tmp_path / "results"),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reports = sorted((tmp_path / "results").glob("10k-smoke-*.json"))
    assert len(reports) == 1, result.stdout
    report = json.loads(reports[0].read_text())
    assert report["population"]["officials"] == 10_000
    assert 2.0 <= report["population"]["listed_share"] <= 4.0
    assert report["import"]["officials_per_second"] > 0
    assert all(p["rejected"] == 0 for p in report["import"]["phases"]), report["import"]
    api = {r["name"]: r for r in report["api"]}
    assert api["baseline"]["requests"] > 0
    assert api["baseline"]["errors"] == 0
    for name, r in api.items():
        if not r["skipped"] and name != "batch_screening":
            assert r["requests"] > 0, r
            assert r["errors"] == 0, r
    assert report["raw"], "the SQL floor ran"
    assert report["server_memory_kib"]["VmHWM"] > 0
    assert {c["key"] for c in report["design"]} >= {"import_officials_per_s", "server_peak_mb"}
    markdown = reports[0].with_suffix(".md").read_text()
    assert "## DESIGN §6" in markdown
