"""Joint task forces at pinned dates (R17-R20, R25)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import event

from app.db import unit_of_work
from app.models import Appointment, Evaluation, Official, TaskForceMember
from app.services.task_forces.task_forces import sweep_task_forces
from tests.conftest import T0
from tests.registry.builders import (
    ALL_PASS,
    evaluate,
    make_agency,
    official_body,
    register,
    with_result,
)


@pytest.fixture
def tfw(client, factory, make_user):
    """Agencies of both countries, the U.S. commission departments, staff, and a task force."""
    w: dict = {}
    w["mx_police"] = make_agency(factory, country="MX", acronym="SSPC")
    w["mx_c3"] = make_agency(factory, country="MX", acronym="CNCA", can_vet=True)
    # R20: the seats are explicit designations, not acronyms (#15, #18 F1).
    doj = make_agency(
        factory, country="US", acronym="DOJ", sector="justice", commission_department="DOJ"
    )
    w["fbi"] = make_agency(factory, country="US", acronym="FBI", parent_id=doj)
    dhs = make_agency(
        factory, country="US", acronym="DHS", sector="policy", commission_department="DHS"
    )
    state = make_agency(
        factory, country="US", acronym="STATE", sector="policy", commission_department="STATE"
    )
    w["us_vet"] = make_agency(
        factory, country="US", acronym="FBI-SECD", can_vet=True, parent_id=w["fbi"]
    )
    w["mx_admin"] = make_user("admin", "MX")
    # #18 F3: each country nominates its own officials; the U.S. admin puts forward U.S. ones.
    w["us_admin"] = make_user("admin", "US")
    w["mx_hr"] = make_user("personnel_officer", "MX", agency_id=w["mx_police"])
    w["us_hr"] = make_user("personnel_officer", "US", agency_id=w["fbi"])
    w["mx_vetter"] = make_user("vetting_officer", "MX", agency_id=w["mx_c3"])
    w["us_vetter"] = make_user("vetting_officer", "US", agency_id=w["us_vet"])
    w["lead"] = make_user("task_force_lead", "MX", agency_id=w["mx_police"])
    w["other_lead"] = make_user("task_force_lead", "MX", agency_id=w["mx_police"])
    w["fbi_commissioner"] = make_user("commission_member", "US", agency_id=w["fbi"])
    w["doj_commissioner"] = make_user("commission_member", "US", agency_id=doj)
    w["dhs_commissioner"] = make_user("commission_member", "US", agency_id=dhs)
    w["state_commissioner"] = make_user("commission_member", "US", agency_id=state)
    return w


def create_tf(client, w, **overrides):
    body = {
        "name": "Fuerza Tarea Binacional Fentanilo",
        "focus": "fentanyl",
        "lead_agency_id": str(w["mx_police"]),
        "lead_user_ids": [str(w["lead"].id)],
        **overrides,
    }
    r = client.post("/api/v1/task-forces", json=body, headers=w["mx_admin"].headers)
    assert r.status_code == 201, r.text
    return r.json()


def vetted_member(
    client, w, tf, *, role="member", tier="line", country="MX", name="ANA", reciprocal=True
):
    """Register, nominate, vet at home and across the border (R17), then add."""
    if country == "MX":
        official = register(
            client,
            w["mx_hr"].headers,
            official_body(w["mx_police"], given=name, first="RUIZ", tier=tier, sex="F"),
        )
        home_vetter, home_body, other_vetter, other_body = (
            w["mx_vetter"],
            w["mx_c3"],
            w["us_vetter"],
            w["us_vet"],
        )
    else:
        body = official_body(
            w["fbi"], given=name, first="SMITH", second=None, tier=tier, curp=False
        )
        official = register(client, w["us_hr"].headers, body)
        home_vetter, home_body, other_vetter, other_body = (
            w["us_vetter"],
            w["us_vet"],
            w["mx_vetter"],
            w["mx_c3"],
        )
    nominate(client, w, tf, official["id"], role, by=w["lead" if country == "MX" else "us_admin"])
    evaluate(
        client, home_vetter.headers, official["id"], home_body, conducted_on=dt.date(2026, 10, 1)
    )
    if reciprocal:
        evaluate(
            client,
            other_vetter.headers,
            official["id"],
            other_body,
            trigger="reciprocal",
            conducted_on=dt.date(2026, 10, 15),
        )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": official["id"]},
        headers=w["lead"].headers,
    )
    assert r.status_code == 201, r.text
    return official


def nominate(client, w, tf, official_id, role="member", by=None):
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/nominations",
        json={"official_id": official_id, "role": role},
        headers=(by or w["lead"]).headers,
    )
    assert r.status_code == 201, r.text


def status(client, w, tf):
    r = client.get(f"/api/v1/task-forces/{tf['id']}/compliance", headers=w["lead"].headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_senior_refusal_suspends_task_force_and_funding_in_the_same_request(client, tfw):
    """R19: a senior Mexican member refuses vetting; the write that records it suspends."""
    w = tfw
    tf = create_tf(client, w)
    senior = vetted_member(client, w, tf, role="senior", name="BEATRIZ")
    vetted_member(client, w, tf, name="CARLOS")
    assert status(client, w, tf)["status"] == "active"

    refusal = evaluate(
        client,
        w["mx_vetter"].headers,
        senior["id"],
        w["mx_c3"],
        components=with_result("polygraph", "refused"),
        trigger="random",
        conducted_on=dt.date(2026, 11, 20),
    )
    assert refusal["outcome"] == "refused"
    compliance = status(client, w, tf)
    assert compliance["status"] == "suspended"
    assert compliance["funding_status"] == "suspended"
    assert compliance["blocking_members"] == [senior["id"]]
    read = client.get(f"/api/v1/task-forces/{tf['id']}", headers=w["lead"].headers).json()
    assert (read["status"], read["funding_status"]) == ("suspended", "suspended")
    events = client.get(f"/api/v1/task-forces/{tf['id']}/events", headers=w["lead"].headers).json()[
        "items"
    ]
    suspension = [e for e in events if e["kind"] == "suspended"]
    assert len(suspension) == 1
    assert suspension[0]["cause"]["evaluation_id"] == refusal["id"]
    assert suspension[0]["cause"]["blocking_members"] == [senior["id"]]


@pytest.mark.parametrize(
    ("suspend_on", "expected"),
    [("senior_noncompliance", "active"), ("any_noncompliance", "suspended")],
)
def test_line_member_vetting_too_old_after_sweep(client, tfw, clock, factory, suspend_on, expected):
    """R17/R19: a line member's vetting ages past max_vetting_age_months; the sweep records it."""
    w = tfw
    tf = create_tf(client, w, suspend_on=suspend_on)
    line = vetted_member(client, w, tf, name="DIANA")
    clock.advance(dt.timedelta(days=400))
    compliance = status(client, w, tf)
    member = next(m for m in compliance["members"] if m["official_id"] == line["id"])
    assert member["verdict"] == "ineligible"
    assert "VETTING_TOO_OLD" in member["reasons"]
    assert compliance["status"] == expected
    sweep_task_forces(factory, now=clock.now())
    sweep_task_forces(factory, now=clock.now())  # safe to repeat
    events = client.get(f"/api/v1/task-forces/{tf['id']}/events", headers=w["lead"].headers).json()[
        "items"
    ]
    transitions = [e for e in events if e["kind"] in ("suspended", "reinstated")]
    assert len(transitions) == (1 if expected == "suspended" else 0)
    if transitions:
        assert transitions[0]["cause"]["kind"] == "sweep"


def test_override_needs_every_department(client, tfw, clock, factory):
    """R20: DOJ (via FBI) and DHS are not enough; State reinstates; the requester cannot
    approve; a second DOJ approval does not count twice; expiry suspends again."""
    w = tfw
    tf = create_tf(client, w)
    senior = vetted_member(client, w, tf, role="senior", name="ELENA")
    evaluate(
        client,
        w["mx_vetter"].headers,
        senior["id"],
        w["mx_c3"],
        components=with_result("toxicology", "fail"),
        conducted_on=dt.date(2026, 11, 20),
    )
    assert status(client, w, tf)["status"] == "suspended"

    r = client.post(
        "/api/v1/overrides",
        json={
            "task_force_id": tf["id"],
            "official_id": senior["id"],
            "justification": "Irreplaceable informant handler during an active operation.",
            "duration_days": 30,
        },
        headers=w["lead"].headers,
    )
    assert r.status_code == 201, r.text
    override = r.json()
    approve = f"/api/v1/overrides/{override['id']}/approvals"
    assert client.post(approve, headers=w["fbi_commissioner"].headers).json()[
        "approved_departments"
    ] == ["DOJ"]
    clock.advance(dt.timedelta(minutes=5))  # approvals are listed in the order they came
    second_doj = client.post(approve, headers=w["doj_commissioner"].headers).json()
    assert second_doj["approved_departments"] == ["DOJ"]
    assert [a["counted"] for a in second_doj["approvals"]] == [True, False]
    after_dhs = client.post(approve, headers=w["dhs_commissioner"].headers).json()
    assert after_dhs["status"] == "pending"
    assert after_dhs["missing_departments"] == ["STATE"]
    assert status(client, w, tf)["status"] == "suspended"
    assert client.post(approve, headers=w["lead"].headers).status_code == 403  # not a commissioner

    active = client.post(approve, headers=w["state_commissioner"].headers).json()
    assert active["status"] == "active"
    compliance = status(client, w, tf)
    assert compliance["status"] == "active"
    member = next(m for m in compliance["members"] if m["official_id"] == senior["id"])
    assert (member["verdict"], member["override_id"]) == ("overridden", override["id"])

    eligibility = client.get(
        f"/api/v1/officials/{senior['id']}/eligibility",
        params={"task_force_id": tf["id"], "attest": "true"},
        headers=w["fbi_commissioner"].headers,
    ).json()
    assert (eligibility["verdict"], eligibility["override_id"]) == ("overridden", override["id"])
    assert eligibility["task_force_id"] == tf["id"]
    assert eligibility["attestation"]
    plain = client.get(
        f"/api/v1/officials/{senior['id']}/eligibility", headers=w["lead"].headers
    ).json()
    assert plain["verdict"] == "ineligible"  # the override covers this task force only

    clock.advance(dt.timedelta(days=31))
    sweep_task_forces(factory, now=clock.now())
    assert status(client, w, tf)["status"] == "suspended"
    kinds = [
        e["kind"]
        for e in client.get(
            f"/api/v1/task-forces/{tf['id']}/events", headers=w["lead"].headers
        ).json()["items"]
    ]
    assert kinds.count("suspended") == 2
    assert kinds.count("reinstated") == 1


def test_requester_cannot_approve_own_override(client, tfw, make_user):
    w = tfw
    tf = create_tf(client, w)
    member = vetted_member(client, w, tf, name="FELIPE")
    commissioner_admin = make_user(["commission_member", "admin"], "MX")
    r = client.post(
        "/api/v1/overrides",
        json={
            "task_force_id": tf["id"],
            "official_id": member["id"],
            "justification": "Requested and then self-approved, which must fail.",
            "duration_days": 10,
        },
        headers=commissioner_admin.headers,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/overrides/{r.json()['id']}/approvals", headers=commissioner_admin.headers
    )
    assert r.status_code == 403
    assert r.json()["code"] == "SELF_APPROVAL"
    too_long = client.post(
        "/api/v1/overrides",
        json={
            "task_force_id": tf["id"],
            "official_id": member["id"],
            "justification": "Ninety-one days is longer than R20 allows.",
            "duration_days": 91,
        },
        headers=w["lead"].headers,
    )
    assert too_long.status_code == 422


def test_reciprocal_vetting_required(client, tfw):
    """R17: a U.S. member without a Mexican-conducted pass is ineligible; recording it
    (trigger reciprocal, by a Mexican vetting officer, R25) makes them eligible."""
    w = tfw
    tf = create_tf(client, w)
    body = official_body(w["fbi"], given="GEORGE", first="MILLER", second=None, curp=False)
    us_agent = register(client, w["us_hr"].headers, body)
    # Not yet nominated: the Mexican side cannot even see this person (R24, R25).
    evaluate(
        client, w["mx_vetter"].headers, us_agent["id"], w["mx_c3"], trigger="reciprocal", expect=404
    )
    # #18 F3: the United States puts its own agent forward.
    nominate(client, w, tf, us_agent["id"], by=w["us_admin"])
    evaluate(
        client,
        w["us_vetter"].headers,
        us_agent["id"],
        w["us_vet"],
        conducted_on=dt.date(2026, 10, 1),
    )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": us_agent["id"]},
        headers=w["lead"].headers,
    )
    assert r.status_code == 409
    assert r.json()["reasons"] == ["RECIPROCAL_VETTING_MISSING"]
    # Across the border only reciprocal evaluations (R25).
    wrong = evaluate(
        client, w["mx_vetter"].headers, us_agent["id"], w["mx_c3"], trigger="periodic", expect=403
    )
    assert wrong["code"] == "RECIPROCAL_ONLY"
    evaluate(
        client,
        w["mx_vetter"].headers,
        us_agent["id"],
        w["mx_c3"],
        trigger="reciprocal",
        conducted_on=dt.date(2026, 11, 2),
    )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": us_agent["id"]},
        headers=w["lead"].headers,
    )
    assert r.status_code == 201, r.text
    eligibility = client.get(
        f"/api/v1/officials/{us_agent['id']}/eligibility?task_force_id={tf['id']}",
        headers=w["lead"].headers,
    )
    assert eligibility.status_code == 200, eligibility.text
    assert eligibility.json()["verdict"] == "eligible"


def test_no_exemption_for_rank(client, tfw):
    """R17: a commander with no vetting cannot join, whatever the role."""
    w = tfw
    tf = create_tf(client, w)
    commander = register(
        client,
        w["mx_hr"].headers,
        official_body(w["mx_police"], given="HUGO", first="PAZ", tier="command"),
    )
    nominate(client, w, tf, commander["id"], role="lead")
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": commander["id"]},
        headers=w["lead"].headers,
    )
    assert r.status_code == 409
    assert "NEVER_VETTED" in r.json()["reasons"]
    not_nominated = register(
        client,
        w["mx_hr"].headers,
        official_body(w["mx_police"], given="IRMA", first="SOL", sex="F"),
    )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": not_nominated["id"]},
        headers=w["lead"].headers,
    )
    assert r.json()["code"] == "NOT_NOMINATED"


def test_leads_see_only_their_task_forces_and_verdicts_across_the_border(client, tfw):
    """R25: another lead gets 404 for reads and writes; R24: members of the other country are
    shown at verdict level."""
    w = tfw
    tf = create_tf(client, w)
    vetted_member(client, w, tf, country="US", name="JOHN")
    for path in ("", "/members", "/compliance", "/events"):
        assert (
            client.get(
                f"/api/v1/task-forces/{tf['id']}{path}", headers=w["other_lead"].headers
            ).status_code
            == 404
        )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/nominations",
        json={"official_id": str(uuid.uuid4())},
        headers=w["other_lead"].headers,
    )
    assert r.status_code == 404
    members = client.get(
        f"/api/v1/task-forces/{tf['id']}/members", headers=w["lead"].headers
    ).json()["items"]
    assert members[0]["view"] == "public"
    assert "date_of_birth" not in members[0]
    us_member = client.get(
        f"/api/v1/officials/{members[0]['official_id']}", headers=w["lead"].headers
    )
    assert us_member.status_code == 200
    assert us_member.json()["view"] == "public"


def _bulk_members(factory, tf_id, agency_id, vet_body, n, lead_id):
    with unit_of_work(factory) as session:
        for i in range(n):
            official = Official(
                country="MX",
                given_names=f"MIEMBRO {i}",
                first_surname="PRUEBA",
                second_surname=None,
                date_of_birth=dt.date(1980, 1, 1),
                search_name=f"PRUEBA MIEMBRO {i}",
                created_at=T0,
            )
            session.add(official)
            session.flush()
            session.add(
                Appointment(
                    official_id=official.id,
                    agency_id=agency_id,
                    position="Agente",
                    rank_tier="line",
                    started_on=dt.date(2020, 1, 1),
                    created_at=T0,
                )
            )
            for body, country in ((vet_body[0], "MX"), (vet_body[1], "US")):
                session.add(
                    Evaluation(
                        official_id=official.id,
                        conducted_by=body,
                        conducted_by_country=country,
                        trigger="periodic",
                        components={c["type"]: "pass" for c in ALL_PASS},
                        outcome="pass",
                        conducted_on=dt.date(2026, 10, 1),
                        valid_until=dt.date(2029, 10, 1),
                        interval_months=36,
                        created_at=T0,
                    )
                )
            session.add(
                TaskForceMember(
                    task_force_id=tf_id,
                    official_id=official.id,
                    role="member",
                    joined_on=dt.date(2026, 11, 1),
                    added_by=lead_id,
                    created_at=T0,
                )
            )


def test_compliance_statements_do_not_grow_with_roster(client, tfw, app, factory):
    w = tfw
    counts = []
    for size in (5, 100):
        tf = create_tf(client, w, name=f"Roster {size}")
        _bulk_members(
            factory,
            uuid.UUID(tf["id"]),
            w["mx_police"],
            (w["mx_c3"], w["us_vet"]),
            size,
            w["lead"].id,
        )
        statements = []
        # Counted warm: the lead's first request also loads its user, which the principal
        # cache then spares (#17); what must not grow is the route's own SQL.
        status(client, w, tf)

        def count(conn, cursor, statement, *args, seen=statements):
            seen.append(statement)

        event.listen(app.state.engine, "before_cursor_execute", count)
        try:
            compliance = status(client, w, tf)
        finally:
            event.remove(app.state.engine, "before_cursor_execute", count)
        assert compliance["summary"]["members"] == size
        assert compliance["summary"]["eligible"] == size
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
