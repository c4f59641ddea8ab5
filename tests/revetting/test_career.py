"""A career at pinned dates (R6, R14, R15, R16): every step's schedule state and due-list
membership, through the API; the sweep records each time-driven transition once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.services.revetting.sweep import run_sweep
from tests.registry.builders import ALL_PASS, evaluate, official_body, register
from tests.revetting.conftest import at, play_draw

ALL_STATES = ("current", "due_soon", "overdue", "never_vetted")


def test_career_walk(client, auth, world, clock, factory):
    hr, vetter = world.mx_hr, world.mx_vetter

    def schedule() -> dict[str, Any]:
        r = client.get(f"/api/v1/officials/{oid}/schedule", headers=auth(world.mx_admin))
        assert r.status_code == 200, r.text
        return r.json()

    def due(**params: Any) -> list[str]:
        r = client.get("/api/v1/schedules/due", params=params, headers=auth(vetter))
        assert r.status_code == 200, r.text
        return [i["official_id"] for i in r.json()["items"]]

    def expect(state: str, next_due: str | None, reasons: list[str]) -> dict[str, Any]:
        s = schedule()
        assert (s["state"], s["next_due"], s["reasons"]) == (state, next_due, reasons), s
        # Due list: the default list holds exactly the officials who are not current, and
        # each state filter finds the official only under its own state.
        assert (oid in due()) == (state != "current")
        for other in ALL_STATES:
            assert (oid in due(state=other)) == (other == state), other
        return s

    def vet(day: dt.date, trigger: str, components: list[dict[str, str]] = ALL_PASS) -> None:
        at(clock, day)
        evaluate(
            client,
            auth(vetter),
            oid,
            world.mx_c3,
            trigger=trigger,
            conducted_on=day,
            components=components,
        )

    def sweep(expected: dict[str, int]) -> None:
        report = run_sweep(factory, now=clock.now())
        assert {k: v for k, v in report.recorded.items() if v} == expected
        assert run_sweep(factory, now=clock.now()).total_recorded == 0  # idempotent

    # Recruited: never vetted, due since the appointment began.
    official = register(
        client, auth(hr), official_body(world.mx_police, started_on=dt.date(2026, 11, 2))
    )
    oid = official["id"]
    expect("never_vetted", "2026-11-02", ["initial_vetting"])

    # Vetted at recruitment: current for 36 months (MX default, R14).
    vet(dt.date(2026, 11, 20), "recruitment")
    s = expect("current", "2029-11-20", [])
    assert s["policy"]["interval_months"] == 36
    assert s["policy"]["id"]
    assert [o["kind"] for o in s["obligations"]] == ["validity_end"]

    # Within due_soon_days (60) of the validity end.
    at(clock, dt.date(2029, 10, 1))
    expect("due_soon", "2029-11-20", ["validity_end"])
    assert oid in due(due_before="2029-11-21")
    assert oid not in due(due_before="2029-11-20")

    # The validity end has passed.
    at(clock, dt.date(2029, 11, 21))
    expect("overdue", "2029-11-20", ["validity_end"])
    sweep({"overdue_obligations_check": 1})

    # Re-vetted.
    vet(dt.date(2029, 11, 22), "periodic")
    expect("current", "2032-11-22", [])

    # Promoted to a senior tier: re-vetting due on the promotion day, overdue after it.
    at(clock, dt.date(2030, 3, 1))
    r = client.post(
        f"/api/v1/officials/{oid}/appointments",
        json={
            "agency_id": str(world.mx_police),
            "position": "Comandante",
            "rank_tier": "command",
            "started_on": "2030-03-01",
            "replaces_appointment_id": official["appointments"][0]["id"],
        },
        headers=auth(hr),
    )
    assert r.status_code == 201, r.text
    s = expect("due_soon", "2030-03-01", ["promotion"])
    assert s["rank_tier"] == "command"
    assert s["obligations"][0]["appointment_id"] == r.json()["id"]
    at(clock, dt.date(2030, 3, 2))
    expect("overdue", "2030-03-01", ["promotion"])
    assert oid in due(state="overdue", rank_tier="command")
    assert oid not in due(state="overdue", rank_tier="line")
    vet(dt.date(2030, 3, 2), "promotion")
    expect("current", "2033-03-02", [])

    # An inconclusive result opens a 90-day retest window (R6), which then passes.
    missing_one = [c for c in ALL_PASS if c["type"] != "medical"]
    vet(dt.date(2030, 6, 1), "for_cause", missing_one)
    s = expect("current", "2030-08-30", [])
    assert {o["kind"] for o in s["obligations"]} == {"validity_end", "inconclusive_retest"}
    at(clock, dt.date(2030, 7, 15))
    expect("due_soon", "2030-08-30", ["inconclusive_retest"])
    at(clock, dt.date(2030, 8, 31))
    expect("overdue", "2030-08-30", ["inconclusive_retest"])
    sweep({"overdue_obligations_check": 1})
    vet(dt.date(2030, 9, 1), "recertification")
    expect("current", "2033-09-01", [])

    # Picked by a random draw (the agency has one active official): owed within 30 days.
    at(clock, dt.date(2030, 10, 1))
    verify, _ = play_draw(
        client, auth, world, scope={"agency_id": str(world.mx_police)}, sample_size=1
    )
    assert verify["selection"] == [oid]
    s = expect("due_soon", "2030-10-31", ["random_selection"])
    assert s["obligations"][0]["draw_id"] == verify["draw_id"]
    at(clock, dt.date(2030, 11, 1))
    expect("overdue", "2030-10-31", ["random_selection"])
    sweep({"overdue_obligations_check": 1})
    # A random-trigger evaluation on or after the selection answers it.
    vet(dt.date(2030, 11, 1), "random")
    expect("current", "2033-11-01", [])
