"""The appointment gate (R3) with the matcher: a listed official is refused with
OFFICIAL_LISTED; an official resembling another, listed record needs a reviewer's ruling
(SCREENING_REVIEW_REQUIRED) and goes through once the candidates are ruled out."""

from __future__ import annotations

import datetime as dt

from tests.registry.builders import official_body, register
from tests.screening.conftest import listed_official


def _appoint(client, world, official_id, caller="mx_hr_fgr", **extra):
    body = {
        "agency_id": str(world["mx_fgr"]),
        "position": "Ministerio Público",
        "rank_tier": "line",
        "started_on": "2026-11-20",
        **extra,
    }
    return client.post(
        f"/api/v1/officials/{official_id}/appointments", json=body, headers=world[caller].headers
    )


def test_gate_listed_review_and_release(client, world):
    # A second record of (perhaps) the same person: same names, only the year of birth agrees.
    # Registered before the other is listed (registration itself is gated since #15).
    twin = register(
        client,
        world["mx_hr"].headers,
        official_body(world["mx_police"], dob=dt.date(1985, 1, 1)),
    )
    listed = listed_official(client, world)
    r = _appoint(client, world, listed["id"])
    assert r.status_code == 409
    assert r.json()["code"] == "OFFICIAL_LISTED"

    r = _appoint(client, world, twin["id"])
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "SCREENING_REVIEW_REQUIRED"
    assert problem["verdict"] == "review"
    assert [c["official_id"] for c in problem["candidates"]] == [listed["id"]]
    assert problem["candidates"][0]["basis"] == "failed_vetting"
    # The screening survived the refused request: the appointing agency can rule on it.
    screening_url = f"/api/v1/screenings/{problem['screening_id']}"
    kept = client.get(screening_url, headers=world["mx_hr_fgr"].headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["purpose"] == "appointment_gate"
    assert kept.json()["matches"][0]["official_id"] == listed["id"]
    # Nothing else of the refused request was kept.
    detail = client.get(f"/api/v1/officials/{twin['id']}", headers=world["mx_admin"].headers)
    assert len(detail.json()["appointments"]) == 1

    r = client.post(
        f"{screening_url}/decisions",
        json={
            "official_id": listed["id"],
            "decision": "not_same_person",
            "reasons": "Different people: birth certificates checked",
        },
        headers=world["mx_hr_fgr"].headers,
    )
    assert r.status_code == 201, r.text
    r = _appoint(client, world, twin["id"])
    assert r.status_code == 201, r.text


def test_gate_same_person_is_listed_and_admin_may_force(client, world):
    twin = register(
        client,
        world["mx_hr"].headers,
        official_body(world["mx_police"], dob=dt.date(1985, 1, 1)),
    )
    listed = listed_official(client, world)
    problem = _appoint(client, world, twin["id"]).json()
    client.post(
        f"/api/v1/screenings/{problem['screening_id']}/decisions",
        json={"official_id": listed["id"], "decision": "same_person", "reasons": "Same photo"},
        headers=world["mx_hr_fgr"].headers,
    )
    r = _appoint(client, world, twin["id"])
    assert r.status_code == 409
    assert r.json()["code"] == "OFFICIAL_LISTED"
    assert r.json()["listings"][0]["official_id"] == listed["id"]

    # An unrelated official passes the gate untouched.
    other = register(
        client,
        world["mx_hr"].headers,
        official_body(world["mx_police"], given="ROSA", first="LUNA", second="PAZ", sex="F"),
    )
    assert _appoint(client, world, other["id"]).status_code == 201

    forced = _appoint(
        client,
        world,
        twin["id"],
        caller="mx_admin",
        force_justification="Court order 77/2026 orders the appointment pending review.",
    )
    assert forced.status_code == 201, forced.text
