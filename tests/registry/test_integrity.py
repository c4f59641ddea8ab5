"""Integrity of registry writes under concurrency and failure (DESIGN §6, R7, R8, R22)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from app.models import AuditEvent, Evaluation, Listing
from tests.conftest import ON_POSTGRES
from tests.registry.builders import make_agency, official_body, register, with_result


@pytest.fixture
def setup(factory, make_user, client):
    police = make_agency(factory, country="MX", acronym="SSPC")
    c3 = make_agency(factory, country="MX", acronym="CNCA", can_vet=True)
    hr = make_user("personnel_officer", "MX", agency_id=police)
    vetters = [make_user("vetting_officer", "MX", agency_id=c3) for _ in range(4)]
    official = register(client, hr.headers, official_body(police))
    return {"c3": c3, "vetters": vetters, "official": official}


def _count(factory, stmt):
    with factory() as session:
        return session.scalar(stmt)


@pytest.mark.postgres_only
def test_concurrent_failures_create_one_listing(client, factory, setup):
    """Two (here four) failing evaluations of one official at once: every evaluation is kept,
    exactly one active listing exists (R7; row lock plus partial unique index)."""
    official_id = setup["official"]["id"]
    barrier = threading.Barrier(len(setup["vetters"]))
    statuses: list[int] = []

    def fail(vetter):
        barrier.wait()
        r = client.post(
            f"/api/v1/officials/{official_id}/evaluations",
            json={
                "conducted_by": str(setup["c3"]),
                "trigger": "for_cause",
                "conducted_on": "2026-11-20",
                "components": with_result("polygraph", "fail"),
            },
            headers=vetter.headers,
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=fail, args=(v,)) for v in setup["vetters"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * len(setup["vetters"])
    evaluations = _count(factory, select(func.count()).select_from(Evaluation))
    listings = _count(
        factory, select(func.count()).select_from(Listing).where(Listing.status == "active")
    )
    assert evaluations == len(setup["vetters"])
    assert listings == 1


def test_write_failing_midway_leaves_nothing(client, factory, setup, engine_for):
    """An evaluation whose listing cannot be written leaves no evaluation, no listing and no
    audit event: one transaction or nothing (DESIGN §6)."""
    engine = engine_for()
    with engine.begin() as conn:
        if ON_POSTGRES:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_listing() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_listing BEFORE INSERT ON listings "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_listing()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_listing BEFORE INSERT ON listings "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
    before = _count(factory, select(func.count()).select_from(AuditEvent))
    r = client.post(
        f"/api/v1/officials/{setup['official']['id']}/evaluations",
        json={
            "conducted_by": str(setup["c3"]),
            "trigger": "periodic",
            "conducted_on": "2026-11-20",
            "components": with_result("financial", "fail"),
        },
        headers=setup["vetters"][0].headers,
    )
    # PostgreSQL reports the raised exception as an internal error; SQLite's RAISE(ABORT)
    # arrives as a constraint failure (409). Either way: a problem document, nothing written.
    assert r.status_code == (500 if ON_POSTGRES else 409)
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    assert _count(factory, select(func.count()).select_from(Evaluation)) == 0
    assert _count(factory, select(func.count()).select_from(Listing)) == 0
    assert _count(factory, select(func.count()).select_from(AuditEvent)) == before
