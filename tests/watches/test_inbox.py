"""R12b inbox: an agency's notifications, newest first, paged by id, unread filter, marking
read; admins read their country's; everything else is 404 (R24)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import unit_of_work
from app.models import AuditEvent, Notification
from tests.conftest import T0

NOTIFICATIONS = "/api/v1/notifications"


def seed(factory: Any, agency_id: Any, country: str, count: int) -> list[int]:
    with unit_of_work(factory) as session:
        notes = [
            Notification(
                agency_id=agency_id,
                country=country,
                kind="listing.listed",
                payload={"n": n},
                created_at=T0 + dt.timedelta(minutes=n),
            )
            for n in range(count)
        ]
        session.add_all(notes)
        session.flush()
        return [n.id for n in notes]


def page(client: TestClient, caller: Any, **params: Any) -> dict[str, Any]:
    r = client.get(NOTIFICATIONS, params=params, headers=caller.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_inbox_pages_by_id_and_marks_read(
    client: TestClient, factory: Any, world: dict[str, Any]
) -> None:
    mine = seed(factory, world["mx_police"], "MX", 5)
    theirs = seed(factory, world["mx_fgr"], "MX", 2)
    us = seed(factory, world["us_fbi"], "US", 1)
    hr = world["mx_hr"]

    first = page(client, hr, limit=2)
    assert [n["id"] for n in first["items"]] == mine[:-3:-1]
    second = page(client, hr, limit=2, cursor=first["next_cursor"])
    assert [n["id"] for n in second["items"]] == [mine[2], mine[1]]
    last = page(client, hr, limit=2, cursor=second["next_cursor"])
    assert [n["id"] for n in last["items"]] == [mine[0]]
    assert last["next_cursor"] is None
    assert [n["id"] for n in page(client, hr, since_id=mine[2])["items"]] == [mine[4], mine[3]]

    r = client.post(f"{NOTIFICATIONS}/{mine[1]}/read", headers=hr.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read_at"] is not None
    first_read = r.json()["read_at"]
    again = client.post(f"{NOTIFICATIONS}/{mine[1]}/read", headers=hr.headers).json()
    assert again["read_at"] == first_read
    unread = [n["id"] for n in page(client, hr, unread="true")["items"]]
    assert unread == [mine[4], mine[3], mine[2], mine[0]]
    assert [n["id"] for n in page(client, hr, unread="false")["items"]] == [mine[1]]
    with factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.resource_type == "notification")
        ).all()
        assert actions == ["notification.read", "notification.read"]

    # Scope: another agency's or country's notification does not exist for the caller.
    for other in (theirs[0], us[0], 10**12):
        assert client.post(f"{NOTIFICATIONS}/{other}/read", headers=hr.headers).status_code == 404
        assert client.get(f"{NOTIFICATIONS}/{other}", headers=hr.headers).status_code == 404
    admin_ids = {n["id"] for n in page(client, world["mx_admin"], limit=200)["items"]}
    assert admin_ids == set(mine) | set(theirs)
    assert {n["id"] for n in page(client, world["us_admin"])["items"]} == set(us)
    assert client.get(NOTIFICATIONS, headers=world["mx_vetter"].headers).status_code == 403


def test_inbox_refuses_bad_cursors_and_ids(client: TestClient, world: dict[str, Any]) -> None:
    hr = world["mx_hr"].headers
    for cursor in ("WyJ4Il0", "WzAuNV0", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ", "%%%"):
        assert client.get(NOTIFICATIONS, params={"cursor": cursor}, headers=hr).status_code == 422
    assert client.get(NOTIFICATIONS, params={"since_id": 2**63}, headers=hr).status_code == 422
    assert client.post(f"{NOTIFICATIONS}/{2**63}/read", headers=hr).status_code == 422
