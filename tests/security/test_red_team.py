"""Red-team findings across the border (#18): a hostile but authenticated user of each role and
country. Each test states a property that once did not hold (R9, R16, R18, R20, R24, R25)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.models import AuditEvent, Listing, Notification
from app.services.revetting import draw_math
from tests.registry.builders import (
    evaluate,
    make_agency,
    official_body,
    register,
    with_result,
)


@pytest.fixture
def w(client: Any, factory: Any, make_user: Any) -> dict[str, Any]:
    """Agencies and staff of both countries, the U.S. commission seats."""
    w: dict[str, Any] = {}
    w["mx_police"] = make_agency(factory, country="MX", acronym="SSPC")
    w["mx_c3"] = make_agency(factory, country="MX", acronym="CNCA", can_vet=True)
    doj = make_agency(
        factory, country="US", acronym="DOJ", sector="justice", commission_department="DOJ"
    )
    w["fbi"] = make_agency(factory, country="US", acronym="FBI", parent_id=doj)
    make_agency(factory, country="US", acronym="DHS", sector="policy", commission_department="DHS")
    make_agency(
        factory, country="US", acronym="STATE", sector="policy", commission_department="STATE"
    )
    w["us_vet"] = make_agency(
        factory, country="US", acronym="FBI-SECD", can_vet=True, parent_id=w["fbi"]
    )
    w["mx_admin"] = make_user("admin", "MX")
    w["us_admin"] = make_user("admin", "US")
    w["mx_hr"] = make_user("personnel_officer", "MX", agency_id=w["mx_police"])
    w["us_hr"] = make_user("personnel_officer", "US", agency_id=w["fbi"])
    w["mx_vetter"] = make_user("vetting_officer", "MX", agency_id=w["mx_c3"])
    w["us_vetter"] = make_user("vetting_officer", "US", agency_id=w["us_vet"])
    w["mx_lead"] = make_user("task_force_lead", "MX", agency_id=w["mx_police"])
    w["us_lead"] = make_user("task_force_lead", "US", agency_id=w["fbi"])
    w["commissioner"] = make_user("commission_member", "US", agency_id=w["fbi"])
    return w


def task_force(client: Any, w: dict[str, Any], country: str) -> dict[str, Any]:
    admin, agency, lead = (
        (w["mx_admin"], w["mx_police"], w["mx_lead"])
        if country == "MX"
        else (w["us_admin"], w["fbi"], w["us_lead"])
    )
    r = client.post(
        "/api/v1/task-forces",
        json={
            "name": f"Fuerza Tarea {country}",
            "focus": "fentanyl",
            "lead_agency_id": str(agency),
            "lead_user_ids": [str(lead.id)],
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def mx_official(client: Any, w: dict[str, Any], name: str = "ANA", **kw: Any) -> dict[str, Any]:
    return register(
        client, w["mx_hr"].headers, official_body(w["mx_police"], given=name, first="RUIZ", **kw)
    )


def us_official(client: Any, w: dict[str, Any], name: str = "GEORGE") -> dict[str, Any]:
    body = official_body(w["fbi"], given=name, first="MILLER", second=None, curp=False)
    return register(client, w["us_hr"].headers, body)


def nominate(client: Any, caller: Any, tf: dict[str, Any], official_id: str, role: str = "member"):
    return client.post(
        f"/api/v1/task-forces/{tf['id']}/nominations",
        json={"official_id": official_id, "role": role},
        headers=caller.headers,
    )


def same_answer(a: Any, b: Any) -> None:
    """Two problems a caller cannot tell apart (only request ids and paths differ)."""
    assert a.status_code == b.status_code, (a.text, b.text)
    ja, jb = a.json(), b.json()
    for key in ("code", "title", "detail", "errors"):
        assert ja.get(key) == jb.get(key), (key, a.text, b.text)


# --- F3: nominating across the border (R18, R24) ---------------------------------------------


def test_f3_us_lead_cannot_nominate_an_unlisted_mexican_official(client, w):
    """F3: the U.S. lead's nomination of an unlisted Mexican official answers as for an id that
    does not exist, and the official stays invisible to the United States."""
    tf = task_force(client, w, "US")
    hidden = mx_official(client, w)
    probe = nominate(client, w["us_lead"], tf, hidden["id"])
    unknown = nominate(client, w["us_lead"], tf, str(uuid.uuid4()))
    assert probe.status_code == 422, probe.text
    same_answer(probe, unknown)
    # Nothing was disclosed: the official is still outside the U.S. scope (R24).
    r = client.get(f"/api/v1/officials/{hidden['id']}/eligibility", headers=w["us_admin"].headers)
    assert r.status_code == 404
    # The U.S. admin who manages the task force cannot either.
    same_answer(nominate(client, w["us_admin"], tf, hidden["id"]), unknown)


def test_f3_each_country_nominates_its_own_officials(client, w):
    """F3: Mexico puts its own official forward to a U.S.-led task force; it may not put
    forward a U.S. official (404 for the task force, as for one it cannot see)."""
    tf = task_force(client, w, "US")
    ana = mx_official(client, w)
    george = us_official(client, w)
    # Before any Mexican nominee, the task force is not Mexico's to read.
    r = client.get(f"/api/v1/task-forces/{tf['id']}", headers=w["mx_admin"].headers)
    assert r.status_code == 404
    assert nominate(client, w["mx_admin"], tf, george["id"]).status_code == 404
    r = nominate(client, w["mx_admin"], tf, ana["id"])
    assert r.status_code == 201, r.text
    nomination_id = r.json()["id"]
    # Mexico follows its nominee; the U.S. lead sees the nominee at verdict level.
    r = client.get(f"/api/v1/task-forces/{tf['id']}", headers=w["mx_admin"].headers)
    assert r.status_code == 200
    r = client.get(f"/api/v1/officials/{ana['id']}/eligibility", headers=w["us_lead"].headers)
    assert r.status_code == 200
    # The lead country's own nominations stay the lead's and its admin's.
    assert nominate(client, w["us_lead"], tf, george["id"]).status_code == 201
    # Mexico withdraws its own nominee.
    r = client.delete(
        f"/api/v1/task-forces/{tf['id']}/nominations/{nomination_id}",
        headers=w["mx_admin"].headers,
    )
    assert r.status_code == 204, r.text


# --- F3b: a reciprocal adverse result is not a listing of the other country ------------------


def test_f3b_reciprocal_refusal_lists_nobody_and_tells_the_owning_country(client, w, factory):
    """F3b (R7, R9, R25): a U.S. reciprocal refusal of a Mexican nominee creates no listing
    (Mexico alone authors its listings); it makes the nominee ineligible for the task force
    and lands in Mexico's inbox."""
    tf = task_force(client, w, "US")
    ana = mx_official(client, w)
    assert nominate(client, w["mx_admin"], tf, ana["id"]).status_code == 201
    evaluate(
        client, w["mx_vetter"].headers, ana["id"], w["mx_c3"], conducted_on=dt.date(2026, 10, 1)
    )
    out = evaluate(
        client,
        w["us_vetter"].headers,
        ana["id"],
        w["us_vet"],
        trigger="reciprocal",
        components=with_result("polygraph", "refused"),
        conducted_on=dt.date(2026, 10, 15),
    )
    assert out["outcome"] == "refused"
    assert out.get("listing_id") is None
    with factory() as session:
        assert (
            session.scalars(
                select(Listing).where(Listing.official_id == uuid.UUID(ana["id"]))
            ).all()
            == []
        )
    r = client.get(
        f"/api/v1/officials/{ana['id']}/eligibility",
        params={"task_force_id": tf["id"]},
        headers=w["us_lead"].headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "ineligible"
    assert "LISTED" not in r.json()["reasons"]
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": ana["id"]},
        headers=w["us_lead"].headers,
    )
    assert r.status_code == 409
    inbox = client.get("/api/v1/notifications", headers=w["mx_admin"].headers).json()["items"]
    notice = [n for n in inbox if n["kind"] == "evaluation.reciprocal_adverse"]
    assert len(notice) == 1
    assert notice[0]["official_id"] == ana["id"]
    assert notice[0]["payload"]["outcome"] == "refused"
    hr_inbox = client.get("/api/v1/notifications", headers=w["mx_hr"].headers).json()["items"]
    assert [n["kind"] for n in hr_inbox] == ["evaluation.reciprocal_adverse"]
    with factory() as session:
        assert (
            session.scalar(
                select(Notification.country).where(Notification.official_id == uuid.UUID(ana["id"]))
            )
            == "MX"
        )


# --- F4: registration is no identifier oracle (R2, R24) ----------------------------------------


def test_f4_us_registrar_cannot_learn_that_a_curp_is_mexican(client, w):
    """F4: a U.S. registration carrying the CURP of an unlisted Mexican official answers
    exactly as one carrying a CURP nobody holds."""
    mx_official(client, w, name="ANA", dob=dt.date(1985, 3, 14), sex="F")
    taken = official_body(w["fbi"], given="ANA", first="RUIZ", dob=dt.date(1985, 3, 14), sex="F")
    fresh = official_body(w["fbi"], given="BETO", first="SOTO", dob=dt.date(1979, 7, 2))
    probe = client.post("/api/v1/officials", json=taken, headers=w["us_hr"].headers)
    control = client.post("/api/v1/officials", json=fresh, headers=w["us_hr"].headers)
    assert probe.status_code == 422, probe.text
    same_answer(probe, control)
    assert probe.json()["code"] == "IDENTIFIER_SCHEME_FOREIGN"
    assert "existing_official_id" not in probe.text


def test_f4_a_listed_persons_curp_is_still_refused_across_the_border(client, w):
    """F4 with R3 and R9: a listed person's CURP is refused to the other country too."""
    listed = mx_official(client, w, name="CARLA", dob=dt.date(1980, 5, 5), sex="F")
    evaluate(
        client,
        w["mx_vetter"].headers,
        listed["id"],
        w["mx_c3"],
        components=with_result("polygraph", "fail"),
    )
    body = official_body(w["fbi"], given="CARLA", first="RUIZ", dob=dt.date(1980, 5, 5), sex="F")
    r = client.post("/api/v1/officials", json=body, headers=w["us_hr"].headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "OFFICIAL_LISTED"


# --- F2a: task-force events show the other country's causes at verdict level -----------------


def test_f2a_events_do_not_carry_the_other_countrys_evaluation_ids(client, w):
    """F2a (R9, R24): a Mexican failure suspends a Mexican-led task force; the U.S.
    commission reads the suspension and its outcome, never the Mexican evaluation's id."""
    tf = task_force(client, w, "MX")
    ana = mx_official(client, w)
    assert nominate(client, w["mx_lead"], tf, ana["id"], role="senior").status_code == 201
    evaluate(
        client, w["mx_vetter"].headers, ana["id"], w["mx_c3"], conducted_on=dt.date(2026, 10, 1)
    )
    evaluate(
        client,
        w["us_vetter"].headers,
        ana["id"],
        w["us_vet"],
        trigger="reciprocal",
        conducted_on=dt.date(2026, 10, 15),
    )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/members",
        json={"official_id": ana["id"]},
        headers=w["mx_lead"].headers,
    )
    assert r.status_code == 201, r.text
    failed = evaluate(
        client,
        w["mx_vetter"].headers,
        ana["id"],
        w["mx_c3"],
        components=with_result("polygraph", "fail"),
        conducted_on=dt.date(2026, 11, 1),
    )
    path = f"/api/v1/task-forces/{tf['id']}/events"
    own = client.get(path, headers=w["mx_lead"].headers).json()["items"]
    suspended = [e for e in own if e["kind"] == "suspended"]
    assert suspended
    assert suspended[0]["cause"]["evaluation_id"] == failed["id"]
    foreign = client.get(path, headers=w["commissioner"].headers)
    assert foreign.status_code == 200
    assert failed["id"] not in foreign.text
    seen = [e for e in foreign.json()["items"] if e["kind"] == "suspended"]
    assert seen[0]["cause"] == {
        "kind": "evaluation",
        "outcome": "fail",
        "official_id": ana["id"],
        "blocking_members": [ana["id"]],
    }


# --- F3a: a draw names each country's officials to that country only (R16, R24) -------------


def play(client: Any, w: dict[str, Any], scope: dict[str, Any], k: int) -> str:
    r = client.post(
        "/api/v1/draws", json={"scope": scope, "sample_size": k}, headers=w["mx_admin"].headers
    )
    assert r.status_code == 201, r.text
    draw_id: str = r.json()["id"]
    admins = {"MX": w["mx_admin"], "US": w["us_admin"]}
    secrets = {c: draw_math.generate_secret() for c in admins}
    for c, secret in secrets.items():
        commitment = draw_math.commitment_of(bytes.fromhex(secret))
        r = client.post(
            f"/api/v1/draws/{draw_id}/commitments",
            json={"commitment": commitment},
            headers=admins[c].headers,
        )
        assert r.status_code == 201, r.text
    for c, secret in secrets.items():
        r = client.post(
            f"/api/v1/draws/{draw_id}/reveals", json={"secret": secret}, headers=admins[c].headers
        )
        assert r.status_code == 201, r.text
    return draw_id


def test_f3a_a_us_admin_learns_no_mexican_ids_from_a_draw(client, w, make_user):
    """F3a: a draw of a Mexican agency is verifiable by the United States through its hash
    and seed, but names none of the Mexican officials to U.S. admins or auditors."""
    ids = [mx_official(client, w, name=n)["id"] for n in ("ANA", "BEA", "CIRO", "DORA")]
    draw_id = play(client, w, {"agency_id": str(w["mx_police"])}, 2)
    mx = client.get(f"/api/v1/draws/{draw_id}/verify", headers=w["mx_admin"].headers).json()
    assert sorted(mx["population"]) == sorted(ids)
    seed = bytes.fromhex(mx["seed"])
    ranked = sorted(ids, key=lambda i: (hmac.new(seed, i.encode(), hashlib.sha256).hexdigest(), i))
    assert mx["selection"] == ranked[:2]
    joined = "\n".join(sorted(ids)).encode()
    assert hashlib.sha256(joined).hexdigest() == mx["population_hash"]
    us_auditor = make_user("auditor", "US")
    for caller in (w["us_admin"], us_auditor):
        for path in (
            f"/api/v1/draws/{draw_id}/verify",
            f"/api/v1/draws/{draw_id}",
            "/api/v1/draws",
        ):
            r = client.get(path, headers=caller.headers)
            assert r.status_code == 200, r.text
            assert not [i for i in ids if i in r.text], path
        us = client.get(f"/api/v1/draws/{draw_id}/verify", headers=caller.headers).json()
        assert us["population"] == []
        assert us["selection"] == []
        assert us["selections"] == []
        assert us["population_withheld"] == 4
        assert us["selection_withheld"] == 2
        assert us["population_hash"] == mx["population_hash"]
        assert us["seed"] == mx["seed"]
    # Mexico checks its own part against the published threshold (docs/draws.md).
    macs = {i: hmac.new(seed, i.encode(), hashlib.sha256).hexdigest() for i in ids}
    assert {i for i in ids if macs[i] <= mx["threshold_mac"]} == set(mx["selection"])


# --- F8: an override's justification stays with the person's country (R20, R24) --------------


def test_f8_mexican_admin_does_not_read_the_justification_of_a_us_person(client, w):
    tf = task_force(client, w, "MX")
    george = us_official(client, w)
    assert nominate(client, w["us_admin"], tf, george["id"]).status_code == 201
    text = "Irreplaceable undercover handler during an active operation."
    r = client.post(
        "/api/v1/overrides",
        json={
            "task_force_id": tf["id"],
            "official_id": george["id"],
            "justification": text,
            "duration_days": 30,
        },
        headers=w["mx_lead"].headers,
    )
    assert r.status_code == 201, r.text
    override_id = r.json()["id"]
    assert r.json()["justification"] == text  # the requester wrote it
    for path in (f"/api/v1/overrides/{override_id}", f"/api/v1/overrides?task_force_id={tf['id']}"):
        r = client.get(path, headers=w["mx_admin"].headers)
        assert r.status_code == 200, r.text
        assert text not in r.text
    r = client.get(f"/api/v1/overrides/{override_id}", headers=w["mx_admin"].headers)
    assert r.json()["justification"] is None
    for caller in (w["commissioner"], w["us_admin"]):
        r = client.get(f"/api/v1/overrides/{override_id}", headers=caller.headers)
        assert r.status_code == 200, r.text
        assert r.json()["justification"] == text


# --- F5: who exists across the border (R24) ----------------------------------------------------


def test_f5_user_lookups_answer_the_other_country_as_unknown(client, w):
    """F5: a U.S. admin reads, changes, deactivates or names as lead no Mexican user; each
    answers as an unknown id does."""
    mexican = w["mx_hr"].id
    for method, suffix, body in (
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/revoke-tokens", None),
    ):
        probe = client.request(
            method, f"/api/v1/users/{mexican}{suffix}", json=body, headers=w["us_admin"].headers
        )
        unknown = client.request(
            method,
            f"/api/v1/users/{uuid.uuid4()}{suffix}",
            json=body,
            headers=w["us_admin"].headers,
        )
        assert probe.status_code == 404
        same_answer(probe, unknown)


def test_f5_us_admin_cannot_learn_that_a_mexican_username_exists(client, w):
    """F5 (R24): usernames are unique per country, so a U.S. admin creates a user named as a
    Mexican user is exactly as one named as nobody (login: tests/security/
    test_per_country_usernames.py)."""
    body = {
        "password": "a-long-enough-password",
        "roles": ["personnel_officer"],
        "country": "US",
        "agency_id": str(w["fbi"]),
    }
    taken = client.post(
        "/api/v1/users",
        json={**body, "username": w["mx_hr"].username},
        headers=w["us_admin"].headers,
    )
    fresh = client.post(
        "/api/v1/users", json={**body, "username": "nobody.anywhere"}, headers=w["us_admin"].headers
    )
    assert taken.status_code == fresh.status_code == 201


# --- F9: a task force's leads are of its own country -----------------------------------------


def test_f9_a_mexican_task_force_cannot_be_given_a_us_lead(client, w):
    """F9 (R25): leads are task_force_lead users of the lead agency's country; a U.S. user
    answers as an unknown id does (so this is no user oracle either, F5)."""
    body = {"name": "Fuerza Tarea Armas", "focus": "weapons", "lead_agency_id": str(w["mx_police"])}
    probe = client.post(
        "/api/v1/task-forces",
        json={**body, "lead_user_ids": [str(w["us_lead"].id)]},
        headers=w["mx_admin"].headers,
    )
    unknown = client.post(
        "/api/v1/task-forces",
        json={**body, "lead_user_ids": [str(uuid.uuid4())]},
        headers=w["mx_admin"].headers,
    )
    assert probe.status_code == 422, probe.text
    same_answer(probe, unknown)
    tf = task_force(client, w, "MX")
    etag = client.get(f"/api/v1/task-forces/{tf['id']}", headers=w["mx_admin"].headers).headers[
        "etag"
    ]
    r = client.patch(
        f"/api/v1/task-forces/{tf['id']}",
        json={"lead_user_ids": [str(w["mx_lead"].id), str(w["us_lead"].id)]},
        headers={**w["mx_admin"].headers, "If-Match": etag},
    )
    assert r.status_code == 422, r.text
    # The U.S. lead therefore sees nothing of it.
    r = client.get(f"/api/v1/task-forces/{tf['id']}", headers=w["us_lead"].headers)
    assert r.status_code == 404


# --- F11 (control): a forced appointment of a listed person is audited (R3, R22) --------------


def test_f11_forced_appointment_of_a_listed_person_is_audited(client, w, factory):
    listed = mx_official(client, w, name="ELENA", sex="F")
    failed = evaluate(
        client,
        w["mx_vetter"].headers,
        listed["id"],
        w["mx_c3"],
        components=with_result("polygraph", "fail"),
    )
    appointment = {
        "agency_id": str(w["mx_police"]),
        "position": "Comandante",
        "rank_tier": "command",
        "started_on": "2026-11-20",
    }
    path = f"/api/v1/officials/{listed['id']}/appointments"
    refused = client.post(path, json=appointment, headers=w["mx_admin"].headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "OFFICIAL_LISTED"
    justification = "Court order 123/2026 reinstates the official pending appeal."
    # Only an admin may force (R3); a personnel officer's justification is refused.
    r = client.post(
        path,
        json={**appointment, "force_justification": justification},
        headers=w["mx_hr"].headers,
    )
    assert r.status_code == 403, r.text
    r = client.post(
        path,
        json={**appointment, "force_justification": justification},
        headers=w["mx_admin"].headers,
    )
    assert r.status_code == 201, r.text
    with factory() as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "appointment.forced",
                AuditEvent.resource_id == listed["id"],
            )
        ).all()
    assert len(events) == 1
    event = events[0]
    assert event.actor_id == w["mx_admin"].id
    assert event.actor_country == "MX"
    assert event.details["listing_ids"] == [failed["listing_id"]]
    assert event.details["justification_length"] == len(justification)
    assert justification not in str(event.details)  # no free text in the log (R22)
