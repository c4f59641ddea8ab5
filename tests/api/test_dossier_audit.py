"""R22, #19: every read of an official's dossier is on the record — who read, which official,
which view (``full`` for the own country, ``public`` across the border, R24) and which part —
and never the data itself: no name, no CURP, no search string in clear. A search is recorded
by its filters, the number found and a keyed digest of the name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import AuditEvent
from tests.screening.conftest import listed_official, world  # noqa: F401 (fixture)

OFFICIALS = "/api/v1/officials"


def _reads(factory: sessionmaker[Session], action: str = "official.read") -> list[AuditEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _as_text(event: AuditEvent) -> str:
    return json.dumps(
        {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}, default=str
    ).upper()


@pytest.fixture
def listed(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    official = listed_official(
        client, world, given="MARIA DE LOS ANGELES", first="ZARAGOZA", second="QUINTERO"
    )
    detail = client.get(f"{OFFICIALS}/{official['id']}", headers=world["mx_admin"].headers)
    [curp] = [i["value"] for i in detail.json()["identifiers"] if i["scheme"] == "CURP"]
    official["curp"] = curp
    return official


SECRETS = ("ZARAGOZA", "QUINTERO", "ANGELES")


def test_a_full_read_is_audited_naming_the_official_and_view_not_the_person(
    client: TestClient,
    world: dict[str, Any],  # noqa: F811
    listed: dict[str, Any],
    factory: sessionmaker[Session],
) -> None:
    admin = world["mx_admin"]
    before = len(_reads(factory))
    response = client.get(f"{OFFICIALS}/{listed['id']}", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["first_surname"] == "ZARAGOZA"
    events = _reads(factory)
    assert len(events) == before + 1
    read = events[-1]
    assert (read.actor_id, read.actor_country, read.resource_type, read.resource_id) == (
        admin.id,
        "MX",
        "official",
        listed["id"],
    )
    assert read.details == {"view": "full", "part": "record"}
    text = _as_text(read)
    for secret in (*SECRETS, listed["curp"]):
        assert secret not in text


def test_a_cross_border_read_is_audited_as_the_public_view(
    client: TestClient,
    world: dict[str, Any],  # noqa: F811
    listed: dict[str, Any],
    factory: sessionmaker[Session],
) -> None:
    us = world["us_hr"]
    response = client.get(f"{OFFICIALS}/{listed['id']}", headers=us.headers)
    assert response.status_code == 200, response.text
    assert response.json()["view"] == "public"
    read = _reads(factory)[-1]
    assert (read.actor_id, read.resource_id, read.details) == (
        us.id,
        listed["id"],
        {"view": "public", "part": "record"},
    )


@pytest.mark.parametrize(
    ("part", "reader"),
    [
        ("evaluations", "mx_vetter"),
        ("appointments", "mx_hr"),
        ("separations", "mx_hr"),
        ("schedule", "mx_hr"),
    ],
)
def test_reads_of_a_dossiers_parts_are_audited(
    client: TestClient,
    world: dict[str, Any],  # noqa: F811
    listed: dict[str, Any],
    factory: sessionmaker[Session],
    part: str,
    reader: str,
) -> None:
    caller = world[reader]
    response = client.get(f"{OFFICIALS}/{listed['id']}/{part}", headers=caller.headers)
    assert response.status_code == 200, response.text
    read = _reads(factory)[-1]
    assert (read.actor_id, read.resource_id, read.details) == (
        caller.id,
        listed["id"],
        {"view": "full", "part": part},
    )
    for secret in (*SECRETS, listed["curp"]):
        assert secret not in _as_text(read)


def test_a_search_is_audited_by_digest_and_count_not_by_name(
    client: TestClient,
    world: dict[str, Any],  # noqa: F811
    listed: dict[str, Any],
    factory: sessionmaker[Session],
) -> None:
    hr = world["mx_hr"]
    for name in ("zaragoza quintero", "ZARAGOZA QUINTERO", "NOBODY"):
        response = client.get(OFFICIALS, params={"name": name}, headers=hr.headers)
        assert response.status_code == 200, response.text
    first, again, nobody = _reads(factory, "official.search")
    assert first.actor_id == hr.id
    assert (first.details["found"], nobody.details["found"]) == (1, 0)
    # The same name, however typed, gives the same digest: repeated searches can be told apart
    # from many different ones without the log holding the names.
    assert first.details["name_digest"] == again.details["name_digest"]
    assert first.details["name_digest"] != nobody.details["name_digest"]
    for search in (first, again, nobody):
        text = _as_text(search)
        assert not any(secret in text for secret in (*SECRETS, "NOBODY"))


def test_a_read_adds_one_audit_insert_and_nothing_else(
    client: TestClient,
    world: dict[str, Any],  # noqa: F811
    listed: dict[str, Any],
) -> None:
    """The audit write joins the request's own transaction: one event inserted, no
    transaction of its own."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    inserts: list[str] = []
    begins: list[object] = []

    def on_execute(*args: Any) -> None:
        statement: str = args[2]
        if statement.startswith("INSERT INTO audit_events"):
            inserts.append(statement)

    def on_begin(conn: Any) -> None:
        begins.append(conn)

    headers = world["mx_admin"].headers
    assert client.get(f"{OFFICIALS}/{listed['id']}", headers=headers).status_code == 200
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "begin", on_begin)
    try:
        response = client.get(f"{OFFICIALS}/{listed['id']}/appointments", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "begin", on_begin)
    assert response.status_code == 200, response.text
    assert len(inserts) == 1
    assert len(begins) <= 2  # the request's transaction (and the audit chainer's, after it)
