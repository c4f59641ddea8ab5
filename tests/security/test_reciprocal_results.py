"""#18 F3b, the leftover (R17, R19, R24): a reciprocal result — the other country's vetting of a
joint task force's nominee or member — counts toward the task force's reciprocal requirement
only. It is not the home country's verdict: the official's own eligibility, schedule and due
list read their own country's evaluations, and agree with each other (R6, R15, #15)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.registry.builders import evaluate, make_agency, official_body, register, with_result


@pytest.fixture
def w(factory: Any, make_user: Any) -> dict[str, Any]:
    w: dict[str, Any] = {}
    w["mx_police"] = make_agency(factory, country="MX", acronym="SSPC")
    w["mx_c3"] = make_agency(factory, country="MX", acronym="CNCA", can_vet=True)
    w["fbi"] = make_agency(factory, country="US", acronym="FBI")
    w["us_vet"] = make_agency(factory, country="US", acronym="FBI-SECD", can_vet=True)
    w["mx_admin"] = make_user("admin", "MX")
    w["us_admin"] = make_user("admin", "US")
    w["mx_hr"] = make_user("personnel_officer", "MX", agency_id=w["mx_police"])
    w["mx_vetter"] = make_user("vetting_officer", "MX", agency_id=w["mx_c3"])
    w["us_vetter"] = make_user("vetting_officer", "US", agency_id=w["us_vet"])
    w["us_lead"] = make_user("task_force_lead", "US", agency_id=w["fbi"])
    return w


def _nominee(client: Any, w: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A U.S.-led task force requiring reciprocity, and a Mexican official Mexico nominates."""
    r = client.post(
        "/api/v1/task-forces",
        json={
            "name": "Joint Task Force",
            "focus": "fentanyl",
            "lead_agency_id": str(w["fbi"]),
            "lead_user_ids": [str(w["us_lead"].id)],
        },
        headers=w["us_admin"].headers,
    )
    assert r.status_code == 201, r.text
    tf = r.json()
    ana = register(
        client, w["mx_hr"].headers, official_body(w["mx_police"], given="ANA", first="RUIZ")
    )
    r = client.post(
        f"/api/v1/task-forces/{tf['id']}/nominations",
        json={"official_id": ana["id"], "role": "member"},
        headers=w["mx_admin"].headers,
    )
    assert r.status_code == 201, r.text
    return tf, ana


def _reciprocal(client: Any, w: dict[str, Any], ana: dict[str, Any], result: str, day: int) -> None:
    evaluate(
        client,
        w["us_vetter"].headers,
        ana["id"],
        w["us_vet"],
        trigger="reciprocal",
        components=with_result("polygraph", result),
        conducted_on=dt.date(2026, 10, day),
    )


def _eligibility(client: Any, caller: Any, official_id: str, tf: Any = None) -> dict[str, Any]:
    params = {"task_force_id": tf["id"]} if tf else {}
    r = client.get(
        f"/api/v1/officials/{official_id}/eligibility", params=params, headers=caller.headers
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _schedule(client: Any, w: dict[str, Any], official_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/officials/{official_id}/schedule", headers=w["mx_admin"].headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _due_ids(client: Any, w: dict[str, Any]) -> set[str]:
    r = client.get("/api/v1/schedules/due", headers=w["mx_admin"].headers)
    assert r.status_code == 200, r.text
    return {item["official_id"] for item in r.json()["items"]}


def test_a_reciprocal_refusal_is_not_the_home_countrys_verdict(client, w):
    """Mexico passed Ana; the United States' reciprocal vetting refused her. For the task
    force she is not reciprocally vetted (and nothing else); at home her Mexican pass stands:
    eligible, schedule current until the pass ends, not on the due list."""
    tf, ana = _nominee(client, w)
    evaluate(
        client, w["mx_vetter"].headers, ana["id"], w["mx_c3"], conducted_on=dt.date(2026, 10, 1)
    )
    _reciprocal(client, w, ana, "refused", 15)

    home = _eligibility(client, w["mx_admin"], ana["id"])
    assert (home["verdict"], home["reasons"]) == ("eligible", [])
    for caller in (w["us_lead"], w["mx_admin"]):
        joint = _eligibility(client, caller, ana["id"], tf)
        assert (joint["verdict"], joint["reasons"]) == (
            "ineligible",
            ["RECIPROCAL_VETTING_MISSING"],
        )

    schedule = _schedule(client, w, ana["id"])
    assert schedule["state"] == "current"
    assert [o["kind"] for o in schedule["obligations"]] == ["validity_end"]
    assert schedule["next_due"] == home["valid_until"]
    assert ana["id"] not in _due_ids(client, w)


def test_the_latest_reciprocal_result_decides_the_reciprocal_requirement(client, w):
    """A reciprocal pass followed by a reciprocal refusal is no reciprocal vetting any more;
    a later reciprocal pass restores it."""
    tf, ana = _nominee(client, w)
    evaluate(
        client, w["mx_vetter"].headers, ana["id"], w["mx_c3"], conducted_on=dt.date(2026, 10, 1)
    )
    _reciprocal(client, w, ana, "pass", 5)
    assert _eligibility(client, w["us_lead"], ana["id"], tf)["verdict"] == "eligible"
    _reciprocal(client, w, ana, "refused", 15)
    joint = _eligibility(client, w["us_lead"], ana["id"], tf)
    assert (joint["verdict"], joint["reasons"]) == ("ineligible", ["RECIPROCAL_VETTING_MISSING"])
    _reciprocal(client, w, ana, "pass", 25)
    assert _eligibility(client, w["us_lead"], ana["id"], tf)["verdict"] == "eligible"


def test_a_reciprocal_pass_alone_does_not_vet_at_home(client, w):
    """The other way round: the United States' pass is no Mexican vetting. Never vetted at
    home, in the eligibility and in the schedule alike."""
    tf, ana = _nominee(client, w)
    _reciprocal(client, w, ana, "pass", 15)
    home = _eligibility(client, w["mx_admin"], ana["id"])
    assert (home["verdict"], home["reasons"]) == ("ineligible", ["NEVER_VETTED"])
    joint = _eligibility(client, w["us_lead"], ana["id"], tf)
    assert joint["reasons"] == ["NEVER_VETTED"]
    schedule = _schedule(client, w, ana["id"])
    assert schedule["state"] == "never_vetted"
    assert ana["id"] in _due_ids(client, w)
