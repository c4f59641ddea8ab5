"""R24, #16: every route that names a record in its path resolves it through a scoped dependency.

A path parameter (``{official_id}``, ``{listing_id}``, ``{task_force_id}``, …) names a record; a
route must load it through one of the lookup-or-404 dependencies of ``app.auth.scoping`` (its
``SCOPED_LOADERS``), which apply country and agency scope, so a route cannot forget the scope
check. The walk is the one of ``tests/test_route_declarations.py`` (the whole dependency tree
as FastAPI will solve it). Two more things are checked:

- the role guard is solved before the scoped lookup, so a role the route does not admit gets
  403 before anything can answer 404 (R23 before R24);
- path parameters that are not scoped records are listed below, each with its reason.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant

from app.auth.principal import Principal, Role, require_roles
from app.auth.scoping import SCOPED_LOADERS, ScopedOfficial
from tests.test_route_declarations import RouteView, api_routes

#: (route, path parameter) pairs that are not resolved by a scoped dependency, and why.
NOT_SCOPED_RECORDS: dict[tuple[str, str], str] = {
    ("DELETE /api/v1/api-keys/{key_id}", "key_id"): (
        "one's own API key (or, for an admin, a key of a user of its country); not a registry "
        "record, scoped by api_keys.revoke_key"
    ),
    ("DELETE /api/v1/webhooks/{webhook_id}", "webhook_id"): (
        "the caller's own agency's subscription, not a registry record; scoped by "
        "webhooks.delete_webhook (active hooks of the caller's agency, or country for an admin)"
    ),
    ("POST /api/v1/officials/{official_id}/appointments/{appointment_id}/end", "appointment_id"): (
        "a child of the scoped official ({official_id} is LockedOfficial): it must be an "
        "active appointment of that official"
    ),
    ("POST /api/v1/listings/{listing_id}/appeals/{appeal_id}/decision", "appeal_id"): (
        "a child of the scoped listing ({listing_id} is LockedListing): it must be an appeal "
        "of that listing"
    ),
    ("DELETE /api/v1/task-forces/{task_force_id}/members/{official_id}", "official_id"): (
        "a child of the scoped task force ({task_force_id} is LockedTaskForce): it must be a "
        "current member of that task force (404 MEMBER_NOT_FOUND otherwise)"
    ),
}

PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _solve_order(dependant: Dependant) -> Iterator[Dependant]:
    """Sub-dependencies in the order FastAPI solves (and calls) them: depth first, each one's
    own dependencies before it."""
    for dep in dependant.dependencies:
        yield from _solve_order(dep)
        yield dep


def _scoped_params(route: RouteView) -> set[str]:
    return {
        p.name
        for dep in _solve_order(route.dependant)
        if dep.call in SCOPED_LOADERS
        for p in dep.path_params
    }


def unscoped_params(app: FastAPI) -> list[tuple[str, str]]:
    """(route, parameter) pairs of path parameters that no scoped dependency resolves."""
    out = []
    for route in api_routes(app):
        scoped = _scoped_params(route)
        for name in PARAM.findall(route.path):
            if name not in scoped:
                out.append((route.method_path, name))
    return out


def guard_after_lookup(app: FastAPI) -> list[str]:
    """Routes where a scoped lookup is solved before the role guard (404 would beat 403)."""
    out = []
    for route in api_routes(app):
        calls = [dep.call for dep in _solve_order(route.dependant)]
        guards = [i for i, c in enumerate(calls) if getattr(c, "admitted_roles", None)]
        lookups = [i for i, c in enumerate(calls) if c in SCOPED_LOADERS]
        if lookups and (not guards or guards[0] > lookups[0]):
            out.append(route.method_path)
    return out


def test_every_record_in_a_path_is_resolved_in_scope(app: FastAPI) -> None:
    allowed = set(NOT_SCOPED_RECORDS)
    missing = [p for p in unscoped_params(app) if p not in allowed]
    assert missing == [], (
        "resolve these path records through a dependency of app.auth.scoping "
        "(or list them in NOT_SCOPED_RECORDS with the reason)"
    )


def test_exemptions_are_current(app: FastAPI) -> None:
    """Each listed exemption names a real route parameter that is still not scoped: a converted
    route comes off the list."""
    unscoped = set(unscoped_params(app))
    stale = sorted(p for p in NOT_SCOPED_RECORDS if p not in unscoped)
    assert stale == []


def test_role_guard_is_solved_before_the_scoped_lookup(app: FastAPI) -> None:
    assert guard_after_lookup(app) == []


# --- the checker itself --------------------------------------------------------------------

ProbeVetter = Annotated[Principal, Depends(require_roles(Role.VETTING_OFFICER))]


def _wrapped(official: ScopedOfficial) -> Any:
    return official


def test_checker_flags_an_unscoped_path_record() -> None:
    probe = FastAPI()

    @probe.get("/api/v1/officials/{official_id}")
    def scoped(_: ProbeVetter, official: ScopedOfficial) -> None:
        return None

    @probe.get("/api/v1/officials/{official_id}/nested")
    def nested(_: ProbeVetter, official: Annotated[Any, Depends(_wrapped)]) -> None:
        return None

    @probe.get("/api/v1/officials/{official_id}/forgotten")
    def forgotten(official_id: uuid.UUID, _: ProbeVetter) -> None:
        return None

    assert unscoped_params(probe) == [
        ("GET /api/v1/officials/{official_id}/forgotten", "official_id")
    ]
    assert guard_after_lookup(probe) == []


def test_checker_flags_a_lookup_before_the_guard() -> None:
    probe = FastAPI()

    @probe.get("/api/v1/officials/{official_id}")
    def early(official: ScopedOfficial, _: ProbeVetter) -> None:
        return None

    assert unscoped_params(probe) == []
    assert guard_after_lookup(probe) == ["GET /api/v1/officials/{official_id}"]
