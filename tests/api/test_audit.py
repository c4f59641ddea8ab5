"""The audit log (R22): every write appends an event in its own transaction, events form a hash
chain the database will not let anyone rewrite, verify names the first broken link, signed
checkpoints can be checked offline with the published key; readers see their own country."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.api.pagination import encode_cursor
from app.clock import FixedClock
from app.config import Settings
from app.domain.access import Role
from app.models import AuditEvent, AuditLink
from app.services.audit.audit import chain, event_digest
from tests.api.test_conventions import TOKEN, USERS, assert_problem, user_body
from tests.conftest import T0

AUDIT = "/api/v1/audit"
VERIFY = f"{AUDIT}/verify"
CHECKPOINTS = f"{AUDIT}/checkpoints"
AUDIT_TABLES = ("audit_events", "audit_links", "audit_checkpoints")
NOT_READERS = [r.value for r in Role if r not in (Role.ADMIN, Role.AUDITOR)]


def _verify(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(VERIFY, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _activity(client: TestClient, admin: Any) -> list[str]:
    """A handful of different audited writes; returns the ids of the users created."""
    ids = []
    for _ in range(3):
        response = client.post(USERS, json=user_body(), headers=admin.headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    patched = client.patch(
        f"{USERS}/{ids[0]}", json={"roles": ["admin"]}, headers={**admin.headers, "If-Match": "*"}
    )
    assert patched.status_code == 200
    client.post(TOKEN, data={"username": "intruder", "password": "guess"})
    client.post(TOKEN, data={"username": admin.username, "password": "not-the-password"})
    assert client.post("/api/v1/api-keys", json={"name": "k"}, headers=admin.headers).is_success
    return ids


def _event_at(factory: sessionmaker[Session], seq: int) -> int:
    """The event linked at ``seq``, once what is pending is linked (as every audit reader does
    first: requests leave their events to the background chainer, #17)."""
    chain(factory)
    with factory() as session:
        event_id = session.scalar(select(AuditLink.event_id).where(AuditLink.seq == seq))
        assert event_id is not None
        return event_id


@contextmanager
def behind_the_services_back(engine: Engine, table: str, verb: str) -> Iterator[Connection]:
    """A connection that may change ``table`` despite the append-only triggers: on PostgreSQL
    triggers are off for this transaction (replica role); on SQLite the trigger is dropped and
    then recreated from its own stored definition, i.e. exactly as the migration made it."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield conn
            return
        name = f"{table}_no_{verb.lower()}"
        ddl = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": name},
        ).scalar_one()
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
        yield conn
        conn.exec_driver_sql(ddl)


# --- The chain ----------------------------------------------------------------------------


def test_chain_verifies_after_activity(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """R22: every event is linked once the writes commit; verify recomputes them all."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    result = _verify(client, auditor.headers)
    events = _count(factory, AuditEvent)
    assert events >= 8
    assert result == {
        "ok": True,
        "checked": events,
        "head_seq": events,
        "head_hash": result["head_hash"],
        "pending": 0,
        "broken_seq": None,
        "broken_event_id": None,
        "reason": None,
        "checkpoint_id": None,
        "checkpoint_seq": None,
    }
    with factory() as session:
        last = session.scalars(select(AuditLink).order_by(AuditLink.seq.desc())).first()
        assert last is not None
        assert result["head_hash"] == last.chain_hash


def test_a_rolled_back_write_leaves_no_event(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    admin = make_user("admin")
    body = user_body()
    assert client.post(USERS, json=body, headers=admin.headers).status_code == 201
    before = _count(factory, AuditEvent)
    assert_problem(client.post(USERS, json=body, headers=admin.headers), 409)
    assert_problem(client.post(USERS, json=user_body(country="US"), headers=admin.headers), 403)
    assert _count(factory, AuditEvent) == before


ALTERATIONS = {
    "outcome": "UPDATE audit_events SET outcome = 'failure' WHERE id = :id",
    "details": "UPDATE audit_events SET details = '{}' WHERE id = :id",
    "actor": "UPDATE audit_events SET actor_username = 'someone_else' WHERE id = :id",
    "time": "UPDATE audit_events SET occurred_at = :earlier WHERE id = :id",
}


@pytest.mark.parametrize("sql", ALTERATIONS.values(), ids=ALTERATIONS.keys())
def test_verify_names_the_first_altered_event(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    engine_for: Any,
    sql: str,
) -> None:
    """R22: a row rewritten behind the service's back (triggers bypassed) is found, and the
    first broken link is named even when a later one is broken too."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    assert _verify(client, auditor.headers)["ok"] is True
    first, later = _event_at(factory, 3), _event_at(factory, 6)
    with behind_the_services_back(engine_for(), "audit_events", "UPDATE") as conn:
        for event_id in (later, first):
            conn.execute(text(sql), {"id": event_id, "earlier": T0 - dt.timedelta(days=1)})

    result = _verify(client, auditor.headers)
    assert (result["ok"], result["reason"]) == (False, "event_altered")
    assert (result["broken_seq"], result["broken_event_id"]) == (3, first)
    assert result["checked"] == 2


def test_verify_finds_an_event_rewritten_with_a_matching_hash(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    engine_for: Any,
    settings: Settings,
) -> None:
    """Recomputing the event's own hash does not help a forger, even one holding the audit
    key: the link binds it."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    target = _event_at(factory, 4)
    with factory() as session:
        event = session.get(AuditEvent, target)
        assert event is not None
        event.outcome = "failure"
        forged_hash = event_digest(event, settings.audit_key_bytes)
        session.rollback()
    with behind_the_services_back(engine_for(), "audit_events", "UPDATE") as conn:
        conn.execute(
            text("UPDATE audit_events SET outcome = 'failure', event_hash = :h WHERE id = :id"),
            {"h": forged_hash, "id": target},
        )
    result = _verify(client, auditor.headers)
    assert (result["ok"], result["reason"], result["broken_seq"]) == (False, "link_altered", 4)


@pytest.mark.parametrize(
    ("position", "reason"), [("middle", "missing_link"), ("last", "head_mismatch")]
)
def test_verify_finds_a_deleted_link(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    engine_for: Any,
    position: str,
    reason: str,
) -> None:
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    head = _verify(client, auditor.headers)["head_seq"]
    seq = 3 if position == "middle" else head
    with behind_the_services_back(engine_for(), "audit_links", "DELETE") as conn:
        conn.execute(text("DELETE FROM audit_links WHERE seq = :seq"), {"seq": seq})
    result = _verify(client, auditor.headers)
    assert (result["ok"], result["reason"], result["broken_seq"]) == (False, reason, seq)


def _populate_every_audit_table(client: TestClient, make_user: Any) -> None:
    admin = make_user("admin")
    _activity(client, admin)
    assert client.post(CHECKPOINTS, headers=admin.headers).status_code == 201


@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_database_refuses_to_rewrite_audit_rows(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    engine_for: Any,
    table: str,
    verb: str,
) -> None:
    """R22: the database itself (a trigger, on SQLite and PostgreSQL) refuses UPDATE and
    DELETE of audit rows, whoever connects."""
    _populate_every_audit_table(client, make_user)
    key = {"audit_events": "id", "audit_links": "seq", "audit_checkpoints": "seq"}[table]
    statement = {
        "UPDATE": f"UPDATE {table} SET {key} = {key}",
        "DELETE": f"DELETE FROM {table}",
    }[verb]
    engine = engine_for()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one() > 0
    assert _verify(client, make_user("auditor").headers)["ok"] is True


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_postgres_refuses_to_truncate_audit_tables(
    client: TestClient, make_user: Any, engine_for: Any, table: str
) -> None:
    _populate_every_audit_table(client, make_user)
    with pytest.raises(DBAPIError, match="append-only"), engine_for().begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {table} CASCADE")


# --- Reading the log ----------------------------------------------------------------------


def _events(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(AUDIT, params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_write_is_recorded_with_who_what_and_the_request_id(
    client: TestClient, make_user: Any
) -> None:
    """R22: time, actor, actor's agency and country, action, resource, request id, outcome."""
    admin = make_user("admin")
    request_id = uuid.uuid4().hex
    created = client.post(
        USERS, json=user_body(), headers={**admin.headers, "X-Request-ID": request_id}
    )
    [event] = _events(client, admin.headers, action="user.create", actor_id=str(admin.id))
    assert event["occurred_at"] == T0.isoformat().replace("+00:00", "Z")
    assert (event["actor_username"], event["actor_country"]) == (admin.username, "MX")
    assert event["actor_agency_id"] is None
    assert (event["resource_type"], event["resource_id"]) == ("user", created.json()["id"])
    assert (event["request_id"], event["outcome"]) == (request_id, "success")
    assert event["seq"] is not None
    assert len(event["event_hash"]) == 64


def test_audit_list_filters(client: TestClient, make_user: Any, clock: FixedClock) -> None:
    admin, auditor = make_user("admin"), make_user("auditor")
    early = _activity(client, admin)
    clock.advance(dt.timedelta(minutes=10))  # within the tokens' lifetime
    late = _activity(client, admin)
    headers = auditor.headers

    mine = _events(client, headers, action="user.create", actor_id=str(admin.id))
    assert [e["resource_id"] for e in mine] == early + late

    about_one = _events(client, headers, resource_type="user", resource_id=early[0])
    assert [e["action"] for e in about_one] == ["user.create", "user.update"]

    # A failed login is shown with the country of the user it names (#18 F6); one under a
    # username that names nobody has no country and no country's auditors see it.
    failures = _events(client, headers, outcome="failure")
    assert len(failures) == 2
    assert {(e["action"], e["actor_username"], e["actor_country"]) for e in failures} == {
        ("auth.login", admin.username, "MX")
    }

    middle = (T0 + dt.timedelta(minutes=5)).isoformat()
    before = _events(client, headers, actor_id=str(admin.id), until=middle)
    after = _events(client, headers, actor_id=str(admin.id), since=middle)
    assert {e["resource_id"] for e in before if e["action"] == "user.create"} == set(early)
    assert {e["resource_id"] for e in after if e["action"] == "user.create"} == set(late)
    assert len(before) + len(after) == len(_events(client, headers, actor_id=str(admin.id)))

    assert _events(client, headers, action="no.such.action") == []


def test_audit_list_pages_through_everything_once(client: TestClient, make_user: Any) -> None:
    """DESIGN §5 lists: ``limit`` and an opaque ``next_cursor`` until there is none."""
    admin = make_user("admin")
    _activity(client, admin)
    everything = [e["id"] for e in _events(client, admin.headers)]
    paged: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(AUDIT, params=params, headers=admin.headers).json()
        assert len(page["items"]) <= 3
        paged += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything == sorted(set(everything))
    assert len(everything) > 6


def test_readers_see_their_own_countrys_events(client: TestClient, make_user: Any) -> None:
    """R22/R24: each country audits its own users' actions; events without an actor country
    (failed logins, the system) are shown to both."""
    mx_admin, us_admin = make_user("admin", "MX"), make_user("admin", "US")
    _activity(client, mx_admin)
    assert client.post(USERS, json=user_body(country="US"), headers=us_admin.headers).is_success
    for reader, country in ((make_user("auditor", "MX"), "MX"), (us_admin, "US")):
        seen = _events(client, reader.headers)
        assert {e["actor_country"] for e in seen} == {country, None}
        assert any(e["actor_country"] == country and e["action"] == "user.create" for e in seen)


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-27T12:00:00"},
        {"until": "yesterday"},
        {"cursor": "%%%"},
        {"cursor": encode_cursor(["abc"])},
        {"cursor": encode_cursor([-1])},
        {"cursor": encode_cursor([2**70])},
        {"cursor": encode_cursor([1, 2])},
        {"limit": 201},
        {"actor_id": "not-a-uuid"},
    ],
    ids=[
        "naive-since",
        "bad-until",
        "garbage-cursor",
        "text-cursor",
        "negative-cursor",
        "huge-cursor",
        "cursor-arity",
        "limit",
        "actor-id",
    ],
)
def test_bad_audit_queries_are_422(
    client: TestClient, make_user: Any, params: dict[str, Any]
) -> None:
    """DESIGN §5: never a 500 for bad input (a naive time and a crafted cursor were)."""
    response = client.get(AUDIT, params=params, headers=make_user("auditor").headers)
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["field"].startswith("query.")


@pytest.mark.parametrize("role", NOT_READERS)
def test_only_admins_and_auditors_read_the_audit_log(
    client: TestClient, make_user: Any, role: str
) -> None:
    """R23: the audit routes admit ``admin`` and ``auditor`` only."""
    headers = make_user(role).headers
    for method, path in (
        ("GET", AUDIT),
        ("GET", VERIFY),
        ("GET", CHECKPOINTS),
        ("POST", CHECKPOINTS),
    ):
        assert_problem(client.request(method, path, headers=headers), 403, "ROLE_NOT_ADMITTED")


def test_no_password_reaches_the_audit_log_or_the_logs(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """R22: no secrets in audit events; nor in any log line, even at DEBUG (SQL included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQL and its parameters
    admin = make_user("admin")
    body = user_body(password="Sup3r-Secret-Passw0rd")
    wrong = "Wr0ng-Guess-Passw0rd"
    created = client.post(USERS, json=body, headers=admin.headers)
    assert created.status_code == 201
    login = {"username": body["username"]}
    assert client.post(TOKEN, data={**login, "password": wrong}).status_code == 401
    assert client.post(TOKEN, data={**login, "password": body["password"]}).status_code == 200
    assert client.post(TOKEN, data={"username": "ghost", "password": wrong}).status_code == 401
    short = client.post(USERS, json=user_body(password="Tiny-Pw"), headers=admin.headers)
    assert_problem(short, 422)

    with factory() as session:
        events = [
            json.dumps(e.details) + repr(vars(e)) for e in session.scalars(select(AuditEvent))
        ]
    assert len(events) >= 5
    for secret in (body["password"], wrong, "Tiny-Pw"):
        assert not [e for e in events if secret in e]
        assert secret not in caplog.text
        assert not [r for r in caplog.records if secret in repr(r.args)]
    assert any("INSERT INTO audit_events" in r.getMessage() for r in caplog.records)


# --- Checkpoints ----------------------------------------------------------------------------


# R21/R22 name the algorithm "EdDSA"; joserfc warns that RFC 9864 prefers "Ed25519".
eddsa = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _jwks(client: TestClient) -> KeySet:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


def _verified_claims(token: str, keys: KeySet) -> tuple[dict[str, Any], dict[str, Any]]:
    """(protected header, claims) of a compact JWS that joserfc verified as EdDSA."""
    verified = jws.deserialize_compact(token, keys, algorithms=["EdDSA"])
    return verified.headers(), json.loads(verified.payload)


@eddsa
def test_checkpoint_is_a_jws_verifiable_with_the_published_key(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """R22: a signed checkpoint of the chain head can be exported and checked offline with
    /.well-known/jwks.json — here with joserfc, independent of the service's PyJWT."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    head = _verify(client, auditor.headers)

    response = client.post(CHECKPOINTS, headers=auditor.headers)
    assert response.status_code == 201, response.text
    checkpoint = response.json()
    assert (checkpoint["seq"], checkpoint["chain_hash"]) == (head["head_seq"], head["head_hash"])
    assert checkpoint["created_by"] == str(auditor.id)

    listed = client.get(CHECKPOINTS, headers=admin.headers).json()
    assert listed["items"] == [checkpoint]

    keys = _jwks(client)
    header, claims = _verified_claims(checkpoint["jws"], keys)
    assert (claims["seq"], claims["chain_hash"]) == (checkpoint["seq"], checkpoint["chain_hash"])
    assert claims["jti"] == checkpoint["id"]
    assert claims["sub"] == "audit-chain-head"
    assert (header["alg"], header["typ"]) == ("EdDSA", "audit-checkpoint+jwt")
    assert keys.get_by_kid(header["kid"])

    with factory() as session:
        link = session.get(AuditLink, checkpoint["seq"])
        assert link is not None
        assert link.chain_hash == claims["chain_hash"]
    [event] = _events(client, auditor.headers, action="audit.checkpoint")
    assert event["resource_id"] == checkpoint["id"]


@eddsa
def test_altered_checkpoint_fails_verification(client: TestClient, make_user: Any) -> None:
    auditor = make_user("auditor")
    token = client.post(CHECKPOINTS, headers=auditor.headers).json()["jws"]
    keys = _jwks(client)
    _, claims = _verified_claims(token, keys)
    head, _, signature = token.split(".")
    claims["seq"] += 1
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(BadSignatureError):
        _verified_claims(f"{head}.{forged}.{signature}", keys)


def test_checkpoints_are_listed_by_page(
    client: TestClient, make_user: Any, clock: FixedClock
) -> None:
    auditor = make_user("auditor")
    made = []
    for _ in range(3):
        made.append(client.post(CHECKPOINTS, headers=auditor.headers).json()["id"])
        clock.advance(dt.timedelta(minutes=1))
    first = client.get(CHECKPOINTS, params={"limit": 2}, headers=auditor.headers).json()
    assert first["next_cursor"]
    second = client.get(
        CHECKPOINTS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auditor.headers
    ).json()
    assert second["next_cursor"] is None
    assert [c["id"] for c in first["items"] + second["items"]] == made


@pytest.mark.parametrize(
    "cursor",
    [encode_cursor(["not a time", str(uuid.uuid4())]), encode_cursor(["2026-11-27T12:00:00", "x"])],
    ids=["bad-time", "bad-id"],
)
def test_bad_checkpoint_cursor_is_422(client: TestClient, make_user: Any, cursor: str) -> None:
    response = client.get(
        CHECKPOINTS, params={"cursor": cursor}, headers=make_user("auditor").headers
    )
    assert_problem(response, 422, "VALIDATION_ERROR")


def test_audit_about_an_official_finds_every_event_that_concerns_them(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """#15: ``resource_id=<official>`` finds the events about the official, not only those
    whose resource is the official itself: appointments, screening gate, evaluations, the
    listing and its appeal, separations (R22). Another official's events stay out."""
    from tests.registry.builders import evaluate, make_agency, official_body, register, with_result

    police = make_agency(factory, country="MX", acronym="PEJ")
    justice = make_agency(factory, country="MX", acronym="FGR", sector="justice")
    c3 = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    hr_police = make_user("personnel_officer", "MX", agency_id=police)
    hr_justice = make_user("personnel_officer", "MX", agency_id=justice)
    vetter = make_user("vetting_officer", "MX", agency_id=c3)
    admin, auditor = make_user("admin", "MX"), make_user("auditor", "MX")

    official = register(client, hr_police.headers, official_body(police))
    other = register(client, hr_police.headers, official_body(police, given="MARIA", sex="F"))
    evaluate(client, vetter.headers, other["id"], c3)
    second = client.post(
        f"/api/v1/officials/{official['id']}/appointments",
        json={
            "agency_id": str(justice),
            "position": "Ministerio Público",
            "rank_tier": "line",
            "started_on": "2026-10-01",
        },
        headers=hr_justice.headers,
    )
    assert second.status_code == 201, second.text
    evaluation = evaluate(
        client, vetter.headers, official["id"], c3, components=with_result("polygraph", "fail")
    )
    assert evaluation["listing_id"]
    appeal = client.post(
        f"/api/v1/listings/{evaluation['listing_id']}/appeals",
        json={"grounds": "The polygraph operator was not certified."},
        headers=admin.headers,
    )
    assert appeal.status_code == 201, appeal.text
    separation = client.post(
        f"/api/v1/officials/{official['id']}/separations",
        json={
            "appointment_id": official["appointments"][0]["id"],
            "reason": "resignation",
            "effective_on": "2026-11-02",
        },
        headers=hr_police.headers,
    )
    assert separation.status_code == 201, separation.text

    events = _events(client, auditor.headers, resource_id=official["id"])
    found = {(e["action"], e["resource_type"], e["resource_id"]) for e in events}
    assert {
        ("official.register", "official", official["id"]),
        ("screening.gate", "official", official["id"]),
        ("appointment.appointment", "appointment", second.json()["id"]),
        ("evaluation.record", "evaluation", evaluation["id"]),
        ("listing.create", "listing", evaluation["listing_id"]),
        ("appeal.file", "listing", evaluation["listing_id"]),
        ("separation.record", "separation", separation.json()["id"]),
    } <= found, sorted(found)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert all(
        e["resource_id"] == official["id"]
        or e["details"].get("official_id") == official["id"]
        or e["resource_id"] in (evaluation["listing_id"], evaluation["id"])
        for e in events
    ), "an event about someone else"
    # The narrower question still has its answer: the official as the resource itself.
    itself = _events(client, auditor.headers, resource_type="official", resource_id=official["id"])
    assert {e["resource_id"] for e in itself} == {official["id"]}
    assert {e["action"] for e in itself} >= {"official.register", "screening.gate"}
    # Another official's id finds none of these.
    theirs = _events(client, auditor.headers, resource_id=other["id"])
    assert theirs
    assert not {e["id"] for e in theirs} & {e["id"] for e in events}
    # Paging through the wider answer yields the same events once each.
    paged, cursor = [], None
    while True:
        params: dict[str, Any] = {"resource_id": official["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(AUDIT, params=params, headers=auditor.headers).json()
        paged += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert paged == [e["id"] for e in events]
