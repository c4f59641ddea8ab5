"""The bench's report: JSON with everything measured, and a Markdown table with the ratios of
DESIGN §6 (figures are ratios taken in one run, since absolute times drift on shared machines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = (
    # key, description, how to read the measurement, target, comparison
    (
        "identifier_vs_baseline",
        "Identifier screening throughput / bare endpoint",
        "ratio",
        0.50,
        ">=",
    ),
    ("identifier_p99_ms", "Identifier screening p99 at concurrency 8", "ms", 15.0, "<"),
    ("name_p95_ms", "Name + DOB screening p95", "ms", 50.0, "<"),
    ("name_throughput", "Name + DOB screenings per second (one process)", "/s", 100.0, ">="),
    ("batch_seconds", "Batch of 1,000 screenings (p50)", "s", 2.0, "<"),
    ("compliance_p95_ms", "Roster compliance (100 members) p95", "ms", 30.0, "<"),
    (
        "compliance_constant",
        "Compliance statements do not grow with the roster",
        "bool",
        True,
        "==",
    ),
    ("due_list_seconds", "Due list (first page of 200, p50)", "s", 5.0, "<"),
    ("import_officials_per_s", "Bulk import, officials per second", "/s", 5000.0, ">="),
    ("server_peak_mb", "Server peak memory (VmHWM) under load", "MB", 300.0, "<"),
)


def _check(value: Any, target: Any, op: str) -> bool | None:
    if value is None:
        return None
    if op == ">=":
        return bool(value >= target)
    if op == "<":
        return bool(value < target)
    return bool(value == target)


def _margin(value: Any, target: Any, op: str) -> str:
    if value is None or isinstance(value, bool) or not target:
        return ""
    if op == ">=":
        return f"{(value / target - 1) * 100:+.0f} %"
    return f"{(value / target - 1) * 100:+.0f} %"


def design_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    api = {r["name"]: r for r in results.get("api", [])}

    def get(name: str, key: str) -> Any:
        r = api.get(name)
        return None if r is None or r.get("skipped") else r.get(key)

    base = get("baseline", "throughput_per_s")
    ident = get("identifier_screening", "throughput_per_s")
    batch = get("batch_screening", "p50_ms")
    due = get("due_list", "p50_ms")
    counts = results.get("compliance_statements") or {}
    mem = results.get("server_memory_kib", {}).get("VmHWM")
    measured = {
        "identifier_vs_baseline": round(ident / base, 3) if ident and base else None,
        "identifier_p99_ms": get("identifier_screening", "p99_ms"),
        "name_p95_ms": get("name_screening", "p95_ms"),
        "name_throughput": get("name_screening", "throughput_per_s"),
        "batch_seconds": round(batch / 1000.0, 3) if batch is not None else None,
        "compliance_p95_ms": get("compliance", "p95_ms"),
        # A fixed difference (a query skipped when no member is foreign, say) is not growth.
        "compliance_constant": (max(counts.values()) - min(counts.values()) <= 3)
        if len(counts) >= 2
        else None,
        "due_list_seconds": round(due / 1000.0, 3) if due is not None else None,
        "import_officials_per_s": round(
            results.get("import", {}).get("officials_per_second", 0.0), 1
        )
        or None,
        "server_peak_mb": round(mem / 1024.0, 1) if mem else None,
    }
    out = []
    for key, text, unit, target, op in TARGETS:
        value = measured[key]
        out.append(
            {
                "key": key,
                "what": text,
                "unit": unit,
                "target": f"{op} {target}",
                "measured": value,
                "met": _check(value, target, op),
                "margin": _margin(value, target, op),
            }
        )
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    meta = results["meta"]
    lines.append(
        f"# Benchmark: {meta['size_label']} officials{' (smoke)' if meta['smoke'] else ''}"
    )
    lines.append("")
    lines.append(
        f"Run {meta['started_at']} on {meta['host']} ({meta['cpus']} CPUs, load average "
        f"{meta['load_before']} before, {meta.get('load_after', '–')} after), PostgreSQL "
        f"{meta['postgres']}, Python {meta['python']}; seed {meta['seed']}; "
        f"{meta['duration_s']} s per scenario after {meta['warmup_s']} s warm-up; "
        f"concurrency {meta['concurrency']}. Total wall time {meta.get('total_s', '–')} s."
    )
    if meta["smoke"]:
        lines.append("")
        lines.append(
            "**Smoke run**: tiny durations prove the harness works; the figures are not "
            "measurements."
        )
    lines.append("")
    pop = results.get("population", {})
    lines.append("## Population")
    lines.append("")
    lines.append(
        f"{pop.get('officials', '–'):,} officials, {pop.get('listed', '–'):,} listed "
        f"({pop.get('listed_share', '–')} %), {pop.get('evaluations', '–'):,} evaluations, "
        f"{pop.get('separations', '–'):,} separations, {pop.get('task_forces', '–')} task forces "
        f"with {pop.get('members', '–'):,} members. Most common first surnames (MX): "
        f"{pop.get('top_surnames', '–')}."
    )
    lines.append("")
    imp = results.get("import", {})
    lines.append("## Import (through the import path, PostgreSQL)")
    lines.append("")
    lines.append(f"Worker processes: {imp.get('workers', 0)}; batch 1,000 rows.")
    lines.append("")
    lines.append(
        "| phase | rows | rejected | seconds | rows/s | CPU s: this process / workers / "
        "PostgreSQL | CPU µs per row |"
    )
    lines.append("|---|---:|---:|---:|---:|---|---:|")
    for p in imp.get("phases", []):
        lines.append(
            f"| {p['name']} | {p['rows']:,} | {p['rejected']} | {p['seconds']:.1f} | "
            f"{p['per_second']:,.0f} | {p.get('cpu_main', 0):.1f} / "
            f"{p.get('cpu_workers', 0):.1f} / {p.get('cpu_postgres', 0):.1f} | "
            f"{p.get('cpu_us_per_row', 0):,.0f} |"
        )
    lines.append("")
    lines.append(
        f"Officials per second (both countries, wall clock): "
        f"**{imp.get('officials_per_second', 0):,.0f}**. CPU per official, all processes "
        f"together: {imp.get('officials_cpu_us') or 0:,.0f} µs; with nothing else running, "
        f"the {results['meta']['cpus']} cores would allow at most about "
        f"{imp.get('idle_ceiling_per_second') or 0:,.0f} officials/s (cores ÷ CPU per official, "
        "assuming the work spreads over every core)."
    )
    lines.append("")
    lines.append("## Requests (one uvicorn process, closed loop)")
    lines.append("")
    raw = {r["name"]: r for r in results.get("raw", [])}
    base = next((r for r in results.get("api", []) if r["name"] == "baseline"), None)
    lines.append(
        "| scenario | conc. | requests | req/s | p50 ms | p95 ms | p99 ms | errors | "
        "× baseline | raw SQL req/s | raw p95 ms | API / raw |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results.get("api", []):
        if r.get("skipped"):
            dashes = " – |" * 10
            lines.append(f"| {r['title']} |{dashes} skipped: {r['skipped']} |")
            continue
        f = raw.get(r["name"])
        vs_base = (
            r["throughput_per_s"] / base["throughput_per_s"]
            if base and base.get("throughput_per_s") and not base.get("skipped")
            else None
        )
        vs_raw = (
            r["throughput_per_s"] / f["throughput_per_s"]
            if f and f.get("throughput_per_s")
            else None
        )
        lines.append(
            f"| {r['title']} | {r['concurrency']} | {r['requests']:,} | "
            f"{_fmt(r['throughput_per_s'])} | {_fmt(r['p50_ms'])} | {_fmt(r['p95_ms'])} | "
            f"{_fmt(r['p99_ms'])} | {r['errors']} | {_fmt(vs_base)} | "
            f"{_fmt(f['throughput_per_s']) if f else '–'} | {_fmt(f['p95_ms']) if f else '–'} | "
            f"{_fmt(vs_raw)} |"
        )
    if results.get("raw_skipped"):
        lines.append("")
        for name, why in results["raw_skipped"].items():
            lines.append(f"- raw SQL for {name} not captured: {why}")
    if results.get("due_csv"):
        d = results["due_csv"]
        lines.append("")
        lines.append(f"Whole due list as CSV (`Accept: text/csv`), once: {d}.")
    counts = results.get("compliance_statements")
    if counts:
        lines.append("")
        lines.append(
            "Statements per compliance answer: "
            + ", ".join(f"{k}: {v}" for k, v in counts.items())
            + "."
        )
    mem = results.get("server_memory_kib", {})
    if mem:
        lines.append("")
        lines.append(
            f"Server memory: peak {mem.get('VmHWM', 0) / 1024:.0f} MB (VmHWM), "
            f"{mem.get('VmRSS', 0) / 1024:.0f} MB resident at the end."
        )
    lines.append("")
    lines.append("## DESIGN §6")
    lines.append("")
    lines.append("| bar | target | measured | met | margin |")
    lines.append("|---|---|---:|:---:|---:|")
    for c in results.get("design", []):
        met = {True: "yes", False: "**no**", None: "–"}[c["met"]]
        lines.append(
            f"| {c['what']} | {c['target']} {c['unit']} | {_fmt(c['measured'])} | {met} | "
            f"{c['margin']} |"
        )
    profiles = results.get("profiles") or {}
    if profiles:
        lines.append("")
        lines.append("## Where the server spends its time (py-spy, samples of each scenario)")
        lines.append("")
        for name, prof in profiles.items():
            inc = "; ".join(f"{f} {p} %" for f, p in prof.get("app_inclusive", [])[:8])
            own = "; ".join(f"{f} {p} %" for f, p in prof.get("self", [])[:6])
            lines.append(f"- **{name}** ({prof.get('samples', 0)} samples). In the service: {inc}.")
            lines.append(f"  Leaf functions: {own}.")
    if results.get("notes"):
        lines.append("")
        lines.append("## Notes")
        lines.append("")
        lines.extend(f"- {n}" for n in results["notes"])
    lines.append("")
    return "\n".join(lines)


def rewrite(json_path: Path) -> Path:
    """Render the Markdown of an earlier run again from its JSON (``python -m bench report``)."""
    results = json.loads(json_path.read_text())
    results["design"] = design_checks(results)
    md_path = json_path.with_suffix(".md")
    md_path.write_text(markdown(results))
    return md_path


def write(results: dict[str, Any], directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    results["design"] = design_checks(results)
    json_path = directory / f"{stem}.json"
    md_path = directory / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=1, default=str))
    md_path.write_text(markdown(results))
    return json_path, md_path
