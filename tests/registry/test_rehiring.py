"""Issue #15, point 1: registering an official with a first appointment runs the R3 gate.

The report, driven through the API as it happened: an official of SSP Jalisco fails a polygraph
at C3 Jalisco and is listed (R7); a personnel officer of Guardia Nacional then registers the
same person (same names and date of birth, no CURP) with an appointment at Guardia Nacional.
Before the fix that was a 201 with nothing screened; now it is screened by identifiers and by
name and date of birth against both countries' listings (R11) and refused (R3), with
verdict-level facts only across the border (R9, R24), unless an admin forces it with a written
justification, which is audited (R22)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import Appointment, Official
from app.services.registry.identifiers import make_curp
from tests.registry.builders import evaluate, make_agency, official_body, register, with_result

GIVEN, FIRST, SECOND = "JUAN CARLOS", "HERNANDEZ", "GARCIA"
DOB = dt.date(1985, 3, 14)
JUSTIFICATION = "Court order 77/2026 orders the appointment pending the appeal's decision."


@pytest.fixture
def world(factory: Any, make_user: Any) -> dict[str, Any]:
    w: dict[str, Any] = {}
    w["ssp"] = make_agency(factory, country="MX", acronym="SSPJAL")
    w["c3"] = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    w["gn"] = make_agency(factory, country="MX", acronym="GN")
    w["fbi"] = make_agency(factory, country="US", acronym="FBI")
    w["ssp_hr"] = make_user("personnel_officer", "MX", agency_id=w["ssp"])
    w["c3_vetter"] = make_user("vetting_officer", "MX", agency_id=w["c3"])
    w["gn_hr"] = make_user("personnel_officer", "MX", agency_id=w["gn"])
    w["us_hr"] = make_user("personnel_officer", "US", agency_id=w["fbi"])
    w["mx_admin"] = make_user("admin", "MX")
    w["mx_auditor"] = make_user("auditor", "MX")
    return w


def _listed_at_ssp(client: Any, w: dict[str, Any]) -> dict[str, Any]:
    """Registered at SSP Jalisco, then a failed polygraph recorded by C3 lists them (R7)."""
    official = register(client, w["ssp_hr"].headers, official_body(w["ssp"]))
    result = evaluate(
        client,
        w["c3_vetter"].headers,
        official["id"],
        w["c3"],
        components=with_result("polygraph", "fail"),
    )
    assert result["outcome"] == "fail"
    official["listing_id"] = result["listing_id"]
    return official


def _at_gn(w: dict[str, Any], **kw: Any) -> dict[str, Any]:
    kw.setdefault("curp", False)
    body = official_body(w["gn"], **kw)
    body["appointment"]["position"] = "Guardia"
    body["appointment"]["started_on"] = "2026-11-20"
    return body


def _counts(factory: Any) -> tuple[int, int]:
    with factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Official)),
            session.scalar(select(func.count()).select_from(Appointment)),
        )


def test_the_reported_rehiring_is_refused_and_nothing_is_written(client, world, factory):
    """(a), (e): same names and date of birth, no identifier -> 409; no row left behind."""
    listed = _listed_at_ssp(client, world)
    before = _counts(factory)
    r = client.post("/api/v1/officials", json=_at_gn(world), headers=world["gn_hr"].headers)
    assert r.status_code == 409, r.text
    problem = r.json()
    # Identical names and date of birth score 100: decisive (high band), not a mere review.
    assert problem["code"] == "OFFICIAL_LISTED"
    assert problem["screened_by"] == ["name_and_birth_date"]
    assert [x["basis"] for x in problem["listings"]] == ["failed_vetting"]
    assert problem["listings"][0]["official_id"] == listed["id"]  # own country: named
    assert problem["screening_id"]  # kept, so a reviewer can rule on a namesake
    assert _counts(factory) == before


def test_the_same_curp_is_official_listed_not_identifier_exists(client, world, factory):
    """(b): a CURP of a listed official -> OFFICIAL_LISTED, and no admin can force a duplicate
    identifier: the person already has a record, to be appointed instead."""
    listed = _listed_at_ssp(client, world)
    before = _counts(factory)
    body = _at_gn(world, curp=True)
    r = client.post("/api/v1/officials", json=body, headers=world["gn_hr"].headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "OFFICIAL_LISTED"
    assert r.json()["screened_by"] == ["identifiers", "name_and_birth_date"]
    assert r.json()["listings"][0]["basis"] == "failed_vetting"

    r = client.post(
        "/api/v1/officials",
        json={**body, "force_justification": JUSTIFICATION},
        headers=world["mx_admin"].headers,
    )
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "OFFICIAL_LISTED"
    assert "appoint the existing record" in problem["detail"]
    assert problem["existing_official_id"] == listed["id"]
    assert _counts(factory) == before


def test_a_us_agency_gets_verdict_level_facts_only(client, world, factory):
    """(c): the other country learns that the person is listed, the basis, the listing agency
    and date (R9), never the record's id, birth date or identifiers (R24)."""
    listed = _listed_at_ssp(client, world)
    before = _counts(factory)
    for curp in (False, True):
        body = official_body(world["fbi"], curp=False)
        if curp:  # a U.S. agency may well hold the person's CURP
            body["identifiers"] = [
                {"scheme": "CURP", "value": make_curp(GIVEN, FIRST, SECOND, DOB, "M")}
            ]
        r = client.post("/api/v1/officials", json=body, headers=world["us_hr"].headers)
        assert r.status_code == 409, r.text
        problem = r.json()
        assert problem["code"] == "OFFICIAL_LISTED"
        facts = problem["listings"][0]
        assert facts["basis"] == "failed_vetting"
        assert facts["listed_by_acronym"] == "C3JAL"
        assert facts["listed_on"]
        assert "official_id" not in facts
        assert "existing_official_id" not in problem
        assert listed["id"] not in r.text
        assert listed["listing_id"] not in r.text
        assert DOB.isoformat() not in r.text
    assert _counts(factory) == before


def test_an_admin_may_force_with_a_justification_which_is_audited(client, world, factory):
    """(d): a personnel officer cannot force; a country admin can, with a justification; the
    201 says how the person was screened, and the forced appointment is audited."""
    _listed_at_ssp(client, world)
    body = {**_at_gn(world), "force_justification": JUSTIFICATION}
    r = client.post("/api/v1/officials", json=body, headers=world["gn_hr"].headers)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "FORCE_NOT_ALLOWED"

    r = client.post("/api/v1/officials", json=body, headers=world["mx_admin"].headers)
    assert r.status_code == 201, r.text
    created = r.json()
    screening = created["screening"]
    assert screening["verdict"] == "listed"
    assert screening["forced"] is True
    assert screening["screened_by"] == ["name_and_birth_date"]
    assert screening["identifiers_checked"] == 0
    assert screening["screening_id"]
    assert created["appointments"][0]["agency_id"] == str(world["gn"])

    r = client.get(
        "/api/v1/audit",
        params={"action": "appointment.forced"},
        headers=world["mx_auditor"].headers,
    )
    assert r.status_code == 200, r.text
    events = r.json()["items"]
    assert [e["resource_id"] for e in events] == [created["id"]]
    assert JUSTIFICATION not in r.text  # its length, not its text (R22)


def test_a_near_match_needs_a_review_and_a_ruling_clears_it(client, world, factory):
    """(f): only the year of birth agrees -> review band -> SCREENING_REVIEW_REQUIRED naming the
    kept screening; a reviewer rules ``not_same_person`` (R12a) and the registration goes on."""
    listed = _listed_at_ssp(client, world)
    before = _counts(factory)
    body = _at_gn(world, dob=dt.date(1985, 1, 1))
    r = client.post("/api/v1/officials", json=body, headers=world["gn_hr"].headers)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "SCREENING_REVIEW_REQUIRED"
    assert problem["verdict"] == "review"
    assert [c["official_id"] for c in problem["candidates"]] == [listed["id"]]
    assert _counts(factory) == before

    decision = client.post(
        f"/api/v1/screenings/{problem['screening_id']}/decisions",
        json={
            "official_id": listed["id"],
            "decision": "not_same_person",
            "reasons": "Different people: birth certificates checked",
        },
        headers=world["gn_hr"].headers,
    )
    assert decision.status_code == 201, decision.text
    r = client.post("/api/v1/officials", json=body, headers=world["gn_hr"].headers)
    assert r.status_code == 201, r.text
    screening = r.json()["screening"]
    assert screening["verdict"] == "clear"
    assert screening["forced"] is False
    assert screening["ruled_out"] == 1
    assert screening["screening_id"]  # the ruled-out candidate stays on record


def test_a_clear_registration_says_how_it_was_screened(client, world):
    """Registering without any identifier stays possible, screened by name and birth date."""
    _listed_at_ssp(client, world)
    body = _at_gn(world, given="ROSA", first="LUNA", second="PAZ", sex="F")
    created = register(client, world["gn_hr"].headers, body)
    assert created["screening"] == {
        "verdict": "clear",
        "screened_by": ["name_and_birth_date"],
        "identifiers_checked": 0,
        "screening_id": None,
        "forced": False,
        "ruled_out": 0,
    }
    with_curp = _at_gn(world, given="ANA", first="RUIZ", second="SOTO", sex="F", curp=True)
    created = register(client, world["gn_hr"].headers, with_curp)
    assert created["screening"]["screened_by"] == ["identifiers", "name_and_birth_date"]
    assert created["screening"]["identifiers_checked"] == 1
    # The answer to a plain read does not carry it: it belongs to the registration.
    r = client.get(f"/api/v1/officials/{created['id']}", headers=world["gn_hr"].headers)
    assert "screening" not in r.json()


def test_a_promotion_of_a_person_listed_after_appointment_is_gated(client, world):
    """R3 on promotion: an official appointed at Guardia Nacional and listed afterwards cannot be
    promoted (``replaces_appointment_id``) until the listing stops blocking."""
    official = register(client, world["gn_hr"].headers, _at_gn(world, curp=True))
    first = official["appointments"][0]
    evaluate(
        client,
        world["c3_vetter"].headers,
        official["id"],
        world["c3"],
        components=with_result("polygraph", "fail"),
    )
    r = client.post(
        f"/api/v1/officials/{official['id']}/appointments",
        json={
            "agency_id": str(world["gn"]),
            "position": "Suboficial",
            "rank_tier": "supervisory",
            "started_on": "2026-11-25",
            "replaces_appointment_id": first["id"],
        },
        headers=world["gn_hr"].headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "OFFICIAL_LISTED"
    assert r.json()["listings"][0]["basis"] == "failed_vetting"
    appts = client.get(
        f"/api/v1/officials/{official['id']}/appointments", headers=world["gn_hr"].headers
    ).json()["items"]
    assert [(a["id"], a["ended_on"]) for a in appts] == [(first["id"], None)]
