"""Edge cases of R15, and agreement between the two forms of the schedule computation: the
wide per-official row that lists use and the obligation rows a schedule shows."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.models import Appointment, Evaluation, RandomDraw, SweepEvent
from app.services.revetting import schedules
from app.services.revetting.sweep import overdue_obligations_check, run_sweep
from app.services.task_forces.task_forces import sweep_task_forces
from tests.conftest import T0
from tests.registry.builders import evaluate, official_body, register, with_result
from tests.revetting.conftest import add_evaluation, add_official, add_selection, at

TODAY = T0.date()  # 2026-11-27


def _correct(factory, official_id, body, corrected_id, *, outcome, conducted_on):
    with unit_of_work(factory) as session:
        session.add(
            Evaluation(
                official_id=official_id,
                conducted_by=body,
                conducted_by_country="MX",
                trigger="periodic",
                components={},
                outcome=outcome,
                conducted_on=conducted_on,
                interval_months=36,
                corrects_id=corrected_id,
                created_at=T0,
            )
        )


def _promote(factory, official_id, agency_id, started_on):
    with unit_of_work(factory) as session:
        current = session.query(Appointment).filter_by(official_id=official_id).one()
        current.ended_on = started_on - dt.timedelta(days=1)
        session.add(
            Appointment(
                official_id=official_id,
                agency_id=agency_id,
                position="Comandante",
                rank_tier="command",
                kind="promotion",
                started_on=started_on,
                replaces_id=current.id,
                created_at=T0,
            )
        )


def test_edge_cases_and_both_forms_agree(client, auth, world, factory):
    body = world.mx_c3
    with unit_of_work(factory) as session:
        draw = RandomDraw(
            scope={},
            sample_size=2,
            population_size=2,
            population_hash="0" * 64,
            status="completed",
            commit_deadline=T0,
            reveal_deadline=T0,
            random_due_days=30,
            created_by=world.mx_admin.id,
            created_at=T0,
        )
        session.add(draw)
        session.flush()
        draw_id = draw.id

    # A pass and a fail on the same day: the adverse result counts.
    same_day = add_official(factory, world.mx_police)
    add_evaluation(factory, same_day, body, conducted_on=dt.date(2025, 1, 10))
    add_evaluation(factory, same_day, body, outcome="fail", conducted_on=dt.date(2025, 1, 10))
    # A fail corrected into a pass (R8): the correction counts.
    corrected = add_official(factory, world.mx_police)
    wrong = add_evaluation(
        factory, corrected, body, outcome="fail", conducted_on=dt.date(2026, 2, 1)
    )
    _correct(factory, corrected, body, wrong, outcome="pass", conducted_on=dt.date(2026, 2, 1))
    # Inconclusive before the last pass is closed; after it the earliest one governs.
    retest = add_official(factory, world.mx_police)
    add_evaluation(factory, retest, body, outcome="inconclusive", conducted_on=dt.date(2024, 6, 1))
    add_evaluation(factory, retest, body, conducted_on=dt.date(2025, 1, 1))
    add_evaluation(factory, retest, body, outcome="inconclusive", conducted_on=dt.date(2026, 9, 1))
    add_evaluation(factory, retest, body, outcome="inconclusive", conducted_on=dt.date(2026, 10, 1))
    # Promoted after the last pass.
    promoted = add_official(factory, world.mx_police)
    add_evaluation(factory, promoted, body, conducted_on=dt.date(2026, 1, 1))
    _promote(factory, promoted, world.mx_police, dt.date(2026, 5, 1))
    # Random selections: one answered by a later random evaluation, one not.
    answered = add_official(factory, world.mx_police)
    add_evaluation(factory, answered, body, trigger="random", conducted_on=dt.date(2026, 10, 5))
    add_selection(factory, answered, draw_id, dt.date(2026, 10, 31))
    pending = add_official(factory, world.mx_police)
    add_evaluation(factory, pending, body, trigger="random", conducted_on=dt.date(2026, 9, 1))
    add_selection(factory, pending, draw_id, dt.date(2026, 10, 31))
    fresh = add_official(factory, world.mx_police, started_on=dt.date(2026, 11, 1))

    ids = [same_day, corrected, retest, promoted, answered, pending, fresh]
    with unit_of_work(factory) as session:
        found = schedules.schedules_for(session, official_ids=ids, today=TODAY)

    def kinds(official_id):
        return [(o.kind.value, o.due_on.isoformat()) for o in found[official_id].obligations]

    assert kinds(same_day) == [("vetting_failed", "2025-01-10")]
    assert found[same_day].state == "overdue"
    assert kinds(corrected) == [("validity_end", "2029-02-01")]
    assert found[corrected].state == "current"
    assert kinds(retest) == [
        ("inconclusive_retest", "2026-11-30"),
        ("inconclusive_retest", "2026-12-30"),
        ("validity_end", "2028-01-01"),
    ]
    assert (found[retest].state, found[retest].next_due) == ("due_soon", dt.date(2026, 11, 30))
    assert kinds(promoted) == [("promotion", "2026-05-01"), ("validity_end", "2029-01-01")]
    assert found[promoted].rank_tier == "command"
    assert found[promoted].state == "overdue"
    assert [k for k, _ in kinds(answered)] == ["validity_end"]
    assert kinds(pending)[0] == ("random_selection", "2026-10-31")
    assert found[pending].state == "overdue"
    assert kinds(fresh) == [("initial_vetting", "2026-11-01")]
    assert found[fresh].state == "never_vetted"

    # Both forms agree: the next due date is the earliest obligation, and the due list
    # (the wide form, through the API) shows every official in the schedule's state.
    for official_id in ids:
        schedule = found[official_id]
        assert schedule.next_due == min(o.due_on for o in schedule.obligations)
        earliest: dict = {}
        for o in schedule.obligations:
            earliest[o.kind] = min(o.due_on, earliest.get(o.kind, o.due_on))
        assert schedule.due_by_kind == earliest
        assert schedule.overdue_kinds() == {o.kind for o in schedule.obligations if o.overdue}
    with unit_of_work(factory) as session:
        light = schedules.schedules_for(
            session, official_ids=ids, today=TODAY, with_obligations=False
        )
    assert {i: (s.state, s.due_by_kind) for i, s in light.items()} == {
        i: (s.state, s.due_by_kind) for i, s in found.items()
    }
    r = client.get(
        "/api/v1/schedules/due",
        params=[("state", s) for s in ("current", "due_soon", "overdue", "never_vetted")],
        headers=auth(world.mx_admin),
    )
    listed = {i["official_id"]: (i["state"], i["next_due"]) for i in r.json()["items"]}
    assert listed == {str(i): (found[i].state.value, found[i].next_due.isoformat()) for i in ids}
    # The API's schedule view is the same computation.
    view = client.get(f"/api/v1/officials/{retest}/schedule", headers=auth(world.mx_admin))
    assert view.json()["reasons"] == ["inconclusive_retest"]


def test_each_country_list_reads_its_own_officials_records(client, auth, world, factory):
    """A country's due list derives its officials' schedules from their records only: an
    evaluation conducted across the border (R25, reciprocal) is not the home country's verdict
    (#18 F3b: it counts toward a task force's reciprocity only), and the other country's
    officials never enter the list."""
    mx_current = add_official(factory, world.mx_police)
    add_evaluation(factory, mx_current, world.mx_c3, conducted_on=dt.date(2026, 3, 1))
    mx_failed = add_official(factory, world.mx_police)
    add_evaluation(
        factory, mx_failed, world.mx_c3, outcome="fail", conducted_on=dt.date(2026, 4, 1)
    )
    us_current = add_official(factory, world.us_fbi, country="US")
    add_evaluation(
        factory, us_current, world.us_vet, conducted_on=dt.date(2026, 2, 1), country="US"
    )
    # Vetted by Mexico, reciprocally: not a U.S. vetting, so never vetted at home (#18 F3b).
    us_failed_abroad = add_official(factory, world.us_fbi, country="US")
    add_evaluation(
        factory, us_failed_abroad, world.mx_c3, outcome="fail", conducted_on=dt.date(2026, 5, 2)
    )
    us_never = add_official(factory, world.us_fbi, country="US", started_on=dt.date(2026, 8, 3))

    every_state = [("state", s) for s in ("current", "due_soon", "overdue", "never_vetted")]
    listed = {}
    for caller in (world.mx_admin, world.us_admin):
        r = client.get("/api/v1/schedules/due", params=every_state, headers=auth(caller))
        assert r.status_code == 200, r.text
        listed[caller.country] = {
            i["official_id"]: (i["state"], i["next_due"], i["reasons"]) for i in r.json()["items"]
        }
    assert listed["MX"] == {
        str(mx_current): ("current", "2029-03-01", []),
        str(mx_failed): ("overdue", "2026-04-01", ["vetting_failed"]),
    }
    assert listed["US"] == {
        str(us_current): ("current", "2031-02-01", []),  # R14: U.S. default 60 months
        str(us_failed_abroad): ("never_vetted", "2020-01-15", ["initial_vetting"]),
        str(us_never): ("never_vetted", "2026-08-03", ["initial_vetting"]),
    }
    # The per-official form (read by id, not by country) agrees.
    ids = [mx_current, mx_failed, us_current, us_failed_abroad, us_never]
    with unit_of_work(factory) as session:
        found = schedules.schedules_for(session, official_ids=ids, today=TODAY)
    merged = {**listed["MX"], **listed["US"]}
    assert {str(i): (s.state.value, s.next_due.isoformat()) for i, s in found.items()} == {
        i: (state, due) for i, (state, due, _) in merged.items()
    }


# --- one validity for every path after a policy change (R6, R15, R15a, R17, R19; #15) ----------

PASSED_ON = dt.date(2026, 6, 1)
STORED_END = "2029-06-01"  # judged under the agency's 36 months: what the evaluation stores


def _policy_changed_world(client, auth, world, make_user, clock, interval, change_on=None):
    """At 2026-06-15: the police agency has its own policy (36 months); a line and a
    command-tier (senior, R19) official there, and a control at another agency (country policy,
    36 months), all passed on 2026-06-01 through the API; the two police officials are members
    of a task force; then (on ``change_on``, by default the same day) the agency's policy is
    changed to ``interval`` months."""
    at(clock, dt.date(2026, 6, 15))
    admin = auth(world.mx_admin)
    r = client.post(
        "/api/v1/policies",
        json={"agency_id": str(world.mx_police), "interval_months": 36},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    policy = r.json()
    officials = {
        "line": register(
            client, admin, official_body(world.mx_police, given="LINEA UNO", first="ACOSTA")
        )["id"],
        "senior": register(
            client,
            admin,
            official_body(world.mx_police, given="MANDO UNO", first="BRAVO", tier="command"),
        )["id"],
        "control": register(
            client, admin, official_body(world.mx_fgr, given="CONTROL UNO", first="CRUZ")
        )["id"],
    }
    for official_id in officials.values():
        passed = evaluate(
            client, auth(world.mx_vetter), official_id, world.mx_c3, conducted_on=PASSED_ON
        )
        assert (passed["outcome"], passed["valid_until"]) == ("pass", STORED_END)

    lead = make_user("task_force_lead", "MX", agency_id=world.mx_police)
    r = client.post(
        "/api/v1/task-forces",
        json={
            "name": "Fuerza Tarea Vigencia",
            "focus": "fentanyl",
            "lead_agency_id": str(world.mx_police),
            "lead_user_ids": [str(lead.id)],
            "require_reciprocal": False,
            "max_vetting_age_months": 120,  # only the policy's validity is under test
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    tf_id = r.json()["id"]
    for name in ("line", "senior"):
        body = {"official_id": officials[name], "role": "member"}
        r = client.post(f"/api/v1/task-forces/{tf_id}/nominations", json=body, headers=auth(lead))
        assert r.status_code == 201, r.text
        r = client.post(
            f"/api/v1/task-forces/{tf_id}/members",
            json={"official_id": officials[name]},
            headers=auth(lead),
        )
        assert r.status_code == 201, r.text

    if change_on is not None:
        at(clock, change_on)
    r = client.patch(
        f"/api/v1/policies/{policy['id']}",
        json={"interval_months": interval},
        headers={**auth(world.mx_admin), "If-Match": '"1"'},  # a token of the change's day
    )
    assert r.status_code == 200, r.text
    return officials, tf_id


def _every_path(client, auth, world, factory, clock, officials, tf_id):
    """What every path says about each official today: the schedule (and its validity end),
    the due list, coverage, eligibility (plain and for the task force), the task force's
    compliance, and the sweep's findings. Asserts that they agree with each other — so any
    future drift between them fails here — and returns a summary per official."""
    admin = auth(world.mx_admin)
    today = clock.now().date()
    every_state = [("state", s) for s in ("current", "due_soon", "overdue", "never_vetted")]
    due = client.get("/api/v1/schedules/due", params=every_state, headers=admin)
    assert due.status_code == 200, due.text
    listed = {i["official_id"]: (i["state"], i["next_due"]) for i in due.json()["items"]}
    compliance = client.get(f"/api/v1/task-forces/{tf_id}/compliance", headers=admin)
    assert compliance.status_code == 200, compliance.text
    members = {m["official_id"]: m for m in compliance.json()["members"]}
    with unit_of_work(factory) as session:
        findings = {
            (str(f.official_id), f.details["due_on"])
            for f in overdue_obligations_check(session, now=clock.now())
            if f.kind == "validity_expired"
        }

    seen: dict[str, dict] = {}
    by_group: dict[tuple[str, str], dict[str, int]] = {}
    for name, official_id in officials.items():
        schedule = client.get(f"/api/v1/officials/{official_id}/schedule", headers=admin).json()
        (end,) = [o["due_on"] for o in schedule["obligations"] if o["kind"] == "validity_end"]
        expired = end < today.isoformat()
        plain = client.get(f"/api/v1/officials/{official_id}/eligibility", headers=admin).json()
        for_tf = client.get(
            f"/api/v1/officials/{official_id}/eligibility",
            params={"task_force_id": tf_id},
            headers=admin,
        ).json()

        # Schedule and due list: one state and next due date; an ended validity is overdue.
        assert listed[official_id] == (schedule["state"], schedule["next_due"]), name
        assert (schedule["state"] == "overdue") == expired, (name, schedule)
        # Eligibility, plain and for the task force: expired exactly when the schedule's
        # validity has ended; otherwise eligible until that very day.
        for answer in (plain, for_tf):
            if expired:
                assert answer["verdict"] == "ineligible", (name, answer)
                assert answer["reasons"] == ["VETTING_EXPIRED"], (name, answer)
            else:
                assert (answer["verdict"], answer["valid_until"]) == ("eligible", end), name
        # Compliance shows the task-force answer for each member.
        if official_id in members:
            member = members[official_id]
            assert (member["verdict"], member["reasons"], member["valid_until"]) == (
                for_tf["verdict"],
                for_tf["reasons"],
                for_tf["valid_until"],
            ), name
        # The sweep finds the expiry, on the schedule's date, exactly when it has happened.
        assert ((official_id, end) in findings) == expired, (name, findings)
        assert not any(f[0] == official_id and f[1] != end for f in findings), name

        group = by_group.setdefault(
            (schedule["agency_id"], schedule["rank_tier"]),
            {"vetted": 0, "current": 0, "due_soon": 0, "overdue": 0},
        )
        group["vetted"] += not expired
        group[schedule["state"]] += 1
        seen[name] = {"validity_end": end, "state": schedule["state"], "verdict": plain["verdict"]}

    # Coverage counts the officials vetted, due soon and overdue that the schedules show.
    rows = client.get("/api/v1/stats/coverage", headers=admin).json()["rows"]
    assert {
        (r["agency_id"], r["rank_tier"]): {
            k: r[k] for k in ("vetted", "current", "due_soon", "overdue")
        }
        for r in rows
    } == by_group
    blocking = compliance.json()["blocking_members"]
    senior_expired = officials["senior"] in blocking
    assert compliance.json()["status"] == ("suspended" if senior_expired else "active")
    seen["task_force"] = {"status": compliance.json()["status"], "blocking": blocking}
    return seen


@pytest.mark.parametrize(
    ("interval", "validity_end"),
    [
        # Shortened: takes effect on the pass already recorded (2026-06-01 + 3 months).
        (3, dt.date(2026, 9, 1)),
        # Lengthened: 2036-06-01 under 120 months, but never beyond the stored 2029-06-01.
        (120, dt.date(2029, 6, 1)),
    ],
    ids=["shortened", "lengthened"],
)
def test_policy_change_one_validity_for_every_path(
    client, auth, world, factory, clock, make_user, interval, validity_end
):
    """#15: after the agency's policy changes, schedule, due list, coverage, eligibility,
    task-force compliance and the sweep give the pass one validity end: the earlier of its
    stored ``valid_until`` and ``conducted_on`` + today's interval (R6, R15, R15a, R17, R19)."""
    officials, tf_id = _policy_changed_world(client, auth, world, make_user, clock, interval)
    affected = {"line", "senior"}
    end = validity_end.isoformat()

    def check(day):
        at(clock, day)
        seen = _every_path(client, auth, world, factory, clock, officials, tf_id)
        for name in affected:
            assert seen[name]["validity_end"] == end, (name, seen)
        assert seen["control"]["validity_end"] == STORED_END  # the country policy, unchanged
        return seen

    # The last valid day: eligible everywhere, due soon; the task force is active.
    seen = check(validity_end)
    assert {seen[n]["state"] for n in affected} == {"due_soon"}
    assert {seen[n]["verdict"] for n in affected} == {"eligible"}
    assert seen["task_force"]["status"] == "active"
    # The day after: expired everywhere; the senior member suspends the task force (R19).
    after = validity_end + dt.timedelta(days=1)
    seen = check(after)
    assert {seen[n]["state"] for n in affected} == {"overdue"}
    assert {seen[n]["verdict"] for n in affected} == {"ineligible"}
    assert seen["task_force"] == {"status": "suspended", "blocking": [officials["senior"]]}
    if interval == 3:
        assert (seen["control"]["state"], seen["control"]["verdict"]) == ("current", "eligible")

    # The sweep records both transitions: the validity that ended, and the suspension.
    run_sweep(factory, now=clock.now())
    assert sweep_task_forces(factory, now=clock.now()) == 1
    with unit_of_work(factory) as session:
        recorded = set(
            session.execute(
                select(SweepEvent.kind, SweepEvent.official_id, SweepEvent.effective_on)
            ).all()
        )
    assert {("validity_expired", uuid.UUID(officials[n]), after) for n in affected} <= recorded
    events = client.get(f"/api/v1/task-forces/{tf_id}/events", headers=auth(world.mx_admin)).json()[
        "items"
    ]
    suspended = [e for e in events if e["kind"] == "suspended"]
    assert [(e["cause"]["kind"], e["cause"]["blocking_members"]) for e in suspended] == [
        ("sweep", [officials["senior"]])
    ]


def test_a_shortened_policy_suspends_in_the_write_that_shortens_it(
    client, auth, world, factory, clock, make_user
):
    """R19: a policy change that ends a senior member's validity at once is a transition caused
    by that write, recorded in it with its cause; the sweep finds nothing left to record."""
    officials, tf_id = _policy_changed_world(
        client, auth, world, make_user, clock, 3, change_on=dt.date(2026, 10, 1)
    )
    seen = _every_path(client, auth, world, factory, clock, officials, tf_id)
    assert seen["senior"]["validity_end"] == "2026-09-01"
    assert seen["task_force"] == {"status": "suspended", "blocking": [officials["senior"]]}
    events = client.get(f"/api/v1/task-forces/{tf_id}/events", headers=auth(world.mx_admin))
    suspended = [e for e in events.json()["items"] if e["kind"] == "suspended"]
    assert [(e["cause"]["kind"], e["cause"]["version"]) for e in suspended] == [
        ("policy_changed", 2)
    ]
    assert suspended[0]["cause"]["blocking_members"] == [officials["senior"]]
    assert sweep_task_forces(factory, now=clock.now()) == 0


def test_a_vetter_whose_own_pass_a_shortened_policy_ended_stops_recording(
    client, auth, world, make_user, clock, app
):
    """R13 with the one validity (#15): a vetting officer linked to an official record records
    only while that official is currently vetted — and "currently" is the same date schedules
    and eligibility use, so shortening the policy ends the vetter's authority too."""
    from app.models import User

    officials, _tf = _policy_changed_world(client, auth, world, make_user, clock, 36)
    vetter = make_user("vetting_officer", "MX", agency_id=world.mx_c3)
    with unit_of_work(app.state.sessionmaker) as session:
        session.get(User, vetter.id).official_id = uuid.UUID(officials["line"])
    subject = officials["control"]
    at(clock, dt.date(2026, 9, 10))
    evaluate(client, auth(vetter), subject, world.mx_c3, conducted_on=dt.date(2026, 9, 9))

    r = client.post(
        "/api/v1/policies",
        json={"agency_id": str(world.mx_police), "rank_tier": "line", "interval_months": 3},
        headers=auth(world.mx_admin),
    )
    assert r.status_code == 201, r.text
    refused = evaluate(
        client, auth(vetter), subject, world.mx_c3, conducted_on=dt.date(2026, 9, 10), expect=403
    )
    assert refused["code"] == "VETTER_NOT_VETTED"


@pytest.mark.parametrize("retest_days", [90, 20], ids=["policy-window", "window-shortened-later"])
def test_repeated_inconclusive_results_do_not_extend_the_retest_window(
    client, auth, world, make_user, clock, retest_days
):
    """R6, R15, R17 (#15): the retest window runs from the first inconclusive result after the
    last decisive one, under today's policy — for the schedule and for eligibility alike. A
    second inconclusive result does not buy a new window, and a shortened ``retest_days`` ends
    the window for everybody at once."""
    officials, _tf = _policy_changed_world(client, auth, world, make_user, clock, 36)
    official_id = officials["control"]
    first, second = dt.date(2026, 7, 1), dt.date(2026, 9, 1)
    inconclusive = with_result("polygraph", "inconclusive")
    at(clock, dt.date(2026, 9, 2))
    vetter, admin = auth(world.mx_vetter), auth(world.mx_admin)
    for day in (first, second):
        r = evaluate(
            client, vetter, official_id, world.mx_c3, conducted_on=day, components=inconclusive
        )
        assert r["outcome"] == "inconclusive"
    if retest_days != 90:
        r = client.post(
            "/api/v1/policies",
            json={"country": "MX", "sector": "justice", "retest_days": retest_days},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    deadline = first + dt.timedelta(days=retest_days)

    for day in (deadline, deadline + dt.timedelta(days=1)):
        at(clock, day)
        admin = auth(world.mx_admin)
        schedule = client.get(f"/api/v1/officials/{official_id}/schedule", headers=admin).json()
        retests = [
            o["due_on"] for o in schedule["obligations"] if o["kind"] == "inconclusive_retest"
        ]
        assert min(retests) == deadline.isoformat() == schedule["next_due"], schedule
        answer = client.get(f"/api/v1/officials/{official_id}/eligibility", headers=admin).json()
        if day > deadline:
            assert schedule["state"] == "overdue", schedule
            assert answer["verdict"] == "ineligible", answer
            assert "VETTING_INCONCLUSIVE" in answer["reasons"], answer
        else:
            assert answer["verdict"] == "eligible", answer
            assert answer["valid_until"] == deadline.isoformat(), answer
