"""Fixtures for re-vetting tests: a small binational world, fresh tokens at the pinned clock,
and direct inserts for populations (the API is what the assertions go through)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth.tokens import issue_access_token
from app.clock import FixedClock
from app.db import unit_of_work
from app.models import Appointment, Evaluation, Official, RandomSelection
from app.services.revetting import draw_math
from tests.conftest import T0, Caller
from tests.registry.builders import make_agency

_names = itertools.count()


@dataclass
class World:
    mx_police: uuid.UUID
    mx_fgr: uuid.UUID
    mx_c3: uuid.UUID
    us_fbi: uuid.UUID
    us_vet: uuid.UUID
    mx_admin: Caller
    us_admin: Caller
    mx_hr: Caller
    mx_vetter: Caller
    mx_auditor: Caller


@pytest.fixture
def world(factory: sessionmaker[Session], make_user: Any) -> World:
    mx_police = make_agency(factory, country="MX", acronym="PEJ")
    mx_fgr = make_agency(factory, country="MX", acronym="FGR", sector="justice")
    mx_c3 = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    us_fbi = make_agency(factory, country="US", acronym="FBI")
    us_vet = make_agency(factory, country="US", acronym="FBISD", can_vet=True)
    return World(
        mx_police=mx_police,
        mx_fgr=mx_fgr,
        mx_c3=mx_c3,
        us_fbi=us_fbi,
        us_vet=us_vet,
        mx_admin=make_user("admin", "MX"),
        us_admin=make_user("admin", "US"),
        mx_hr=make_user("personnel_officer", "MX", agency_id=mx_police),
        mx_vetter=make_user("vetting_officer", "MX", agency_id=mx_c3),
        mx_auditor=make_user("auditor", "MX"),
    )


@pytest.fixture
def auth(app: FastAPI, clock: FixedClock) -> Callable[[Caller], dict[str, str]]:
    """Headers with a token minted at the clock's *current* time (tests move it by years)."""

    def headers(caller: Caller) -> dict[str, str]:
        token, _ = issue_access_token(
            app.state.settings, user_id=caller.id, token_version=1, now=clock.now()
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


def at(clock: FixedClock, day: dt.date) -> None:
    clock.at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def add_official(
    factory: sessionmaker[Session],
    agency_id: uuid.UUID,
    *,
    country: str = "MX",
    tier: str = "line",
    started_on: dt.date = dt.date(2020, 1, 15),
    given: str | None = None,
    first: str = "PEREZ",
    second: str | None = "LOPEZ",
    kind: str = "appointment",
) -> uuid.UUID:
    """An official and an active appointment, inserted directly (fast populations)."""
    given = given or f"PERSONA {next(_names)}"
    with unit_of_work(factory) as session:
        official = Official(
            country=country,
            given_names=given,
            first_surname=first,
            second_surname=second,
            date_of_birth=dt.date(1980, 5, 17),
            search_name=f"{first} {second or ''} {given}".replace("  ", " "),
            created_at=T0,
        )
        session.add(official)
        session.flush()
        session.add(
            Appointment(
                official_id=official.id,
                agency_id=agency_id,
                position="Agente",
                rank_tier=tier,
                kind=kind,
                started_on=started_on,
                created_at=T0,
            )
        )
        return official.id


def add_evaluation(
    factory: sessionmaker[Session],
    official_id: uuid.UUID,
    body: uuid.UUID,
    *,
    outcome: str = "pass",
    conducted_on: dt.date = dt.date(2026, 1, 10),
    trigger: str = "periodic",
    country: str = "MX",
) -> uuid.UUID:
    with unit_of_work(factory) as session:
        evaluation = Evaluation(
            official_id=official_id,
            conducted_by=body,
            conducted_by_country=country,
            trigger=trigger,
            components={},
            outcome=outcome,
            conducted_on=conducted_on,
            interval_months=36,
            created_at=T0,
        )
        session.add(evaluation)
        session.flush()
        return evaluation.id


def play_draw(
    client: TestClient,
    auth: Callable[[Caller], dict[str, str]],
    world: World,
    *,
    scope: dict[str, Any],
    sample_size: int,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Create a draw and run it to completion with fresh secrets; returns (verify, secrets)."""
    r = client.post(
        "/api/v1/draws",
        json={"scope": scope, "sample_size": sample_size},
        headers=auth(world.mx_admin),
    )
    assert r.status_code == 201, r.text
    draw_id = r.json()["id"]
    secrets = {"MX": draw_math.generate_secret(), "US": draw_math.generate_secret()}
    admins = {"MX": world.mx_admin, "US": world.us_admin}
    for country, secret in secrets.items():
        commitment = draw_math.commitment_of(bytes.fromhex(secret))
        r = client.post(
            f"/api/v1/draws/{draw_id}/commitments",
            json={"commitment": commitment},
            headers=auth(admins[country]),
        )
        assert r.status_code == 201, r.text
    for country, secret in secrets.items():
        r = client.post(
            f"/api/v1/draws/{draw_id}/reveals",
            json={"secret": secret},
            headers=auth(admins[country]),
        )
        assert r.status_code == 201, r.text
    assert r.json()["status"] == "completed"
    verify = client.get(f"/api/v1/draws/{draw_id}/verify", headers=auth(world.mx_admin))
    assert verify.status_code == 200, verify.text
    out: dict[str, Any] = verify.json()
    return out, secrets


def add_selection(
    factory: sessionmaker[Session], official_id: uuid.UUID, draw_id: uuid.UUID, due_on: dt.date
) -> None:
    with unit_of_work(factory) as session:
        session.add(
            RandomSelection(
                draw_id=draw_id,
                official_id=official_id,
                rank=1,
                ranking_mac="0" * 64,
                selected_on=due_on - dt.timedelta(days=30),
                due_on=due_on,
                created_at=T0,
            )
        )
