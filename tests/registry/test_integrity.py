"""Integrity of registry writes under concurrency and failure (DESIGN §6, R7, R8, R22)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from app.models import Appeal, AuditEvent, Evaluation, Listing
from tests.conftest import ON_POSTGRES
from tests.registry.builders import evaluate, make_agency, official_body, register, with_result


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


def _waiting_on_locks(engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


@pytest.mark.postgres_only
@pytest.mark.parametrize("race", ["file", "decide"])
def test_concurrent_appeals_answer_409_like_a_late_one(
    client, factory, setup, make_user, engine_for, race
):
    """R10 and docs/api.md: two appeals of one listing (or two decisions of one appeal) at
    once. The appeal requests carry no If-Match, so the one that loses must get the answer a
    late request gets, 409 (LISTING_NOT_APPEALABLE / APPEAL_DECIDED), not 412; exactly one
    appeal is filed (decided). The race is forced: a third transaction holds the listing's row
    lock until both requests are waiting, then lets them go together."""
    listing_id = evaluate(
        client,
        setup["vetters"][0].headers,
        setup["official"]["id"],
        setup["c3"],
        components=with_result("polygraph", "fail"),
    )["listing_id"]
    admins = [make_user("admin", "MX") for _ in range(2)]
    path = f"/api/v1/listings/{listing_id}/appeals"
    bodies = [{"grounds": f"The examiner was not certified ({n})."} for n in range(2)]
    winner_code, loser_code = 201, "LISTING_NOT_APPEALABLE"
    if race == "decide":
        filed = client.post(path, json=bodies[0], headers=admins[0].headers)
        assert filed.status_code == 201, filed.text
        path = f"{path}/{filed.json()['id']}/decision"
        bodies = [
            {"decision": decision, "reasons": "Chain of custody reviewed."}
            for decision in ("upheld", "overturned")
        ]
        winner_code, loser_code = 200, "APPEAL_DECIDED"

    engine = engine_for()
    responses = {}

    def send(n):
        responses[n] = client.post(path, json=bodies[n], headers=admins[n].headers)

    holder = engine.connect()
    try:
        holder.begin()
        holder.execute(
            text("SELECT id FROM listings WHERE id = :id FOR UPDATE"), {"id": listing_id}
        )
        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        # Without a lock in the service the requests wait here only at their UPDATE of the
        # listing, having both read it as appealable; with it, before reading.
        deadline = time.monotonic() + 20
        while _waiting_on_locks(engine) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_locks(engine) >= 2, "the requests did not meet at the lock"
        holder.rollback()
    finally:
        holder.close()
    for t in threads:
        t.join(timeout=60)

    statuses = sorted(r.status_code for r in responses.values())
    assert statuses == sorted([winner_code, 409]), [r.text for r in responses.values()]
    [loser] = [r for r in responses.values() if r.status_code == 409]
    assert loser.json()["code"] == loser_code
    with factory() as session:
        appeals = list(session.scalars(select(Appeal).where(Appeal.listing_id == listing_id)))
        listing = session.get(Listing, listing_id)
    assert len(appeals) == 1
    if race == "file":
        assert listing.status == "under_appeal"
    else:
        assert appeals[0].status == listing.status in ("upheld", "overturned")
