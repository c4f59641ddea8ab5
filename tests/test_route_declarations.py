"""R23: every route declares the roles it admits; this test fails if any route lacks one.

A declaration is a dependency made by ``app.auth.principal.require_roles`` or ``public``: both
carry an ``admitted_roles`` attribute. The walk follows the whole dependency tree of each route
as FastAPI will run it (router- and include-level ``dependencies=[...]`` included), so a
declaration inside an ``Annotated`` alias (``AdminOnly``, ``Authenticated``) counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import fastapi.routing
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.auth.principal import public, require_roles
from app.domain.access import ALL_ROLES, Principal, Role

DECLARED_PREFIXES = ("/api/v1", "/.well-known")


@dataclass(frozen=True)
class RouteView:
    method_path: str
    path: str
    dependant: Dependant


def api_routes(app: FastAPI) -> list[RouteView]:
    """Every FastAPI route under the declared prefixes, with its effective dependant.

    FastAPI 0.165 includes routers lazily (``app.routes`` holds ``_IncludedRouter`` entries);
    ``iter_route_contexts`` is what its own OpenAPI generator uses to see the effective routes,
    with the dependencies of every enclosing router merged in."""
    views = []
    for ctx in fastapi.routing.iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        path = ctx.path or ""
        if not path.startswith(DECLARED_PREFIXES):
            continue
        methods = ",".join(sorted(ctx.methods or ()))
        views.append(RouteView(f"{methods} {path}", path, ctx.dependant))
    return views


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def declared_roles(route: RouteView) -> frozenset[str] | None:
    """The union of the roles declared on the route, or None when nothing is declared."""
    found: frozenset[str] | None = None
    for call in _calls(route.dependant):
        admitted = getattr(call, "admitted_roles", None)
        if admitted is not None:
            found = (found or frozenset()) | frozenset(admitted)
    return found


def undeclared_routes(app: FastAPI) -> list[str]:
    return [r.method_path for r in api_routes(app) if declared_roles(r) is None]


def test_every_route_declares_its_roles(app: FastAPI) -> None:
    routes = api_routes(app)
    assert any(r.path.startswith("/api/v1/") for r in routes), "no /api/v1 routes were found"
    assert any(r.path.startswith("/.well-known/") for r in routes)
    assert undeclared_routes(app) == []


def test_declarations_name_known_roles(app: FastAPI) -> None:
    """A typo in a declaration would admit nobody; only real roles (or public "*") count."""
    known = {r.value for r in ALL_ROLES} | {"*"}
    for route in api_routes(app):
        roles = declared_roles(route)
        assert roles, f"{route.method_path} declares an empty set of roles"
        assert roles <= known, f"{route.method_path} declares unknown roles {roles - known}"


def test_public_routes_are_the_expected_few(app: FastAPI) -> None:
    """Open routes are deliberate: logging in and the public keys, nothing else."""
    public_paths = {r.path for r in api_routes(app) if "*" in (declared_roles(r) or ())}
    assert public_paths == {"/api/v1/auth/token", "/.well-known/jwks.json"}


# Probe apps for the checker itself. Aliases live at module level so that FastAPI can resolve
# them under ``from __future__ import annotations``.
ProbeAdmin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
_auditor_guard = require_roles(Role.AUDITOR)


def _unrelated() -> None:
    return None


def _outer(principal: Annotated[Principal, Depends(_auditor_guard)]) -> Principal:
    return principal


def test_checker_flags_an_undeclared_route() -> None:
    probe = FastAPI()

    @probe.get("/api/v1/declared")
    def declared(_: ProbeAdmin) -> dict[str, str]:
        return {}

    @probe.get("/api/v1/open", dependencies=[Depends(public())])
    def open_route() -> dict[str, str]:
        return {}

    @probe.get("/api/v1/forgotten", dependencies=[Depends(_unrelated)])
    def forgotten() -> dict[str, str]:
        return {}

    @probe.get("/.well-known/forgotten")
    def forgotten_well_known() -> dict[str, str]:
        return {}

    @probe.get("/healthz")
    def health() -> dict[str, str]:
        return {}

    assert undeclared_routes(probe) == ["GET /api/v1/forgotten", "GET /.well-known/forgotten"]


def test_checker_sees_routes_of_included_routers() -> None:
    """Routes reached through ``include_router`` are checked too, and a declaration made on
    the router (or at inclusion) covers its routes."""
    inner = APIRouter(prefix="/things")

    @inner.get("")
    def list_things() -> list[str]:
        return []

    guarded = APIRouter(prefix="/guarded", dependencies=[Depends(require_roles(Role.ADMIN))])

    @guarded.get("")
    def guarded_things() -> list[str]:
        return []

    api = APIRouter(prefix="/api/v1")
    api.include_router(inner)
    api.include_router(guarded)
    probe = FastAPI()
    probe.include_router(api)
    assert undeclared_routes(probe) == ["GET /api/v1/things"]

    covered = FastAPI()
    covered.include_router(api, dependencies=[Depends(public())])
    assert undeclared_routes(covered) == []


def test_checker_finds_declarations_nested_in_dependencies() -> None:
    """A declaration buried in another dependency still counts."""
    probe = FastAPI()

    @probe.get("/api/v1/nested")
    def nested(_: Annotated[Principal, Depends(_outer)]) -> dict[str, str]:
        return {}

    assert undeclared_routes(probe) == []
    (route,) = api_routes(probe)
    assert declared_roles(route) == {"auditor"}
