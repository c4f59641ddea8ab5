"""Draws and the border (#18, R24): a draw scoped to a task force the caller may not read is
refused as an unknown task force is, and a draw's creator is named to its own country only."""

from __future__ import annotations

import datetime as dt

from app.db import unit_of_work
from app.models import TaskForce, TaskForceMember
from tests.conftest import T0
from tests.revetting.conftest import add_official


def _mx_task_force(factory, world) -> str:
    """A task force led from Mexico whose only member is Mexican: the U.S. may not read it."""
    member = add_official(factory, world.mx_police)
    with unit_of_work(factory) as session:
        task_force = TaskForce(
            name="Huachicol Bajío",
            focus="fuel theft",
            lead_agency_id=world.mx_police,
            created_by=world.mx_admin.id,
            created_at=T0,
        )
        session.add(task_force)
        session.flush()
        session.add(
            TaskForceMember(
                task_force_id=task_force.id,
                official_id=member,
                role="member",
                joined_on=dt.date(2026, 1, 1),
                added_by=world.mx_admin.id,
                created_at=T0,
            )
        )
        return str(task_force.id)


def test_a_task_force_the_caller_cannot_read_is_not_found(client, auth, world, factory):
    """R24: a U.S. admin naming a Mexican task force it cannot see gets the answer an unknown
    id gets (404 TASK_FORCE_NOT_FOUND), not a draw over that task force's members."""
    task_force_id = _mx_task_force(factory, world)
    body = {"scope": {"task_force_id": task_force_id}, "sample_size": 1}
    r = client.post("/api/v1/draws", json=body, headers=auth(world.us_admin))
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "TASK_FORCE_NOT_FOUND"
    assert client.get("/api/v1/draws", headers=auth(world.us_admin)).json()["items"] == []
    own = client.post("/api/v1/draws", json=body, headers=auth(world.mx_admin))
    assert own.status_code == 201, own.text


def test_the_creator_is_named_to_its_own_country_only(client, auth, world, factory, make_user):
    """R24: the user id of the admin who created a draw is the creating country's to know; the
    other country sees the draw (R16) without it."""
    add_official(factory, world.mx_police)
    created = client.post(
        "/api/v1/draws", json={"scope": {}, "sample_size": 1}, headers=auth(world.mx_admin)
    )
    assert created.status_code == 201, created.text
    draw_id = created.json()["id"]
    assert created.json()["created_by"] == str(world.mx_admin.id)

    us_auditor = make_user("auditor", "US")
    for caller in (world.us_admin, us_auditor):
        one = client.get(f"/api/v1/draws/{draw_id}", headers=auth(caller)).json()
        listed = client.get("/api/v1/draws", headers=auth(caller)).json()["items"]
        assert one["created_by"] is None
        assert [d["created_by"] for d in listed] == [None]
    for caller in (world.mx_admin, world.mx_auditor):
        one = client.get(f"/api/v1/draws/{draw_id}", headers=auth(caller)).json()
        assert one["created_by"] == str(world.mx_admin.id)
