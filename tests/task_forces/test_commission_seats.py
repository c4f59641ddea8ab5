"""Commission seats are explicit U.S. designations, not acronyms (R20; #15 point 2, #18 F1, F1b).

An approver counts for a department only if they are a U.S. user whose agency's top ancestor
carries that ``commission_department``; only a U.S. admin designates, only a U.S. federal agency
without a parent; an override names a current member or nominee; a department nobody holds
fails ``/readyz`` and is logged at startup.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import unit_of_work
from app.services.registry.agency_seed import seed_agencies
from tests.conftest import PASSWORD, login
from tests.registry.builders import make_agency, official_body, register

AGENCIES = "/api/v1/agencies"
OVERRIDES = "/api/v1/overrides"
REQUIRED = ["DOJ", "DHS", "STATE"]


def _create_agency(client: TestClient, admin: Any, expect: int = 201, **fields: Any) -> Any:
    body = {
        "country": admin.country,
        "name": f"Agency {fields.get('acronym', 'X')}",
        "level": "federal",
        "sector": "justice",
        **fields,
    }
    r = client.post(AGENCIES, json=body, headers=admin.headers)
    assert r.status_code == expect, r.text
    return r.json()


def _api_user(client: TestClient, admin: Any, role: str, agency_id: Any) -> dict[str, str]:
    """A user created by ``admin`` through the API, signed in through the API."""
    username = f"{role}_{uuid.uuid4().hex[:8]}"
    r = client.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": PASSWORD,
            "roles": [role],
            "country": admin.country,
            "agency_id": str(agency_id),
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {login(client, username)}"}


def _task_force(client: TestClient, admin: Any, lead_agency: Any, lead_id: Any) -> Any:
    r = client.post(
        "/api/v1/task-forces",
        json={
            "name": "Fuerza Tarea Binacional Armas",
            "focus": "weapons",
            "lead_agency_id": str(lead_agency),
            "lead_user_ids": [str(lead_id)],
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _nominate(client: TestClient, lead_headers: dict[str, str], tf: Any, official_id: str) -> None:
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/nominations",
        json={"official_id": official_id, "role": "senior"},
        headers=lead_headers,
    )
    assert r.status_code == 201, r.text


def _request_override(
    client: TestClient, headers: dict[str, str], tf: Any, official_id: Any, expect: int = 201
) -> Any:
    r = client.post(
        OVERRIDES,
        json={
            "task_force_id": tf["id"],
            "official_id": str(official_id),
            "justification": "Operational continuity while the retest is scheduled.",
            "duration_days": 30,
        },
        headers=headers,
    )
    assert r.status_code == expect, r.text
    return r.json()


def _mx_commission(client: TestClient, mx_admin: Any) -> list[dict[str, str]]:
    """F1's attack: a Mexican admin makes agencies named DOJ, DHS and STATE and a commission
    member in each, all through the API."""
    seats = []
    for acronym in REQUIRED:
        agency = _create_agency(client, mx_admin, acronym=acronym)
        seats.append(_api_user(client, mx_admin, "commission_member", agency["id"]))
    return seats


def _refused_by_every_mx_seat(client: TestClient, override: Any, seats: Any) -> None:
    approve = f"{OVERRIDES}/{override['id']}/approvals"
    for headers in seats:
        r = client.post(approve, headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "NOT_A_COMMISSION_DEPARTMENT"
    r = client.get(f"{OVERRIDES}/{override['id']}", headers=seats[0])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    assert r.json()["approved_departments"] == []
    assert r.json()["missing_departments"] == REQUIRED


# --- F1 and F1b ----------------------------------------------------------------------------


def test_f1_mexican_doj_dhs_state_cannot_activate_a_us_task_force_override(
    client, factory, make_user
):
    """#18 F1: commission members of Mexican agencies named DOJ, DHS and STATE approve an
    override on a U.S.-led task force: none of them holds a U.S. seat, so nothing counts."""
    fbi = make_agency(factory, country="US", acronym="FBI")
    us_admin = make_user("admin", "US")
    us_lead = make_user("task_force_lead", "US", agency_id=fbi)
    us_hr = make_user("personnel_officer", "US", agency_id=fbi)
    tf = _task_force(client, us_admin, fbi, us_lead.id)
    agent = register(
        client,
        us_hr.headers,
        official_body(fbi, given="GEORGE", first="MILLER", second=None, curp=False),
    )
    _nominate(client, us_lead.headers, tf, agent["id"])
    override = _request_override(client, us_lead.headers, tf, agent["id"])

    seats = _mx_commission(client, make_user("admin", "MX"))
    _refused_by_every_mx_seat(client, override, seats)


def test_f1b_a_mexican_admin_alone_cannot_activate_an_override(client, factory, make_user):
    """#18 F1b: one Mexican admin creates the agencies, the commission users, the task force
    and the request; the commission stays empty, and the admin cannot designate a seat."""
    mx_admin = make_user("admin", "MX")
    police = _create_agency(client, mx_admin, acronym="SSPC", sector="law_enforcement")
    hr = _api_user(client, mx_admin, "personnel_officer", police["id"])
    lead = make_user("task_force_lead", "MX", agency_id=uuid.UUID(police["id"]))
    tf = _task_force(client, mx_admin, police["id"], lead.id)
    official = register(client, hr, official_body(uuid.UUID(police["id"]), given="RAUL"))
    _nominate(client, lead.headers, tf, official["id"])
    override = _request_override(client, mx_admin.headers, tf, official["id"])

    seats = _mx_commission(client, mx_admin)
    _refused_by_every_mx_seat(client, override, seats)

    # Nor can the Mexican admin give its "DOJ" the seat, or take the real one.
    mx_doj = client.get(AGENCIES, params={"q": "DOJ", "country": "MX"}, headers=mx_admin.headers)
    mx_doj_id = mx_doj.json()["items"][0]["id"]
    etag = client.get(f"{AGENCIES}/{mx_doj_id}", headers=mx_admin.headers).headers["ETag"]
    r = client.patch(
        f"{AGENCIES}/{mx_doj_id}",
        json={"commission_department": "DOJ"},
        headers={**mx_admin.headers, "If-Match": etag},
    )
    assert (r.status_code, r.json()["code"]) == (403, "COMMISSION_DEPARTMENT_US_ONLY")
    _refused_by_every_mx_seat(client, override, seats)


# --- who an override may name --------------------------------------------------------------


def test_override_only_for_a_current_member_or_nominee(client, factory, make_user):
    """R20/R18: an override names an official of *this* task force's roster (member or open
    nominee); anyone else is 422 naming official_id, the same whether they exist or not."""
    police = make_agency(factory, country="MX", acronym="SSPC")
    mx_admin = make_user("admin", "MX")
    lead = make_user("task_force_lead", "MX", agency_id=police)
    hr = make_user("personnel_officer", "MX", agency_id=police)
    tf = _task_force(client, mx_admin, police, lead.id)
    other_tf = _task_force(client, mx_admin, police, lead.id)
    outsider = register(client, hr.headers, official_body(police, given="SOFIA"))
    elsewhere = register(client, hr.headers, official_body(police, given="TOMAS"))
    _nominate(client, lead.headers, other_tf, elsewhere["id"])
    withdrawn = register(client, hr.headers, official_body(police, given="URSULA"))
    _nominate(client, lead.headers, tf, withdrawn["id"])
    nominations = client.get(
        f"/api/v1/task-forces/{tf['id']}/nominations", headers=lead.headers
    ).json()["items"]
    nomination_id = next(n["id"] for n in nominations if n["official_id"] == withdrawn["id"])
    r = client.delete(
        f"/api/v1/task-forces/{tf['id']}/nominations/{nomination_id}", headers=lead.headers
    )
    assert r.status_code in (200, 204), r.text

    for official_id in (outsider["id"], elsewhere["id"], withdrawn["id"], uuid.uuid4()):
        body = _request_override(client, lead.headers, tf, official_id, expect=422)
        assert body["code"] == "NOT_ON_TASK_FORCE"
        assert [e["field"] for e in body["errors"]] == ["body.official_id"]

    nominee = register(client, hr.headers, official_body(police, given="VALERIA"))
    _nominate(client, lead.headers, tf, nominee["id"])
    assert _request_override(client, lead.headers, tf, nominee["id"])["status"] == "pending"


# --- designation ---------------------------------------------------------------------------


@pytest.fixture
def us_admin(make_user: Any) -> Any:
    return make_user("admin", "US")


def _patch(client: TestClient, admin: Any, agency_id: str, body: dict[str, Any]) -> Any:
    etag = client.get(f"{AGENCIES}/{agency_id}", headers=admin.headers).headers["ETag"]
    return client.patch(
        f"{AGENCIES}/{agency_id}", json=body, headers={**admin.headers, "If-Match": etag}
    )


def test_us_admin_designates_a_top_level_us_federal_agency(client, us_admin):
    doj = _create_agency(client, us_admin, acronym="DOJ", commission_department="doj")
    assert doj["commission_department"] == "DOJ"
    assert client.get(f"{AGENCIES}/{doj['id']}", headers=us_admin.headers).json()[
        "commission_department"
    ] == ("DOJ")
    # One agency per seat.
    r = client.post(
        AGENCIES,
        json={
            "country": "US",
            "name": "Second Justice",
            "acronym": "DOJ2",
            "level": "federal",
            "sector": "justice",
            "commission_department": "DOJ",
        },
        headers=us_admin.headers,
    )
    assert (r.status_code, r.json()["code"]) == (409, "COMMISSION_DEPARTMENT_TAKEN")
    # A designated department keeps no parent.
    dhs = _create_agency(client, us_admin, acronym="DHS", commission_department="DHS")
    r = _patch(client, us_admin, dhs["id"], {"parent_id": doj["id"]})
    assert (r.status_code, r.json()["code"]) == (422, "COMMISSION_DEPARTMENT_NOT_ALLOWED")
    assert [e["field"] for e in r.json()["errors"]] == ["body.parent_id"]
    # Removing a designation is a U.S. admin's write too, and audited.
    r = _patch(client, us_admin, dhs["id"], {"commission_department": None})
    assert r.status_code == 200, r.text
    assert r.json()["commission_department"] is None
    events = client.get(
        "/api/v1/audit", params={"action": "agency.update"}, headers=us_admin.headers
    ).json()["items"]
    assert any(
        e["details"].get("commission_department") == {"from": "DHS", "to": None} for e in events
    )


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"level": "state", "region": "TX"}, "COMMISSION_DEPARTMENT_NOT_ALLOWED"),
        ({"parent": True}, "COMMISSION_DEPARTMENT_NOT_ALLOWED"),
        ({"commission_department": "DOD"}, "VALIDATION_ERROR"),
    ],
    ids=["not-federal", "not-top-level", "not-a-required-department"],
)
def test_designation_refused_for_a_non_top_or_unknown_department(client, us_admin, fields, code):
    fields = dict(fields)
    if fields.pop("parent", False):
        fields["parent_id"] = _create_agency(client, us_admin, acronym="DOJ")["id"]
    body = {"acronym": "FBI", "commission_department": "DOJ", **fields}
    r = _create_agency(client, us_admin, expect=422, **body)
    assert r["code"] == code
    assert [e["field"] for e in r["errors"]] == ["body.commission_department"]


def test_designation_refused_to_a_mexican_admin_and_on_a_mexican_agency(
    client, make_user, us_admin
):
    """Only a U.S. admin designates (403); a U.S. agency is not the Mexican admin's to change
    (404, R24); a U.S. agency cannot be created by the Mexican admin either (403)."""
    mx_admin = make_user("admin", "MX")
    r = client.post(
        AGENCIES,
        json={
            "country": "MX",
            "name": "Departamento DOJ",
            "acronym": "DOJ",
            "level": "federal",
            "sector": "justice",
            "commission_department": "DOJ",
        },
        headers=mx_admin.headers,
    )
    assert (r.status_code, r.json()["code"]) == (403, "COMMISSION_DEPARTMENT_US_ONLY")
    mx_doj = _create_agency(client, mx_admin, acronym="DOJ")
    r = _patch(client, mx_admin, mx_doj["id"], {"commission_department": "DOJ"})
    assert (r.status_code, r.json()["code"]) == (403, "COMMISSION_DEPARTMENT_US_ONLY")
    us_doj = _create_agency(client, us_admin, acronym="DOJ")
    r = _patch(client, mx_admin, us_doj["id"], {"commission_department": "DOJ"})
    assert r.status_code == 404
    r = client.post(
        AGENCIES,
        json={
            "country": "US",
            "name": "Justice",
            "acronym": "DOJX",
            "level": "federal",
            "sector": "justice",
            "commission_department": "DOJ",
        },
        headers=mx_admin.headers,
    )
    assert r.status_code == 403
    assert (
        client.get(f"{AGENCIES}/{us_doj['id']}", headers=us_admin.headers).json()[
            "commission_department"
        ]
        is None
    )


# --- the legitimate commission ---------------------------------------------------------------


def test_seeded_doj_via_fbi_dhs_and_state_activate_an_override(client, factory, clock, make_user):
    """R20 with the reference agencies: FBI (under DOJ), CBP (under DHS) and INL (under State)
    commission members, all U.S., activate; the seed designated the departments."""
    with unit_of_work(factory) as session:
        seed_agencies(session, now=clock.now())
    us_admin = make_user("admin", "US")
    listed = client.get(
        AGENCIES, params={"country": "US", "limit": 200}, headers=us_admin.headers
    ).json()["items"]
    us = {a["acronym"]: uuid.UUID(a["id"]) for a in listed}
    assert {a["acronym"]: a["commission_department"] for a in listed if a["parent_id"] is None} == {
        "DOJ": "DOJ",
        "DHS": "DHS",
        "STATE": "STATE",
    }
    lead = make_user("task_force_lead", "US", agency_id=us["DEA"])
    hr = make_user("personnel_officer", "US", agency_id=us["DEA"])
    tf = _task_force(client, us_admin, us["DEA"], lead.id)
    agent = register(
        client,
        hr.headers,
        official_body(us["DEA"], given="HELEN", first="CLARK", second=None, curp=False),
    )
    _nominate(client, lead.headers, tf, agent["id"])
    override = _request_override(client, lead.headers, tf, agent["id"])
    approve = f"{OVERRIDES}/{override['id']}/approvals"
    answers = [
        client.post(approve, headers=make_user("commission_member", "US", agency_id=us[a]).headers)
        for a in ("FBI", "CBP", "INL")
    ]
    assert [r.status_code for r in answers] == [201, 201, 201], answers[-1].text
    final = answers[-1].json()
    assert final["status"] == "active"
    assert sorted(a["department"] for a in final["approvals"]) == ["DHS", "DOJ", "STATE"]


# --- readiness -------------------------------------------------------------------------------


def test_readyz_fails_naming_a_missing_department(app, factory, clock, caplog):
    """A required department with no designated agency: logged at startup, and /readyz is 503
    naming it, until a U.S. admin designates one."""
    with (
        caplog.at_level(logging.ERROR, logger="app.routers.health"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "COMMISSION_DEPARTMENTS_MISSING"
        assert r.json()["missing_departments"] == REQUIRED
        assert "DOJ, DHS, STATE" in r.json()["detail"]

        with unit_of_work(factory) as session:
            seed_agencies(session, now=clock.now())
        assert client.get("/readyz").status_code == 200

        us_admin_headers = _us_admin_headers(app, client, factory)
        state = next(
            a
            for a in client.get(
                AGENCIES, params={"q": "STATE", "country": "US"}, headers=us_admin_headers
            ).json()["items"]
            if a["acronym"] == "STATE"
        )
        etag = client.get(f"{AGENCIES}/{state['id']}", headers=us_admin_headers).headers["ETag"]
        r = client.patch(
            f"{AGENCIES}/{state['id']}",
            json={"commission_department": None},
            headers={**us_admin_headers, "If-Match": etag},
        )
        assert r.status_code == 200, r.text
        r = client.get("/readyz", headers={"Accept-Language": "es"})
        assert r.status_code == 503
        assert r.json()["missing_departments"] == ["STATE"]
        assert "STATE" in r.json()["detail"]
        assert r.headers["content-language"] == "es"
    startup = [rec.getMessage() for rec in caplog.records if rec.name == "app.routers.health"]
    assert any("DOJ, DHS, STATE" in m and "/readyz" in m for m in startup), startup


def _us_admin_headers(app: Any, client: TestClient, factory: Any) -> dict[str, str]:
    from app.auth.tokens import issue_access_token
    from app.services.accounts.users import create_user

    with unit_of_work(factory) as session:
        user = create_user(
            session,
            actor=None,
            hasher=app.state.hasher,
            username=f"us_admin_{uuid.uuid4().hex[:6]}",
            password=PASSWORD,
            roles=["admin"],
            country="US",
            agency_id=None,
            now=app.state.clock.now(),
        )
        user_id = user.id
    token, _ = issue_access_token(
        app.state.settings, user_id=user_id, token_version=1, now=app.state.clock.now()
    )
    return {"Authorization": f"Bearer {token}"}
