"""Concurrency and integrity on PostgreSQL (DESIGN §6, issue 8; docs/security.md).

Many clients at once against a real server (uvicorn on 127.0.0.1, one process, a thread pool
of workers; the database does the arbitration): registrations, evaluations that pass, fail or
are refused on a few shared officials, appeals racing on the same listings, and user updates
racing with one ETag. Afterwards: no request failed with a 5xx, no update was lost, no official
carries two blocking listings of one basis, no listing two pending appeals, every write is in
an audit chain that verifies with nothing pending.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import Appeal, Appointment, AuditEvent, Evaluation, Listing, Official, User
from app.models.listing import BLOCKING_STATUSES
from tests.api.test_conventions import USERS
from tests.registry.builders import (
    ALL_PASS,
    distinct_names,
    make_agency,
    official_body,
    with_result,
)
from tests.security.conftest import serve

pytestmark = pytest.mark.postgres_only

CLIENTS = 12
ROUNDS = 15
SHARED_OFFICIALS = 5
SHARED_USERS = 3
ROLE_SETS = [["auditor"], ["admin", "auditor"], ["admin"]]


@dataclass
class Outcome:
    kind: str
    status: int
    target: str | None = None
    sent_etag: str | None = None


def test_mixed_concurrent_writes_keep_the_registry_consistent(
    app: FastAPI, factory: sessionmaker[Session], make_user: Any
) -> None:
    police = make_agency(factory, country="MX", acronym="POL")
    c3 = make_agency(factory, country="MX", acronym="C3", can_vet=True)
    admin, auditor = make_user("admin", "MX"), make_user("auditor", "MX")
    clerks = [make_user("personnel_officer", "MX", agency_id=police) for _ in range(4)]
    vetters = [make_user("vetting_officer", "MX", agency_id=c3) for _ in range(4)]
    births = itertools.count()

    def new_official() -> dict[str, Any]:
        n = next(births)
        dob = dt.date(1955, 1, 1) + dt.timedelta(days=n)
        # Names of their own: the R3 gate would rightly hold look-alikes of the listed ones.
        given, first, second = distinct_names(n)
        return official_body(police, given=given, first=first, second=second, dob=dob)

    outcomes: list[Outcome] = []
    failures: list[BaseException] = []

    with serve(app) as base:
        with httpx.Client(base_url=base, timeout=60) as setup:
            shared = []
            for _ in range(SHARED_OFFICIALS):
                r = setup.post("/api/v1/officials", json=new_official(), headers=clerks[0].headers)
                assert r.status_code == 201, r.text
                shared.append(r.json()["id"])
            targets = []
            for _ in range(SHARED_USERS):
                body = {
                    "username": f"target_{uuid.uuid4().hex[:8]}",
                    "password": "a long enough password",
                    "roles": ["auditor"],
                    "country": "MX",
                }
                r = setup.post(USERS, json=body, headers=admin.headers)
                assert r.status_code == 201, r.text
                targets.append(r.json()["id"])

        start = threading.Barrier(CLIENTS, timeout=60)

        def client_loop(n: int) -> None:
            rng = random.Random(n)
            clerk, vetter = clerks[n % len(clerks)], vetters[n % len(vetters)]
            try:
                with httpx.Client(base_url=base, timeout=60) as http:
                    start.wait()
                    for round_ in range(ROUNDS):
                        kind = ("register", "evaluate", "appeal", "update")[(n + round_) % 4]
                        outcomes.append(act(http, rng, kind, clerk, vetter))
            except BaseException as exc:  # reported below with the thread's traceback
                failures.append(exc)

        def act(
            http: httpx.Client, rng: random.Random, kind: str, clerk: Any, vetter: Any
        ) -> Outcome:
            if kind == "register":
                r = http.post("/api/v1/officials", json=new_official(), headers=clerk.headers)
                return Outcome(kind, r.status_code, r.json().get("id"))
            if kind == "evaluate":
                official = rng.choice(shared)
                components = rng.choice(
                    [ALL_PASS, with_result("polygraph", "fail"), with_result("medical", "refused")]
                )
                r = http.post(
                    f"/api/v1/officials/{official}/evaluations",
                    json={
                        "conducted_by": str(c3),
                        "trigger": "periodic",
                        "conducted_on": "2026-11-01",
                        "components": components,
                    },
                    headers=vetter.headers,
                )
                return Outcome(kind, r.status_code, official)
            if kind == "appeal":
                official = rng.choice(shared)
                listed = http.get(
                    "/api/v1/listings",
                    params={"official_id": official, "status": "active"},
                    headers=clerk.headers,
                )
                assert listed.status_code == 200, listed.text
                items = listed.json()["items"]
                if not items:
                    return Outcome(kind, listed.status_code, None)
                # The listing agency here is the vetting body; the country's admin appeals.
                r = http.post(
                    f"/api/v1/listings/{items[0]['id']}/appeals",
                    json={"grounds": "The examiner was not certified at the time."},
                    headers=admin.headers,
                )
                return Outcome(kind, r.status_code, items[0]["id"])
            target = rng.choice(targets)
            read = http.get(f"{USERS}/{target}", headers=admin.headers)
            assert read.status_code == 200, read.text
            etag = read.headers["etag"]
            # Always a real change (an update that changes nothing leaves the version alone).
            current = sorted(read.json()["roles"])
            roles = rng.choice([r for r in ROLE_SETS if sorted(r) != current])
            r = http.patch(
                f"{USERS}/{target}",
                json={"roles": roles},
                headers={**admin.headers, "If-Match": etag},
            )
            return Outcome(kind, r.status_code, target, etag)

        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not [t for t in threads if t.is_alive()], "a client is stuck"
        assert not failures, failures

        with httpx.Client(base_url=base, timeout=60) as after:
            # One more write links anything still pending, then the chain must verify.
            r = after.post(USERS, json={**_user(), "roles": ["auditor"]}, headers=admin.headers)
            assert r.status_code == 201, r.text
            verify = after.get("/api/v1/audit/verify", headers=auditor.headers)
            assert verify.status_code == 200, verify.text

    by_kind: dict[str, Counter[int]] = defaultdict(Counter)
    for o in outcomes:
        by_kind[o.kind][o.status] += 1
    assert len(outcomes) == CLIENTS * ROUNDS
    # No 5xx of any kind; the only refusals are the ones concurrency calls for.
    assert set(by_kind["register"]) == {201}, by_kind
    assert set(by_kind["evaluate"]) == {201}, by_kind
    # A second appeal of one listing is refused by the rule (409), never by the version check
    # (412: the appeal request carries no If-Match; docs/api.md).
    assert set(by_kind["appeal"]) <= {200, 201, 409}, by_kind
    assert set(by_kind["update"]) <= {200, 412}, by_kind
    assert by_kind["update"][200] >= SHARED_USERS, by_kind  # the race had winners

    with factory() as session:
        # Registrations: one official, one appointment each.
        created = [o.target for o in outcomes if o.kind == "register"]
        ids = [uuid.UUID(i) for i in created if i]
        assert session.scalar(select(func.count()).where(Official.id.in_(ids))) == len(created)
        assert session.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.official_id.in_(ids))
        ) == len(created)

        # Evaluations: all kept; at most one blocking listing per official and basis, and one
        # wherever a failure or refusal was recorded.
        shared_ids = [uuid.UUID(i) for i in shared]
        assert (
            session.scalar(
                select(func.count())
                .select_from(Evaluation)
                .where(Evaluation.official_id.in_(shared_ids))
            )
            == by_kind["evaluate"][201]
        )
        blocking = session.execute(
            select(Listing.official_id, Listing.basis, func.count())
            .where(Listing.status.in_(BLOCKING_STATUSES))
            .group_by(Listing.official_id, Listing.basis)
        ).all()
        assert all(count == 1 for _, _, count in blocking), blocking
        outcomes_of = session.execute(
            select(Evaluation.official_id, Evaluation.outcome).where(
                Evaluation.official_id.in_(shared_ids)
            )
        ).all()
        basis = {"fail": "failed_vetting", "refused": "refused_vetting"}
        expected = {(o, basis[out]) for o, out in outcomes_of if out in basis}
        assert expected <= {(o, b) for o, b, _ in blocking}

        # Appeals: never two pending on one listing; a pending one means under_appeal.
        pending = session.execute(
            select(Appeal.listing_id, func.count())
            .where(Appeal.status == "pending")
            .group_by(Appeal.listing_id)
        ).all()
        assert all(count == 1 for _, count in pending), pending
        for listing_id, _ in pending:
            assert session.get(Listing, listing_id).status == "under_appeal"  # type: ignore[union-attr]
        assert len(pending) == by_kind["appeal"][201]

        # User updates: no lost update. Each user's version moved once per success, every
        # success sent a different ETag, and each success is in the audit log.
        for target in targets:
            wins = [
                o for o in outcomes if o.kind == "update" and o.target == target and o.status == 200
            ]
            user = session.get(User, uuid.UUID(target))
            assert user is not None
            assert user.version == 1 + len(wins)
            assert len({o.sent_etag for o in wins}) == len(wins)
            events = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.resource_id == target, AuditEvent.action == "user.update")
            )
            assert events == len(wins)

    result = verify.json()
    assert result["ok"] is True, result
    assert result["pending"] == 0
    assert result["checked"] == result["head_seq"]


def _user() -> dict[str, Any]:
    return {
        "username": f"late_{uuid.uuid4().hex[:8]}",
        "password": "a long enough password",
        "country": "MX",
    }
