"""``registry deliver``: the webhook outbox worker (R12b, DESIGN §7).

Run one or more anywhere that reaches the database; they share the work safely. Wire it into
the command line with ``app.add_typer(deliver.app, name="deliver")``.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from app.config import load_settings
from app.db import make_engine, make_sessionmaker
from app.services.notifications.delivery import DEFAULT_BATCH, DEFAULT_CONCURRENCY, DeliveryWorker

app = typer.Typer(help="Deliver notification webhooks from the outbox")


@app.callback(invoke_without_command=True)
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit")
    ] = False,
    poll: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Seconds between passes (default REGISTRY_DELIVER_POLL_SECONDS)"
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=500, help="Deliveries claimed per pass")] = (
        DEFAULT_BATCH
    ),
    concurrency: Annotated[
        int, typer.Option(min=1, max=32, help="Deliveries posted at once")
    ] = DEFAULT_CONCURRENCY,
) -> None:
    """Post due webhook deliveries, retrying failures with backoff, until stopped (SIGINT or
    SIGTERM end it after the current pass)."""
    settings = load_settings()
    engine = make_engine(settings.database_url, pool_size=max(2, concurrency))
    factory = make_sessionmaker(engine)
    factory.configure(info={"settings": settings})
    worker = DeliveryWorker(
        factory, settings=settings, poll_seconds=poll, batch=batch, concurrency=concurrency
    )
    try:
        if once:
            typer.echo(f"attempted {worker.run_once()} deliveries")
            return

        def _stop(signum: int, frame: FrameType | None) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        typer.echo(f"delivering webhooks every {worker.poll_seconds:g}s; Ctrl-C to stop")
        worker.run()
    finally:
        worker.stop()
        engine.dispose()
