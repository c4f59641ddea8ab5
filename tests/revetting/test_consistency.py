"""Edge cases of R15, and agreement between the two forms of the schedule computation: the
wide per-official row that lists use and the obligation rows a schedule shows."""

from __future__ import annotations

import datetime as dt

from app.db import unit_of_work
from app.models import Appointment, Evaluation, RandomDraw
from app.services import schedules
from tests.conftest import T0
from tests.revetting.conftest import add_evaluation, add_official, add_selection

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
    """A country's due list derives its officials' schedules from their records only, and from
    all of them: an evaluation conducted across the border (R25) counts for the official's own
    country, and the other country's officials never enter the list."""
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
    # Vetted by Mexico, reciprocally: the record belongs to the U.S. official's schedule.
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
        str(us_failed_abroad): ("overdue", "2026-05-02", ["vetting_failed"]),
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
