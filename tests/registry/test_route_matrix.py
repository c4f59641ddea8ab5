"""Authorization matrix generated from the route table (R23, R24, R25; DESIGN §6; #16).

Every route of the app under ``/api/v1`` and ``/.well-known`` × every ``Role`` × the caller's
relation to the record (``own_agency``: the record's agency, or the lead of the task force;
``other_agency``: another agency of the same country; ``other_country``). The cases are
generated from ``app.routes`` and the roles each route declares (the same walk as
``tests/test_route_declarations.py``), so a new route is covered without editing this file —
unless the plan cannot build a request for it (a new kind of path parameter, a request body or
a required query parameter): then ``test_every_route_has_a_plan`` fails and names what to add.

What each cell must answer:

- a role the route does not declare → 403 ``ROLE_NOT_ADMITTED``;
- an admitted role on its own country's record → neither 403, 404 nor 5xx (a 409/422 of a
  business rule is fine: the request reached the rules);
- an admitted role of the other country on a record ``{id}`` → 404 (R24: existence does not
  leak), except routes listed in ``CROSS_BORDER`` (verdict level), which answer 2xx or 404;
- an admitted role of the other country never receives the world's dossier (identifiers,
  evaluation notes, separation summaries: see ``World.secrets``) in any 2xx answer;
- another agency of the same country is refused (403/404) where ``AGENCY_SCOPED`` says so
  (R25), and treated as in scope elsewhere;
- nothing answers 5xx.

The world (agencies, officials, listings, task forces, draws, screenings, …) is built once per
module; a write case gets a fresh record from its id builder so one case cannot break another.
Cases that fail because the application leaks are in ``KNOWN_ISSUES`` (strict xfail).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.auth.tokens import issue_access_token
from app.clock import FixedClock
from app.config import Settings
from app.db import unit_of_work
from app.domain.access import Role
from app.main import create_app
from app.models import Notification
from app.services.accounts.users import create_user
from tests.conftest import PASSWORD, T0, DatabaseFactory
from tests.registry.builders import ALL_PASS, make_agency, official_body, with_result
from tests.test_route_declarations import DECLARED_PREFIXES, RouteView, declared_roles

ROLES = tuple(r.value for r in Role)
SCOPES = ("own_agency", "other_agency", "other_country")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# --- the route table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[str]
    path_params: tuple[str, ...]
    has_body: bool
    required_query: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


def _settings(**extra: Any) -> Settings:
    def key() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")

    return Settings(
        env="test",
        database_url="sqlite://",
        jwt_secret=key(),
        identifier_key=key(),
        blind_index_key=key(),
        signing_key=key(),
        **extra,
    )


def route_table(app: FastAPI) -> list[Route]:
    routes = []
    for ctx in fastapi.routing.iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        path = ctx.path or ""
        if not path.startswith(DECLARED_PREFIXES):
            continue
        roles = declared_roles(RouteView("", path, ctx.dependant)) or frozenset()
        if "*" in roles:
            roles = frozenset(ROLES) | {"*"}
        dep = ctx.dependant
        path_params = tuple(p.name for p in _all_params(dep, "path_params"))
        required_query = tuple(
            p.alias for p in _all_params(dep, "query_params") if p.field_info.is_required()
        )
        raw_body = bool(getattr(ctx.original_route, "openapi_extra", None) or {})
        has_body = bool(_all_params(dep, "body_params")) or raw_body
        for method in sorted(ctx.methods or ()):
            routes.append(
                Route(
                    method,
                    path,
                    roles,
                    tuple(dict.fromkeys(path_params)),
                    has_body,
                    tuple(dict.fromkeys(required_query)),
                )
            )
    return routes


def _all_params(dependant: Any, attr: str) -> list[Any]:
    found = list(getattr(dependant, attr))
    for sub in dependant.dependencies:
        found.extend(_all_params(sub, attr))
    return found


def _collect_routes() -> list[Route]:
    application = create_app(_settings(), clock=FixedClock(T0))
    try:
        return route_table(application)
    finally:
        application.state.engine.dispose()


ROUTES = _collect_routes()


# --- the world -----------------------------------------------------------------------------


@dataclass
class Caller:
    id: uuid.UUID
    username: str
    role: str
    country: str
    agency_id: uuid.UUID | None
    headers: dict[str, str]


@dataclass
class World:
    client: TestClient
    app: FastAPI
    agencies: dict[str, uuid.UUID]
    callers: dict[tuple[str, str], Caller]
    shared: dict[str, Any] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # Helpers acting as the owners of the records (the MX side, agency A).
    @property
    def mx_admin(self) -> Caller:
        return self.callers[("admin", "own_agency")]

    @property
    def us_admin(self) -> Caller:
        return self.callers[("admin", "other_country")]

    @property
    def registrar(self) -> Caller:
        return self.callers[("personnel_officer", "own_agency")]

    @property
    def vetter(self) -> Caller:
        return self.callers[("vetting_officer", "own_agency")]

    @property
    def us_vetter(self) -> Caller:
        return self.callers[("vetting_officer", "other_country")]

    @property
    def lead(self) -> Caller:
        return self.callers[("task_force_lead", "own_agency")]

    def ok(self, method: str, url: str, caller: Caller, **kwargs: Any) -> Any:
        headers = {**caller.headers, **kwargs.pop("headers", {})}
        r = self.client.request(method, url, headers=headers, **kwargs)
        assert r.status_code < 300, f"building the world: {method} {url} → {r.text}"
        return r.json() if r.content else None

    def cached(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self.shared:
            self.shared[name] = build()
        return self.shared[name]

    # Records ------------------------------------------------------------------------------
    def official(self, *, listed: bool = False, tier: str = "line") -> dict[str, Any]:
        n = next(self.seq)
        body = official_body(
            self.agencies["A"],
            given=f"PERSONA {chr(65 + n % 26)}",
            first=f"APELLIDO{chr(65 + n // 26 % 26)}{chr(65 + n % 26)}",
            dob=dt.date(1970 + n % 30, 1 + n % 12, 1 + n % 28),
            tier=tier,
        )
        self.secrets.update(i["value"] for i in body["identifiers"])
        official: dict[str, Any] = self.ok("POST", "/api/v1/officials", self.registrar, json=body)
        if listed:
            self.evaluation(official["id"], result="fail")
        return official

    def evaluation(
        self, official_id: str, *, result: str = "pass", reciprocal: bool = False
    ) -> dict[str, Any]:
        secret = f"NOTA-RESERVADA-{next(self.seq)}"
        self.secrets.add(secret)
        vetter, body = (
            (self.us_vetter, self.agencies["USV"])
            if reciprocal
            else (self.vetter, self.agencies["MXV"])
        )
        out: dict[str, Any] = self.ok(
            "POST",
            f"/api/v1/officials/{official_id}/evaluations",
            vetter,
            json={
                "conducted_by": str(body),
                "trigger": "reciprocal" if reciprocal else "periodic",
                "conducted_on": "2026-11-01" if reciprocal else "2026-10-01",
                "components": ALL_PASS if result == "pass" else with_result("polygraph", result),
                "notes": secret,
            },
        )
        return out

    def expelled_listing(self) -> str:
        official = self.official()
        summary = f"RESUMEN-RESERVADO-{next(self.seq)}"
        self.secrets.add(summary)
        out = self.ok(
            "POST",
            f"/api/v1/officials/{official['id']}/separations",
            self.registrar,
            json={
                "appointment_id": official["appointments"][0]["id"],
                "reason": "dismissal_for_cause",
                "effective_on": "2026-11-01",
                "summary": summary,
            },
        )
        listing_id: str = out["listing_id"]
        return listing_id

    def appeal(self) -> tuple[str, str]:
        listing_id = self.expelled_listing()
        out = self.ok(
            "POST",
            f"/api/v1/listings/{listing_id}/appeals",
            self.registrar,
            json={"grounds": "The dismissal was reversed by a labour court."},
        )
        return listing_id, out["id"]

    def task_force(self) -> str:
        out = self.ok(
            "POST",
            "/api/v1/task-forces",
            self.mx_admin,
            json={
                "name": f"Fuerza {next(self.seq)}",
                "focus": "fentanyl",
                "lead_agency_id": str(self.agencies["A"]),
                "lead_user_ids": [str(self.lead.id)],
            },
        )
        tf_id: str = out["id"]
        return tf_id

    def nomination(self, tf_id: str, official_id: str | None = None) -> str:
        official_id = official_id or self.official()["id"]
        out = self.ok(
            "POST",
            f"/api/v1/task-forces/{tf_id}/nominations",
            self.lead,
            json={"official_id": official_id, "role": "member"},
        )
        nomination_id: str = out["id"]
        return nomination_id

    def member(self, tf_id: str) -> str:
        official = self.official()
        self.nomination(tf_id, official["id"])
        self.evaluation(official["id"])
        self.evaluation(official["id"], reciprocal=True)
        self.ok(
            "POST",
            f"/api/v1/task-forces/{tf_id}/members",
            self.lead,
            json={"official_id": official["id"]},
        )
        official_id: str = official["id"]
        return official_id

    def override(self) -> str:
        tf_id = self.cached("tf", self.task_force)
        official = self.official()
        self.nomination(tf_id, official["id"])
        out = self.ok(
            "POST",
            "/api/v1/overrides",
            self.lead,
            json={
                "task_force_id": tf_id,
                "official_id": official["id"],
                "justification": "Irreplaceable handler during an active operation.",
                "duration_days": 30,
            },
        )
        override_id: str = out["id"]
        return override_id

    def screening(self) -> dict[str, Any]:
        listed = self.cached("listed", lambda: self.official(listed=True))
        out: dict[str, Any] = self.ok(
            "POST",
            "/api/v1/screenings",
            self.registrar,
            json={
                "given_names": listed["given_names"],
                "first_surname": listed["first_surname"],
                "second_surname": listed["second_surname"],
                "date_of_birth": listed["date_of_birth"],
                "watch": True,
            },
        )
        return out

    def notification(self) -> int:
        with unit_of_work(self.app.state.sessionmaker) as session:
            note = Notification(
                agency_id=self.agencies["A"],
                country="MX",
                kind="listing.listed",
                payload={},
                created_at=T0,
            )
            session.add(note)
            session.flush()
            note_id: int = note.id
            return note_id

    def webhook(self) -> str:
        out = self.ok(
            "POST", "/api/v1/webhooks", self.registrar, json={"url": "https://a.example/h"}
        )
        hook_id: str = out["id"]
        return hook_id

    def policy(self) -> str:
        # A policy of agency B's sector alone would collide; one per fresh agency is unique.
        agency = make_agency(self.app.state.sessionmaker, country="MX")
        out = self.ok(
            "POST",
            "/api/v1/policies",
            self.mx_admin,
            json={"agency_id": str(agency), "interval_months": 24},
        )
        policy_id: str = out["id"]
        return policy_id

    def draw(self) -> str:
        out = self.ok(
            "POST",
            "/api/v1/draws",
            self.mx_admin,
            json={"scope": {"agency_id": str(self.agencies["A"])}, "sample_size": 1},
        )
        draw_id: str = out["id"]
        return draw_id

    def user(self) -> str:
        return str(self._user("personnel_officer", "MX", self.agencies["A"]).id)

    def api_key(self, owner: Caller) -> str:
        out = self.ok("POST", "/api/v1/api-keys", owner, json={"name": f"k{next(self.seq)}"})
        key_id: str = out["id"]
        return key_id

    def import_job(self) -> str:
        out = self.ok(
            "POST",
            "/api/v1/imports",
            self.mx_admin,
            params={"kind": "officials", "format": "csv"},
            content=IMPORT_CSV,
            headers={"Content-Type": "text/csv"},
        )
        job_id: str = out["id"]
        return job_id

    def _user(self, role: str, country: str, agency: uuid.UUID | None) -> Caller:
        app = self.app
        name = f"{role}_{country.lower()}_{next(self.seq)}"
        with unit_of_work(app.state.sessionmaker) as session:
            user = create_user(
                session,
                actor=None,
                hasher=app.state.hasher,
                username=name,
                password=PASSWORD,
                roles=[role],
                country=country,
                agency_id=agency,
                now=T0,
                require_agency=False,
            )
            user_id = user.id
        token, _ = issue_access_token(app.state.settings, user_id=user_id, token_version=1, now=T0)
        return Caller(user_id, name, role, country, agency, {"Authorization": f"Bearer {token}"})


IMPORT_CSV = b"source_ref,given_names,first_surname,second_surname,date_of_birth,sex,curp,agency\n"


def _home(role: str, scope: str, agencies: dict[str, uuid.UUID]) -> tuple[str, uuid.UUID | None]:
    """Where each caller sits. Admins and auditors belong to no agency; vetting officers sit
    in vetting bodies; everyone else in agency A (the records' agency), B or the U.S. one."""
    if role in ("admin", "auditor"):
        return ("US" if scope == "other_country" else "MX"), None
    if role == "vetting_officer":
        return {
            "own_agency": ("MX", agencies["MXV"]),
            "other_agency": ("MX", agencies["MXV2"]),
            "other_country": ("US", agencies["USV"]),
        }[scope]
    return {
        "own_agency": ("MX", agencies["A"]),
        "other_agency": ("MX", agencies["B"]),
        "other_country": ("US", agencies["U"]),
    }[scope]


@pytest.fixture(scope="module")
def matrix_world(databases: DatabaseFactory, base_settings: Settings) -> Iterator[World]:
    url = databases.fresh()
    settings = base_settings.model_copy(
        update={"database_url": url, "webhook_allow_private_hosts": True}
    )
    application = create_app(settings, clock=FixedClock(T0))
    try:
        with TestClient(application, raise_server_exceptions=False) as client:
            sm = application.state.sessionmaker
            agencies = {
                "A": make_agency(sm, country="MX", acronym="MXA"),
                "B": make_agency(sm, country="MX", acronym="MXB"),
                "MXV": make_agency(sm, country="MX", acronym="MXV", can_vet=True),
                "MXV2": make_agency(sm, country="MX", acronym="MXV2", can_vet=True),
                # A U.S. department designated for the override commission (R20).
                "U": make_agency(sm, country="US", acronym="USA", commission_department="DOJ"),
                "USV": make_agency(sm, country="US", acronym="USV", can_vet=True),
            }
            w = World(client=client, app=application, agencies=agencies, callers={})
            for role in ROLES:
                for scope in SCOPES:
                    country, agency = _home(role, scope, agencies)
                    w.callers[(role, scope)] = w._user(role, country, agency)
            yield w
    finally:
        application.state.engine.dispose()
        databases.drop(url)


# --- how to build the path of each route ---------------------------------------------------

Ids = dict[str, str]
IdBuilder = Callable[[World, "Case", bool], Ids]


@dataclass(frozen=True)
class Case:
    route: Route
    role: str
    scope: str

    @property
    def id(self) -> str:
        return f"{self.route.key}|{self.role}|{self.scope}"

    @property
    def admitted(self) -> bool:
        return self.role in self.route.roles

    @property
    def fresh(self) -> bool:
        """A write that may succeed gets its own record; refusals reuse the shared one."""
        return self.route.is_write and self.admitted


def _official(w: World, case: Case, fresh: bool) -> Ids:
    if fresh:
        return {"official_id": w.official()["id"]}
    return {"official_id": w.cached("official", w.official)["id"]}


def _appointment(w: World, case: Case, fresh: bool) -> Ids:
    official = w.official() if fresh else w.cached("official", w.official)
    return {"official_id": official["id"], "appointment_id": official["appointments"][0]["id"]}


def _listing(w: World, case: Case, fresh: bool) -> Ids:
    return {
        "listing_id": w.expelled_listing() if fresh else w.cached("listing", w.expelled_listing)
    }


def _appeal(w: World, case: Case, fresh: bool) -> Ids:
    listing_id, appeal_id = w.appeal() if fresh else w.cached("appeal", w.appeal)
    return {"listing_id": listing_id, "appeal_id": appeal_id}


def _task_force(w: World, case: Case, fresh: bool) -> Ids:
    return {"task_force_id": w.task_force() if fresh else w.cached("tf", w.task_force)}


def _nomination(w: World, case: Case, fresh: bool) -> Ids:
    tf_id = w.cached("tf", w.task_force)
    if fresh:
        return {"task_force_id": tf_id, "nomination_id": w.nomination(tf_id)}
    return {
        "task_force_id": tf_id,
        "nomination_id": w.cached("nomination", lambda: w.nomination(tf_id)),
    }


def _member(w: World, case: Case, fresh: bool) -> Ids:
    tf_id = w.cached("tf", w.task_force)
    if fresh:
        return {"task_force_id": tf_id, "official_id": w.member(tf_id)}
    return {"task_force_id": tf_id, "official_id": w.cached("member", lambda: w.member(tf_id))}


def _screening(w: World, case: Case, fresh: bool) -> Ids:
    return {"screening_id": w.cached("screening", w.screening)["id"]}


def _watch(w: World, case: Case, fresh: bool) -> Ids:
    screening = w.screening() if fresh else w.cached("screening", w.screening)
    return {"watch_id": screening["watch_id"]}


def _simple(name: str, param: str, build: Callable[[World], Any]) -> IdBuilder:
    def builder(w: World, case: Case, fresh: bool) -> Ids:
        return {param: str(build(w) if fresh else w.cached(name, lambda: build(w)))}

    return builder


def _api_key(w: World, case: Case, fresh: bool) -> Ids:
    """A key of the own-agency caller of the same role: ``own_agency`` revokes its own key."""
    return {"key_id": w.api_key(w.callers[(case.role, "own_agency")])}


def _agency(w: World, case: Case, fresh: bool) -> Ids:
    if fresh:
        return {"agency_id": str(make_agency(w.app.state.sessionmaker, country="MX"))}
    return {"agency_id": str(w.agencies["A"])}


# How to build the path parameters of a route, by the tuple of its parameter names. A route
# with a tuple that is not here fails test_every_route_has_a_plan.
ID_BUILDERS: dict[tuple[str, ...], IdBuilder] = {
    (): lambda w, case, fresh: {},
    ("user_id",): _simple("user", "user_id", World.user),
    ("key_id",): _api_key,
    ("agency_id",): _agency,
    ("official_id",): _official,
    ("official_id", "appointment_id"): _appointment,
    ("listing_id",): _listing,
    ("listing_id", "appeal_id"): _appeal,
    ("screening_id",): _screening,
    ("watch_id",): _watch,
    ("notification_id",): _simple("notification", "notification_id", World.notification),
    ("webhook_id",): _simple("webhook", "webhook_id", World.webhook),
    ("policy_id",): _simple("policy", "policy_id", World.policy),
    ("draw_id",): _simple("draw", "draw_id", World.draw),
    ("task_force_id",): _task_force,
    ("task_force_id", "nomination_id"): _nomination,
    ("task_force_id", "official_id"): _member,
    ("override_id",): _simple("override", "override_id", World.override),
    ("import_id",): _simple("import", "import_id", World.import_job),
}


# --- how to build the body (and required query) of each route ------------------------------

Request = dict[str, Any]
BodyBuilder = Callable[[World, Case, Ids], Request]


def _j(body: dict[str, Any]) -> Request:
    return {"json": body}


def _new_official_body(w: World, case: Case, ids: Ids) -> Request:
    n = next(w.seq)
    body = official_body(
        w.agencies["A"], given=f"NUEVO {chr(65 + n % 26)}", first=f"INGRESO{n}", curp=False
    )
    return _j(body)


def _evaluation_body(w: World, case: Case, ids: Ids) -> Request:
    caller = w.callers[(case.role, case.scope)]
    return _j(
        {
            "conducted_by": str(caller.agency_id or w.agencies["MXV"]),
            "trigger": "periodic",
            "conducted_on": "2026-11-01",
            "components": ALL_PASS,
        }
    )


def _decision_body(w: World, case: Case, ids: Ids) -> Request:
    screening = w.cached("screening", w.screening)
    candidate = next(iter(screening.get("matches") or []), {"official_id": str(uuid.uuid4())})
    return _j(
        {"official_id": candidate["official_id"], "decision": "not_same_person", "reasons": "DOB"}
    )


def _nomination_body(w: World, case: Case, ids: Ids) -> Request:
    return _j({"official_id": w.official()["id"], "role": "member"})


def _member_body(w: World, case: Case, ids: Ids) -> Request:
    official = w.official()
    w.nomination(ids["task_force_id"], official["id"])
    w.evaluation(official["id"])
    w.evaluation(official["id"], reciprocal=True)
    return _j({"official_id": official["id"]})


def _override_body(w: World, case: Case, ids: Ids) -> Request:
    tf_id = w.cached("tf", w.task_force)
    official = w.official()
    w.nomination(tf_id, official["id"])
    return _j(
        {
            "task_force_id": tf_id,
            "official_id": official["id"],
            "justification": "Irreplaceable handler during an active operation.",
            "duration_days": 30,
        }
    )


def _commitment_body(w: World, case: Case, ids: Ids) -> Request:
    return _j({"commitment": hashlib.sha256(b"\x01" * 32).hexdigest()})


def _reveal_body(w: World, case: Case, ids: Ids) -> Request:
    return _j({"secret": (b"\x01" * 32).hex()})


def _screening_body(w: World, case: Case, ids: Ids) -> Request:
    listed = w.cached("listed", lambda: w.official(listed=True))
    return _j(
        {
            "given_names": listed["given_names"],
            "first_surname": listed["first_surname"],
            "second_surname": listed["second_surname"],
            "date_of_birth": listed["date_of_birth"],
        }
    )


def _batch_body(w: World, case: Case, ids: Ids) -> Request:
    return _j({"items": [_screening_body(w, case, ids)["json"]]})


def _token_body(w: World, case: Case, ids: Ids) -> Request:
    caller = w.callers[(case.role, case.scope)]
    return {"data": {"username": caller.username, "password": PASSWORD}}


# Bodies (and required query parameters) by route. Bodies name the MX world (agency A, its
# officials), so the other country's callers are asking to act on records they do not own.
BODIES: dict[str, BodyBuilder] = {
    "POST /api/v1/auth/token": _token_body,
    "POST /api/v1/users": lambda w, c, ids: _j(
        {
            "username": f"nuevo{next(w.seq)}",
            "password": PASSWORD,
            "roles": ["personnel_officer"],
            "country": "MX",
            "agency_id": str(w.agencies["A"]),
        }
    ),
    "PATCH /api/v1/users/{user_id}": lambda w, c, ids: _j({"is_active": True}),
    "POST /api/v1/api-keys": lambda w, c, ids: _j({"name": f"clave{next(w.seq)}"}),
    "POST /api/v1/agencies": lambda w, c, ids: _j(
        {
            "country": "MX",
            "name": f"Agencia {next(w.seq)}",
            "acronym": f"AN{next(w.seq)}",
            "level": "state",
            "sector": "law_enforcement",
        }
    ),
    "PATCH /api/v1/agencies/{agency_id}": lambda w, c, ids: _j({"region": "JAL"}),
    "POST /api/v1/officials": _new_official_body,
    "POST /api/v1/officials/{official_id}/appointments": lambda w, c, ids: _j(
        {
            "agency_id": str(w.agencies["A"]),
            "position": "Jefe",
            "rank_tier": "supervisory",
            "started_on": "2026-10-01",
        }
    ),
    "POST /api/v1/officials/{official_id}/appointments/{appointment_id}/end": (
        lambda w, c, ids: _j({"ended_on": "2026-11-01"})
    ),
    "POST /api/v1/officials/{official_id}/separations": lambda w, c, ids: _j(
        {
            "appointment_id": _first_appointment(w, ids),
            "reason": "resignation",
            "effective_on": "2026-11-01",
        }
    ),
    "POST /api/v1/officials/{official_id}/evaluations": _evaluation_body,
    "POST /api/v1/listings/{listing_id}/appeals": lambda w, c, ids: _j(
        {"grounds": "The dismissal was reversed by a labour court."}
    ),
    "POST /api/v1/listings/{listing_id}/appeals/{appeal_id}/decision": lambda w, c, ids: _j(
        {"decision": "upheld", "reasons": "The court ruling was later annulled."}
    ),
    "POST /api/v1/screenings": _screening_body,
    "POST /api/v1/screenings/batch": _batch_body,
    "POST /api/v1/screenings/{screening_id}/decisions": _decision_body,
    "POST /api/v1/webhooks": lambda w, c, ids: _j({"url": "https://b.example/h"}),
    "POST /api/v1/policies": lambda w, c, ids: _j(
        {
            "agency_id": str(make_agency(w.app.state.sessionmaker, country="MX")),
            "interval_months": 24,
        }
    ),
    "PATCH /api/v1/policies/{policy_id}": lambda w, c, ids: _j({"due_soon_days": 30}),
    "POST /api/v1/draws": lambda w, c, ids: _j(
        {"scope": {"agency_id": str(w.agencies["A"])}, "sample_size": 1}
    ),
    "POST /api/v1/draws/{draw_id}/commitments": _commitment_body,
    "POST /api/v1/draws/{draw_id}/reveals": _reveal_body,
    "POST /api/v1/task-forces": lambda w, c, ids: _j(
        {
            "name": f"Fuerza {next(w.seq)}",
            "focus": "weapons",
            "lead_agency_id": str(w.agencies["A"]),
        }
    ),
    "PATCH /api/v1/task-forces/{task_force_id}": lambda w, c, ids: _j(
        {"max_vetting_age_months": 12}
    ),
    "POST /api/v1/task-forces/{task_force_id}/nominations": _nomination_body,
    "POST /api/v1/task-forces/{task_force_id}/members": _member_body,
    "POST /api/v1/overrides": _override_body,
    "POST /api/v1/overrides/{override_id}/revoke": lambda w, c, ids: _j(
        {"reason": "The operation ended early."}
    ),
    "POST /api/v1/imports": lambda w, c, ids: {
        "params": {"kind": "officials", "format": "csv"},
        "content": IMPORT_CSV,
        "headers": {"Content-Type": "text/csv"},
    },
}


def _first_appointment(w: World, ids: Ids) -> str:
    r = w.client.get(
        f"/api/v1/officials/{ids['official_id']}/appointments", headers=w.mx_admin.headers
    )
    items = r.json()
    items = items["items"] if isinstance(items, dict) else items
    appointment_id: str = items[0]["id"]
    return appointment_id


# --- expectations beyond the generic rules -------------------------------------------------

# Routes that answer the other country at verdict level (R9, R21, R24): it may see them (2xx)
# or not (404), but never the dossier. Collection reads (GET without a path parameter) are
# treated this way too: they answer 2xx, filtered to what the caller may see.
ALL = frozenset(ROLES)
TF_COMMISSION = frozenset({"commission_member"})
CROSS_BORDER: dict[str, frozenset[str]] = {
    "GET /api/v1/officials/{official_id}/eligibility": ALL,  # verdict and reason codes
    "GET /api/v1/listings/{listing_id}": ALL,  # basis, listing agency, dates, contact point
    "POST /api/v1/screenings": ALL,  # screening the other country's listed people
    "POST /api/v1/screenings/batch": ALL,
    "GET /api/v1/agencies/{agency_id}": ALL,  # agency names cross the border
    "GET /api/v1/policies/{policy_id}": ALL,  # policies are published rules, not dossiers
    "GET /api/v1/policies/{policy_id}/versions": ALL,
    # Draws are binational: both countries' admins commit and reveal; auditors verify (R16).
    "GET /api/v1/draws/{draw_id}": ALL,
    "POST /api/v1/draws/{draw_id}/commitments": ALL,
    "POST /api/v1/draws/{draw_id}/reveals": ALL,
    "GET /api/v1/draws/{draw_id}/verify": ALL,
    # The U.S. override commission approves overrides on every joint task force (R20).
    "POST /api/v1/overrides/{override_id}/approvals": ALL,
    # The override commission is U.S. (R20): its members oversee every joint task force and
    # its overrides, at verdict level (eligibility, reason codes, never dossiers).
    "GET /api/v1/task-forces/{task_force_id}": TF_COMMISSION,
    "GET /api/v1/task-forces/{task_force_id}/members": TF_COMMISSION,
    "GET /api/v1/task-forces/{task_force_id}/nominations": TF_COMMISSION,
    "GET /api/v1/task-forces/{task_force_id}/compliance": TF_COMMISSION,
    "GET /api/v1/task-forces/{task_force_id}/events": TF_COMMISSION,
    "GET /api/v1/overrides/{override_id}": TF_COMMISSION,
    "POST /api/v1/overrides/{override_id}/revoke": TF_COMMISSION,
}


# Routes about the caller itself or open to anyone: the other country is no different.
SELF = {
    "POST /api/v1/auth/token",
    "POST /api/v1/auth/revoke",
    "POST /api/v1/api-keys",
    "GET /.well-known/jwks.json",
    # Acting in the caller's own country: its own checkpoint, import, webhook.
    "POST /api/v1/audit/checkpoints",
    "POST /api/v1/imports",
    "POST /api/v1/webhooks",
}

# R25: roles whose callers from another agency of the record's country are refused (403/404).
AGENCY_SCOPED: dict[str, set[str]] = {
    "POST /api/v1/officials": {"personnel_officer"},
    "POST /api/v1/officials/{official_id}/appointments": {"personnel_officer"},
    "POST /api/v1/officials/{official_id}/appointments/{appointment_id}/end": {"personnel_officer"},
    "POST /api/v1/officials/{official_id}/separations": {"personnel_officer"},
    "POST /api/v1/listings/{listing_id}/appeals": {"personnel_officer"},
    "GET /api/v1/screenings/{screening_id}": {"personnel_officer"},
    "POST /api/v1/screenings/{screening_id}/decisions": {"personnel_officer"},
    "GET /api/v1/watches/{watch_id}": {"personnel_officer"},
    "DELETE /api/v1/watches/{watch_id}": {"personnel_officer"},
    "GET /api/v1/notifications/{notification_id}": {"personnel_officer"},
    "POST /api/v1/notifications/{notification_id}/read": {"personnel_officer"},
    "DELETE /api/v1/webhooks/{webhook_id}": {"personnel_officer"},
    # A key belongs to its user: another user (of any agency) does not see it.
    "DELETE /api/v1/api-keys/{key_id}": set(ROLES) - {"admin"},
    # task_force_lead manages only the task forces it leads (R25).
    "PATCH /api/v1/task-forces/{task_force_id}": {"task_force_lead"},
    "POST /api/v1/task-forces/{task_force_id}/nominations": {"task_force_lead"},
    "DELETE /api/v1/task-forces/{task_force_id}/nominations/{nomination_id}": {"task_force_lead"},
    "POST /api/v1/task-forces/{task_force_id}/members": {"task_force_lead"},
    "DELETE /api/v1/task-forces/{task_force_id}/members/{official_id}": {"task_force_lead"},
    "POST /api/v1/overrides": {"task_force_lead"},
    # ... and reads only those (404 to a lead of another task force).
    "GET /api/v1/task-forces/{task_force_id}": {"task_force_lead"},
    "GET /api/v1/task-forces/{task_force_id}/members": {"task_force_lead"},
    "GET /api/v1/task-forces/{task_force_id}/nominations": {"task_force_lead"},
    "GET /api/v1/task-forces/{task_force_id}/compliance": {"task_force_lead"},
    "GET /api/v1/task-forces/{task_force_id}/events": {"task_force_lead"},
    "GET /api/v1/overrides/{override_id}": {"task_force_lead"},
}

# Single cells whose answer is a business rule rather than scoping: (route, role, scope) →
# (accepted statuses, why).
CELLS: dict[tuple[str, str, str], tuple[set[int], str]] = {
    ("POST /api/v1/overrides/{override_id}/approvals", "commission_member", "own_agency"): (
        {403},
        "R20: only members for a U.S. commission department approve",
    ),
    ("POST /api/v1/overrides/{override_id}/approvals", "commission_member", "other_agency"): (
        {403},
        "R20: only members for a U.S. commission department approve",
    ),
    # #18 F7: vetting officers import evaluations only (the plan uploads officials), and read
    # only their own import jobs (the plan reads an admin's).
    **{
        ("POST /api/v1/imports", "vetting_officer", scope): (
            {403},
            "R25, #18 F7: a vetting officer imports only evaluations",
        )
        for scope in ("own_agency", "other_agency", "other_country")
    },
    **{
        ("GET /api/v1/imports/{import_id}", "vetting_officer", scope): (
            {404},
            "#18 F7: a vetting officer reads only its own import jobs",
        )
        for scope in ("own_agency", "other_agency")
    },
}

REFUSED = {403, 404}

# Routes that spend the caller (revoking its own tokens): each case calls as a new user.
DISPOSABLE_CALLER = {"POST /api/v1/auth/revoke"}

# Cells where the application is known to answer wrongly today: strict xfail, so a fix shows.
KNOWN_ISSUES: dict[str, str] = {}


# --- the matrix ----------------------------------------------------------------------------


def _cases() -> list[Any]:
    params = []
    for route in ROUTES:
        for role in ROLES:
            for scope in SCOPES:
                case = Case(route, role, scope)
                marks = []
                if case.id in KNOWN_ISSUES:
                    marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_ISSUES[case.id]))
                params.append(pytest.param(case, id=case.id, marks=marks))
    return params


DOSSIER_KEYS = {"identifiers", "components", "notes", "summary"}


def _dossier(body: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(body, dict):
        for k, v in body.items():
            if k in DOSSIER_KEYS and v and isinstance(v, str | list):
                found.append(f"{path}.{k}")
            found.extend(_dossier(v, f"{path}.{k}"))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            found.extend(_dossier(v, f"{path}[{i}]"))
    return found


def _send(w: World, case: Case) -> Any:
    route = case.route
    ids = ID_BUILDERS[route.path_params](w, case, case.fresh)
    path = route.path.format(**ids)
    request = BODIES[route.key](w, case, ids) if route.key in BODIES else {}
    caller = w.callers[(case.role, case.scope)]
    if route.key in DISPOSABLE_CALLER:
        caller = w._user(case.role, caller.country, caller.agency_id)
    headers = {**caller.headers, **request.pop("headers", {})}
    if route.method == "PATCH":
        # Updates need If-Match (DESIGN §5): take the current ETag as the record's owner, so
        # an in-scope caller reaches the rules rather than stopping at 428.
        etag = w.client.get(path, headers=w.mx_admin.headers).headers.get("etag")
        if etag:
            headers["If-Match"] = etag
    if route.key == "POST /api/v1/auth/token":
        headers.pop("Authorization")
    return w.client.request(route.method, path, headers=headers, **request)


def expected(case: Case) -> str:
    """The rule a cell obeys, for the failure message."""
    key = case.route.key
    if not case.admitted:
        return "403 ROLE_NOT_ADMITTED"
    if (key, case.role, case.scope) in CELLS:
        statuses, why = CELLS[(key, case.role, case.scope)]
        return f"cell {sorted(statuses)} ({why})"
    if case.scope == "other_agency" and case.role in AGENCY_SCOPED.get(key, set()):
        return "403/404 (R25: another agency)"
    if case.scope == "other_country" and key not in SELF:
        if case.role in CROSS_BORDER.get(key, ()):
            return "verdict: not 403/5xx, no dossier (R24: verdict level)"
        if not case.route.path_params and not case.route.is_write:
            return "2xx/404 without dossier (R24: filtered to verdict level)"
        if case.route.path_params:
            return "404 (R24: existence does not leak)"
        return "refused: not 2xx (R24: acting on the other country's records)"
    return "in scope: not 403/404/5xx"


@pytest.mark.parametrize("case", _cases())
def test_route_matrix(matrix_world: World, case: Case) -> None:
    world = matrix_world
    r = _send(world, case)
    rule = expected(case)
    where = f"{case.id}: expected {rule}, got {r.status_code} {r.text[:300]}"
    assert r.status_code < 500, where
    if rule.startswith("403 ROLE"):
        assert r.status_code == 403, where
        assert r.json().get("code") == "ROLE_NOT_ADMITTED", where
    elif rule.startswith("403/404"):
        assert r.status_code in REFUSED, where
    elif rule.startswith("404"):
        assert r.status_code == 404, where
    elif rule.startswith("cell"):
        assert r.status_code in CELLS[(case.route.key, case.role, case.scope)][0], where
    elif rule.startswith("verdict"):
        assert r.status_code != 403, where
    elif rule.startswith("2xx/404"):
        assert r.status_code < 300 or r.status_code == 404, where
    elif rule.startswith("refused"):
        assert r.status_code >= 400, where
    else:
        assert r.status_code not in REFUSED, where
    if case.scope == "other_country" and r.status_code < 300 and r.content:
        text = r.text
        leaked = sorted(s for s in world.secrets if s in text)
        assert not leaked, f"{case.id}: the other country received dossier values {leaked}"
        if key_is_json(r):
            assert not _dossier(r.json()), f"{case.id}: dossier fields {_dossier(r.json())}"


def key_is_json(r: Any) -> bool:
    return "json" in r.headers.get("content-type", "")


# --- the plan covers every route -----------------------------------------------------------


def plan_gaps(routes: list[Route]) -> list[str]:
    gaps = []
    for route in routes:
        if not route.roles:
            gaps.append(f"{route.key}: declares no roles (R23)")
        if route.path_params not in ID_BUILDERS:
            gaps.append(
                f"{route.key}: no builder for path parameters {route.path_params}; "
                "add one to ID_BUILDERS"
            )
        if (route.has_body or route.required_query) and route.key not in BODIES:
            gaps.append(f"{route.key}: has a body or required query; add it to BODIES")
    for table in (BODIES, AGENCY_SCOPED, KNOWN_ISSUES):
        known = {r.key for r in routes}
        for key in table:
            if key.split("|")[0] not in known:
                gaps.append(f"{key}: names a route the app no longer has")
    for key in set(CROSS_BORDER) | SELF | {c[0] for c in CELLS}:
        if key not in {r.key for r in routes}:
            gaps.append(f"{key}: names a route the app no longer has")
    return gaps


def test_every_route_has_a_plan() -> None:
    assert len(ROUTES) > 80, "the route walk found too few routes"
    assert plan_gaps(ROUTES) == []


def test_plan_flags_a_route_it_cannot_build() -> None:
    new = Route(
        "POST", "/api/v1/gadgets/{gadget_id}", frozenset({"admin"}), ("gadget_id",), True, ()
    )
    assert plan_gaps([*ROUTES, new]) == [
        "POST /api/v1/gadgets/{gadget_id}: no builder for path parameters ('gadget_id',); "
        "add one to ID_BUILDERS",
        "POST /api/v1/gadgets/{gadget_id}: has a body or required query; add it to BODIES",
    ]
