"""DESIGN §5: every POST that creates a record (answers 201) accepts ``Idempotency-Key`` (#16).

Idempotency is declared, not written by hand: a route takes it with ``@idempotent``, which
answers a retry before the route runs and remembers the route's answer after it, so no route
can do one half and forget the other (#16 point 5). The coverage test walks the effective routes
(as tests/test_route_declarations.py does) and fails for a creating POST not declared with
``@idempotent``, unless the route is in the commented exemption set below, and for any route
that reaches the guard (``get_idempotency``) some other way. The behaviour tests check the
retry, the reused-key 422 and the kept ``ETag`` on routes of several routers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import fastapi.routing
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.api.idempotency import get_idempotency, idempotent, is_idempotent
from tests.registry.builders import evaluate, official_body, register
from tests.task_forces.test_task_forces import (  # noqa: F401 - tfw is a fixture
    create_tf,
    nominate,
    tfw,
    vetted_member,
)

VETTED_ON = dt.date(2026, 10, 1)

# Creating POSTs that deliberately do not honour Idempotency-Key.
EXEMPT = {
    # The new key is shown in the first answer only; a replay would have to store it.
    "POST /api/v1/api-keys",
    # The signing secret is shown in the first answer only, for the same reason.
    "POST /api/v1/webhooks",
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def creating_posts(app: FastAPI) -> dict[str, bool]:
    """``"POST <path>"`` of every POST route declaring status 201 -> whether it is declared
    with ``@idempotent``."""
    found: dict[str, bool] = {}
    for ctx in fastapi.routing.iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or "POST" not in (ctx.methods or ()):
            continue
        if route.status_code != 201:
            continue
        found[f"POST {ctx.path}"] = is_idempotent(route.endpoint)
    return found


def guarded_by_hand(app: FastAPI) -> list[str]:
    """Routes that reach the idempotency guard other than through ``@idempotent`` (and could
    replay without remembering, or the reverse)."""
    out = []
    for ctx in fastapi.routing.iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or is_idempotent(route.endpoint):
            continue
        if any(c is get_idempotency for c in _calls(ctx.dependant)):
            out.append(f"{','.join(sorted(ctx.methods or ()))} {ctx.path}")
    return out


def test_every_creating_post_accepts_an_idempotency_key(app: FastAPI) -> None:
    routes = creating_posts(app)
    assert "POST /api/v1/task-forces/{task_force_id}/nominations" in routes
    missing = sorted(path for path, guarded in routes.items() if not guarded and path not in EXEMPT)
    assert missing == [], f"creating POSTs without Idempotency-Key (DESIGN §5): {missing}"


def test_no_route_takes_the_guard_by_hand(app: FastAPI) -> None:
    assert guarded_by_hand(app) == []


def test_exemptions_are_real_and_still_needed(app: FastAPI) -> None:
    """An exemption for a route that is gone or now guarded is stale; drop it."""
    routes = creating_posts(app)
    assert routes.keys() >= EXEMPT
    assert not any(routes[path] for path in EXEMPT)


def test_checker_flags_an_unguarded_creating_post() -> None:
    probe = FastAPI()

    @probe.post("/api/v1/guarded", status_code=201)
    @idempotent
    def guarded() -> dict[str, str]:
        return {}

    @probe.post("/api/v1/by-hand", status_code=201)
    def by_hand(idem: Annotated[Any, Depends(get_idempotency)]) -> dict[str, str]:
        return {}

    @probe.post("/api/v1/forgotten", status_code=201)
    def forgotten() -> dict[str, str]:
        return {}

    @probe.post("/api/v1/action")
    def action() -> dict[str, str]:
        return {}

    assert creating_posts(probe) == {
        "POST /api/v1/guarded": True,
        "POST /api/v1/by-hand": False,
        "POST /api/v1/forgotten": False,
    }
    assert guarded_by_hand(probe) == ["POST /api/v1/by-hand"]


# --- behaviour ------------------------------------------------------------------------------


def _key(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


def test_nomination_retry_returns_the_first_and_reuse_is_422(
    client: Any,
    tfw: dict[str, Any],  # noqa: F811
) -> None:
    w = tfw
    tf = create_tf(client, w)
    url = f"/api/v1/task-forces/{tf['id']}/nominations"
    ana = register(
        client, w["mx_hr"].headers, official_body(w["mx_police"], given="ANA", first="RUIZ")
    )
    luis = register(
        client, w["mx_hr"].headers, official_body(w["mx_police"], given="LUIS", first="PAZ")
    )
    headers = _key(w["lead"].headers)
    body = {"official_id": ana["id"], "role": "member"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers

    other = client.post(url, json={"official_id": luis["id"], "role": "member"}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"

    items = client.get(url, headers=w["lead"].headers).json()["items"]
    assert [n["id"] for n in items] == [first.json()["id"]]


def test_member_retry_returns_the_first(client: Any, tfw: dict[str, Any]) -> None:  # noqa: F811
    w = tfw
    tf = create_tf(client, w)
    marta = register(
        client, w["mx_hr"].headers, official_body(w["mx_police"], given="MARTA", first="RUIZ")
    )
    nominate(client, w, tf, marta["id"])
    evaluate(client, w["mx_vetter"].headers, marta["id"], w["mx_c3"], conducted_on=VETTED_ON)
    evaluate(
        client,
        w["us_vetter"].headers,
        marta["id"],
        w["us_vet"],
        trigger="reciprocal",
        conducted_on=VETTED_ON,
    )
    url = f"/api/v1/task-forces/{tf['id']}/members"
    headers = _key(w["lead"].headers)
    first = client.post(url, json={"official_id": marta["id"]}, headers=headers)
    again = client.post(url, json={"official_id": marta["id"]}, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post(url, json={"official_id": str(uuid.uuid4())}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_override_retry_returns_the_first_and_reuse_is_422(
    client: Any,
    tfw: dict[str, Any],  # noqa: F811
) -> None:
    w = tfw
    tf = create_tf(client, w)
    member = vetted_member(client, w, tf, name="FELIPE")
    body = {
        "task_force_id": tf["id"],
        "official_id": member["id"],
        "justification": "Irreplaceable informant handler during an active operation.",
        "duration_days": 30,
    }
    headers = _key(w["lead"].headers)
    first = client.post("/api/v1/overrides", json=body, headers=headers)
    again = client.post("/api/v1/overrides", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"

    other = client.post("/api/v1/overrides", json={**body, "duration_days": 10}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"

    listed = client.get(
        "/api/v1/overrides", params={"task_force_id": tf["id"]}, headers=w["lead"].headers
    ).json()["items"]
    assert [o["id"] for o in listed] == [first.json()["id"]]

    approve = f"/api/v1/overrides/{first.json()['id']}/approvals"
    approver = _key(w["fbi_commissioner"].headers)
    approved = client.post(approve, headers=approver)
    replayed = client.post(approve, headers=approver)
    assert approved.status_code == replayed.status_code == 201, replayed.text
    assert replayed.json() == approved.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert len(approved.json()["approvals"]) == 1
    read = client.get(f"/api/v1/overrides/{first.json()['id']}", headers=w["lead"].headers)
    assert len(read.json()["approvals"]) == 1


def test_checkpoint_retry_returns_the_first(client: Any, make_user: Any) -> None:
    url = "/api/v1/audit/checkpoints"
    auditor = make_user("auditor")
    headers = _key(auditor.headers)
    first = client.post(url, headers=headers)
    again = client.post(url, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = client.get(url, headers=auditor.headers).json()["items"]
    assert [c["id"] for c in listed] == [first.json()["id"]]


def test_a_replay_keeps_the_status_and_etag_of_the_first(
    client: Any,
    tfw: dict[str, Any],  # noqa: F811
) -> None:
    """``@idempotent`` remembers the route's own status (201; 200 for a batch screening, which
    declares none) and the ``ETag`` the route set, and replays them."""
    w = tfw
    body = {
        "name": "Fuerza Tarea Huachicol",
        "focus": "other",
        "lead_agency_id": str(w["mx_police"]),
        "lead_user_ids": [str(w["lead"].id)],
    }
    headers = _key(w["mx_admin"].headers)
    first = client.post("/api/v1/task-forces", json=body, headers=headers)
    again = client.post("/api/v1/task-forces", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert first.headers["etag"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"

    batch = {
        "items": [{"given_names": "ANA", "first_surname": "RUIZ", "date_of_birth": "1980-01-01"}]
    }
    headers = _key(w["mx_hr"].headers)
    first = client.post("/api/v1/screenings/batch", json=batch, headers=headers)
    again = client.post("/api/v1/screenings/batch", json=batch, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
