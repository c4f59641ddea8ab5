"""Random draws (R16): the selection is recomputed here by an independent implementation of
the published rule; wrong and late reveals and population changes are refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

from sqlalchemy import func, select

from app.db import unit_of_work
from app.models import DrawMember, RandomSelection, SweepEvent
from app.services.revetting import draw_math
from app.services.revetting.sweep import run_sweep
from tests.revetting.conftest import add_official, play_draw


def recompute(verify: dict) -> tuple[str, list[str]]:
    """R16 in a few lines of standard library, independent of app.services.revetting.draw_math."""
    ids = sorted(verify["population"])
    population_hash = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    mx, us = (bytes.fromhex(verify["reveals"][c]) for c in ("MX", "US"))
    assert hashlib.sha256(mx).hexdigest() == verify["commitments"]["MX"]
    assert hashlib.sha256(us).hexdigest() == verify["commitments"]["US"]
    seed = hashlib.sha256(mx + us).digest()
    assert seed.hex() == verify["seed"]
    ranked = sorted(ids, key=lambda i: (hmac.new(seed, i.encode(), hashlib.sha256).digest(), i))
    return population_hash, ranked[: verify["sample_size"]]


def joint_view(client, auth, world, verify: dict) -> dict:
    """#18 F3a: each country's verify names its own officials only; the two views together
    are the whole draw, which must reproduce the published hash and selection."""
    views = [
        client.get(f"/api/v1/draws/{verify['draw_id']}/verify", headers=auth(admin)).json()
        for admin in (world.mx_admin, world.us_admin)
    ]
    selections = sorted((s for v in views for s in v["selections"]), key=lambda s: s["rank"])
    for v in views:
        assert v["population_withheld"] + len(v["population"]) == v["population_size"]
    return {
        **views[0],
        "population": [i for v in views for i in v["population"]],
        "selection": [str(s["official_id"]) for s in selections],
        "selections": selections,
    }


def test_selection_matches_an_independent_recomputation(
    client, auth, world, factory, clock, make_user
):
    mx = [add_official(factory, world.mx_police) for _ in range(7)]
    us = [add_official(factory, world.us_fbi, country="US") for _ in range(4)]
    elsewhere = add_official(factory, world.mx_fgr)  # in the country, not in the agency
    verify, secrets = play_draw(client, auth, world, scope={"country": "BOTH"}, sample_size=4)
    assert sorted(verify["population"]) == sorted(str(i) for i in [*mx, elsewhere])
    verify = joint_view(client, auth, world, verify)
    assert sorted(verify["population"]) == sorted(str(i) for i in [*mx, *us, elsewhere])
    population_hash, selection = recompute(verify)
    assert verify["population_hash"] == population_hash
    assert verify["selection"] == selection
    assert verify["reveals"] == secrets
    assert [s["rank"] for s in verify["selections"]] == [1, 2, 3, 4]

    # Selected officials owe a random evaluation within random_due_days (30, R14 default).
    today = clock.now().date()
    due = (today + dt.timedelta(days=30)).isoformat()
    assert {s["due_on"] for s in verify["selections"]} == {due}
    # Any selected official, read by an admin of its own country: the secrets are random, so
    # the four chosen may all be from one country (about 1 run in 100 has no Mexican police).
    chosen = selection[0]
    owner = world.us_admin if uuid.UUID(chosen) in us else world.mx_admin
    schedule = client.get(f"/api/v1/officials/{chosen}/schedule", headers=auth(owner)).json()
    assert ("random_selection", due) in {(o["kind"], o["due_on"]) for o in schedule["obligations"]}
    spared = next(str(i) for i in mx if str(i) not in selection)
    schedule = client.get(f"/api/v1/officials/{spared}/schedule", headers=auth(world.mx_admin))
    assert "random_selection" not in {o["kind"] for o in schedule.json()["obligations"]}

    # An agency scope freezes only that agency's active officials; auditors of either
    # country see every published value.
    verify, _ = play_draw(
        client, auth, world, scope={"agency_id": str(world.mx_police)}, sample_size=2
    )
    assert sorted(verify["population"]) == sorted(str(i) for i in mx)
    assert verify["selection"] == recompute(verify)[1]
    us_auditor = make_user("auditor", "US")
    r = client.get(f"/api/v1/draws/{verify['draw_id']}/verify", headers=auth(us_auditor))
    assert r.status_code == 200
    assert r.json()["population_hash"] == verify["population_hash"]


def _create(client, auth, caller, **body):
    body.setdefault("scope", {})
    body.setdefault("sample_size", 1)
    return client.post("/api/v1/draws", json=body, headers=auth(caller))


def _commit(client, auth, caller, draw_id, secret):
    commitment = draw_math.commitment_of(bytes.fromhex(secret))
    return client.post(
        f"/api/v1/draws/{draw_id}/commitments",
        json={"commitment": commitment},
        headers=auth(caller),
    )


def _reveal(client, auth, caller, draw_id, secret):
    return client.post(
        f"/api/v1/draws/{draw_id}/reveals", json={"secret": secret}, headers=auth(caller)
    )


def test_wrong_and_late_reveals_are_refused(client, auth, world, factory, clock):
    add_official(factory, world.mx_police)
    add_official(factory, world.mx_police)
    r = _create(client, auth, world.us_admin, scope={"country": "BOTH"}, sample_size=1)
    assert r.status_code == 201, r.text
    draw = r.json()
    assert draw["status"] == "open"
    assert draw["population_size"] == 2
    draw_id = draw["id"]
    mx_secret, us_secret = draw_math.generate_secret(), draw_math.generate_secret()

    assert _commit(client, auth, world.mx_admin, draw_id, mx_secret).status_code == 201
    early = _reveal(client, auth, world.mx_admin, draw_id, mx_secret)
    assert early.status_code == 409
    assert early.json()["code"] == "DRAW_NOT_COMMITTED"
    again = _commit(client, auth, world.mx_admin, draw_id, us_secret)
    assert again.status_code == 409
    assert again.json()["code"] == "DRAW_ALREADY_COMMITTED"
    assert _commit(client, auth, world.us_admin, draw_id, us_secret).status_code == 201

    wrong = _reveal(client, auth, world.mx_admin, draw_id, us_secret)
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "REVEAL_MISMATCH"
    malformed = _reveal(client, auth, world.mx_admin, draw_id, mx_secret.upper())
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "DRAW_SECRET_MALFORMED"
    ok = _reveal(client, auth, world.mx_admin, draw_id, mx_secret)
    assert ok.status_code == 201, ok.text
    assert ok.json()["status"] == "committed"
    # The first secret is not published before the draw is settled.
    pending = client.get(f"/api/v1/draws/{draw_id}/verify", headers=auth(world.us_admin))
    assert pending.json()["reveals"] == {}

    clock.at = dt.datetime.fromisoformat(draw["reveal_deadline"]) + dt.timedelta(seconds=1)
    late = _reveal(client, auth, world.us_admin, draw_id, us_secret)
    assert late.status_code == 409
    assert late.json()["code"] == "DRAW_DEADLINE_PASSED"
    # The failure was committed by the request that noticed it; never re-drawn.
    state = client.get(f"/api/v1/draws/{draw_id}", headers=auth(world.mx_auditor)).json()
    assert state["status"] == "failed"
    assert "reveal deadline" in state["failure_reason"]
    assert state["selected"] == 0
    assert state["seed"] is None
    retry = _reveal(client, auth, world.us_admin, draw_id, us_secret)
    assert retry.json()["code"] == "DRAW_FAILED"
    failed = client.get(f"/api/v1/draws/{draw_id}/verify", headers=auth(world.mx_admin)).json()
    assert failed["reveals"] == {"MX": mx_secret}
    assert failed["selection"] == []
    events = client.get("/api/v1/audit?action=draw.failed", headers=auth(world.us_admin))
    assert len(events.json()["items"]) == 1


def test_population_cannot_change_after_creation(client, auth, world, factory):
    add_official(factory, world.mx_police)
    draw = _create(client, auth, world.mx_admin, sample_size=1).json()
    url = f"/api/v1/draws/{draw['id']}"
    # No endpoint changes a population.
    assert (
        client.patch(url, json={"sample_size": 5}, headers=auth(world.mx_admin)).status_code == 405
    )
    assert client.put(url, json={}, headers=auth(world.mx_admin)).status_code == 405
    assert client.delete(url, headers=auth(world.mx_admin)).status_code == 405

    secrets = {"MX": draw_math.generate_secret(), "US": draw_math.generate_secret()}
    _commit(client, auth, world.mx_admin, draw["id"], secrets["MX"])
    _commit(client, auth, world.us_admin, draw["id"], secrets["US"])
    # Someone slips an official into the frozen population behind the API's back.
    intruder = add_official(factory, world.mx_police)
    with unit_of_work(factory) as session:
        session.add(DrawMember(draw_id=uuid.UUID(draw["id"]), official_id=intruder))
    assert _reveal(client, auth, world.mx_admin, draw["id"], secrets["MX"]).status_code == 201
    r = _reveal(client, auth, world.us_admin, draw["id"], secrets["US"])
    assert r.status_code == 409
    assert r.json()["code"] == "DRAW_POPULATION_CHANGED"
    state = client.get(url, headers=auth(world.mx_admin)).json()
    assert state["status"] == "failed"
    with unit_of_work(factory) as session:
        assert session.scalar(select(func.count()).select_from(RandomSelection)) == 0


def test_missed_commit_deadline_fails_by_sweep(client, auth, world, factory, clock):
    add_official(factory, world.mx_police)
    draw = _create(
        client,
        auth,
        world.mx_admin,
        commit_deadline=(clock.now() + dt.timedelta(days=1)).isoformat(),
        reveal_deadline=(clock.now() + dt.timedelta(days=2)).isoformat(),
    ).json()
    _commit(client, auth, world.mx_admin, draw["id"], draw_math.generate_secret())
    clock.advance(dt.timedelta(days=1, seconds=1))
    # Reads derive the failure from the clock before any sweep.
    assert (
        client.get(f"/api/v1/draws/{draw['id']}", headers=auth(world.mx_admin)).json()["status"]
        == "failed"
    )
    report = run_sweep(factory, now=clock.now())
    assert report.recorded["draw_deadlines_check"] == 1
    assert run_sweep(factory, now=clock.now()).total_recorded == 0
    with unit_of_work(factory) as session:
        keys = session.scalars(select(SweepEvent.dedupe_key)).all()
    assert keys == [f"draw_failed:{draw['id']}"]
    late = _commit(client, auth, world.us_admin, draw["id"], draw_math.generate_secret())
    assert late.status_code == 409
    assert late.json()["code"] == "DRAW_FAILED"


def test_draw_access_and_validation(client, auth, world, factory, make_user):
    add_official(factory, world.mx_police)
    vetter = _create(client, auth, world.mx_vetter)
    assert vetter.status_code == 403
    empty = _create(client, auth, world.mx_admin, scope={"sector": "customs"})
    assert empty.status_code == 422
    assert empty.json()["code"] == "DRAW_POPULATION_EMPTY"
    foreign_agency = _create(
        client, auth, world.us_admin, scope={"agency_id": str(world.mx_police)}
    )
    assert foreign_agency.status_code == 404
    foreign = _create(client, auth, world.us_admin, scope={"country": "MX"})
    assert foreign.status_code == 403
    assert foreign.json()["code"] == "DRAW_SCOPE_FOREIGN"
    no_task_force = _create(
        client, auth, world.mx_admin, scope={"task_force_id": str(uuid.uuid4())}
    )
    assert no_task_force.status_code == 404
    bad_deadline = _create(client, auth, world.mx_admin, commit_deadline="2020-01-01T00:00:00Z")
    assert bad_deadline.status_code == 422

    draw = _create(client, auth, world.mx_admin).json()
    us_auditor = make_user("auditor", "US")
    listed = client.get("/api/v1/draws", headers=auth(us_auditor))
    assert [d["id"] for d in listed.json()["items"]] == [draw["id"]]
    verify = client.get(f"/api/v1/draws/{draw['id']}/verify", headers=auth(us_auditor))
    assert verify.status_code == 200
    assert client.get("/api/v1/draws", headers=auth(world.mx_hr)).status_code == 403
    assert client.get(f"/api/v1/draws/{uuid.uuid4()}", headers=auth(us_auditor)).status_code == 404
    auditor_commit = _commit(client, auth, us_auditor, draw["id"], draw_math.generate_secret())
    assert auditor_commit.status_code == 403


def test_task_force_scope_draws_its_current_members(client, auth, world, factory):
    from app.models import TaskForce, TaskForceMember
    from tests.conftest import T0

    mx = add_official(factory, world.mx_police)
    us = add_official(factory, world.us_fbi, country="US")
    left = add_official(factory, world.mx_police)
    add_official(factory, world.mx_police)  # not a member
    with unit_of_work(factory) as session:
        task_force = TaskForce(
            name="Fentanilo Norte",
            focus="fentanyl",
            lead_agency_id=world.mx_police,
            created_by=world.mx_admin.id,
            created_at=T0,
        )
        session.add(task_force)
        session.flush()
        for official_id, left_on in ((mx, None), (us, None), (left, dt.date(2026, 6, 1))):
            session.add(
                TaskForceMember(
                    task_force_id=task_force.id,
                    official_id=official_id,
                    role="member",
                    joined_on=dt.date(2026, 1, 1),
                    left_on=left_on,
                    added_by=world.mx_admin.id,
                    created_at=T0,
                )
            )
        task_force_id = str(task_force.id)
    mixed = _create(
        client, auth, world.mx_admin, scope={"task_force_id": task_force_id, "sector": "justice"}
    )
    assert mixed.status_code == 422
    verify, _ = play_draw(
        client, auth, world, scope={"task_force_id": task_force_id}, sample_size=1
    )
    assert verify["population"] == [str(mx)]  # the U.S. member is the U.S.'s to see (#18 F3a)
    verify = joint_view(client, auth, world, verify)
    assert sorted(verify["population"]) == sorted([str(mx), str(us)])
    assert verify["selection"] == recompute(verify)[1]
