"""``python -m bench``: the benchmark of DESIGN §6 (docs/benchmark.md).

python -m bench run --size 10k --smoke     # proves the harness, well under 3 minutes
python -m bench run --size 100k            # a measurement
python -m bench run --size 100k --import-only --phases officials,evaluations   # import only
python -m bench generate --size 1m --out bench/.data/1m
python -m bench ab --database bvr_bench_1m --a ../old-checkout --b .   # A/B of two servers
python -m bench wrk --size 10k --checkout old=../old --checkout new=.   # wrk vs a bare endpoint
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.generate import DEFAULT_SEED, SIZES, generate

cli = typer.Typer(help="Benchmark of the Binational Vetting Registry", no_args_is_help=True)


def _size(value: str) -> str:
    if value.lower() not in SIZES:
        raise typer.BadParameter(f"one of {', '.join(SIZES)}")
    return value.lower()


@cli.command()
def run(
    size: Annotated[str, typer.Option(callback=_size, help="10k, 100k or 1m")] = "10k",
    smoke: Annotated[bool, typer.Option(help="Tiny durations: proves the harness works")] = False,
    seed: Annotated[int, typer.Option()] = DEFAULT_SEED,
    workers: Annotated[
        int | None, typer.Option(min=0, max=8, help="Import worker processes")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64)] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.1, max=600, help="Seconds per scenario")
    ] = None,
    warmup: Annotated[float | None, typer.Option(min=0, max=60)] = None,
    database: Annotated[
        str | None, typer.Option(help="Name of the database to create and drop")
    ] = None,
    keep_db: Annotated[bool, typer.Option(help="Leave the database for inspection")] = False,
    profile: Annotated[
        bool, typer.Option(help="Sample the server with py-spy during each scenario")
    ] = False,
    results_dir: Annotated[Path | None, typer.Option(help="Where reports go")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where generated files go")] = None,
    import_only: Annotated[
        bool,
        typer.Option(help="Only generate and import (no server, no load): to iterate on imports"),
    ] = False,
    phases: Annotated[
        str | None,
        typer.Option(
            help="Import phases to run, comma-separated, of officials, evaluations, "
            "separations, reciprocal (default all; a phase needs the ones before it), and "
            "rehire (only when named; after evaluations: new officials into a registry with "
            "listings, the R3 gate's workload)"
        ),
    ] = None,
) -> None:
    """Generate the population, import it, load the server, replay the raw SQL, report."""
    from bench.run import Plan
    from bench.run import run as execute

    plan = Plan.make(
        size,
        smoke,
        seed=seed,
        workers=workers,
        concurrency=concurrency,
        duration=duration,
        warmup=warmup,
        database=database,
        keep_db=keep_db,
        profile=profile,
        results_dir=results_dir,
        data_dir=data_dir,
        import_only=import_only or None,
        phases=_phases(phases),
    )
    execute(plan)


def _phases(value: str | None) -> tuple[str, ...] | None:
    from bench.populate import OPTIONAL_PHASES, PHASES

    if value is None:
        return None
    names = tuple(p.strip().lower() for p in value.split(",") if p.strip())
    known = PHASES + OPTIONAL_PHASES
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise typer.BadParameter(f"phases are {', '.join(known)}", param_hint="--phases")
    return names


@cli.command()
def report(
    results: Annotated[list[Path], typer.Argument(help="JSON reports of earlier runs")],
) -> None:
    """Render the Markdown of earlier runs again from their JSON."""
    from bench.report import rewrite

    for path in results:
        typer.echo(rewrite(path))


@cli.command()
def ab(
    database: Annotated[str, typer.Option(help="A database kept by `run --keep-db`")],
    a: Annotated[Path, typer.Option(help="Checkout served as A")],
    b: Annotated[Path, typer.Option(help="Checkout served as B")] = Path("."),
    size: Annotated[str, typer.Option(callback=_size, help="The kept database's size")] = "1m",
    seed: Annotated[int, typer.Option()] = DEFAULT_SEED,
    rounds: Annotated[int, typer.Option(min=1, max=20)] = 3,
    scenarios: Annotated[
        str, typer.Option(help="Comma-separated")
    ] = "baseline,name_screening,eligibility,compliance",
    duration: Annotated[float, typer.Option(min=1, max=600, help="Seconds per scenario")] = 15.0,
    data_dir: Annotated[Path, typer.Option()] = Path("bench/.data"),
    results_dir: Annotated[Path, typer.Option()] = Path("bench/results"),
) -> None:
    """Interleaved A/B of two checkouts' servers against one kept database (bench/ab.py)."""
    from bench.ab import SCENARIOS, compare

    chosen = tuple(s.strip() for s in scenarios.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; one of {', '.join(SCENARIOS)}")
    results_dir.mkdir(parents=True, exist_ok=True)
    out = compare(
        database=database,
        a=a.resolve(),
        b=b.resolve(),
        data=data_dir / f"{size}-{seed}-tf200",
        rounds=rounds,
        scenarios=chosen,
        duration=duration,
        results_dir=results_dir,
    )
    typer.echo(f"A/B: {out}")


@cli.command()
def wrk(
    size: Annotated[str, typer.Option(callback=_size, help="10k or 100k")] = "10k",
    database: Annotated[str, typer.Option(help="Created once, kept between runs")] = "bvr_wrk",
    checkout: Annotated[
        list[str] | None,
        typer.Option(help="LABEL=PATH of a checkout to serve (repeatable); default HEAD=."),
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, max=20)] = 3,
    duration: Annotated[float, typer.Option(min=1, max=600, help="Seconds per route")] = 10.0,
    warmup: Annotated[float, typer.Option(min=1, max=60)] = 2.0,
    transaction_rounds: Annotated[
        int, typer.Option(min=0, help="Rounds that count transactions per request")
    ] = 1,
    fresh: Annotated[bool, typer.Option(help="Rebuild the database")] = False,
    results_dir: Annotated[Path, typer.Option()] = Path("bench/results"),
) -> None:
    """The request path against a bare FastAPI endpoint with wrk (bench/wrk.py)."""
    from bench.wrk import compare

    checkouts: list[tuple[str, Path]] = []
    for item in checkout or ["HEAD=."]:
        label, sep, path = item.partition("=")
        if not sep or not label:
            raise typer.BadParameter("LABEL=PATH", param_hint="--checkout")
        checkouts.append((label, Path(path).resolve()))
    out = compare(
        size=size,
        database=database,
        checkouts=checkouts,
        rounds=rounds,
        duration=duration,
        warmup=warmup,
        transaction_rounds=transaction_rounds,
        fresh=fresh,
        results_dir=results_dir,
    )
    if out is not None:
        typer.echo(f"wrk: {out}")


@cli.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option(help="Directory for the files")],
    size: Annotated[str, typer.Option(callback=_size)] = "10k",
    seed: Annotated[int, typer.Option()] = DEFAULT_SEED,
) -> None:
    """Only write the population's import files and manifest."""
    manifest = generate(out, size=SIZES[size], seed=seed)
    typer.echo(f"{out}: {manifest.counts}")


if __name__ == "__main__":
    cli()
