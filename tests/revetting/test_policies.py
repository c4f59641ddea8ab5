"""Re-vetting policies (R14): defaults, specificity, ties, versions, scoping; a policy change
moves due dates without rewriting past evaluations (R6, R15)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import literal, select

from app.db import unit_of_work
from app.domain.dates import add_months as py_add_months
from app.services.revetting.schedules import add_days, add_months
from tests.registry.builders import evaluate, make_agency, official_body, register


def test_defaults_are_seeded_per_country(client, auth, world, make_user):
    mx = client.get("/api/v1/policies", headers=auth(world.mx_admin)).json()["items"]
    assert [(p["scope_key"], p["interval_months"]) for p in mx] == [
        ("MX|*|*|*", 36),
        ("MX|*|command|*", 36),
        ("MX|*|executive|*", 36),
    ]
    assert all(len(p["required_components"]) == 7 for p in mx)
    us = client.get("/api/v1/policies", headers=auth(world.us_admin)).json()["items"]
    assert {p["scope_key"]: p["interval_months"] for p in us} == {
        "US|*|*|*": 60,
        "US|*|command|*": 60,
        "US|*|executive|*": 60,
    }
    us_line = next(p for p in us if p["scope_key"] == "US|*|*|*")
    assert "polygraph" not in us_line["required_components"]  # senior tiers only (R14)
    # Anyone authenticated reads their own country's policies; paging works.
    page = client.get("/api/v1/policies?limit=2", headers=auth(world.mx_hr)).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = client.get(
        f"/api/v1/policies?limit=2&cursor={page['next_cursor']}", headers=auth(world.mx_hr)
    )
    assert [p["scope_key"] for p in rest.json()["items"]] == ["MX|*|executive|*"]


def test_most_specific_policy_wins(client, auth, world, factory):
    """Agency > tier > sector > country; agency+tier and tier+sector beat their parts."""
    admin = auth(world.mx_admin)
    other_police = make_agency(factory, country="MX", acronym="SSPC")

    def create(expect: int = 201, **body):
        r = client.post("/api/v1/policies", json=body, headers=admin)
        assert r.status_code == expect, r.text
        return r.json()

    sector = create(sector="justice", interval_months=24)
    create(rank_tier="supervisory", interval_months=30)
    create(agency_id=str(world.mx_police), interval_months=12)
    create(agency_id=str(world.mx_police), rank_tier="command", interval_months=6)
    create(sector="justice", rank_tier="command", interval_months=18)
    # Values left out are inherited from the policy that applied to the scope.
    assert sector["retest_days"] == 90
    assert len(sector["required_components"]) == 7

    def effective(agency, tier):
        r = client.get(
            "/api/v1/policies/effective",
            params={"agency_id": str(agency), "rank_tier": tier},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        return body["policy"]["interval_months"], body["specificity"]

    assert effective(world.mx_police, "line") == (12, 4)  # agency
    assert effective(world.mx_police, "command") == (6, 6)  # agency + tier
    assert effective(world.mx_fgr, "line") == (24, 1)  # sector
    assert effective(world.mx_fgr, "supervisory") == (30, 2)  # tier beats sector
    assert effective(world.mx_fgr, "command") == (18, 3)  # tier + sector beats tier default
    assert effective(other_police, "line") == (36, 0)  # country default
    assert effective(other_police, "executive") == (36, 2)  # senior default

    # A tie is impossible: the same scope twice is refused.
    taken = create(expect=409, sector="justice", interval_months=48)
    assert taken["code"] == "POLICY_SCOPE_TAKEN"
    assert taken["existing_policy_id"] == sector["id"]
    # An agency implies its sector.
    bad = create(expect=422, agency_id=str(world.mx_fgr), sector="justice")
    assert bad["errors"][0]["field"] == "body.sector"
    # An evaluation is judged under, and cites, the applicable policy (R6).
    official = register(client, auth(world.mx_hr), official_body(world.mx_police))
    result = evaluate(
        client,
        auth(world.mx_vetter),
        official["id"],
        world.mx_c3,
        conducted_on=dt.date(2026, 11, 1),
    )
    assert result["valid_until"] == "2027-11-01"
    assert result["interval_months"] == 12
    assert result["policy_version"] == 1


def test_policy_change_moves_due_dates_not_history(client, auth, world):
    admin = auth(world.mx_admin)
    r = client.post(
        "/api/v1/policies", json={"sector": "justice", "interval_months": 24}, headers=admin
    )
    policy = r.json()
    assert r.headers["ETag"] == '"1"'
    official = register(
        client, auth(world.mx_admin), official_body(world.mx_fgr, started_on=dt.date(2026, 1, 5))
    )
    evaluation = evaluate(
        client,
        auth(world.mx_vetter),
        official["id"],
        world.mx_c3,
        conducted_on=dt.date(2026, 11, 1),
    )
    assert evaluation["policy_id"] == policy["id"]
    assert evaluation["policy_version"] == 1
    schedule_url = f"/api/v1/officials/{official['id']}/schedule"
    assert client.get(schedule_url, headers=admin).json()["next_due"] == "2028-11-01"

    url = f"/api/v1/policies/{policy['id']}"
    assert client.patch(url, json={"interval_months": 12}, headers=admin).status_code == 428
    stale = client.patch(url, json={"interval_months": 12}, headers={**admin, "If-Match": '"7"'})
    assert stale.status_code == 412
    r = client.patch(url, json={"interval_months": 12}, headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.headers["ETag"] == '"2"'

    schedule = client.get(schedule_url, headers=admin).json()
    assert schedule["next_due"] == "2027-11-01"
    assert schedule["policy"]["version"] == 2
    history = client.get(
        f"/api/v1/officials/{official['id']}/evaluations", headers=auth(world.mx_vetter)
    ).json()["items"]
    assert [(e["valid_until"], e["policy_version"], e["interval_months"]) for e in history] == [
        ("2028-11-01", 1, 24)
    ]
    versions = client.get(f"{url}/versions", headers=admin).json()["items"]
    assert [(v["version"], v["snapshot"]["interval_months"]) for v in versions] == [
        (1, 24),
        (2, 12),
    ]
    audit = client.get("/api/v1/audit?action=policy.update", headers=admin).json()["items"]
    assert audit[0]["details"]["before"] == {"interval_months": 24}

    # Deactivating the sector policy falls back to the country policy (36 months) at once,
    # but a longer interval never extends the pass beyond the 2028-11-01 it was certified to
    # (R6, #15; docs/revetting.md).
    r = client.patch(url, json={"active": False}, headers={**admin, "If-Match": '"2"'})
    assert r.status_code == 200, r.text
    schedule = client.get(schedule_url, headers=admin).json()
    assert (schedule["next_due"], schedule["policy"]["interval_months"]) == ("2028-11-01", 36)


def test_policy_access(client, auth, world, make_user):
    mx_admin, us_admin = auth(world.mx_admin), auth(world.us_admin)
    mx = client.get("/api/v1/policies", headers=mx_admin).json()["items"][0]
    url = f"/api/v1/policies/{mx['id']}"
    assert client.get(url, headers=us_admin).status_code == 404
    patch = client.patch(url, json={"interval_months": 24}, headers={**us_admin, "If-Match": "*"})
    assert patch.status_code == 404
    vetter = auth(world.mx_vetter)
    assert client.get(url, headers=vetter).status_code == 200
    assert (
        client.patch(url, json={"interval_months": 24}, headers={**vetter, "If-Match": "*"})
    ).status_code == 403
    assert (
        client.post("/api/v1/policies", json={"sector": "justice"}, headers=vetter).status_code
        == 403
    )
    foreign = client.post(
        "/api/v1/policies", json={"country": "US", "sector": "justice"}, headers=mx_admin
    )
    assert foreign.status_code == 403
    assert foreign.json()["code"] == "COUNTRY_SCOPE"
    foreign_agency = client.post(
        "/api/v1/policies", json={"agency_id": str(world.us_fbi)}, headers=mx_admin
    )
    assert foreign_agency.status_code == 404
    required = client.patch(url, json={"active": False}, headers={**mx_admin, "If-Match": "*"})
    assert required.status_code == 409
    assert required.json()["code"] == "POLICY_REQUIRED"
    assert client.get("/api/v1/policies", headers={}).status_code == 401


MONTH_CASES = [
    (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),
    (dt.date(2023, 1, 31), 1, dt.date(2023, 2, 28)),
    (dt.date(2026, 11, 20), 36, dt.date(2029, 11, 20)),
    (dt.date(2025, 8, 31), 6, dt.date(2026, 2, 28)),
    (dt.date(2025, 12, 15), 2, dt.date(2026, 2, 15)),
]


def test_sql_month_arithmetic_matches_python(factory):
    """The due-date SQL clamps to the month's end like app.domain.dates.add_months."""
    with unit_of_work(factory) as session:
        for day, months, expected in MONTH_CASES:
            assert py_add_months(day, months) == expected
            assert session.scalar(select(add_months(literal(day), literal(months)))) == expected
            later = session.scalar(select(add_days(literal(day), literal(90))))
            assert later == day + dt.timedelta(days=90)
