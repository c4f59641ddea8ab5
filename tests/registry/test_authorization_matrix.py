"""Authorization matrix of the registry core (R23, R24, R25).

Every route × every role × caller relation (same agency as the record, another agency of the
same country, the other country). The expected answer of each cell is written in the tables
below; a cell that changes behaviour must be changed here on purpose. Writes get a fresh
record per caller so one caller's success cannot hide another's refusal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.registry.builders import evaluate, make_agency, official_body, register, with_result

ROLES = (
    "admin",
    "vetting_officer",
    "personnel_officer",
    "task_force_lead",
    "commission_member",
    "auditor",
)
RELATIONS = ("own_agency", "other_agency", "other_country")

# Cell notation: one status per relation, in RELATIONS order.
Row = tuple[int, int, int]


@dataclass
class World:
    client: Any
    agency_a: Any  # the record's agency (MX)
    agency_b: Any  # another MX agency
    us_agency: Any
    mx_vet_body: Any
    us_vet_body: Any
    registrar: Any  # MX personnel officer of agency A, to create records
    vetter: Any  # MX vetting officer, to create listings
    callers: dict[tuple[str, str], Any]

    def official(self, *, listed: bool = False, seq: list[int] = [0]) -> dict[str, Any]:  # noqa: B006
        seq[0] += 1
        # A birth date of their own: records differing by one digit of a surname and born the
        # same day are look-alikes, which registration now screens against listings (R3, #15).
        body = official_body(
            self.agency_a,
            given=f"PERSONA {chr(65 + seq[0] % 26)}",
            first=f"APELLIDO{seq[0]}",
            dob=dt.date(1950, 1, 1) + dt.timedelta(days=389 * seq[0] % 18_000),
        )
        body["identifiers"] = []
        official = register(self.client, self.registrar.headers, body)
        if listed:
            evaluate(
                self.client,
                self.vetter.headers,
                official["id"],
                self.mx_vet_body,
                components=with_result("polygraph", "fail"),
            )
        return official

    def expelled_listing(self) -> str:
        official = self.official()
        r = self.client.post(
            f"/api/v1/officials/{official['id']}/separations",
            json={
                "appointment_id": official["appointments"][0]["id"],
                "reason": "dismissal_for_cause",
                "effective_on": "2026-11-01",
            },
            headers=self.registrar.headers,
        )
        assert r.status_code == 201, r.text
        listing_id: str = r.json()["listing_id"]
        return listing_id


@pytest.fixture
def world(client, factory, make_user) -> World:
    agency_a = make_agency(factory, country="MX", acronym="A")
    agency_b = make_agency(factory, country="MX", acronym="B")
    us_agency = make_agency(factory, country="US", acronym="USA")
    mx_vet = make_agency(factory, country="MX", acronym="MXV", can_vet=True)
    us_vet = make_agency(factory, country="US", acronym="USV", can_vet=True)
    callers = {}
    for role in ROLES:
        agency_free = role in ("admin", "auditor")
        vet_role = role == "vetting_officer"
        callers[(role, "own_agency")] = make_user(
            role, "MX", agency_id=None if agency_free else (mx_vet if vet_role else agency_a)
        )
        callers[(role, "other_agency")] = make_user(
            role, "MX", agency_id=None if agency_free else (mx_vet if vet_role else agency_b)
        )
        callers[(role, "other_country")] = make_user(
            role, "US", agency_id=None if agency_free else (us_vet if vet_role else us_agency)
        )
    return World(
        client=client,
        agency_a=agency_a,
        agency_b=agency_b,
        us_agency=us_agency,
        mx_vet_body=mx_vet,
        us_vet_body=us_vet,
        registrar=make_user("personnel_officer", "MX", agency_id=agency_a),
        vetter=make_user("vetting_officer", "MX", agency_id=mx_vet),
        callers=callers,
    )


Action = Callable[[World, Any], int]


def read_listed_official(w: World, caller: Any) -> int:
    official = w.__dict__.setdefault("_listed", w.official(listed=True))
    return w.client.get(f"/api/v1/officials/{official['id']}", headers=caller.headers).status_code


def read_unlisted_official(w: World, caller: Any) -> int:
    official = w.__dict__.setdefault("_unlisted", w.official())
    return w.client.get(f"/api/v1/officials/{official['id']}", headers=caller.headers).status_code


def search_officials(w: World, caller: Any) -> int:
    return w.client.get("/api/v1/officials?name=APELLIDO", headers=caller.headers).status_code


def register_official(w: World, caller: Any) -> int:
    body = official_body(w.agency_a, given="NUEVO", first="INGRESO")
    body["identifiers"] = []
    return w.client.post("/api/v1/officials", json=body, headers=caller.headers).status_code


def appoint(w: World, caller: Any) -> int:
    official = w.official()
    return w.client.post(
        f"/api/v1/officials/{official['id']}/appointments",
        json={
            "agency_id": str(w.agency_a),
            "position": "Jefe",
            "rank_tier": "supervisory",
            "started_on": "2026-10-01",
            "replaces_appointment_id": official["appointments"][0]["id"],
        },
        headers=caller.headers,
    ).status_code


def separate(w: World, caller: Any) -> int:
    official = w.official()
    return w.client.post(
        f"/api/v1/officials/{official['id']}/separations",
        json={
            "appointment_id": official["appointments"][0]["id"],
            "reason": "resignation",
            "effective_on": "2026-11-01",
        },
        headers=caller.headers,
    ).status_code


def record_evaluation(w: World, caller: Any) -> int:
    official = w.official(listed=True)  # listed, so the other country can see it exists
    vet_body = w.us_vet_body if caller.country == "US" else w.mx_vet_body
    return w.client.post(
        f"/api/v1/officials/{official['id']}/evaluations",
        json={
            "conducted_by": str(vet_body),
            "trigger": "periodic",
            "conducted_on": "2026-11-01",
            "components": with_result("polygraph", "pass"),
        },
        headers=caller.headers,
    ).status_code


def read_evaluations(w: World, caller: Any) -> int:
    official = w.__dict__.setdefault("_listed", w.official(listed=True))
    return w.client.get(
        f"/api/v1/officials/{official['id']}/evaluations", headers=caller.headers
    ).status_code


def read_appointments(w: World, caller: Any) -> int:
    official = w.__dict__.setdefault("_listed", w.official(listed=True))
    return w.client.get(
        f"/api/v1/officials/{official['id']}/appointments", headers=caller.headers
    ).status_code


def list_listings(w: World, caller: Any) -> int:
    return w.client.get("/api/v1/listings", headers=caller.headers).status_code


def appeal(w: World, caller: Any) -> int:
    listing_id = w.expelled_listing()
    return w.client.post(
        f"/api/v1/listings/{listing_id}/appeals",
        json={"grounds": "The dismissal was reversed by a labour court."},
        headers=caller.headers,
    ).status_code


def decide(w: World, caller: Any) -> int:
    listing_id = w.expelled_listing()
    r = w.client.post(
        f"/api/v1/listings/{listing_id}/appeals",
        json={"grounds": "The dismissal was reversed by a labour court."},
        headers=w.registrar.headers,
    )
    assert r.status_code == 201, r.text
    return w.client.post(
        f"/api/v1/listings/{listing_id}/appeals/{r.json()['id']}/decision",
        json={"decision": "upheld", "reasons": "The court ruling was later annulled."},
        headers=caller.headers,
    ).status_code


# (action, {role: (own_agency, other_agency, other_country)})
MATRIX: dict[str, tuple[Action, dict[str, Row]]] = {
    "GET /officials/{id} (listed)": (
        read_listed_official,
        {
            "admin": (200, 200, 200),
            "vetting_officer": (200, 200, 200),
            "personnel_officer": (200, 200, 200),
            "task_force_lead": (200, 200, 200),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "GET /officials/{id} (not listed)": (
        read_unlisted_official,
        {
            "admin": (200, 200, 404),
            "vetting_officer": (200, 200, 404),
            "personnel_officer": (200, 200, 404),
            "task_force_lead": (200, 200, 404),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "GET /officials": (
        search_officials,
        {
            "admin": (200, 200, 200),
            "vetting_officer": (200, 200, 200),
            "personnel_officer": (200, 200, 200),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "POST /officials": (
        register_official,
        {
            "admin": (201, 201, 404),
            "vetting_officer": (403, 403, 403),
            "personnel_officer": (201, 403, 404),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "POST /officials/{id}/appointments": (
        appoint,
        {
            "admin": (201, 201, 404),
            "vetting_officer": (403, 403, 403),
            "personnel_officer": (201, 403, 404),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "POST /officials/{id}/separations": (
        separate,
        {
            "admin": (201, 201, 404),
            "vetting_officer": (403, 403, 403),
            "personnel_officer": (201, 403, 404),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "POST /officials/{id}/evaluations": (
        record_evaluation,
        {
            "admin": (403, 403, 403),
            "vetting_officer": (201, 201, 404),
            "personnel_officer": (403, 403, 403),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "GET /officials/{id}/evaluations": (
        read_evaluations,
        {
            "admin": (200, 200, 404),
            "vetting_officer": (200, 200, 404),
            "personnel_officer": (403, 403, 403),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "GET /officials/{id}/appointments": (
        read_appointments,
        {
            "admin": (200, 200, 404),
            "vetting_officer": (200, 200, 404),
            "personnel_officer": (200, 200, 404),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "GET /listings": (
        list_listings,
        {
            "admin": (200, 200, 200),
            "vetting_officer": (200, 200, 200),
            "personnel_officer": (200, 200, 200),
            "task_force_lead": (200, 200, 200),
            "commission_member": (200, 200, 200),
            "auditor": (403, 403, 403),
        },
    ),
    "POST /listings/{id}/appeals": (
        appeal,
        {
            "admin": (201, 201, 404),
            "vetting_officer": (403, 403, 403),
            "personnel_officer": (201, 403, 404),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
    "POST /listings/{id}/appeals/{appeal_id}/decision": (
        decide,
        {
            "admin": (200, 200, 404),
            "vetting_officer": (403, 403, 403),
            "personnel_officer": (403, 403, 403),
            "task_force_lead": (403, 403, 403),
            "commission_member": (403, 403, 403),
            "auditor": (403, 403, 403),
        },
    ),
}


@pytest.mark.parametrize("route", list(MATRIX))
def test_authorization_matrix(world: World, route: str) -> None:
    action, expected = MATRIX[route]
    assert set(expected) == set(ROLES), "every role has a row"
    mismatches = []
    for role in ROLES:
        for relation, want in zip(RELATIONS, expected[role], strict=True):
            got = action(world, world.callers[(role, relation)])
            if got != want:
                mismatches.append(f"{role}/{relation}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)


def test_cross_border_search_does_not_leak(world: World) -> None:
    """R24: filters and search never surface the other country's people."""
    w = world
    w.official(listed=True)
    us_admin = w.callers[("admin", "other_country")]
    r = w.client.get("/api/v1/officials?name=APELLIDO&status=listed", headers=us_admin.headers)
    assert r.json()["items"] == []
    r = w.client.get(f"/api/v1/officials?agency_id={w.agency_a}", headers=us_admin.headers)
    assert r.json()["items"] == []
