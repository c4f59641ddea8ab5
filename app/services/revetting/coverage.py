"""Coverage statistics (R15a): how much of a country's active workforce is vetted.

Figures per (agency, sector, tier), each from one set-based SELECT over the schedule CTEs of
``app.services.revetting.schedules`` (the same definitions as schedules and due lists):

* ``active``: officials whose current appointment is there;
* ``vetted``: holding a pass whose validity end (under today's policy) has not passed and that
  no later fail or refusal superseded — an official can be vetted *and* overdue (e.g. a
  promotion or random selection not yet answered);
* ``current`` / ``due_soon`` / ``overdue`` / ``never_vetted``: the schedule state (they add up to
  ``active``);
* ``listed``: with an active or under-appeal listing (R9).

Beside them, per agency, its *reporting completeness* so a silent agency is visible: the last
time anything was recorded for it (an appointment or separation at the agency, or an evaluation
of one of its current officials) and the share of its active roster with any evaluation on
record. Senior officials (``command``, ``executive``) never vetted are named to their own
country's admins only; auditors see the counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from app.domain.vocabulary import SENIOR_TIERS, TIER_ORDER, ScheduleState
from app.models import Agency, Appointment, Evaluation, Listing, Official, Separation
from app.models.listing import BLOCKING_STATUSES
from app.services.revetting.schedules import ScheduleScope, active_officials, build_schedule_sql

SENIOR_NAMED_LIMIT = 1000


@dataclass(frozen=True)
class CoverageFilters:
    country: str
    agency_id: uuid.UUID | None = None
    sector: str | None = None
    rank_tier: str | None = None

    def scope(self) -> ScheduleScope:
        return ScheduleScope(
            countries=(self.country,),
            agency_id=self.agency_id,
            sector=self.sector,
            rank_tier=self.rank_tier,
        )


@dataclass(frozen=True)
class Figures:
    active: int = 0
    vetted: int = 0
    current: int = 0
    due_soon: int = 0
    overdue: int = 0
    never_vetted: int = 0
    listed: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class CoverageRow:
    agency_id: uuid.UUID
    agency_acronym: str
    agency_name: str
    sector: str
    rank_tier: str
    figures: Figures


@dataclass(frozen=True)
class Completeness:
    agency_id: uuid.UUID
    agency_acronym: str
    agency_name: str
    sector: str
    active_roster: int
    with_any_record: int
    share_with_record: float | None
    last_submission_at: dt.datetime | None


@dataclass(frozen=True)
class SeniorUnvetted:
    official_id: uuid.UUID
    given_names: str
    first_surname: str
    second_surname: str | None
    agency_id: uuid.UUID
    rank_tier: str


@dataclass(frozen=True)
class Coverage:
    as_of: dt.date
    country: str
    rows: list[CoverageRow]
    totals: Figures
    agencies: list[Completeness]
    senior_never_vetted_count: int
    senior_never_vetted: list[SeniorUnvetted] | None
    senior_never_vetted_truncated: bool


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def figures_stmt(filters: CoverageFilters, *, today: dt.date) -> Any:
    """One SELECT: the R15a figures grouped by agency, sector and tier."""
    s = build_schedule_sql(filters.scope(), today=today).summary
    listed = (
        select(Listing.official_id)
        .where(Listing.status.in_(BLOCKING_STATUSES))
        .group_by(Listing.official_id)
        .subquery("listed_officials")
    )
    # Flags first, aggregates after (a hash join, not a subquery per official).
    flags = (
        select(
            s.c.official_id,
            s.c.agency_id,
            s.c.sector,
            s.c.rank_tier,
            s.c.state,
            case((s.c.validity_due >= literal(today), 1), else_=0).label("vetted"),
            case((listed.c.official_id.is_not(None), 1), else_=0).label("listed"),
        )
        .outerjoin(listed, listed.c.official_id == s.c.official_id)
        .subquery("coverage_flags")
    )
    state = flags.c.state
    grouped = (
        select(
            flags.c.agency_id,
            flags.c.sector,
            flags.c.rank_tier,
            func.count().label("active"),
            func.coalesce(func.sum(flags.c.vetted), 0).label("vetted"),
            _count_if(state == ScheduleState.CURRENT.value).label("current"),
            _count_if(state == ScheduleState.DUE_SOON.value).label("due_soon"),
            _count_if(state == ScheduleState.OVERDUE.value).label("overdue"),
            _count_if(state == ScheduleState.NEVER_VETTED.value).label("never_vetted"),
            func.coalesce(func.sum(flags.c.listed), 0).label("listed"),
        )
        .group_by(flags.c.agency_id, flags.c.sector, flags.c.rank_tier)
        .subquery("coverage_groups")
    )
    return select(grouped, Agency.acronym, Agency.name).join(
        Agency, Agency.id == grouped.c.agency_id
    )


def completeness_stmt(filters: CoverageFilters) -> Any:
    """One SELECT: per agency of the country, roster, records on file and last submission."""
    active = active_officials(
        ScheduleScope(countries=(filters.country,), agency_id=filters.agency_id)
    )
    evaluated = (
        select(Evaluation.official_id)
        .group_by(Evaluation.official_id)
        .subquery("evaluated_officials")
    )
    flagged = (
        select(
            active.c.agency_id,
            case((evaluated.c.official_id.is_not(None), 1), else_=0).label("has_record"),
        )
        .outerjoin(evaluated, evaluated.c.official_id == active.c.official_id)
        .subquery("roster_flags")
    )
    roster = (
        select(
            flagged.c.agency_id,
            func.count().label("roster"),
            func.sum(flagged.c.has_record).label("with_record"),
        )
        .group_by(flagged.c.agency_id)
        .subquery("roster")
    )
    last_eval = (
        select(active.c.agency_id, func.max(Evaluation.created_at).label("at"))
        .join(Evaluation, Evaluation.official_id == active.c.official_id)
        .group_by(active.c.agency_id)
        .subquery("last_evaluation")
    )
    last_appt = (
        select(Appointment.agency_id, func.max(Appointment.created_at).label("at"))
        .group_by(Appointment.agency_id)
        .subquery("last_appointment")
    )
    last_sep = (
        select(Separation.agency_id, func.max(Separation.created_at).label("at"))
        .group_by(Separation.agency_id)
        .subquery("last_separation")
    )
    stmt = (
        select(
            Agency.id,
            Agency.acronym,
            Agency.name,
            Agency.sector,
            func.coalesce(roster.c.roster, 0).label("roster"),
            func.coalesce(roster.c.with_record, 0).label("with_record"),
            last_eval.c.at.label("last_evaluation_at"),
            last_appt.c.at.label("last_appointment_at"),
            last_sep.c.at.label("last_separation_at"),
        )
        .outerjoin(roster, roster.c.agency_id == Agency.id)
        .outerjoin(last_eval, last_eval.c.agency_id == Agency.id)
        .outerjoin(last_appt, last_appt.c.agency_id == Agency.id)
        .outerjoin(last_sep, last_sep.c.agency_id == Agency.id)
        .where(Agency.country == filters.country)
        .order_by(Agency.acronym, Agency.id)
    )
    if filters.agency_id is not None:
        stmt = stmt.where(Agency.id == filters.agency_id)
    if filters.sector is not None:
        stmt = stmt.where(Agency.sector == filters.sector)
    return stmt


def senior_unvetted_stmt(filters: CoverageFilters, *, today: dt.date) -> Any:
    scope = ScheduleScope(
        countries=(filters.country,),
        agency_id=filters.agency_id,
        sector=filters.sector,
        rank_tier=filters.rank_tier,
        rank_tiers=tuple(sorted(SENIOR_TIERS)),
    )
    s = build_schedule_sql(scope, today=today).summary
    never = (
        select(s.c.official_id, s.c.agency_id, s.c.rank_tier)
        .where(s.c.state == ScheduleState.NEVER_VETTED.value)
        .subquery("senior_never_vetted")
    )
    return (
        select(
            never,
            Official.given_names,
            Official.first_surname,
            Official.second_surname,
        )
        .join(Official, Official.id == never.c.official_id)
        .order_by(Official.search_name, never.c.official_id)
        .limit(SENIOR_NAMED_LIMIT + 1)
    )


def coverage(
    session: Session, *, filters: CoverageFilters, today: dt.date, name_seniors: bool
) -> Coverage:
    """R15a figures for one country: two statements, three when senior officials never vetted
    are named (``name_seniors``: the country's own admins only)."""
    rows = [
        CoverageRow(
            agency_id=r.agency_id,
            agency_acronym=r.acronym,
            agency_name=r.name,
            sector=r.sector,
            rank_tier=r.rank_tier,
            figures=Figures(
                active=int(r.active),
                vetted=int(r.vetted),
                current=int(r.current),
                due_soon=int(r.due_soon),
                overdue=int(r.overdue),
                never_vetted=int(r.never_vetted),
                listed=int(r.listed),
            ),
        )
        for r in session.execute(figures_stmt(filters, today=today))
    ]
    rows.sort(key=lambda r: (r.agency_acronym, str(r.agency_id), TIER_ORDER.get(r.rank_tier, 9)))
    totals = sum((r.figures for r in rows), Figures())
    agencies = []
    for r in session.execute(completeness_stmt(filters)):
        stamps = [
            t for t in (r.last_evaluation_at, r.last_appointment_at, r.last_separation_at) if t
        ]
        roster, with_record = int(r.roster), int(r.with_record)
        agencies.append(
            Completeness(
                agency_id=r.id,
                agency_acronym=r.acronym,
                agency_name=r.name,
                sector=r.sector,
                active_roster=roster,
                with_any_record=with_record,
                share_with_record=round(with_record / roster, 4) if roster else None,
                last_submission_at=max(stamps) if stamps else None,
            )
        )
    senior_count = sum(r.figures.never_vetted for r in rows if r.rank_tier in SENIOR_TIERS)
    named: list[SeniorUnvetted] | None = None
    truncated = False
    if name_seniors:
        found = session.execute(senior_unvetted_stmt(filters, today=today)).all()
        truncated = len(found) > SENIOR_NAMED_LIMIT
        named = [
            SeniorUnvetted(
                official_id=r.official_id,
                given_names=r.given_names,
                first_surname=r.first_surname,
                second_surname=r.second_surname,
                agency_id=r.agency_id,
                rank_tier=r.rank_tier,
            )
            for r in found[:SENIOR_NAMED_LIMIT]
        ]
    return Coverage(
        as_of=today,
        country=filters.country,
        rows=rows,
        totals=totals,
        agencies=agencies,
        senior_never_vetted_count=senior_count,
        senior_never_vetted=named,
        senior_never_vetted_truncated=truncated,
    )


__all__ = ["Coverage", "CoverageFilters", "CoverageRow", "Figures", "coverage"]
