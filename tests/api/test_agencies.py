"""``/agencies``: hierarchy and departments, country scoping of writes (R24), ETag/If-Match,
idempotent creation, filters and pagination, the reference seed, and audit (R22)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.api.pagination import encode_cursor
from app.db import unit_of_work
from app.services.registry.agency_seed import load_seed, seed_agencies

API = "/api/v1/agencies"
NON_ADMIN_ROLES = [
    "vetting_officer",
    "personnel_officer",
    "task_force_lead",
    "commission_member",
    "auditor",
]


def agency_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "country": "MX",
        "name": "Guardia Nacional",
        "acronym": "GN",
        "level": "federal",
        "sector": "law_enforcement",
        "can_vet": False,
    }
    body.update(overrides)
    return body


def create(client: Any, caller: Any, **overrides: Any) -> dict[str, Any]:
    country = overrides.setdefault("country", caller.country)
    if country == "US" and "name" not in overrides:
        overrides.setdefault("name", "Federal Bureau of Investigation")
    r = client.post(API, json=agency_body(**overrides), headers=caller.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def patch(client: Any, caller: Any, agency_id: str, body: dict[str, Any], etag: str | None):
    headers = dict(caller.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return client.patch(f"{API}/{agency_id}", json=body, headers=headers)


def etag_of(client: Any, caller: Any, agency_id: str) -> str:
    r = client.get(f"{API}/{agency_id}", headers=caller.headers)
    assert r.status_code == 200, r.text
    return str(r.headers["ETag"])


def error_fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def audit_events(client: Any, caller: Any, **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/audit", params={"limit": 200, **params}, headers=caller.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


@pytest.fixture
def mx_admin(make_user: Any) -> Any:
    return make_user("admin", "MX")


@pytest.fixture
def us_admin(make_user: Any) -> Any:
    return make_user("admin", "US")


# --- create and read -----------------------------------------------------------------------


def test_create_then_read(client, mx_admin):
    r = client.post(
        API,
        json=agency_body(
            name="Centro Estatal de Evaluación y Control de Confianza (Jalisco)",
            acronym="C3-JAL",
            level="state",
            region="jal",
            can_vet=True,
            contact="https://example.gob.mx/c3",
        ),
        headers=mx_admin.headers,
    )
    assert r.status_code == 201, r.text
    assert r.headers["ETag"] == '"1"'
    created = r.json()
    assert created["region"] == "JAL"
    assert created["can_vet"] is True
    assert created["parent_id"] is None
    # An agency without a parent is its own department.
    assert created["department_id"] == created["id"]
    assert created["department_acronym"] == "C3-JAL"

    r = client.get(f"{API}/{created['id']}", headers=mx_admin.headers)
    assert r.status_code == 200
    assert r.headers["ETag"] == '"1"'
    assert r.json() == created


def test_department_is_the_top_ancestor(client, us_admin):
    doj = create(client, us_admin, name="U.S. Department of Justice", acronym="DOJ")
    fbi = create(client, us_admin, acronym="FBI", parent_id=doj["id"])
    secd = create(
        client,
        us_admin,
        name="FBI Security Division",
        acronym="FBI-SECD",
        parent_id=fbi["id"],
        can_vet=True,
    )
    assert fbi["department_id"] == doj["id"]
    assert fbi["department_acronym"] == "DOJ"
    r = client.get(f"{API}/{secd['id']}", headers=us_admin.headers)
    assert r.json()["department_acronym"] == "DOJ"
    assert r.json()["department_name"] == "U.S. Department of Justice"
    listed = client.get(API, params={"country": "US"}, headers=us_admin.headers).json()["items"]
    assert {a["acronym"]: a["department_acronym"] for a in listed} == {
        "DOJ": "DOJ",
        "FBI": "DOJ",
        "FBI-SECD": "DOJ",
    }


def test_unknown_agency_is_404(client, mx_admin):
    r = client.get(f"{API}/{uuid.uuid4()}", headers=mx_admin.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "AGENCY_NOT_FOUND"


def test_reading_needs_authentication(client):
    assert client.get(API).status_code == 401


def test_acronym_is_unique_within_a_country(client, mx_admin, us_admin):
    create(client, mx_admin, acronym="FGR")
    r = client.post(API, json=agency_body(acronym="fgr"), headers=mx_admin.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "AGENCY_ACRONYM_TAKEN"
    # The other country may use the same letters.
    create(client, us_admin, acronym="FGR")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region": "TX"}, "body.region"),  # a U.S. state for a Mexican agency
        ({"region": "JALISCO"}, "body.region"),
        ({"level": "national"}, "body.level"),
        ({"sector": "vetting"}, "body.sector"),
        ({"country": "CA"}, "body.country"),
        ({"acronym": ""}, "body.acronym"),
        ({"unexpected": 1}, "body.unexpected"),
        ({"name": "Guardia\x00Nacional"}, "body.name"),
    ],
)
def test_invalid_create_names_the_field(client, mx_admin, overrides, field):
    r = client.post(API, json=agency_body(**overrides), headers=mx_admin.headers)
    assert r.status_code == 422, r.text
    assert field in error_fields(r)


# --- parents and cycles --------------------------------------------------------------------


def test_parent_must_be_of_the_same_country(client, mx_admin, us_admin):
    doj = create(client, us_admin, name="U.S. Department of Justice", acronym="DOJ")
    for parent_id in (doj["id"], str(uuid.uuid4())):
        r = client.post(API, json=agency_body(parent_id=parent_id), headers=mx_admin.headers)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "PARENT_NOT_FOUND"
        assert error_fields(r) == ["body.parent_id"]


def test_parent_change_must_not_make_a_cycle(client, mx_admin):
    sspc = create(client, mx_admin, name="Secretaría de Seguridad", acronym="SSPC")
    sesnsp = create(client, mx_admin, name="Secretariado", acronym="SESNSP", parent_id=sspc["id"])
    cnca = create(client, mx_admin, name="Centro Nacional", acronym="CNCA", parent_id=sesnsp["id"])
    for new_parent in (cnca["id"], sesnsp["id"], sspc["id"]):
        r = patch(
            client,
            mx_admin,
            sspc["id"],
            {"parent_id": new_parent},
            etag_of(client, mx_admin, sspc["id"]),
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "AGENCY_CYCLE"
        assert error_fields(r) == ["body.parent_id"]
    # Moving a subtree elsewhere is fine, and the department follows.
    sedena = create(client, mx_admin, name="Defensa", acronym="SEDENA", sector="military")
    r = patch(
        client,
        mx_admin,
        sesnsp["id"],
        {"parent_id": sedena["id"]},
        etag_of(client, mx_admin, sesnsp["id"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["department_acronym"] == "SEDENA"
    assert client.get(f"{API}/{cnca['id']}", headers=mx_admin.headers).json()[
        "department_acronym"
    ] == ("SEDENA")
    # Detaching makes it its own department.
    r = patch(client, mx_admin, cnca["id"], {"parent_id": None}, '"1"')
    assert r.status_code == 200, r.text
    assert r.json()["department_id"] == cnca["id"]


def test_hierarchy_depth_is_bounded(client, mx_admin):
    from app.services.registry.agencies import MAX_DEPTH

    parent_id = None
    for i in range(MAX_DEPTH):
        parent_id = create(
            client, mx_admin, name=f"Level {i}", acronym=f"L{i}", parent_id=parent_id
        )["id"]
    r = client.post(
        API, json=agency_body(acronym="TOO-DEEP", parent_id=parent_id), headers=mx_admin.headers
    )
    assert r.status_code == 422
    assert r.json()["code"] == "AGENCY_TOO_DEEP"


# --- update --------------------------------------------------------------------------------


def test_update_with_if_match(client, mx_admin):
    created = create(client, mx_admin)
    r = patch(
        client, mx_admin, created["id"], {"name": "Guardia Nacional (GN)", "can_vet": True}, '"1"'
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    assert r.json()["name"] == "Guardia Nacional (GN)"
    assert r.json()["can_vet"] is True
    assert r.json()["country"] == "MX"

    stale = patch(client, mx_admin, created["id"], {"name": "Lost update"}, '"1"')
    assert stale.status_code == 412
    assert stale.json()["code"] == "STALE_ETAG"

    missing = patch(client, mx_admin, created["id"], {"name": "No precondition"}, None)
    assert missing.status_code == 428
    assert missing.json()["code"] == "IF_MATCH_REQUIRED"

    assert client.get(f"{API}/{created['id']}", headers=mx_admin.headers).json()["name"] == (
        "Guardia Nacional (GN)"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "US"}, "body.country"),  # immutable
        ({"name": None}, "body.name"),
        ({"can_vet": None}, "body.can_vet"),
        ({"region": "CA"}, "body.region"),
    ],
)
def test_invalid_update_names_the_field(client, mx_admin, body, field):
    created = create(client, mx_admin)
    r = patch(client, mx_admin, created["id"], body, '"1"')
    assert r.status_code == 422, r.text
    assert field in error_fields(r)


def test_update_to_a_taken_acronym_is_409(client, mx_admin):
    create(client, mx_admin, acronym="FGR")
    gn = create(client, mx_admin)
    r = patch(client, mx_admin, gn["id"], {"acronym": "FGR"}, '"1"')
    assert r.status_code == 409
    assert r.json()["code"] == "AGENCY_ACRONYM_TAKEN"


# --- access --------------------------------------------------------------------------------


def test_admin_cannot_create_for_the_other_country(client, mx_admin):
    r = client.post(
        API,
        json=agency_body(country="US", name="Drug Enforcement Administration", acronym="DEA"),
        headers=mx_admin.headers,
    )
    assert r.status_code == 403
    assert r.json()["code"] == "COUNTRY_SCOPE"


def test_admin_cannot_update_the_other_countrys_agency(client, mx_admin, us_admin):
    dea = create(client, us_admin, name="Drug Enforcement Administration", acronym="DEA")
    r = patch(client, mx_admin, dea["id"], {"name": "Renamed"}, '"1"')
    assert r.status_code == 404
    assert r.json()["code"] == "AGENCY_NOT_FOUND"
    # ... while reading it is allowed: agency names are public across the border (R24).
    assert client.get(f"{API}/{dea['id']}", headers=mx_admin.headers).json()["name"] == (
        "Drug Enforcement Administration"
    )


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_non_admin_roles_read_but_do_not_write(client, make_user, mx_admin, role):
    agency = create(client, mx_admin)
    user = make_user(role, "MX", agency_id=uuid.UUID(agency["id"]))

    r = client.post(API, json=agency_body(acronym="SEMAR"), headers=user.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "ROLE_NOT_ADMITTED"
    r = patch(client, user, agency["id"], {"name": "Renamed"}, '"1"')
    assert r.status_code == 403

    assert client.get(f"{API}/{agency['id']}", headers=user.headers).status_code == 200
    assert client.get(API, headers=user.headers).status_code == 200


@pytest.mark.parametrize("role", ["admin", *NON_ADMIN_ROLES])
def test_us_users_read_mexican_agencies(client, make_user, mx_admin, us_admin, role):
    agency = create(client, mx_admin)
    us_agency = create(client, us_admin, acronym="FBI")
    user = make_user(role, "US", agency_id=None if role == "admin" else uuid.UUID(us_agency["id"]))
    r = client.get(f"{API}/{agency['id']}", headers=user.headers)
    assert r.status_code == 200
    assert r.json()["acronym"] == "GN"
    listed = client.get(API, params={"country": "MX"}, headers=user.headers).json()["items"]
    assert [a["id"] for a in listed] == [agency["id"]]


# --- list ----------------------------------------------------------------------------------


def test_list_filters(client, mx_admin, us_admin):
    sspc = create(client, mx_admin, name="Secretaría de Seguridad", acronym="SSPC", sector="policy")
    cnca = create(
        client,
        mx_admin,
        name="Centro Nacional de Certificación y Acreditación",
        acronym="CNCA",
        parent_id=sspc["id"],
        can_vet=True,
    )
    c3 = create(
        client,
        mx_admin,
        name="Centro Estatal de Evaluación (Jalisco)",
        acronym="C3-JAL",
        level="state",
        region="JAL",
        can_vet=True,
    )
    gn = create(client, mx_admin, parent_id=sspc["id"])
    doj = create(
        client, us_admin, name="U.S. Department of Justice", acronym="DOJ", sector="justice"
    )

    def ids(**params: Any) -> list[str]:
        r = client.get(API, params=params, headers=mx_admin.headers)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    assert len(ids()) == 5
    assert set(ids(country="MX")) == {sspc["id"], cnca["id"], c3["id"], gn["id"]}
    assert ids(country="US") == [doj["id"]]
    assert ids(sector="justice") == [doj["id"]]
    assert ids(sector="policy") == [sspc["id"]]
    assert ids(level="state") == [c3["id"]]
    assert set(ids(can_vet="true")) == {cnca["id"], c3["id"]}
    assert set(ids(can_vet="false")) == {sspc["id"], gn["id"], doj["id"]}
    assert set(ids(parent_id=sspc["id"])) == {cnca["id"], gn["id"]}
    assert set(ids(q="centro")) == {cnca["id"], c3["id"]}  # name, any case
    assert ids(q="doj") == [doj["id"]]  # acronym, any case
    assert ids(q="%") == []  # wildcards are literal
    r = client.get(API, params={"q": "a\x00b"}, headers=mx_admin.headers)
    assert r.status_code == 422
    assert ids(country="MX", can_vet="true", level="federal") == [cnca["id"]]

    r = client.get(API, params={"sector": "vetting"}, headers=mx_admin.headers)
    assert r.status_code == 422
    assert "query.sector" in error_fields(r)


def test_list_is_paginated_in_a_stable_order(client, mx_admin, us_admin):
    for i in range(5):
        create(client, mx_admin, name=f"Agencia {i}", acronym=f"AG{i}")
    for i in range(3):
        create(client, us_admin, name=f"Agency {i}", acronym=f"AG{i}")

    everything = client.get(API, params={"limit": 200}, headers=mx_admin.headers).json()
    assert everything["next_cursor"] is None
    expected = [a["id"] for a in everything["items"]]
    assert len(expected) == 8
    assert [a["country"] for a in everything["items"]] == ["MX"] * 5 + ["US"] * 3

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get(API, params=params, headers=mx_admin.headers).json()
        assert len(page["items"]) <= 3
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected

    for bad in ("not-a-cursor", encode_cursor(["MX", "AG1", "nope"]), encode_cursor([1, 2, 3])):
        r = client.get(API, params={"cursor": bad}, headers=mx_admin.headers)
        assert r.status_code == 422, r.text
        assert "query.cursor" in error_fields(r)
    assert client.get(API, params={"limit": 201}, headers=mx_admin.headers).status_code == 422


# --- idempotency ---------------------------------------------------------------------------


def test_idempotent_create_returns_the_same_agency(client, mx_admin):
    headers = {**mx_admin.headers, "Idempotency-Key": "create-gn-1"}
    first = client.post(API, json=agency_body(), headers=headers)
    assert first.status_code == 201, first.text
    retry = client.post(API, json=agency_body(), headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    listed = client.get(API, headers=mx_admin.headers).json()["items"]
    assert [a["id"] for a in listed] == [first.json()["id"]]

    other = client.post(API, json=agency_body(acronym="SEMAR"), headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


# --- audit ---------------------------------------------------------------------------------


def test_every_write_is_audited(client, mx_admin, us_admin):
    created = create(client, mx_admin)
    r = patch(client, mx_admin, created["id"], {"contact": "enlace@example.gob.mx"}, '"1"')
    assert r.status_code == 200, r.text

    creates = audit_events(client, mx_admin, action="agency.create", resource_id=created["id"])
    assert len(creates) == 1
    assert creates[0]["actor_id"] == str(mx_admin.id)
    assert creates[0]["resource_type"] == "agency"
    assert creates[0]["details"]["acronym"] == "GN"

    updates = audit_events(client, mx_admin, action="agency.update", resource_id=created["id"])
    assert len(updates) == 1
    assert updates[0]["details"]["fields"] == ["contact"]
    # The contact itself is not copied into the log.
    assert "enlace@example.gob.mx" not in str(updates[0]["details"])

    # A PATCH that changes nothing writes nothing.
    r = patch(client, mx_admin, created["id"], {"contact": "enlace@example.gob.mx"}, '"2"')
    assert r.status_code == 200
    assert r.headers["ETag"] == '"2"'
    assert len(audit_events(client, mx_admin, action="agency.update")) == 1

    # Each country audits its own admins' writes.
    assert audit_events(client, us_admin, action="agency.create") == []


# --- seed ----------------------------------------------------------------------------------


def test_seed_file_is_consistent():
    entries = load_seed()
    keys = {e.key for e in entries}
    assert {"MX-SSPC", "MX-GN", "MX-CNCA", "US-DOJ", "US-FBI", "US-DEA", "US-STATE"} <= keys
    by_key = {e.key: e for e in entries}
    assert by_key["MX-GN"].parent == "MX-SEDENA"
    assert by_key["US-HSI"].parent == "US-ICE"
    assert all(e.can_vet for e in entries if e.acronym.startswith("C3-"))
    vetting_bodies = {e.country for e in entries if e.can_vet}
    assert vetting_bodies == {"MX", "US"}  # reciprocal vetting needs both (R17)


def test_seeding_twice_inserts_once(client, factory, clock, mx_admin, us_admin):
    expected = len(load_seed())
    with unit_of_work(factory) as session:
        assert seed_agencies(session, now=clock.now()) == expected
    with unit_of_work(factory) as session:
        assert seed_agencies(session, now=clock.now()) == 0

    listed = client.get(API, params={"limit": 200}, headers=mx_admin.headers).json()["items"]
    assert len(listed) == expected
    by_acronym = {(a["country"], a["acronym"]): a for a in listed}
    assert by_acronym[("US", "FBI")]["department_acronym"] == "DOJ"
    assert by_acronym[("US", "FBI-SECD")]["department_acronym"] == "DOJ"
    assert by_acronym[("US", "HSI")]["department_acronym"] == "DHS"
    assert by_acronym[("MX", "GN")]["department_acronym"] == "SEDENA"
    assert by_acronym[("MX", "CNCA")]["department_acronym"] == "SSPC"
    assert by_acronym[("MX", "C3-JAL")]["region"] == "JAL"

    events = audit_events(client, us_admin, action="agency.seed")
    assert len(events) == expected
    assert {e["actor_username"] for e in events} == {"system"}
    assert {e["actor_id"] for e in events} == {None}


def test_seed_keeps_agencies_admins_created(client, factory, clock, us_admin):
    mine = create(client, us_admin, name="Justice Department (local name)", acronym="doj")
    with unit_of_work(factory) as session:
        assert seed_agencies(session, now=clock.now()) == len(load_seed()) - 1
    fbi = client.get(API, params={"q": "FBI", "country": "US"}, headers=us_admin.headers).json()
    fbi_item = next(a for a in fbi["items"] if a["acronym"] == "FBI")
    assert fbi_item["department_id"] == mine["id"]
    assert client.get(f"{API}/{mine['id']}", headers=us_admin.headers).json()["name"] == (
        "Justice Department (local name)"
    )
