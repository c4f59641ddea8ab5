"""Every PostgreSQL session the service opens runs with ``app.db.POSTGRES_OPTIONS`` (JIT off:
compiling the due list's hundreds of expressions cost more than it saved, docs/benchmark.md),
and a deployment's own ``?options=`` in the URL wins over ours."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import make_engine, make_sessionmaker, unit_of_work

pytestmark = pytest.mark.postgres_only


def _show_jit(url: str) -> str:
    engine = make_engine(url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            return str(session.execute(text("SHOW jit")).scalar_one())
    finally:
        engine.dispose()


def test_service_sessions_run_without_jit(settings: Settings) -> None:
    assert _show_jit(settings.database_url) == "off"


def test_options_in_the_url_are_kept(settings: Settings) -> None:
    separator = "&" if "?" in settings.database_url else "?"
    url = f"{settings.database_url}{separator}options={quote('-c jit=on')}"
    assert _show_jit(url) == "on"
