"""Fixtures for screening, gate and eligibility tests: two countries' agencies and staff, and
helpers that list officials through the API (so the real rules create the listings)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registry.builders import evaluate, make_agency, official_body, register, with_result


@pytest.fixture
def world(factory: Any, make_user: Any) -> dict[str, Any]:
    w: dict[str, Any] = {}
    w["mx_police"] = make_agency(factory, country="MX", acronym="PEJ")
    w["mx_fgr"] = make_agency(factory, country="MX", acronym="FGR", sector="justice")
    w["mx_c3"] = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    w["us_fbi"] = make_agency(factory, country="US", acronym="FBI")
    w["us_dea"] = make_agency(factory, country="US", acronym="DEA")
    w["us_vet"] = make_agency(factory, country="US", acronym="FBISD", can_vet=True)
    w["mx_admin"] = make_user("admin", "MX")
    w["us_admin"] = make_user("admin", "US")
    w["mx_hr"] = make_user("personnel_officer", "MX", agency_id=w["mx_police"])
    w["mx_hr_fgr"] = make_user("personnel_officer", "MX", agency_id=w["mx_fgr"])
    w["mx_vetter"] = make_user("vetting_officer", "MX", agency_id=w["mx_c3"])
    w["us_hr"] = make_user("personnel_officer", "US", agency_id=w["us_fbi"])
    w["us_hr_dea"] = make_user("personnel_officer", "US", agency_id=w["us_dea"])
    w["us_vetter"] = make_user("vetting_officer", "US", agency_id=w["us_vet"])
    return w


def listed_official(
    client: TestClient,
    w: dict[str, Any],
    *,
    component: str = "polygraph",
    result: str = "fail",
    **identity: Any,
) -> dict[str, Any]:
    """Register a Mexican official and fail (or refuse) a vetting, which lists them (R7)."""
    official = register(client, w["mx_hr"].headers, official_body(w["mx_police"], **identity))
    outcome = evaluate(
        client,
        w["mx_vetter"].headers,
        official["id"],
        w["mx_c3"],
        components=with_result(component, result),
    )
    official["listing_id"] = outcome["listing_id"]
    return official


def identity(
    given: str,
    first: str,
    second: str | None,
    dob: dt.date | str,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "date_of_birth": dob if isinstance(dob, str) else dob.isoformat(),
        **extra,
    }


def screen(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/screenings", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def batch(client: TestClient, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    r = client.post("/api/v1/screenings/batch", json={"items": items}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()
