"""Bulk reads (#19, OWASP API6: unrestricted access to sensitive business flows): any role that
may read listings used to page ``GET /listings`` and read ``GET /officials/{id}`` for each, and
copy the registry of disqualified people in seconds, unmetered and unaudited. Listing items
returned and official records read are now metered per user and per agency
(``quota_listing_items*``, ``quota_official_reads*``), refused with 429 and ``Retry-After``, and
``security.bulk_read_suspected`` is raised on the volume read, before the refusal; misses count
toward ``security.enumeration_suspected`` over a window, hits between them or not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.clock import FixedClock
from app.config import Settings
from app.main import create_app
from app.models import AuditEvent, RateCounter
from tests.api.test_conventions import assert_problem
from tests.registry.builders import make_agency
from tests.screening.conftest import identity, listed_official, world  # noqa: F401 (fixture)

LISTINGS = "/api/v1/listings"
OFFICIALS = "/api/v1/officials"


@pytest.fixture
def volume_settings(settings: Settings) -> Settings:
    """Small volume budgets: 6 listing items and 4 official reads per user an hour, 9 and 6
    per agency; the alert at half of a budget."""
    return settings.model_copy(
        update={
            "quota_volume_window_seconds": 3600,
            "quota_listing_items": 6,
            "quota_listing_items_per_agency": 9,
            "quota_official_reads": 4,
            "quota_official_reads_per_agency": 6,
            "bulk_read_alert_percent": 50,
        }
    )


@pytest.fixture
def volume_app(volume_settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(volume_settings, clock=clock)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c
    finally:
        app.state.engine.dispose()


@pytest.fixture
def w(world: dict[str, Any], factory: sessionmaker[Session]) -> dict[str, Any]:  # noqa: F811
    """The screening tests' two countries, and an agency of task-force leads in each."""
    return {
        **world,
        "us_tf": make_agency(factory, country="US", acronym="JTF"),
        "mx_tf": make_agency(factory, country="MX", acronym="FTC"),
    }


GIVEN = ["ANA", "BERTA", "CARLOS", "DIEGO", "ELENA", "FELIPE", "GLORIA", "HUGO", "IRMA", "JORGE"]
SURNAMES = ["ALVAREZ", "BRAVO", "CASTRO", "DUARTE", "ESPINOZA", "FUENTES", "GUERRA", "IBARRA"]


@pytest.fixture
def listed(volume_app: TestClient, w: dict[str, Any]) -> list[dict[str, Any]]:
    """Twelve listed Mexican officials (the real rules list them: a failed vetting, R7), far
    enough apart in name and birth date that registering one does not match another."""
    return [
        listed_official(
            volume_app,
            w,
            given=GIVEN[n % len(GIVEN)],
            first=SURNAMES[n % len(SURNAMES)],
            second=SURNAMES[(n + 3) % len(SURNAMES)],
            dob=dt.date(1960 + 3 * n, 1 + n % 12, 1 + n),
        )
        for n in range(12)
    ]


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def test_a_lead_scraping_the_registry_is_refused_and_an_alert_is_raised(
    volume_app: TestClient,
    w: dict[str, Any],
    listed: list[dict[str, Any]],
    make_user: Any,
    factory: sessionmaker[Session],
) -> None:
    """The scenario of #19: a task-force lead pages the active listings, then reads each
    listed person. It is refused (429, ``Retry-After``) well before the whole list, and an
    auditor of its country finds ``security.bulk_read_suspected`` in ``/api/v1/audit``."""
    lead = make_user("task_force_lead", "MX", agency_id=w["mx_tf"])
    auditor = make_user("auditor", "MX")

    # A whole list at once does not fit: the page reserves its limit and is refused.
    dump = volume_app.get(LISTINGS, params={"limit": 200, "status": "active"}, headers=lead.headers)
    body = assert_problem(dump, 429, "QUOTA_EXCEEDED")
    assert (body["quota"], body["scope"], body["remaining"]) == ("listing_items", "user", 6)
    assert int(dump.headers["retry-after"]) > 0

    seen: list[str] = []
    cursor: str | None = None
    status = 200
    while status == 200:
        params: dict[str, Any] = {"limit": 3, "status": "active"}
        if cursor:
            params["cursor"] = cursor
        page = volume_app.get(LISTINGS, params=params, headers=lead.headers)
        status = page.status_code
        if status == 200:
            seen += [item["official_id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
    assert status == 429
    assert len(seen) == 6 < len(listed)

    read = 0
    for official_id in seen:
        response = volume_app.get(f"{OFFICIALS}/{official_id}", headers=lead.headers)
        if response.status_code != 200:
            body = assert_problem(response, 429, "QUOTA_EXCEEDED")
            assert body["quota"] == "official_reads"
            assert "retry-after" in response.headers
            break
        read += 1
    assert read == 4

    # Half of each budget: 3 of the lead's 6 items, 5 of the agency's 9; 2 and 3 reads.
    alerts = _events(factory, "security.bulk_read_suspected")
    assert sorted(
        (a.details["activity"], a.details["scope"], a.details["used"]) for a in alerts
    ) == [
        ("listing_items", "agency", 6),
        ("listing_items", "user", 3),
        ("official_reads", "agency", 3),
        ("official_reads", "user", 2),
    ]
    assert {a.actor_id for a in alerts} == {lead.id}
    found = volume_app.get(
        "/api/v1/audit",
        params={"action": "security.bulk_read_suspected", "limit": 200},
        headers=auditor.headers,
    )
    assert found.status_code == 200, found.text
    assert {e["actor_id"] for e in found.json()["items"]} == {str(lead.id)}
    refusals = volume_app.get(
        "/api/v1/audit",
        params={"action": "security.quota_exceeded", "limit": 200},
        headers=auditor.headers,
    )
    assert {e["resource_id"] for e in refusals.json()["items"]} == {
        "listing_items",
        "official_reads",
    }


@pytest.mark.parametrize("role", ["task_force_lead", "commission_member"])
def test_every_reader_of_listings_is_metered_by_items(
    volume_app: TestClient,
    w: dict[str, Any],
    listed: list[dict[str, Any]],
    make_user: Any,
    role: str,
) -> None:
    """Items, not requests: two pages of three use up six items; an empty page costs
    nothing (the unused reservation is given back)."""
    reader = make_user(role, "US", agency_id=w["us_tf"])
    nobody = {"official_id": "00000000-0000-4000-8000-000000000000", "limit": 5}
    for _ in range(3):
        empty = volume_app.get(LISTINGS, params=nobody, headers=reader.headers)
        assert empty.status_code == 200, empty.text
        assert empty.json()["items"] == []
    first = volume_app.get(LISTINGS, params={"limit": 3}, headers=reader.headers)
    assert len(first.json()["items"]) == 3
    cursor = first.json()["next_cursor"]
    second = volume_app.get(LISTINGS, params={"limit": 3, "cursor": cursor}, headers=reader.headers)
    assert len(second.json()["items"]) == 3
    assert_problem(volume_app.get(LISTINGS, params={"limit": 1}, headers=reader.headers), 429)


def test_two_users_of_one_agency_share_its_budget(
    volume_app: TestClient,
    w: dict[str, Any],
    listed: list[dict[str, Any]],
    make_user: Any,
    factory: sessionmaker[Session],
) -> None:
    """Six official reads per agency: four by one user, two by a colleague, then the agency's
    budget refuses the colleague (scope ``agency``), while a user of another agency reads on.
    The agency's alert is raised once, at three reads."""
    first = make_user("task_force_lead", "MX", agency_id=w["mx_tf"])
    colleague = make_user("task_force_lead", "MX", agency_id=w["mx_tf"])
    elsewhere = make_user("personnel_officer", "MX", agency_id=w["mx_fgr"])
    ids = [o["id"] for o in listed]
    for official_id in ids[:4]:
        assert volume_app.get(f"{OFFICIALS}/{official_id}", headers=first.headers).is_success
    for official_id in ids[4:6]:
        assert volume_app.get(f"{OFFICIALS}/{official_id}", headers=colleague.headers).is_success
    refused = volume_app.get(f"{OFFICIALS}/{ids[6]}", headers=colleague.headers)
    body = assert_problem(refused, 429, "QUOTA_EXCEEDED")
    assert (body["quota"], body["scope"], body["limit"]) == ("official_reads", "agency", 6)
    assert volume_app.get(f"{OFFICIALS}/{ids[6]}", headers=elsewhere.headers).is_success

    [refusal] = _events(factory, "security.quota_exceeded")
    assert (refusal.actor_id, refusal.details["scope"]) == (colleague.id, "agency")
    agency_alerts = [
        a
        for a in _events(factory, "security.bulk_read_suspected")
        if a.details["scope"] == "agency"
    ]
    assert [(a.resource_type, a.resource_id) for a in agency_alerts] == [
        ("agency", str(w["mx_tf"]))
    ]


def test_a_refusal_by_the_agency_consumes_nothing_of_the_users_quota(
    volume_app: TestClient,
    w: dict[str, Any],
    listed: list[dict[str, Any]],
    make_user: Any,
    factory: sessionmaker[Session],
) -> None:
    first = make_user("task_force_lead", "MX", agency_id=w["mx_tf"])
    second = make_user("task_force_lead", "MX", agency_id=w["mx_tf"])
    ids = [o["id"] for o in listed]
    for official_id in ids[:4]:
        assert volume_app.get(f"{OFFICIALS}/{official_id}", headers=first.headers).is_success
    for official_id in ids[4:6]:
        assert volume_app.get(f"{OFFICIALS}/{official_id}", headers=second.headers).is_success
    for _ in range(3):
        assert_problem(volume_app.get(f"{OFFICIALS}/{ids[0]}", headers=second.headers), 429)
    with factory() as session:
        counts = dict(
            session.execute(
                select(RateCounter.key, RateCounter.count).where(
                    RateCounter.key.like("quota:official_reads:%")
                )
            ).all()
        )
    assert counts == {
        f"quota:official_reads:{first.id}": 4,
        f"quota:official_reads:{second.id}": 2,  # its refused reads were given back
        f"quota:official_reads:agency:{w['mx_tf']}": 6,
    }


def test_interleaved_hits_do_not_hide_an_enumeration(
    settings: Settings,
    clock: FixedClock,
    w: dict[str, Any],
    make_user: Any,
    factory: sessionmaker[Session],
) -> None:
    """#19: misses with a known hit every few requests never made a run long enough for the
    alert. Through the real screening route: two misses, then a listed person, over and over;
    the eighth miss within the window raises ``security.enumeration_suspected``."""
    app = create_app(
        settings.model_copy(update={"enumeration_miss_threshold": 8, "quota_screenings": 100}),
        clock=clock,
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            known = listed_official(c, w, given="ROSA MARIA", first="PEREZ")
            hit = identity("ROSA MARIA", "PEREZ", "GARCIA", "1985-03-14")
            assert known["id"]
            clerk = w["mx_hr"]
            misses = 0
            for n in range(12):
                if n % 3 == 2:
                    body = hit
                else:
                    body = identity(f"NADIE {chr(65 + n)}", "INEXISTENTE", None, "1960-01-01")
                    misses += 1
                response = c.post(
                    "/api/v1/screenings", json={**body, "purpose": "hiring"}, headers=clerk.headers
                )
                assert response.status_code == 201, response.text
                assert (response.json()["verdict"] == "clear") == (n % 3 != 2)
                alerts = _events(factory, "security.enumeration_suspected")
                assert len(alerts) == (1 if misses >= 8 else 0), n
    finally:
        app.state.engine.dispose()
    [alert] = _events(factory, "security.enumeration_suspected")
    assert (alert.actor_id, alert.details["activity"]) == (clerk.id, "screening")
    assert alert.details["misses_in_window"] == 8


def test_a_request_refused_after_its_reservation_uses_nothing(
    volume_app: TestClient,
    w: dict[str, Any],
    listed: list[dict[str, Any]],
    make_user: Any,
) -> None:
    """Invalid requests (a forged cursor, 422) read nothing and so cost nothing: many of them
    leave the whole budget for the real pages (6 listing items an hour here)."""
    reader = make_user("task_force_lead", "MX", agency_id=w["mx_tf"])
    for _ in range(10):
        forged = volume_app.get(
            LISTINGS, params={"limit": 6, "cursor": "WyJ4IiwgInkiXQ"}, headers=reader.headers
        )
        assert_problem(forged, 422)
    page = volume_app.get(LISTINGS, params={"limit": 6}, headers=reader.headers)
    assert page.status_code == 200, page.text
    assert len(page.json()["items"]) == 6
