"""Scenario tests of the registry core (R1-R10, R13, R24)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.registry.builders import (
    ALL_PASS,
    evaluate,
    make_agency,
    official_body,
    register,
    with_result,
)


@pytest.fixture
def world(factory, make_user):
    """Two MX agencies, an MX vetting body, a US agency and vetting body, and their staff."""
    w = {}
    w["mx_police"] = make_agency(factory, country="MX", acronym="PEJ")
    w["mx_fgr"] = make_agency(factory, country="MX", acronym="FGR", sector="justice")
    w["mx_c3"] = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    w["us_fbi"] = make_agency(factory, country="US", acronym="FBI")
    w["us_vet"] = make_agency(factory, country="US", acronym="FBISD", can_vet=True)
    w["mx_admin"] = make_user("admin", "MX")
    w["us_admin"] = make_user("admin", "US")
    w["mx_hr_police"] = make_user("personnel_officer", "MX", agency_id=w["mx_police"])
    w["mx_hr_fgr"] = make_user("personnel_officer", "MX", agency_id=w["mx_fgr"])
    w["mx_vetter"] = make_user("vetting_officer", "MX", agency_id=w["mx_c3"])
    w["us_hr"] = make_user("personnel_officer", "US", agency_id=w["us_fbi"])
    w["us_vetter"] = make_user("vetting_officer", "US", agency_id=w["us_vet"])
    return w


def test_failed_polygraph_lists_and_blocks_appointment_elsewhere(client, world):
    """R7 + R3 + R9: a polygraph failure at one agency lists the official; another agency
    cannot appoint them; the other country sees only verdict-level facts."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    result = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "fail"),
    )
    assert result["outcome"] == "fail"
    assert result["listing_id"]
    assert result["valid_until"] is None

    r = client.post(
        f"/api/v1/officials/{official['id']}/appointments",
        json={
            "agency_id": str(world["mx_fgr"]),
            "position": "Ministerio Público",
            "rank_tier": "line",
            "started_on": "2026-11-20",
        },
        headers=world["mx_hr_fgr"].headers,
    )
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "OFFICIAL_LISTED"
    assert problem["listings"][0]["basis"] == "failed_vetting"

    # The other country: verdict-level facts only (R9, R24).
    r = client.get(f"/api/v1/officials/{official['id']}", headers=world["us_hr"].headers)
    assert r.status_code == 200, r.text
    public = r.json()
    assert public["view"] == "public"
    assert "identifiers" not in public
    assert "date_of_birth" not in public
    assert public["listings"][0]["basis"] == "failed_vetting"
    assert public["listings"][0]["listed_by_acronym"] == "C3JAL"
    r = client.get(f"/api/v1/listings?official_id={official['id']}", headers=world["us_hr"].headers)
    listing = r.json()["items"][0]
    assert listing["source_id"] is None
    assert listing["events"] is None
    r = client.get(
        f"/api/v1/listings?official_id={official['id']}", headers=world["mx_admin"].headers
    )
    own = r.json()["items"][0]
    assert own["source_type"] == "evaluation"
    assert own["source_id"] == result["id"]
    # Evaluation detail stays home (R24): 404 across the border.
    r = client.get(
        f"/api/v1/officials/{official['id']}/evaluations", headers=world["us_admin"].headers
    )
    assert r.status_code == 404


def test_appeal_keeps_blocking_until_overturned(client, world):
    """R10: under_appeal still blocks; an overturn unblocks and stays in history."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    result = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("toxicology", "fail"),
    )
    listing_id = result["listing_id"]
    r = client.post(
        f"/api/v1/listings/{listing_id}/appeals",
        json={"grounds": "The laboratory sample was mislabelled."},
        headers=world["mx_admin"].headers,
    )
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert (
        client.get(f"/api/v1/listings/{listing_id}", headers=world["mx_admin"].headers).json()[
            "status"
        ]
        == "under_appeal"
    )
    appoint = {
        "agency_id": str(world["mx_fgr"]),
        "position": "Perito",
        "rank_tier": "line",
        "started_on": "2026-11-20",
    }
    url = f"/api/v1/officials/{official['id']}/appointments"
    assert client.post(url, json=appoint, headers=world["mx_hr_fgr"].headers).status_code == 409

    # Another country's admin cannot decide (404), a personnel officer is not admitted (403).
    decision = {"decision": "overturned", "reasons": "Chain of custody broken; retest clean."}
    decide = f"/api/v1/listings/{listing_id}/appeals/{appeal['id']}/decision"
    assert client.post(decide, json=decision, headers=world["us_admin"].headers).status_code == 404
    assert client.post(decide, json=decision, headers=world["mx_hr_fgr"].headers).status_code == 403
    r = client.post(decide, json=decision, headers=world["mx_admin"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "overturned"
    assert client.post(url, json=appoint, headers=world["mx_hr_fgr"].headers).status_code == 201
    listing = client.get(f"/api/v1/listings/{listing_id}", headers=world["mx_admin"].headers).json()
    assert listing["status"] == "overturned"
    assert [e["kind"] for e in listing["events"]] == ["listed", "appeal_filed", "appeal_decided"]


def test_refusal_lists_with_refused_basis(client, world):
    """R7: refusal is never silent."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    result = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "refused"),
    )
    assert result["outcome"] == "refused"
    listing = client.get(
        f"/api/v1/listings/{result['listing_id']}", headers=world["mx_admin"].headers
    )
    assert listing.json()["basis"] == "refused_vetting"


def test_pass_valid_for_policy_interval_and_outcome_must_agree(client, world):
    """R5, R6, R14: Mexico 36 months; a contradicting outcome is 422."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    result = evaluate(client, world["mx_vetter"].headers, official["id"], world["mx_c3"])
    assert result["outcome"] == "pass"
    assert result["valid_until"] == "2029-11-01"
    r = client.post(
        f"/api/v1/officials/{official['id']}/evaluations",
        json={
            "conducted_by": str(world["mx_c3"]),
            "trigger": "periodic",
            "conducted_on": "2026-11-02",
            "components": with_result("medical", "inconclusive"),
            "outcome": "pass",
        },
        headers=world["mx_vetter"].headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "OUTCOME_MISMATCH"
    assert r.json()["derived_outcome"] == "inconclusive"
    missing = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=ALL_PASS[:3],
    )
    assert missing["outcome"] == "inconclusive"
    assert missing["retest_by"] == "2027-01-30"


def test_correction_is_a_new_record_and_withdraws_listing(client, world):
    """R8: nothing is edited; a correction references the corrected record."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    wrong = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("financial", "fail"),
    )
    fixed = evaluate(
        client, world["mx_vetter"].headers, official["id"], world["mx_c3"], corrects_id=wrong["id"]
    )
    assert fixed["corrects_id"] == wrong["id"]
    history = client.get(
        f"/api/v1/officials/{official['id']}/evaluations", headers=world["mx_vetter"].headers
    ).json()["items"]
    assert [e["outcome"] for e in history] == ["fail", "pass"]
    assert history[0]["corrected_by_id"] == fixed["id"]
    listing = client.get(
        f"/api/v1/listings/{wrong['listing_id']}", headers=world["mx_admin"].headers
    )
    assert listing.json()["status"] == "overturned"
    again = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        corrects_id=wrong["id"],
        expect=409,
    )
    assert again["code"] == "ALREADY_CORRECTED"


def test_vetters_cannot_vet_themselves_or_while_unvetted(client, world, make_user, app):
    """R13."""
    from app.db import unit_of_work
    from app.models import User

    me = register(
        client,
        world["mx_admin"].headers,
        official_body(world["mx_c3"], given="ROSA MARIA", first="LOPEZ", second="DIAZ", sex="F"),
    )
    vetter = make_user("vetting_officer", "MX", agency_id=world["mx_c3"])
    with unit_of_work(app.state.sessionmaker) as session:
        session.get(User, vetter.id).official_id = uuid.UUID(me["id"])
    other = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))

    own = evaluate(client, vetter.headers, me["id"], world["mx_c3"], expect=403)
    assert own["code"] == "SELF_EVALUATION"
    unvetted = evaluate(client, vetter.headers, other["id"], world["mx_c3"], expect=403)
    assert unvetted["code"] == "VETTER_NOT_VETTED"
    evaluate(client, world["mx_vetter"].headers, me["id"], world["mx_c3"])
    evaluate(client, vetter.headers, other["id"], world["mx_c3"])


def _other_check_digit(body):
    value = body["identifiers"][0]["value"]
    return value[:-1] + ("1" if value[-1] != "1" else "2")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b["identifiers"][0].update(value=_other_check_digit(b)), None),
        (lambda b: b.update(date_of_birth="1985-03-15"), "CURP_BIRTH_DATE_MISMATCH"),
        (lambda b: b["identifiers"][0].update(value="NOT-A-CURP"), None),
    ],
    ids=["check_digit", "dob_mismatch", "malformed"],
)
def test_invalid_curp_is_a_precise_422(client, world, mutate, code):
    """R1."""
    body = official_body(world["mx_police"])
    mutate(body)
    r = client.post("/api/v1/officials", json=body, headers=world["mx_hr_police"].headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"].startswith("CURP_")
    if code:
        assert problem["code"] == code
    assert problem["errors"][0]["field"] == "body.identifiers.0.value"


def test_duplicate_curp_is_409_naming_record_in_scope(client, world):
    """R2: found through the blind index; named only to the own country."""
    body = official_body(world["mx_police"])
    first = register(client, world["mx_hr_police"].headers, body)
    r = client.post("/api/v1/officials", json=body, headers=world["mx_hr_police"].headers)
    assert r.status_code == 409
    assert r.json()["code"] == "IDENTIFIER_EXISTS"
    assert r.json()["existing_official_id"] == first["id"]
    # Identifiers are stored encrypted, not in clear.
    detail = client.get(f"/api/v1/officials/{first['id']}", headers=world["mx_admin"].headers)
    assert detail.json()["identifiers"][0]["value"] == body["identifiers"][0]["value"]


def test_separation_for_cause_lists_expelled_and_failed_vetting_reuses_listing(client, world):
    """R4."""
    a = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    r = client.post(
        f"/api/v1/officials/{a['id']}/separations",
        json={
            "appointment_id": a["appointments"][0]["id"],
            "reason": "expelled_corruption",
            "effective_on": "2026-10-01",
            "summary": "Accepted bribes at checkpoint",
        },
        headers=world["mx_hr_police"].headers,
    )
    assert r.status_code == 201, r.text
    listing = client.get(
        f"/api/v1/listings/{r.json()['listing_id']}", headers=world["us_admin"].headers
    )
    assert listing.json()["basis"] == "expelled"
    assert listing.json()["source_id"] is None

    b = register(
        client,
        world["mx_hr_police"].headers,
        official_body(world["mx_police"], given="PEDRO", first="RAMIREZ", second="SOTO"),
    )
    failed = evaluate(
        client,
        world["mx_vetter"].headers,
        b["id"],
        world["mx_c3"],
        components=with_result("background", "fail"),
    )
    r = client.post(
        f"/api/v1/officials/{b['id']}/separations",
        json={
            "appointment_id": b["appointments"][0]["id"],
            "reason": "failed_vetting",
            "effective_on": "2026-11-10",
        },
        headers=world["mx_hr_police"].headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["listing_id"] == failed["listing_id"]
    listings = client.get(
        f"/api/v1/listings?official_id={b['id']}", headers=world["mx_admin"].headers
    )
    assert len(listings.json()["items"]) == 1


def test_promotion_is_a_new_appointment(client, world):
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    r = client.post(
        f"/api/v1/officials/{official['id']}/appointments",
        json={
            "agency_id": str(world["mx_police"]),
            "position": "Comandante",
            "rank_tier": "command",
            "started_on": "2026-06-01",
            "replaces_appointment_id": official["appointments"][0]["id"],
        },
        headers=world["mx_hr_police"].headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "promotion"
    detail = client.get(f"/api/v1/officials/{official['id']}", headers=world["mx_admin"].headers)
    appointments = detail.json()["appointments"]
    assert appointments[0]["ended_on"] == "2026-05-31"
    assert appointments[1]["rank_tier"] == "command"


def test_admin_may_force_appointment_with_justification(client, world):
    """R3: forced appointments are audited."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "fail"),
    )
    body = {
        "agency_id": str(world["mx_fgr"]),
        "position": "Testigo protegido",
        "rank_tier": "line",
        "started_on": "2026-11-20",
        "force_justification": "Court order 123/2026 requires reinstatement pending review.",
    }
    url = f"/api/v1/officials/{official['id']}/appointments"
    assert client.post(url, json=body, headers=world["mx_hr_fgr"].headers).status_code == 403
    r = client.post(url, json=body, headers=world["mx_admin"].headers)
    assert r.status_code == 201, r.text
    events = client.get(
        "/api/v1/audit?action=appointment.forced", headers=world["mx_admin"].headers
    ).json()["items"]
    assert len(events) == 1
    assert "Court order" not in str(events[0]["details"])


def test_other_country_cannot_see_unlisted_official(client, world):
    """R24: 404, not 403, so existence does not leak."""
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    assert (
        client.get(
            f"/api/v1/officials/{official['id']}", headers=world["us_admin"].headers
        ).status_code
        == 404
    )
    names = client.get("/api/v1/officials?name=HERNANDEZ", headers=world["us_admin"].headers)
    assert names.json()["items"] == []
    mine = client.get("/api/v1/officials?name=HERNANDEZ", headers=world["mx_admin"].headers)
    assert [o["id"] for o in mine.json()["items"]] == [official["id"]]


def test_personnel_officer_writes_only_for_own_agency(client, world):
    """R25."""
    r = client.post(
        "/api/v1/officials",
        json=official_body(world["mx_fgr"]),
        headers=world["mx_hr_police"].headers,
    )
    assert r.status_code == 403
    assert r.json()["code"] == "NOT_OWN_AGENCY"
    r = client.post(
        "/api/v1/officials",
        json=official_body(world["us_fbi"], curp=False),
        headers=world["mx_hr_police"].headers,
    )
    assert r.status_code == 404


def test_date_guards(client, world):
    official = register(client, world["mx_hr_police"].headers, official_body(world["mx_police"]))
    future = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        conducted_on=dt.date(2027, 1, 1),
        expect=422,
    )
    assert future["errors"][0]["field"] == "body.conducted_on"
    not_vetting_body = evaluate(
        client, world["mx_vetter"].headers, official["id"], world["mx_police"], expect=422
    )
    assert not_vetting_body["code"] == "NOT_A_VETTING_BODY"


def test_users_belong_to_an_agency_and_may_link_an_official(client, world):
    """DESIGN §2: every role but admin and auditor belongs to an agency of its country; an
    account may be linked to the official record of its person (R13)."""
    admin = world["mx_admin"].headers
    base = {"password": "a long enough password", "country": "MX"}
    r = client.post(
        "/api/v1/users",
        json={**base, "username": "noagency", "roles": ["vetting_officer"]},
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "AGENCY_REQUIRED"
    r = client.post(
        "/api/v1/users",
        json={
            **base,
            "username": "foreignagency",
            "roles": ["vetting_officer"],
            "agency_id": str(world["us_vet"]),
        },
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.agency_id"
    auditor = client.post(
        "/api/v1/users", json={**base, "username": "auditora", "roles": ["auditor"]}, headers=admin
    )
    assert auditor.status_code == 201
    official = register(
        client, admin, official_body(world["mx_c3"], given="LUZ", first="MAR", sex="F")
    )
    r = client.post(
        "/api/v1/users",
        json={
            **base,
            "username": "vetter_linked",
            "roles": ["vetting_officer"],
            "agency_id": str(world["mx_c3"]),
            "official_id": official["id"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["official_id"] == official["id"]
