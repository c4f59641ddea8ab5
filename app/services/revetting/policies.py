"""Managing re-vetting policies (R14): list, read, create, update, history.

Admins change only their own country's policies (R14); a policy of the other country answers
404 (R24). Every change is audited (R22) and snapshotted as a new ``VettingPolicyVersion``;
evaluations keep the (policy, version, ``valid_until``) they were judged under (R6, R8), while
schedules and eligibility follow the current version: a pass is valid through the earlier of
its stored ``valid_until`` and ``conducted_on`` + today's interval
(``app.services.revetting.schedules.pass_valid_until``; a shorter interval applies to passes already
recorded, a longer one extends none; docs/revetting.md). A change can therefore suspend or
reinstate a task force at once: the write records that transition (R19). The scope of a policy
never changes after creation: a different scope is a different policy. Resolution and
specificity live in ``app.services.revetting.policy``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain.access import Principal
from app.domain.outcome import ALL_COMPONENTS
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import Agency, VettingPolicy, VettingPolicyVersion
from app.services.audit import audit
from app.services.revetting.policy import (
    Resolved,
    ensure_default_policies,
    resolve,
    scope_key,
    snapshot_of,
    specificity,
)

VALUE_FIELDS = (
    "interval_months",
    "required_components",
    "retest_days",
    "promotion_requires_vetting",
    "due_soon_days",
    "random_due_days",
)


def _canonical_components(values: list[str]) -> list[str]:
    chosen = {str(v) for v in values}
    return [c.value for c in ALL_COMPONENTS if c.value in chosen]


def get_policy(
    session: Session, *, actor: Principal, policy_id: uuid.UUID, lock: bool = False
) -> VettingPolicy:
    """A policy of the caller's own country; 404 otherwise (R24)."""
    policy = session.get(VettingPolicy, policy_id, with_for_update=lock or None)
    if policy is None or policy.country != actor.country:
        raise NotFound("No such policy", code="POLICY_NOT_FOUND")
    return policy


def list_policies(
    session: Session,
    *,
    actor: Principal,
    sector: str | None,
    rank_tier: str | None,
    agency_id: uuid.UUID | None,
    active: bool | None,
    after: str | None,
    limit: int,
    now: dt.datetime,
) -> list[VettingPolicy]:
    """The caller's country's policies by scope key (defaults seeded on first use, R14)."""
    ensure_default_policies(session, now)
    stmt = (
        select(VettingPolicy)
        .where(VettingPolicy.country == actor.country)
        .order_by(VettingPolicy.scope_key)
    )
    if sector is not None:
        stmt = stmt.where(VettingPolicy.sector == sector)
    if rank_tier is not None:
        stmt = stmt.where(VettingPolicy.rank_tier == rank_tier)
    if agency_id is not None:
        stmt = stmt.where(VettingPolicy.agency_id == agency_id)
    if active is not None:
        stmt = stmt.where(VettingPolicy.active.is_(active))
    if after is not None:
        stmt = stmt.where(VettingPolicy.scope_key > after)
    return list(session.scalars(stmt.limit(limit + 1)))


def _own_agency(session: Session, actor: Principal, agency_id: uuid.UUID) -> Agency:
    agency = session.get(Agency, agency_id)
    if agency is None or agency.country != actor.country:
        raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
    return agency


def effective_policy(
    session: Session,
    *,
    actor: Principal,
    agency_id: uuid.UUID | None,
    sector: str | None,
    rank_tier: str | None,
    now: dt.datetime,
) -> Resolved:
    """Which policy applies to officials of this agency (or sector) and tier today (R14)."""
    if agency_id is not None:
        agency = _own_agency(session, actor, agency_id)
        if sector is not None and sector != agency.sector:
            raise FieldError("sector", "differs from the agency's sector", location="query")
        sector = agency.sector
    ensure_default_policies(session, now)
    return resolve(
        session, country=actor.country, sector=sector, rank_tier=rank_tier, agency_id=agency_id
    )


def create_policy(
    session: Session,
    *,
    actor: Principal,
    country: str | None,
    sector: str | None,
    rank_tier: str | None,
    agency_id: uuid.UUID | None,
    values: Mapping[str, Any],
    now: dt.datetime,
) -> VettingPolicy:
    """Create a policy for a scope of the caller's own country (R14).

    An agency scope names no sector (the agency implies it). Values left out are copied from
    the policy that applies to the scope today. A scope that already has a policy is 409
    ``POLICY_SCOPE_TAKEN`` (the unique ``scope_key`` also settles a race between two admins).
    """
    country = country or actor.country
    if country != actor.country:
        raise Forbidden("Admins change only their own country's policies", code="COUNTRY_SCOPE")
    effective_sector = sector
    if agency_id is not None:
        agency = _own_agency(session, actor, agency_id)
        if sector is not None:
            raise FieldError("sector", "omit it: the agency implies its sector")
        effective_sector = agency.sector
    ensure_default_policies(session, now)
    key = scope_key(country, sector, rank_tier, agency_id)
    existing = session.scalar(select(VettingPolicy.id).where(VettingPolicy.scope_key == key))
    if existing is not None:
        raise _scope_taken(existing)
    inherited = resolve(
        session,
        country=country,
        sector=effective_sector,
        rank_tier=rank_tier,
        agency_id=agency_id,
    ).policy
    base: dict[str, Any] = {
        "interval_months": inherited.interval_months,
        "required_components": [c.value for c in inherited.required_components],
        "retest_days": inherited.retest_days,
        "promotion_requires_vetting": inherited.promotion_requires_vetting,
        "due_soon_days": inherited.due_soon_days,
        "random_due_days": inherited.random_due_days,
    }
    base.update({k: v for k, v in values.items() if k in VALUE_FIELDS and v is not None})
    base["required_components"] = _canonical_components(base["required_components"])
    policy = VettingPolicy(
        country=country,
        sector=sector,
        rank_tier=rank_tier,
        agency_id=agency_id,
        scope_key=key,
        active=True,
        created_at=now,
        updated_at=now,
        **base,
    )
    try:
        with session.begin_nested():
            session.add(policy)
            session.flush()
    except IntegrityError:
        raced = session.scalar(select(VettingPolicy.id).where(VettingPolicy.scope_key == key))
        raise _scope_taken(raced) from None
    _snapshot(session, policy, actor, now)
    audit.record(
        session,
        actor=actor,
        action="policy.create",
        resource_type="vetting_policy",
        resource_id=policy.id,
        details={"scope_key": key, "version": policy.version, **snapshot_of(policy)},
        now=now,
    )
    # A more specific policy can shorten the validity of passes already recorded (R6, R19).
    _refresh_task_forces(
        session,
        country=country,
        cause={"kind": "policy_changed", "policy_id": str(policy.id), "version": policy.version},
        actor=actor,
        now=now,
    )
    return policy


def _scope_taken(existing: uuid.UUID | None) -> Conflict:
    return Conflict(
        "A policy for this scope already exists; change it instead",
        code="POLICY_SCOPE_TAKEN",
        extra={"existing_policy_id": str(existing) if existing else None},
    )


def _snapshot(session: Session, policy: VettingPolicy, actor: Principal, now: dt.datetime) -> None:
    session.add(
        VettingPolicyVersion(
            policy_id=policy.id,
            version=policy.version,
            snapshot=snapshot_of(policy),
            changed_by=actor.user_id,
            changed_at=now,
        )
    )
    session.flush()


def update_policy(
    session: Session,
    *,
    actor: Principal,
    policy: VettingPolicy,
    changes: Mapping[str, Any],
    now: dt.datetime,
) -> VettingPolicy:
    """Change a policy's values or ``active`` flag: a new version, audited (R14, R22).

    Past evaluations keep the version they cite; schedules and eligibility follow the new
    values at once, a longer interval never beyond a pass's stored ``valid_until`` (R6, #15),
    and the task forces of the country record any transition this causes (R19). The
    country-level policy cannot be deactivated (every official must have one)."""
    changes = {k: v for k, v in changes.items() if k in (*VALUE_FIELDS, "active")}
    for name, value in changes.items():
        if value is None:
            raise FieldError(name, "may be omitted but not null")
    if "required_components" in changes:
        changes["required_components"] = _canonical_components(changes["required_components"])
    if changes.get("active") is False and not (
        policy.sector or policy.rank_tier or policy.agency_id
    ):
        raise Conflict(
            "The country-level policy cannot be deactivated; change its values instead",
            code="POLICY_REQUIRED",
        )
    changed = {k: v for k, v in changes.items() if getattr(policy, k) != v}
    if not changed:
        return policy
    before = snapshot_of(policy)
    for name, value in changed.items():
        setattr(policy, name, value)
    policy.updated_at = now
    session.flush()  # bumps ``version`` (and checks it: a concurrent writer gets 412)
    _snapshot(session, policy, actor, now)
    audit.record(
        session,
        actor=actor,
        action="policy.update",
        resource_type="vetting_policy",
        resource_id=policy.id,
        details={
            "scope_key": policy.scope_key,
            "version": policy.version,
            "fields": sorted(changed),
            "before": {k: before[k] for k in changed},
            "after": {k: snapshot_of(policy)[k] for k in changed},
        },
        now=now,
    )
    _refresh_task_forces(
        session,
        country=policy.country,
        cause={
            "kind": "policy_changed",
            "policy_id": str(policy.id),
            "version": policy.version,
        },
        actor=actor,
        now=now,
    )
    return policy


def _refresh_task_forces(
    session: Session,
    *,
    country: str,
    cause: dict[str, Any],
    actor: Principal,
    now: dt.datetime,
) -> None:
    """R19: a policy write that ends (or restores) passes' validity records the suspension or
    reinstatement it causes in its own transaction, for every live task force with a current
    member of the policy's country, rather than leaving it to the next sweep."""
    from app.services.task_forces.task_forces import refresh_status, task_forces_with_members_of

    for tf in task_forces_with_members_of(session, country):
        refresh_status(session, tf=tf, cause=cause, actor=actor, now=now)


def policy_versions(session: Session, *, policy: VettingPolicy) -> list[VettingPolicyVersion]:
    return list(
        session.scalars(
            select(VettingPolicyVersion)
            .where(VettingPolicyVersion.policy_id == policy.id)
            .order_by(VettingPolicyVersion.version)
        )
    )


def policy_specificity(policy: VettingPolicy) -> int:
    return specificity(sector=policy.sector, rank_tier=policy.rank_tier, agency_id=policy.agency_id)
