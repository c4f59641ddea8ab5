"""Re-vetting policy resolution (R6, R14).

A policy is scoped by country and optionally sector, rank tier and agency. The most specific
*active* policy that applies to an official's current appointment wins. Specificity is a bit
mask over the scope fields that are set, with agency counted highest (documented in
docs/revetting.md):

    agency = 4, rank tier = 2, sector = 1   →  agency+tier (6) > agency (4) > tier+sector (3)
                                               > tier (2) > sector (1) > country only (0)

Two applicable policies can never tie: they would have the same scope fields set to the
official's own values, hence the same ``scope_key``, which is unique (409 at creation). An agency
policy names no sector (the agency implies it), so "agency" and "agency+sector" cannot both exist.

R14 defaults are seeded lazily by ``ensure_default_policies`` on the first write that needs a
policy (recording an evaluation, any policy write, the sweep); until then, and on read paths
that must not write (schedules, due lists, coverage), the same defaults are supplied from code
for every default scope that has no row yet. Defaults: Mexico 36 months (the
control-de-confianza certification period), the United States 60 months; all seven components
for senior tiers (``command``, ``executive``). Choices where the brief is silent: Mexico requires
all components at every tier (its control-de-confianza battery is the same for all); U.S.
non-senior tiers require background, financial, toxicology, psychological and medical.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    Subquery,
    Uuid,
    case,
    cast,
    exists,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain.outcome import ALL_COMPONENTS, ComponentType
from app.models import VettingPolicy, VettingPolicyVersion
from app.services.audit import audit

SENIOR = frozenset({"command", "executive"})
US_NON_SENIOR = (
    ComponentType.BACKGROUND,
    ComponentType.FINANCIAL,
    ComponentType.TOXICOLOGY,
    ComponentType.PSYCHOLOGICAL,
    ComponentType.MEDICAL,
)
ANY = "*"
# (country, rank tier) of every seeded default; the country-level ones cannot be deactivated,
# so every official of either country always has an applicable policy.
DEFAULT_SCOPES: tuple[tuple[str, str | None], ...] = (
    ("MX", None),
    ("MX", "command"),
    ("MX", "executive"),
    ("US", None),
    ("US", "command"),
    ("US", "executive"),
)
AGENCY_WEIGHT, TIER_WEIGHT, SECTOR_WEIGHT = 4, 2, 1


@dataclass(frozen=True)
class Policy:
    id: uuid.UUID | None
    version: int | None
    interval_months: int
    required_components: tuple[ComponentType, ...]
    retest_days: int
    promotion_requires_vetting: bool
    due_soon_days: int
    random_due_days: int


def default_policy(country: str, rank_tier: str | None) -> Policy:
    """The R14 default for a country (and tier) as values, without an id."""
    senior = rank_tier in SENIOR
    if country == "MX":
        interval, required = 36, ALL_COMPONENTS
    else:
        interval, required = 60, (ALL_COMPONENTS if senior else US_NON_SENIOR)
    return Policy(
        id=None,
        version=None,
        interval_months=interval,
        required_components=tuple(required),
        retest_days=90,
        promotion_requires_vetting=True,
        due_soon_days=60,
        random_due_days=30,
    )


def scope_key(
    country: str, sector: str | None, rank_tier: str | None, agency_id: uuid.UUID | None
) -> str:
    """``country|sector|tier|agency`` with ``*`` for any: unique, so no two policies tie."""
    return "|".join(
        (country, sector or ANY, rank_tier or ANY, str(agency_id) if agency_id else ANY)
    )


def specificity(*, sector: str | None, rank_tier: str | None, agency_id: object | None) -> int:
    """Agency > tier > sector > country (see the module docstring)."""
    return (
        (AGENCY_WEIGHT if agency_id is not None else 0)
        + (TIER_WEIGHT if rank_tier is not None else 0)
        + (SECTOR_WEIGHT if sector is not None else 0)
    )


def specificity_sql(
    sector: ColumnElement[Any], rank_tier: ColumnElement[Any], agency_id: ColumnElement[Any]
) -> ColumnElement[int]:
    """``specificity`` as a SQL expression, so set-based queries resolve policies the same way."""
    return (
        case((agency_id.is_not(None), AGENCY_WEIGHT), else_=0)
        + case((rank_tier.is_not(None), TIER_WEIGHT), else_=0)
        + case((sector.is_not(None), SECTOR_WEIGHT), else_=0)
    )


def snapshot_of(policy: VettingPolicy) -> dict[str, object]:
    """The JSON snapshot kept per version (evaluations cite policy id and version)."""
    return {
        "country": policy.country,
        "sector": policy.sector,
        "rank_tier": policy.rank_tier,
        "agency_id": str(policy.agency_id) if policy.agency_id else None,
        "scope_key": policy.scope_key,
        "interval_months": policy.interval_months,
        "required_components": list(policy.required_components),
        "retest_days": policy.retest_days,
        "promotion_requires_vetting": policy.promotion_requires_vetting,
        "due_soon_days": policy.due_soon_days,
        "random_due_days": policy.random_due_days,
        "active": policy.active,
    }


def to_policy(row: VettingPolicy) -> Policy:
    return Policy(
        id=row.id,
        version=row.version,
        interval_months=row.interval_months,
        required_components=tuple(ComponentType(c) for c in row.required_components),
        retest_days=row.retest_days,
        promotion_requires_vetting=row.promotion_requires_vetting,
        due_soon_days=row.due_soon_days,
        random_due_days=row.random_due_days,
    )


def ensure_default_policies(session: Session, now: dt.datetime) -> int:
    """Seed the R14 defaults that are missing; returns how many were created.

    Race-safe: each insert runs in a SAVEPOINT, and a concurrent seeder's row (the unique
    ``scope_key``) turns ours into a no-op instead of an error. One SELECT when all exist.
    """
    keys = {scope_key(c, None, t, None): (c, t) for c, t in DEFAULT_SCOPES}
    present = set(
        session.scalars(select(VettingPolicy.scope_key).where(VettingPolicy.scope_key.in_(keys)))
    )
    created: list[str] = []
    for key, (country, tier) in keys.items():
        if key in present:
            continue
        values = default_policy(country, tier)
        row = VettingPolicy(
            country=country,
            sector=None,
            rank_tier=tier,
            agency_id=None,
            scope_key=key,
            interval_months=values.interval_months,
            required_components=[c.value for c in values.required_components],
            retest_days=values.retest_days,
            promotion_requires_vetting=values.promotion_requires_vetting,
            due_soon_days=values.due_soon_days,
            random_due_days=values.random_due_days,
            active=True,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
                session.add(
                    VettingPolicyVersion(
                        policy_id=row.id,
                        version=row.version,
                        snapshot=snapshot_of(row),
                        changed_by=None,
                        changed_at=now,
                    )
                )
                session.flush()
        except IntegrityError:
            continue  # another process seeded it first
        created.append(key)
    if created:
        audit.record(
            session,
            actor=None,
            actor_username="system",
            action="policy.seed_defaults",
            resource_type="vetting_policy",
            details={"scope_keys": created},
            now=now,
        )
    return len(created)


def applies_to(
    *, country: str, sector: str | None, rank_tier: str | None, agency_id: uuid.UUID | None
) -> list[ColumnElement[bool]]:
    """Conditions under which a policy row applies to this scope."""
    return [
        VettingPolicy.country == country,
        or_(VettingPolicy.sector.is_(None), VettingPolicy.sector == sector)
        if sector
        else VettingPolicy.sector.is_(None),
        or_(VettingPolicy.rank_tier.is_(None), VettingPolicy.rank_tier == rank_tier)
        if rank_tier
        else VettingPolicy.rank_tier.is_(None),
        or_(VettingPolicy.agency_id.is_(None), VettingPolicy.agency_id == agency_id)
        if agency_id
        else VettingPolicy.agency_id.is_(None),
    ]


@dataclass(frozen=True)
class Resolved:
    """A resolved policy and the row behind it (None: a default not seeded yet)."""

    policy: Policy
    row: VettingPolicy | None
    scope_key: str
    specificity: int


def resolve(
    session: Session,
    *,
    country: str,
    sector: str | None,
    rank_tier: str | None,
    agency_id: uuid.UUID | None,
) -> Resolved:
    """The most specific active policy for this scope, with its row (R14). Never writes."""
    rows = session.scalars(
        select(VettingPolicy).where(
            *applies_to(country=country, sector=sector, rank_tier=rank_tier, agency_id=agency_id)
        )
    ).all()
    candidates = [
        Resolved(
            to_policy(r),
            r,
            r.scope_key,
            specificity(sector=r.sector, rank_tier=r.rank_tier, agency_id=r.agency_id),
        )
        for r in rows
        if r.active
    ]
    present = {r.scope_key for r in rows}
    for c, tier in DEFAULT_SCOPES:
        key = scope_key(c, None, tier, None)
        if c == country and tier in (None, rank_tier) and key not in present:
            candidates.append(
                Resolved(
                    default_policy(c, tier),
                    None,
                    key,
                    specificity(sector=None, rank_tier=tier, agency_id=None),
                )
            )
    if not candidates:  # a country without defaults: fall back to the code's values
        key = scope_key(country, None, None, None)
        return Resolved(default_policy(country, rank_tier), None, key, 0)
    return max(candidates, key=lambda c: c.specificity)


def resolve_policy(
    session: Session,
    *,
    country: str,
    sector: str | None,
    rank_tier: str | None,
    agency_id: uuid.UUID | None,
    now: dt.datetime | None = None,
) -> Policy:
    """The most specific policy for this scope (R14).

    With ``now`` (write paths: recording an evaluation) the R14 defaults are seeded first, so
    the returned policy has an id and version for the evaluation to cite. Without it nothing is
    written; a default that has no row yet is returned with ``id`` and ``version`` None.
    """
    if now is not None:
        ensure_default_policies(session, now)
    return resolve(
        session, country=country, sector=sector, rank_tier=rank_tier, agency_id=agency_id
    ).policy


def policy_source(countries: Sequence[str] | None = None) -> Subquery:
    """Every active policy as rows, plus the R14 defaults that have no row yet, for set-based
    queries (schedules, due lists, coverage, draws). Read-only: nothing is seeded."""
    vp = VettingPolicy
    stored = select(
        vp.id.label("policy_id"),
        vp.version.label("policy_version"),
        vp.country.label("country"),
        vp.sector.label("sector"),
        vp.rank_tier.label("rank_tier"),
        vp.agency_id.label("agency_id"),
        vp.interval_months.label("interval_months"),
        vp.retest_days.label("retest_days"),
        vp.promotion_requires_vetting.label("promotion_requires_vetting"),
        vp.due_soon_days.label("due_soon_days"),
        vp.random_due_days.label("random_due_days"),
    ).where(vp.active.is_(True))
    if countries is not None:
        stored = stored.where(vp.country.in_(list(countries)))
    parts = [stored]
    for country, tier in DEFAULT_SCOPES:
        if countries is not None and country not in countries:
            continue
        values = default_policy(country, tier)
        key = scope_key(country, None, tier, None)
        parts.append(
            select(
                cast(null(), Uuid),
                cast(null(), Integer),
                literal(country, String),
                cast(null(), String),
                literal(tier, String) if tier else cast(null(), String),
                cast(null(), Uuid),
                literal(values.interval_months, Integer),
                literal(values.retest_days, Integer),
                literal(values.promotion_requires_vetting, Boolean),
                literal(values.due_soon_days, Integer),
                literal(values.random_due_days, Integer),
            ).where(~exists().where(vp.scope_key == key))
        )
    return union_all(*parts).subquery("policy_source")
