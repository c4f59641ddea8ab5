"""Small builders for registry tests: agencies straight into the database, officials and
evaluations through the API (so the rules run)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db import unit_of_work
from app.models import Agency
from app.services.registry.identifiers import make_curp
from tests.conftest import T0

_seq = itertools.count()

ALL_PASS = [
    {"type": t, "result": "pass"}
    for t in (
        "polygraph",
        "background",
        "financial",
        "toxicology",
        "psychological",
        "medical",
        "socioeconomic",
    )
]


def make_agency(
    factory: sessionmaker[Session],
    *,
    country: str = "MX",
    acronym: str | None = None,
    sector: str = "law_enforcement",
    can_vet: bool = False,
    parent_id: uuid.UUID | None = None,
    contact: str | None = "registry-contact@example.gob",
    commission_department: str | None = None,
) -> uuid.UUID:
    n = next(_seq)
    with unit_of_work(factory) as session:
        agency = Agency(
            country=country,
            name=f"Agency {acronym or n}",
            acronym=acronym or f"AG{n}",
            level="federal",
            sector=sector,
            parent_id=parent_id,
            can_vet=can_vet,
            contact=contact,
            commission_department=commission_department,
            created_at=T0,
        )
        session.add(agency)
        session.flush()
        return agency.id


def official_body(
    agency_id: uuid.UUID,
    *,
    given: str = "JUAN CARLOS",
    first: str = "HERNANDEZ",
    second: str | None = "GARCIA",
    dob: dt.date = dt.date(1985, 3, 14),
    sex: str = "M",
    tier: str = "line",
    curp: bool = True,
    started_on: dt.date = dt.date(2020, 1, 15),
) -> dict[str, Any]:
    identifiers = []
    if curp:
        identifiers.append(
            {
                "scheme": "CURP",
                "value": make_curp(given, first, second, dob, sex),
            }
        )
    return {
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "date_of_birth": dob.isoformat(),
        "identifiers": identifiers,
        "appointment": {
            "agency_id": str(agency_id),
            "position": "Agente",
            "rank_tier": tier,
            "started_on": started_on.isoformat(),
        },
    }


def register(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/officials", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def evaluate(
    client: TestClient,
    headers: dict[str, str],
    official_id: str,
    vetting_body: uuid.UUID,
    *,
    components: list[dict[str, str]] | None = None,
    trigger: str = "periodic",
    conducted_on: dt.date = dt.date(2026, 11, 1),
    expect: int = 201,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "conducted_by": str(vetting_body),
        "trigger": trigger,
        "conducted_on": conducted_on.isoformat(),
        "components": components or ALL_PASS,
        **extra,
    }
    r = client.post(f"/api/v1/officials/{official_id}/evaluations", json=body, headers=headers)
    assert r.status_code == expect, r.text
    out: dict[str, Any] = r.json()
    return out


def with_result(component: str, result: str) -> list[dict[str, str]]:
    return [
        {"type": c["type"], "result": result if c["type"] == component else "pass"}
        for c in ALL_PASS
    ]


DISTINCT_GIVEN = (
    "ABEL",
    "BRENDA",
    "CIRO",
    "DALIA",
    "EFRAIN",
    "FABIOLA",
    "GASPAR",
    "HILDA",
    "ISMAEL",
    "JIMENA",
    "KEVIN",
    "LETICIA",
    "MOISES",
    "NAYELI",
    "OSVALDO",
    "PAULINA",
    "QUIRINO",
    "ROCIO",
    "SAUL",
    "TERESA",
    "ULISES",
    "VIRIDIANA",
    "WENCESLAO",
    "XIMENA",
    "YAEL",
    "ZOILA",
)
DISTINCT_SURNAMES = (
    "ALVARADO",
    "BECERRA",
    "CASTANEDA",
    "DOMINGUEZ",
    "ESPINOZA",
    "FUENTES",
    "GALINDO",
    "HUERTA",
    "IBARRA",
    "JUAREZ",
    "LEDESMA",
    "MORENO",
    "NAVARRO",
    "OROZCO",
    "PACHECO",
    "QUINTERO",
    "ROSALES",
    "SALAZAR",
    "TREVINO",
    "URIBE",
    "VELAZQUEZ",
    "ZAMORA",
)


def distinct_names(n: int) -> tuple[str, str, str]:
    """(given names, first surname, second surname) of the n-th of many people whose names are
    far apart: registering one never resembles another to the R3 gate's name screening, so
    tests that register many people and list some of them are not held for review."""
    g, s = len(DISTINCT_GIVEN), len(DISTINCT_SURNAMES)
    return (
        DISTINCT_GIVEN[n % g],
        DISTINCT_SURNAMES[(n // g) % s],
        DISTINCT_SURNAMES[(n // g // s + 7) % s],
    )
