"""Eligibility of known officials (R17 without task forces, R21, R24, R12): reason codes, the
bulk assessment task forces reuse, signed attestations checked with an independent JOSE
library (joserfc), and the audit trail."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError
from joserfc.jwk import KeySet
from sqlalchemy import event, select

from app.db import unit_of_work
from app.models import AuditEvent, Evaluation, RandomDraw, RandomSelection
from app.services.task_forces.eligibility import assess
from tests.conftest import T0
from tests.registry.builders import ALL_PASS, evaluate, official_body, register, with_result

TODAY = T0.date()


@pytest.fixture
def people(client, world, factory) -> dict[str, str]:
    """One official per situation, through the API so the real rules run."""
    hr, vetter, c3 = world["mx_hr"].headers, world["mx_vetter"].headers, world["mx_c3"]
    names = iter(
        (
            "ANA",
            "BERTA",
            "CARLA",
            "DIANA",
            "ELENA",
            "FLOR",
            "GLORIA",
            "HILDA",
            "IRMA",
            "JULIA",
            "KARLA",
        )
    )

    def official(**extra: Any) -> str:
        body = official_body(
            world["mx_police"], given=next(names), first="SOTO", second="PAZ", sex="F", **extra
        )
        return str(register(client, hr, body)["id"])

    def vet(official_id: str, on: str, components: list[dict[str, str]] = ALL_PASS) -> None:
        evaluate(
            client,
            vetter,
            official_id,
            c3,
            components=components,
            conducted_on=dt.date.fromisoformat(on),
        )

    p: dict[str, str] = {}
    p["eligible"] = official()
    vet(p["eligible"], "2026-11-01")
    p["never"] = official()
    p["expired"] = official()
    vet(p["expired"], "2022-06-01")
    p["failed"] = official()
    vet(p["failed"], "2026-10-01", with_result("financial", "fail"))
    p["refused"] = official()
    vet(p["refused"], "2026-10-01", with_result("polygraph", "refused"))
    p["inconclusive"] = official()
    vet(p["inconclusive"], "2026-11-01", ALL_PASS[:3])
    p["retest_window"] = official()
    vet(p["retest_window"], "2026-01-05")
    vet(p["retest_window"], "2026-11-01", with_result("medical", "inconclusive"))
    p["promoted"] = official()
    vet(p["promoted"], "2025-01-10")
    first = client.get(f"/api/v1/officials/{p['promoted']}", headers=hr).json()["appointments"][0]
    r = client.post(
        f"/api/v1/officials/{p['promoted']}/appointments",
        json={
            "agency_id": str(world["mx_police"]),
            "position": "Comandante",
            "rank_tier": "command",
            "started_on": "2026-06-01",
            "replaces_appointment_id": first["id"],
        },
        headers=hr,
    )
    assert r.status_code == 201, r.text
    p["inactive"] = official()
    vet(p["inactive"], "2026-11-01")
    appt = client.get(f"/api/v1/officials/{p['inactive']}", headers=hr).json()["appointments"][0]
    r = client.post(
        f"/api/v1/officials/{p['inactive']}/appointments/{appt['id']}/end",
        json={"ended_on": "2026-11-02"},
        headers=hr,
    )
    assert r.status_code == 200, r.text
    p["random"] = official()
    vet(p["random"], "2026-01-05")
    p["old"] = official()
    vet(p["old"], "2025-01-10")
    with unit_of_work(factory) as session:
        draw = RandomDraw(
            scope={"country": "MX"},
            sample_size=1,
            population_size=1,
            population_hash="0" * 64,
            status="completed",
            commit_deadline=T0,
            reveal_deadline=T0,
            seed="1" * 64,
            random_due_days=30,
            created_by=world["mx_admin"].id,
            created_at=T0,
        )
        session.add(draw)
        session.flush()
        session.add(
            RandomSelection(
                draw_id=draw.id,
                official_id=uuid.UUID(p["random"]),
                rank=1,
                ranking_mac="2" * 64,
                selected_on=dt.date(2026, 9, 1),
                due_on=dt.date(2026, 10, 1),
                created_at=T0,
            )
        )
    return p


def test_reason_codes_task_force_parts_and_constant_statements(people, factory, world, app):
    """DESIGN §3 reason codes, one situation each; VETTING_TOO_OLD and
    RECIPROCAL_VETTING_MISSING when a task force asks; statements that do not grow with the
    number of officials."""
    with unit_of_work(factory) as session:
        result = assess(session, [uuid.UUID(i) for i in people.values()], today=TODAY)
    got = {
        name: (result[uuid.UUID(i)].verdict, list(result[uuid.UUID(i)].reasons))
        for name, i in people.items()
    }
    assert got == {
        "eligible": ("eligible", []),
        "never": ("ineligible", ["NEVER_VETTED"]),
        "expired": ("ineligible", ["VETTING_EXPIRED"]),
        "failed": ("ineligible", ["LISTED", "VETTING_FAILED"]),
        "refused": ("ineligible", ["LISTED", "VETTING_REFUSED"]),
        "inconclusive": ("ineligible", ["VETTING_INCONCLUSIVE"]),
        "retest_window": ("eligible", []),
        "promoted": ("ineligible", ["PROMOTION_REVETTING_DUE"]),
        "inactive": ("ineligible", ["NOT_ACTIVE"]),
        "random": ("ineligible", ["RANDOM_REVETTING_OVERDUE"]),
        "old": ("eligible", []),
    }
    assert result[uuid.UUID(people["eligible"])].valid_until == dt.date(2029, 11, 1)
    # Within the retest window an earlier pass still holds, until the retest is due (R6).
    assert result[uuid.UUID(people["retest_window"])].valid_until == dt.date(2027, 1, 30)

    # Task-force parts (R17), for the task-force service, which calls assess with its roster.
    ids = [uuid.UUID(i) for i in people.values()]
    eligible, old = uuid.UUID(people["eligible"]), uuid.UUID(people["old"])
    with unit_of_work(factory) as session:
        strict = assess(
            session, ids, today=TODAY, max_vetting_age_months=12, require_reciprocal=True
        )
        assert strict[old].reasons == ("VETTING_TOO_OLD", "RECIPROCAL_VETTING_MISSING")
        assert strict[eligible].reasons == ("RECIPROCAL_VETTING_MISSING",)
        session.add(
            Evaluation(
                official_id=eligible,
                conducted_by=world["us_vet"],
                conducted_by_country="US",
                trigger="reciprocal",
                components={},
                outcome="pass",
                conducted_on=dt.date(2026, 10, 1),
                valid_until=dt.date(2031, 10, 1),
                interval_months=60,
                created_at=T0,
            )
        )
        session.flush()
        again = assess(
            session, [eligible], today=TODAY, max_vetting_age_months=12, require_reciprocal=True
        )[eligible]
        assert again.verdict == "eligible"
        assert again.valid_until == dt.date(2027, 11, 1)  # 12 months after the latest pass

    counts = []
    for wanted in (ids[:1], ids):
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany, sink=statements):
            sink.append(statement)

        event.listen(app.state.engine, "before_cursor_execute", count)
        try:
            with unit_of_work(factory) as session:
                assess(
                    session, wanted, today=TODAY, max_vetting_age_months=12, require_reciprocal=True
                )
        finally:
            event.remove(app.state.engine, "before_cursor_execute", count)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] <= 6


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# RFC 9864 deprecates the name "EdDSA" for "Ed25519"; DESIGN R21 names EdDSA (docs/attestations.md).
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_attestation_verifies_offline_and_expires(client, people, world, settings, factory):
    """R21: a compact JWS (EdDSA) verifiable against the published JWKS with joserfc;
    rejected once expired and when tampered with. R24: the other country gets the verdict
    for a listed person and 404 for anyone else. R12: every answer audited."""
    url = f"/api/v1/officials/{people['eligible']}/eligibility"
    r = client.get(url, params={"attest": "true"}, headers=world["mx_hr_fgr"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "eligible"
    assert body["view"] == "full"
    token = body["attestation"]

    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["EdDSA"])
    assert decoded.header["typ"] == "eligibility+jwt"
    assert decoded.header["alg"] == "EdDSA"
    claims = decoded.claims
    assert claims["sub"] == people["eligible"]
    assert claims["iss"] == settings.jwt_issuer
    assert claims["verdict"] == "eligible"
    assert claims["reasons"] == []
    assert claims["valid_until"] == "2029-11-01"
    assert claims["exp"] - claims["iat"] == settings.attestation_seconds
    assert claims["jti"]
    iat = int(T0.timestamp())
    jwt.JWTClaimsRegistry(
        now=iat + 60, iss={"essential": True, "value": settings.jwt_issuer}, exp={"essential": True}
    ).validate(claims)
    with pytest.raises(ExpiredTokenError):
        jwt.JWTClaimsRegistry(now=iat + settings.attestation_seconds + 1).validate(claims)

    header, _payload, signature = token.split(".")
    forged = _b64({**claims, "verdict": "eligible", "sub": people["failed"]})
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged}.{signature}", keys, algorithms=["EdDSA"])

    # Across the border: the listed official's verdict; the unlisted one does not exist.
    us = world["us_admin"].headers
    failed = client.get(f"/api/v1/officials/{people['failed']}/eligibility", headers=us).json()
    assert failed["view"] == "public"
    assert failed["reasons"] == ["LISTED", "VETTING_FAILED"]
    never = client.get(f"/api/v1/officials/{people['never']}/eligibility", headers=us)
    assert never.status_code == 404
    assert client.get(url, headers=world["mx_admin"].headers).json()["attestation"] is None

    with unit_of_work(factory) as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "eligibility.read")
            .order_by(AuditEvent.id)
        ).all()
    assert [(e.details["verdict"], e.details["cross_border"]) for e in events] == [
        ("eligible", False),
        ("ineligible", True),
        ("eligible", False),
    ]
    assert events[0].details["attestation_id"] == claims["jti"]


def test_eligibility_is_not_for_auditors(client, make_user):
    caller = make_user("auditor", "MX")
    r = client.get(f"/api/v1/officials/{uuid.uuid4()}/eligibility", headers=caller.headers)
    assert r.status_code == 403
