"""R12b end to end: ``POST /screenings`` with ``"watch": true`` leaves the watch that later
listings, overturns and corrections fire."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from app.services.registry.identifiers import make_curp
from tests.registry.builders import evaluate, official_body, register, with_result

DOB = dt.date(1979, 5, 30)


def screen(client: TestClient, caller: Any, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/screenings", json={**body, "watch": True}, headers=caller.headers)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    assert out["watch_id"]
    return out


def kinds(client: TestClient, caller: Any) -> list[str]:
    r = client.get("/api/v1/notifications", headers=caller.headers)
    assert r.status_code == 200, r.text
    return [n["kind"] for n in r.json()["items"]]


def test_screening_watch_follows_a_later_registration_and_an_overturn(
    client: TestClient, world: dict[str, Any]
) -> None:
    curp = make_curp("ROSA ELENA", "MARTINEZ", "CRUZ", DOB, "F")
    # Screened before anyone registers her: clear, and watched.
    early = screen(
        client,
        world["us_hr"],
        given_names="Rosa Elena",
        first_surname="Martínez",
        second_surname="Cruz",
        date_of_birth=DOB.isoformat(),
        identifiers=[{"scheme": "CURP", "value": curp}],
    )
    assert early["verdict"] == "clear"

    official = register(
        client,
        world["mx_hr"].headers,
        official_body(
            world["mx_police"],
            given="ROSA ELENA",
            first="MARTINEZ",
            second="CRUZ",
            dob=DOB,
            sex="F",
        ),
    )
    listing_id = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("toxicology", "fail"),
    )["listing_id"]
    assert kinds(client, world["us_hr"]) == ["listing.listed"]

    # Screened after the listing: the candidate is matched, and the watch follows it.
    late = screen(
        client,
        world["mx_hr_fgr"],
        given_names="ROSA ELENA",
        first_surname="MARTINEZ",
        second_surname="CRUZ",
        date_of_birth=DOB.isoformat(),
    )
    assert late["verdict"] == "listed"
    watch = client.get(
        f"/api/v1/watches/{late['watch_id']}", headers=world["mx_hr_fgr"].headers
    ).json()
    assert watch["matched_official_ids"] == [official["id"]]

    admin = world["mx_admin"].headers
    appeal = client.post(
        f"/api/v1/listings/{listing_id}/appeals",
        json={"grounds": "Chain of custody of the sample was broken."},
        headers=admin,
    ).json()
    r = client.post(
        f"/api/v1/listings/{listing_id}/appeals/{appeal['id']}/decision",
        json={"decision": "overturned", "reasons": "The sample cannot be relied upon."},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert kinds(client, world["us_hr"]) == ["listing.overturned", "listing.listed"]
    assert kinds(client, world["mx_hr_fgr"]) == ["listing.overturned"]
