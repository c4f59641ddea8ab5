"""Authorization matrix of watches, notifications and webhooks (R23-R25): every route × every
role × caller relation to the record (its agency, another agency of its country, the other
country). Outside the caller's scope the answer is 404, so existence does not leak (R24)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.db import unit_of_work
from app.models import Notification
from tests.conftest import T0
from tests.registry.builders import make_agency
from tests.watches.support import watch_screening

ROLES = (
    "admin",
    "vetting_officer",
    "personnel_officer",
    "task_force_lead",
    "commission_member",
    "auditor",
)
RELATIONS = ("own_agency", "other_agency", "other_country")
KEEPERS = {"admin": (1, 1, 0), "personnel_officer": (1, 0, 0)}  # 1: in scope, 0: 404


def expected(role: str, relation: int, ok: int) -> int:
    if role not in KEEPERS:
        return 403
    return ok if KEEPERS[role][relation] else 404


def test_matrix(client: TestClient, factory: Any, settings: Any, make_user: Any) -> None:
    agency_a = make_agency(factory, country="MX", acronym="A")
    agency_b = make_agency(factory, country="MX", acronym="B")
    agency_us = make_agency(factory, country="US", acronym="U")
    homes = {"own_agency": ("MX", agency_a), "other_agency": ("MX", agency_b)}
    homes["other_country"] = ("US", agency_us)
    callers = {
        (role, rel): make_user(role, homes[rel][0], agency_id=homes[rel][1])
        for role in ROLES
        for rel in RELATIONS
    }
    owner = callers[("personnel_officer", "own_agency")]
    _, watch_id = watch_screening(
        factory, settings, owner, given="LUIS", first="MORA", second=None, dob=T0.date()
    )
    with unit_of_work(factory) as session:
        note = Notification(
            agency_id=agency_a, country="MX", kind="listing.listed", payload={}, created_at=T0
        )
        session.add(note)
        session.flush()
        note_id = note.id

    def new_webhook() -> str:
        r = client.post(
            "/api/v1/webhooks", json={"url": "https://a.example/h"}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        hook_id: str = r.json()["id"]
        return hook_id

    wrong: list[str] = []
    for role in ROLES:
        for i, rel in enumerate(RELATIONS):
            h = callers[(role, rel)].headers
            cells = {
                "GET watch": (
                    client.get(f"/api/v1/watches/{watch_id}", headers=h),
                    expected(role, i, 200),
                ),
                "GET watches": (
                    client.get("/api/v1/watches", headers=h),
                    403 if role not in KEEPERS else 200,
                ),
                "DELETE watch": (
                    client.delete(f"/api/v1/watches/{watch_id}", headers=h),
                    expected(role, i, 204),
                ),
                "GET notification": (
                    client.get(f"/api/v1/notifications/{note_id}", headers=h),
                    expected(role, i, 200),
                ),
                "POST read": (
                    client.post(f"/api/v1/notifications/{note_id}/read", headers=h),
                    expected(role, i, 200),
                ),
                "GET webhooks": (
                    client.get("/api/v1/webhooks", headers=h),
                    403 if role not in KEEPERS else 200,
                ),
                "DELETE webhook": (
                    client.delete(f"/api/v1/webhooks/{new_webhook()}", headers=h),
                    expected(role, i, 204),
                ),
                "POST webhook for A": (
                    client.post(
                        "/api/v1/webhooks",
                        json={"url": "https://b.example/h", "agency_id": str(agency_a)},
                        headers=h,
                    ),
                    {"admin": (201, 201, 404), "personnel_officer": (201, 403, 403)}.get(
                        role, (403, 403, 403)
                    )[i],
                ),
            }
            wrong += [
                f"{name} as {role}/{rel}: {got.status_code} != {want}"
                for name, (got, want) in cells.items()
                if got.status_code != want
            ]
    assert wrong == []
