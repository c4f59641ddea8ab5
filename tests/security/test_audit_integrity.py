"""Audit integrity and audit scoping (R22, R24; #19, #18 F3c and F6; docs/security.md 3.6).

* A chain truncated behind a signed checkpoint does not verify.
* A database role cannot forge an event that verifies: hashes and links are keyed.
* Each country's oversight sees what the other country did to its officials, at verdict level.
* Login events carry the user's country and stay in it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.models import AuditEvent, AuditHead, AuditLink, AuditPending
from app.services.audit.audit import GENESIS_HASH, HEAD_ID, event_digest, link_digest
from tests.api.test_audit import _activity, behind_the_services_back
from tests.conftest import PASSWORD, T0, login
from tests.registry.builders import evaluate, official_body, register
from tests.task_forces.test_task_forces import create_tf, nominate, tfw  # noqa: F401

AUDIT = "/api/v1/audit"
VERIFY = f"{AUDIT}/verify"
CHECKPOINTS = f"{AUDIT}/checkpoints"


def _verify(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(VERIFY, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _events(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(AUDIT, params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- 1. Truncation behind a checkpoint (#19) ----------------------------------------------


def test_tail_truncated_behind_a_checkpoint_does_not_verify(
    client: TestClient, make_user: Any, factory: sessionmaker[Session], engine_for: Any
) -> None:
    """Deleting the last events and rewinding the head leaves a chain that is whole by itself;
    the newest signed checkpoint is beyond its end, so verify reports ``truncated``."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    cp = client.post(CHECKPOINTS, headers=auditor.headers)
    assert cp.status_code == 201, cp.text
    cp_seq = cp.json()["seq"]
    assert _verify(client, auditor.headers)["ok"] is True

    keep = cp_seq - 2
    with factory() as session:
        kept_hash = session.scalar(select(AuditLink.chain_hash).where(AuditLink.seq == keep))
        doomed = list(session.scalars(select(AuditLink.event_id).where(AuditLink.seq > keep)))
    engine = engine_for()
    with behind_the_services_back(engine, "audit_links", "DELETE") as conn:
        conn.execute(text("DELETE FROM audit_links WHERE seq > :keep"), {"keep": keep})
    with behind_the_services_back(engine, "audit_events", "DELETE") as conn:
        conn.execute(AuditPending.__table__.delete().where(AuditPending.event_id.in_(doomed)))
        conn.execute(AuditEvent.__table__.delete().where(AuditEvent.id.in_(doomed)))
        conn.execute(
            update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=keep, chain_hash=kept_hash)
        )

    result = _verify(client, auditor.headers)
    assert (result["ok"], result["reason"]) == (False, "truncated")
    assert (result["checked"], result["broken_seq"]) == (keep, keep + 1)
    assert (result["checkpoint_id"], result["checkpoint_seq"]) == (cp.json()["id"], cp_seq)


def test_an_altered_checkpoint_is_reported_not_believed(
    client: TestClient, make_user: Any, engine_for: Any
) -> None:
    """Rewinding the stored checkpoint's position (to hide a truncation) breaks its signature:
    the signed claims, not the row's columns, are what the chain is held to."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    assert client.post(CHECKPOINTS, headers=auditor.headers).status_code == 201
    with behind_the_services_back(engine_for(), "audit_checkpoints", "UPDATE") as conn:
        conn.execute(text("UPDATE audit_checkpoints SET seq = seq - 1"))
    result = _verify(client, auditor.headers)
    assert (result["ok"], result["reason"]) == (False, "checkpoint_invalid")


# --- 2. Forged events (#19) ---------------------------------------------------------------


def _forged_event(now: dt.datetime) -> AuditEvent:
    event = AuditEvent(
        occurred_at=now,
        actor_id=None,
        actor_username="ghost",
        actor_country="MX",
        actor_agency_id=None,
        action="listing.withdrawn",
        resource_type="listing",
        resource_id="forged",
        request_id=None,
        outcome="success",
        details={},
    )
    event.event_hash = event_digest(event, None)  # all a database role can compute
    return event


def _insert_event(conn: Any, event: AuditEvent) -> int:
    values = {
        c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns if c.name != "id"
    }
    event_id: int = conn.execute(insert(AuditEvent).values(**values)).inserted_primary_key[0]
    return event_id


def test_an_event_inserted_with_a_correct_unkeyed_link_does_not_verify(
    client: TestClient, make_user: Any, engine_for: Any
) -> None:
    """A role that may INSERT (no trigger stops it) appends an event, its link computed the
    way the chain was computed before 0009 (sha256), and moves the head: verify names it."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    assert _verify(client, auditor.headers)["ok"] is True
    with engine_for().begin() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.chain_hash)).one()
        event = _forged_event(T0)
        event_id = _insert_event(conn, event)
        seq = head.seq + 1
        link = link_digest(head.chain_hash, seq, event_id, event.event_hash, None)
        conn.execute(
            insert(AuditLink).values(
                seq=seq, event_id=event_id, prev_hash=head.chain_hash, chain_hash=link
            )
        )
        conn.execute(update(AuditHead).values(seq=seq, chain_hash=link))

    result = _verify(client, auditor.headers)
    assert result["ok"] is False
    assert (result["broken_seq"], result["broken_event_id"]) == (seq, event_id)
    assert result["reason"] == "event_altered"


def test_an_event_slipped_into_the_pending_queue_does_not_verify(
    client: TestClient, make_user: Any, engine_for: Any
) -> None:
    """The other way in: insert the event and a pending row, and let the service's own chainer
    link it with the key. The event's own hash is keyed too, so it still does not verify."""
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    with engine_for().begin() as conn:
        event_id = _insert_event(conn, _forged_event(T0))
        conn.execute(insert(AuditPending).values(event_id=event_id))
    result = _verify(client, auditor.headers)  # links pending events first
    assert (result["ok"], result["reason"]) == (False, "event_altered")
    assert result["broken_event_id"] == event_id


def test_the_unkeyed_chain_from_before_0009_still_verifies(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """Migration path: events and links written before 0009 keep their sha256 hashes, and
    ``audit_head`` records where the keyed ones begin (what 0009's UPDATE sets); the whole
    chain verifies, the old part unkeyed and the new part keyed."""
    with factory() as session, session.begin():
        head = session.get(AuditHead, HEAD_ID)
        assert head is not None
        assert head.seq == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        prev = GENESIS_HASH
        for n in range(1, 4):
            event = _forged_event(T0 + dt.timedelta(seconds=n))
            session.add(event)
            session.flush()
            digest = link_digest(prev, n, event.id, event.event_hash, None)
            session.add(AuditLink(seq=n, event_id=event.id, prev_hash=prev, chain_hash=digest))
            prev = digest
        session.flush()
        head.seq, head.chain_hash = 3, prev
        head.keyed_from_seq, head.keyed_from_event_id = 4, event.id + 1
    admin, auditor = make_user("admin"), make_user("auditor")
    _activity(client, admin)
    result = _verify(client, auditor.headers)
    assert result["ok"] is True, result
    assert result["checked"] > 3


# --- 3. Cross-border oversight (#19, #18 F3c) ---------------------------------------------

VERDICT_KEYS = {"official_id", "outcome", "trigger", "role"}


def _cross_border(events: list[dict[str, Any]], action: str, official_id: str) -> dict[str, Any]:
    found = [
        e
        for e in events
        if e["action"] == action and e["details"].get("official_id") == official_id
    ]
    assert len(found) == 1, events
    return found[0]


def test_each_countrys_oversight_sees_what_the_other_did_to_its_officials(
    client: TestClient,
    make_user: Any,
    tfw: dict[str, Any],  # noqa: F811  (the task-force world fixture, imported)
) -> None:
    w = tfw
    mx_auditor, us_auditor = make_user("auditor", "MX"), make_user("auditor", "US")
    tf = create_tf(client, w)  # led by a Mexican agency
    mx_official = register(
        client, w["mx_hr"].headers, official_body(w["mx_police"], given="ANA", first="RUIZ")
    )
    us_official = register(
        client,
        w["us_hr"].headers,
        official_body(w["fbi"], given="JOHN", first="SMITH", second=None, curp=False),
    )
    nominate(client, w, tf, mx_official["id"], by=w["lead"])
    nominate(client, w, tf, us_official["id"], by=w["us_admin"])  # #18 F3: its own people
    evaluate(
        client,
        w["us_vetter"].headers,
        mx_official["id"],
        w["us_vet"],
        trigger="reciprocal",
        notes="free text the other country must not read",
    )
    evaluate(client, w["mx_vetter"].headers, us_official["id"], w["mx_c3"], trigger="reciprocal")

    mx_seen = _events(client, mx_auditor.headers)
    us_seen = _events(client, us_auditor.headers)

    # The Mexican oversight: the U.S. reciprocal evaluation of a Mexican official, and the U.S.
    # nomination into the task force Mexico leads, at verdict level.
    us_eval = _cross_border(mx_seen, "evaluation.record", mx_official["id"])
    us_nomination = _cross_border(mx_seen, "task_force.nominate", us_official["id"])
    for event in (us_eval, us_nomination):
        assert event["cross_border"] is True
        assert (event["actor_country"], event["actor_id"], event["actor_username"]) == (
            "US",
            None,
            None,
        )
        assert event["request_id"] is None
        assert set(event["details"]) <= VERDICT_KEYS
        assert event["occurred_at"]
        assert event["outcome"] == "success"
    assert us_eval["actor_agency_id"] == str(w["us_vetter"].agency_id)
    assert us_eval["details"]["trigger"] == "reciprocal"
    assert "notes" not in str(us_eval)
    assert w["us_vetter"].username not in str(mx_seen)
    assert w["us_hr"].username not in str(mx_seen)  # U.S. work on U.S. people stays there
    assert not any(e["action"] == "official.create" and e["actor_country"] == "US" for e in mx_seen)

    # And the reverse: the Mexican reciprocal evaluation of a U.S. official.
    mx_eval = _cross_border(us_seen, "evaluation.record", us_official["id"])
    assert (mx_eval["cross_border"], mx_eval["actor_country"], mx_eval["actor_username"]) == (
        True,
        "MX",
        None,
    )
    assert w["mx_vetter"].username not in str(us_seen)
    # The acting country sees its own event whole.
    own = _cross_border(us_seen, "evaluation.record", mx_official["id"])
    assert (own["cross_border"], own["actor_username"]) == (False, w["us_vetter"].username)

    # Other countries' ids are not a filter into their events.
    assert _events(client, mx_auditor.headers, actor_id=str(w["us_vetter"].id)) == []


# --- 4. Logins stay in their country (#18 F6) ---------------------------------------------


def test_login_events_carry_the_users_country_and_stay_in_it(
    client: TestClient, make_user: Any
) -> None:
    mx_auditor, us_auditor = make_user("auditor", "MX"), make_user("auditor", "US")
    us_user, mx_user = make_user("personnel_officer", "US"), make_user("personnel_officer", "MX")
    login(client, us_user.username, PASSWORD)
    login(client, mx_user.username, PASSWORD)
    for username in (us_user.username, "nobody-by-this-name"):
        bad = client.post("/api/v1/auth/token", data={"username": username, "password": "x"})
        assert bad.status_code == 401

    mx_logins = _events(client, mx_auditor.headers, action="auth.login")
    us_logins = _events(client, us_auditor.headers, action="auth.login")
    assert {e["actor_username"] for e in mx_logins} == {mx_user.username}
    assert {e["actor_country"] for e in mx_logins} == {"MX"}
    assert [(e["actor_username"], e["outcome"]) for e in us_logins] == [
        (us_user.username, "success"),
        (us_user.username, "failure"),
    ]
    assert {e["actor_id"] for e in us_logins} == {str(us_user.id)}
    # A username that names nobody has no country: no country's auditors see it, and it is
    # still recorded and chained.
    assert "nobody-by-this-name" not in str(mx_logins + us_logins)
    assert _verify(client, us_auditor.headers)["ok"] is True


@pytest.mark.parametrize("reader_country", ["MX", "US"])
def test_unknown_username_logins_are_shown_to_no_country(
    client: TestClient, make_user: Any, reader_country: str
) -> None:
    reader = make_user("admin", reader_country)
    client.post("/api/v1/auth/token", data={"username": "intruder", "password": "guess"})
    assert [e for e in _events(client, reader.headers) if e["actor_username"] == "intruder"] == []


# --- 5. The index behind GET /audit?resource_id=<official> (0009) --------------------------


def test_events_about_an_official_are_found_through_the_expression_index(
    engine_for: Any,
) -> None:
    """Migration 0009's index is on exactly the expression ``audit_queries`` writes."""
    from app.services.audit.audit_queries import _DETAILS_OFFICIAL_ID

    engine = engine_for()
    expression = _DETAILS_OFFICIAL_ID[engine.dialect.name]
    query = f"SELECT id FROM audit_events WHERE {expression} = 'x'"
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {query}"))
        else:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert "ix_audit_events_details_official_id" in plan
