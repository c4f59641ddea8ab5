"""Re-vetting schedules (R6, R15): derived from facts and the clock, never stored.

Each official with an active appointment owes re-vetting by the earliest of their
*obligations* (all computed under the policy that applies *today* to their current
appointment, so a policy change moves due dates without rewriting any evaluation):

Evaluations are the official's own country's (#18 F3b): a reciprocal result, the other
country's vetting of a joint task force's member, counts toward that task force's reciprocity
only (``app.services.task_forces.eligibility``), never in the schedule.

``validity_end``
    the latest decisive (pass/fail/refused), uncorrected evaluation is a pass: due on its
    last valid day, ``pass_valid_until`` — the earlier of its stored ``valid_until`` and
    ``conducted_on + interval_months`` of today's policy (R6; a shortened interval applies to
    passes already recorded, a lengthened one extends none). Dates decide "latest";
    on a day with several decisive results the most adverse counts (refused > fail > pass).
``vetting_failed`` / ``vetting_refused``
    the latest decisive evaluation failed or was refused: due on its date (already owed).
``inconclusive_retest``
    each inconclusive evaluation on a later day than the latest decisive one: due
    ``retest_days`` after it (R6); the earliest governs, so repeating inconclusive results do
    not extend the window.
``promotion``
    each promotion (an appointment of kind ``promotion``) that started on a later day than the
    latest decisive evaluation, when the policy has ``promotion_requires_vetting``: due on the
    promotion's start date (no grace period).
``random_selection``
    each random selection (R16) not yet answered by a ``random``-trigger evaluation conducted
    on or after the selection date: due on the selection's ``due_on``.
``initial_vetting``
    no evaluation at all: due on the day the official's first appointment started.

State: ``never_vetted`` when the official has no (uncorrected) evaluation; else ``overdue`` when
the next due date has passed, ``due_soon`` when it is within the policy's ``due_soon_days``
(the due date itself included), ``current`` otherwise. Officials without an active appointment
have no schedule (state ``inactive`` on the single-official view, absent from lists).

Everything is computed by one set-based SELECT per question (no per-official Python loop) that
runs on SQLite and PostgreSQL, with a few dialect-specific date functions (``add_months``
clamps to the month's end like ``app.domain.dates.add_months``). Lists use one wide row per
official (``ScheduleSql.summary``); a schedule lists its obligations one per row with the record
behind each (``ScheduleSql.obligations``); both derive from the same per-official facts. The
current appointment is the active one that started last (appointments with ``ended_on`` NULL
are active, as everywhere in the registry).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Subquery,
    Uuid,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session, aliased, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.domain.access import Principal, Role
from app.domain.vocabulary import ObligationKind, ScheduleState
from app.errors import FieldError, Forbidden
from app.models import Agency, Appointment, Evaluation, Official, RandomSelection
from app.services.revetting.policy import policy_source, specificity_sql
from app.services.revetting.spreadsheet import spreadsheet_safe

DECISIVE = ("pass", "fail", "refused")
RANK_TIERS = ("line", "supervisory", "command", "executive")
BOTH_COUNTRIES = ("MX", "US")


DUE_STATES = (ScheduleState.DUE_SOON, ScheduleState.OVERDUE, ScheduleState.NEVER_VETTED)
# Summary columns: the earliest due date per obligation kind (None when the kind is absent).
KIND_COLUMNS = {
    ObligationKind.INITIAL_VETTING: "initial_due",
    ObligationKind.VALIDITY_END: "validity_due",
    ObligationKind.VETTING_FAILED: "failed_due",
    ObligationKind.VETTING_REFUSED: "refused_due",
    ObligationKind.INCONCLUSIVE_RETEST: "retest_due",
    ObligationKind.PROMOTION: "promotion_due",
    ObligationKind.RANDOM_SELECTION: "random_due",
}


# --- dialect-specific date arithmetic ---------------------------------------------------------


class add_months(FunctionElement[dt.date]):
    """``day + n months``, clamped to the end of the target month (2024-01-31 + 1 → 02-29)."""

    type = Date()
    inherit_cache = True
    name = "add_months"


class add_days(FunctionElement[dt.date]):
    """``day + n days``."""

    type = Date()
    inherit_cache = True
    name = "add_days"


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(add_months, "postgresql")
def _add_months_pg(element: add_months, compiler: SQLCompiler, **kw: Any) -> str:
    day, months = _args(element, compiler, **kw)
    # date + interval is a timestamp; PostgreSQL already clamps to the month's last day.
    return f"CAST(({day} + make_interval(months => {months})) AS DATE)"


@compiles(add_months, "sqlite")
def _add_months_sqlite(element: add_months, compiler: SQLCompiler, **kw: Any) -> str:
    day, months = _args(element, compiler, **kw)
    # SQLite's '+N months' overflows (01-31 + 1 month = 03-03); take the same day-of-month
    # from the first of the target month, but never past that month's last day.
    same_day = (
        f"date({day}, 'start of month', printf('%+d months', {months}), "
        f"printf('%+d days', CAST(strftime('%d', {day}) AS INTEGER) - 1))"
    )
    month_end = f"date({day}, 'start of month', printf('%+d months', ({months}) + 1), '-1 day')"
    return f"min({same_day}, {month_end})"


@compiles(add_days, "postgresql")
def _add_days_pg(element: add_days, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = _args(element, compiler, **kw)
    return f"(CAST({day} AS DATE) + ({days}))"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = _args(element, compiler, **kw)
    return f"date({day}, printf('%+d days', {days}))"


class least_date(FunctionElement[dt.date]):
    """The earliest of several dates, ignoring NULLs (NULL only when all are NULL)."""

    type = Date()
    inherit_cache = True
    name = "least_date"


@compiles(least_date, "postgresql")
def _least_date_pg(element: least_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({', '.join(_args(element, compiler, **kw))})"  # LEAST skips NULLs


@compiles(least_date, "sqlite")
def _least_date_sqlite(element: least_date, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's multi-argument min() is NULL as soon as one argument is: use a sentinel.
    args = ", ".join(f"coalesce({a}, '{_NO_DATE}')" for a in _args(element, compiler, **kw))
    return f"nullif(min({args}), '{_NO_DATE}')"


_NO_DATE = "9999-12-31"


def pass_valid_until(
    conducted_on: ColumnElement[Any] | QueryableAttribute[Any],
    stored_valid_until: ColumnElement[Any] | QueryableAttribute[Any],
    interval_months: ColumnElement[Any],
) -> ColumnElement[dt.date]:
    """The last valid day of a pass (R6) under the policy that applies *today*: the earlier of
    the ``valid_until`` stored when it was judged and ``conducted_on`` plus today's interval.

    The one definition of validity: schedules, due lists, coverage and the sweep (through
    ``build_schedule_sql``) and eligibility and task-force compliance (through
    ``current_policy``) all call it, so they cannot disagree. A shortened interval takes
    effect on passes already recorded; a lengthened one never extends a pass beyond the date
    it was certified to (docs/revetting.md, "Which policy governs a recorded pass"). A NULL on
    either side is ignored: a pass inserted without ``valid_until`` follows today's policy, and
    an official without a current appointment (no policy today) keeps the stored date."""
    # SQLite's date modifiers read a NULL month count as 0: guard it, so "no policy" is NULL.
    capped = case((interval_months.is_not(None), add_months(conducted_on, interval_months)))
    return least_date(stored_valid_until, capped)


class day_number(FunctionElement[int]):
    """Days since 1970-01-01 (an integer), so a date and a small code pack into one sortable
    number for a single-pass MAX."""

    type = Integer()
    inherit_cache = True
    name = "day_number"


class from_day_number(FunctionElement[dt.date]):
    type = Date()
    inherit_cache = True
    name = "from_day_number"


@compiles(day_number, "postgresql")
def _day_number_pg(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"({day} - DATE '1970-01-01')"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"CAST(julianday({day}) - 2440587.5 AS INTEGER)"


@compiles(from_day_number, "postgresql")
def _from_day_number_pg(element: from_day_number, compiler: SQLCompiler, **kw: Any) -> str:
    (days,) = _args(element, compiler, **kw)
    return f"(DATE '1970-01-01' + ({days}))"


@compiles(from_day_number, "sqlite")
def _from_day_number_sqlite(element: from_day_number, compiler: SQLCompiler, **kw: Any) -> str:
    (days,) = _args(element, compiler, **kw)
    return f"date(({days}) * 86400, 'unixepoch')"


# --- the set-based building blocks ------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleScope:
    """Which officials a query covers: their country, and optional current-appointment
    filters. ``official_ids`` restricts to a known set (one official, a task-force roster)."""

    countries: tuple[str, ...]
    agency_id: uuid.UUID | None = None
    sector: str | None = None
    rank_tier: str | None = None
    rank_tiers: tuple[str, ...] | None = None
    official_ids: tuple[uuid.UUID, ...] | None = None


@dataclass(frozen=True)
class ScheduleSql:
    """The common table expressions of one schedule computation.

    ``active``: one row per official with an active appointment (its current appointment);
    ``policy``: the resolved policy per (agency, tier); ``facts``: per official with any
    evaluation, the dates every obligation derives from; ``summary``: one row per active
    official with the policy, the earliest due date per obligation kind, ``next_due`` and
    ``state`` (for lists of any size); ``obligations``: one row per obligation with the record
    behind it (for the few officials of one schedule or roster)."""

    active: CTE
    policy: CTE
    facts: CTE
    summary: Subquery
    obligations: Subquery


def _lit(kind: str) -> Any:
    # Inline constants (our own enum values, never user input) keep UNION column types simple.
    return literal_column(f"'{kind}'", String)


def active_officials(scope: ScheduleScope) -> CTE:
    """Officials with an active appointment, one row each: the appointment that started last.

    "Started last" is an anti-join (no later active appointment), not a window function: the
    planner estimates an anti-join's size well, and a ``row_number() = 1`` filter's badly
    enough to choose nested loops over a million rows."""
    a, later, o, ag = Appointment, aliased(Appointment), Official, Agency
    superseded = exists().where(
        later.official_id == a.official_id,
        later.ended_on.is_(None),
        or_(
            later.started_on > a.started_on,
            and_(later.started_on == a.started_on, later.id > a.id),
        ),
    )
    stmt = (
        select(
            a.official_id.label("official_id"),
            a.id.label("appointment_id"),
            a.agency_id.label("agency_id"),
            a.rank_tier.label("rank_tier"),
            ag.sector.label("sector"),
            ag.country.label("agency_country"),
            o.country.label("country"),
        )
        .join(o, o.id == a.official_id)
        .join(ag, ag.id == a.agency_id)
        .where(a.ended_on.is_(None), o.country.in_(scope.countries), ~superseded)
    )
    if scope.official_ids is not None:
        stmt = stmt.where(a.official_id.in_(scope.official_ids))
    if scope.agency_id is not None:
        stmt = stmt.where(a.agency_id == scope.agency_id)
    if scope.sector is not None:
        stmt = stmt.where(ag.sector == scope.sector)
    if scope.rank_tier is not None:
        stmt = stmt.where(a.rank_tier == scope.rank_tier)
    if scope.rank_tiers is not None:
        stmt = stmt.where(a.rank_tier.in_(scope.rank_tiers))
    # Computed once (hash anti-join over whole tables), never inlined into a plan that would
    # apply the anti-join row by row after filtering.
    return stmt.cte("active").prefix_with("MATERIALIZED", dialect="postgresql")


def resolved_policies(scope: ScheduleScope, *, active: CTE | None = None) -> CTE:
    """The winning policy per (agency, tier) of the scope (R14 specificity).

    Resolved per combination of an agency of the scope's countries and a rank tier rather
    than per official: there are far fewer, and neither side needs a scan of the officials.
    For a known set of officials (``scope.official_ids``, with their ``active`` CTE) only
    their current agencies are resolved, so one schedule or one roster does not resolve the
    whole country. Callers LEFT JOIN it on (agency, tier)."""
    src = policy_source(scope.countries)
    agencies = select(
        Agency.id.label("agency_id"),
        Agency.sector.label("sector"),
        Agency.country.label("agency_country"),
    ).where(Agency.country.in_(scope.countries))
    if active is not None and scope.official_ids is not None:
        agencies = agencies.where(Agency.id.in_(select(active.c.agency_id)))
    if scope.agency_id is not None:
        agencies = agencies.where(Agency.id == scope.agency_id)
    if scope.sector is not None:
        agencies = agencies.where(Agency.sector == scope.sector)
    tiers = union_all(
        *(select(literal_column(f"'{tier}'", String).label("rank_tier")) for tier in RANK_TIERS)
    ).subquery("tiers")
    scoped = agencies.subquery("scoped_agencies")
    combos = (
        select(scoped.c.agency_id, tiers.c.rank_tier, scoped.c.sector, scoped.c.agency_country)
        .select_from(scoped)
        .join(tiers, true())
        .subquery("combos")
    )
    rank = func.row_number().over(
        partition_by=(combos.c.agency_id, combos.c.rank_tier),
        order_by=specificity_sql(src.c.sector, src.c.rank_tier, src.c.agency_id).desc(),
    )
    candidates = (
        select(
            combos.c.agency_id,
            combos.c.rank_tier,
            src.c.policy_id,
            src.c.policy_version,
            src.c.interval_months,
            src.c.retest_days,
            src.c.promotion_requires_vetting,
            src.c.due_soon_days,
            src.c.random_due_days,
            rank.label("rn"),
        )
        .join(
            src,
            and_(
                src.c.country == combos.c.agency_country,
                or_(src.c.sector.is_(None), src.c.sector == combos.c.sector),
                or_(src.c.rank_tier.is_(None), src.c.rank_tier == combos.c.rank_tier),
                or_(src.c.agency_id.is_(None), src.c.agency_id == combos.c.agency_id),
            ),
        )
        .subquery("policy_candidates")
    )
    return (
        select(*(c for c in candidates.c if c.name != "rn"))
        .where(candidates.c.rn == 1)
        .cte("resolved_policy")
    )


def current_policy(scope: ScheduleScope) -> Subquery:
    """Per official of the scope with an active appointment, the policy that applies today
    (``official_id``, ``interval_months``, ``retest_days``): the same current appointment and
    the same resolution as schedules, for readers that join it to evaluations row by row —
    eligibility (R17) passes ``interval_months`` to ``pass_valid_until``."""
    active = active_officials(scope)
    pol = resolved_policies(scope, active=active)
    return (
        select(
            active.c.official_id,
            pol.c.interval_months,
            pol.c.retest_days,
        )
        .outerjoin(
            pol,
            and_(pol.c.agency_id == active.c.agency_id, pol.c.rank_tier == active.c.rank_tier),
        )
        .subquery("current_policy")
    )


_SEVERITY = {"pass": 1, "fail": 2, "refused": 3}


def build_schedule_sql(scope: ScheduleScope, *, today: dt.date) -> ScheduleSql:
    """Assemble the schedule computation for ``scope`` as of ``today`` (R15).

    Per official, everything derives from a few facts: the day of the latest decisive
    (pass/fail/refused) result — on a day with several, the most adverse counts —, the first
    inconclusive result after that day, the first promotion after that day, the latest
    ``random`` evaluation and the selections it has not answered. They come from one pass over
    the official's *events* (uncorrected evaluations, promotions, random selections) sorted by
    official: a window MAX gives every event the latest decisive day, and one GROUP BY reduces
    them to a row per official. That subquery is joined once, by official id, so PostgreSQL
    knows the key is unique and plans hash joins at a million officials."""
    e, corrector, a, s = Evaluation, aliased(Evaluation), Appointment, RandomSelection
    active = active_officials(scope)
    pol = resolved_policies(scope, active=active)

    # A whole country reads every record of its officials (a hash semi-join on the officials
    # table, whose statistics the planner knows; the other country's records never reach the
    # sort: measured at 1M, MX due list 10.3 → 9.4 s) and lets the join to ``active`` narrow
    # them further; a known set of officials, or an agency, sector or tier, reads only its
    # officials' records through the indexes.
    narrowed = any(
        v is not None for v in (scope.agency_id, scope.sector, scope.rank_tier, scope.rank_tiers)
    )
    every_country = set(scope.countries) >= set(BOTH_COUNTRIES)

    def restricted(column: Any) -> list[Any]:
        if scope.official_ids is not None:
            return [column.in_(scope.official_ids)]
        if narrowed:
            return [column.in_(select(active.c.official_id))]
        if not every_country:
            return [column.in_(select(Official.id).where(Official.country.in_(scope.countries)))]
        return []

    def effective(ev: Any) -> list[Any]:
        """Uncorrected evaluations (R8) of the officials in scope, by their own country's
        vetting bodies (#18 F3b: a reciprocal result counts toward a task force's reciprocity
        only, as in eligibility). ``corrects_id IS NOT NULL`` says nothing new to the logic but
        lets the planner probe the (nearly empty) unique index of corrections instead of
        hashing every evaluation's NULL ``corrects_id``."""
        correction = exists().where(
            corrector.corrects_id == ev.id, corrector.corrects_id.is_not(None)
        )
        if len(set(scope.countries)) == 1:
            # Only this country's officials reach the result (``active``): no join needed.
            home = ev.conducted_by_country == scope.countries[0]
        else:
            home = exists().where(
                Official.id == ev.official_id, Official.country == ev.conducted_by_country
            )
        return [~correction, home, *restricted(ev.official_id)]

    no_date = cast(null(), Date)
    no_text = cast(null(), String)
    events = union_all(
        select(
            e.official_id.label("official_id"),
            _lit("evaluation").label("event"),
            e.outcome.label("outcome"),
            e.trigger.label("trigger"),
            e.conducted_on.label("event_on"),
            # An evaluation's "due" column carries its stored ``valid_until`` (R6).
            e.valid_until.label("due_on"),
        ).where(*effective(e)),
        select(a.official_id, _lit("promotion"), no_text, no_text, a.started_on, no_date).where(
            a.kind == "promotion", *restricted(a.official_id)
        ),
        select(s.official_id, _lit("selection"), no_text, no_text, s.selected_on, s.due_on).where(
            *restricted(s.official_id)
        ),
    ).subquery("events")
    is_eval = events.c.event == "evaluation"
    severity = case(*((events.c.outcome == o, n) for o, n in _SEVERITY.items()))
    # The latest decisive day and the most adverse result on it, packed into one number
    # (day × 4 + severity) so that a single MAX finds both.
    decisive_key = case(
        (
            and_(is_eval, events.c.outcome.in_(DECISIVE)),
            day_number(events.c.event_on) * 4 + severity,
        )
    )
    by_official = events.c.official_id
    keyed = select(
        events,
        day_number(events.c.event_on).label("day"),
        func.max(decisive_key).over(partition_by=by_official).label("decisive_key"),
        func.max(case((and_(is_eval, events.c.trigger == "random"), events.c.event_on)))
        .over(partition_by=by_official)
        .label("last_random_on"),
    ).subquery("keyed_events")
    k = keyed.c
    after_decisive = or_(k.decisive_key.is_(None), k.day > k.decisive_key // 4)
    unanswered = or_(k.last_random_on.is_(None), k.last_random_on < k.event_on)
    facts_stmt = select(
        k.official_id,
        func.count(case((k.event == "evaluation", 1))).label("evaluations"),
        from_day_number(func.max(k.decisive_key) // 4).label("last_decisive_on"),
        (func.max(k.decisive_key) % 4).label("last_severity"),
        # The stored end of the pass(es) on the latest decisive day; only read when that
        # day's result is a pass (severity 1), capped by today's interval below.
        func.min(
            case(
                (
                    and_(
                        k.event == "evaluation",
                        k.outcome == "pass",
                        k.day == k.decisive_key // 4,
                    ),
                    k.due_on,
                )
            )
        ).label("last_pass_valid_until"),
        func.max(k.last_random_on).label("last_random_on"),
        func.min(
            case(
                (
                    and_(k.event == "evaluation", k.outcome == "inconclusive", after_decisive),
                    k.event_on,
                )
            )
        ).label("open_inconclusive_on"),
        func.min(case((and_(k.event == "promotion", after_decisive), k.event_on))).label(
            "first_promotion_on"
        ),
        func.min(case((and_(k.event == "selection", unanswered), k.due_on))).label("random_due"),
    ).group_by(k.official_id)
    facts = facts_stmt.subquery("official_facts")
    first_start = (
        select(func.min(a.started_on)).where(a.official_id == active.c.official_id)
    ).scalar_subquery()
    by_policy = and_(pol.c.agency_id == active.c.agency_id, pol.c.rank_tier == active.c.rank_tier)

    # --- one wide row per official (lists of any size) ---
    sev = facts.c.last_severity
    never = func.coalesce(facts.c.evaluations, 0) == 0
    per_kind = {
        "initial_due": case((never, first_start)),
        "validity_due": case(
            (
                sev == 1,
                pass_valid_until(
                    facts.c.last_decisive_on,
                    facts.c.last_pass_valid_until,
                    pol.c.interval_months,
                ),
            )
        ),
        "failed_due": case((sev == 2, facts.c.last_decisive_on)),
        "refused_due": case((sev == 3, facts.c.last_decisive_on)),
        "retest_due": add_days(facts.c.open_inconclusive_on, pol.c.retest_days),
        "promotion_due": case(
            (pol.c.promotion_requires_vetting.is_(True), facts.c.first_promotion_on)
        ),
        "random_due": facts.c.random_due,
    }
    kinds = (
        select(
            active.c.official_id,
            active.c.country,
            active.c.agency_id,
            active.c.sector,
            active.c.rank_tier,
            active.c.appointment_id,
            pol.c.policy_id,
            pol.c.policy_version,
            pol.c.interval_months,
            pol.c.retest_days,
            pol.c.promotion_requires_vetting,
            pol.c.due_soon_days,
            pol.c.random_due_days,
            *(expr.label(name) for name, expr in per_kind.items()),
        )
        # LEFT JOINs: every active official keeps exactly one row, and the planner sizes each
        # join at least as large as the active population.
        .outerjoin(pol, by_policy)
        .outerjoin(facts, facts.c.official_id == active.c.official_id)
        .subquery("obligation_dates")
    )
    dated = select(
        kinds,
        least_date(*(kinds.c[name] for name in KIND_COLUMNS.values())).label("next_due"),
    ).subquery("next_due")
    state = case(
        (dated.c.initial_due.is_not(None), ScheduleState.NEVER_VETTED.value),
        (dated.c.next_due < literal(today, Date), ScheduleState.OVERDUE.value),
        (
            dated.c.next_due <= add_days(literal(today, Date), dated.c.due_soon_days),
            ScheduleState.DUE_SOON.value,
        ),
        else_=ScheduleState.CURRENT.value,
    )
    summary = select(dated, state.label("state")).subquery("schedule_summary")

    # --- one row per obligation, with the record behind it (few officials) ---
    fx = facts_stmt.cte("facts")
    eff = (
        select(
            e.id.label("id"),
            e.official_id.label("official_id"),
            e.outcome.label("outcome"),
            e.conducted_on.label("conducted_on"),
            e.valid_until.label("valid_until"),
        )
        .where(*effective(e))
        .cte("effective_evaluations")
    )
    no_uuid = cast(null(), Uuid)
    on_last_day = and_(
        eff.c.official_id == fx.c.official_id, eff.c.conducted_on == fx.c.last_decisive_on
    )
    fx_after = or_(fx.c.last_decisive_on.is_(None), eff.c.conducted_on > fx.c.last_decisive_on)
    validity = (
        select(
            eff.c.official_id.label("official_id"),
            _lit(ObligationKind.VALIDITY_END).label("kind"),
            pass_valid_until(eff.c.conducted_on, eff.c.valid_until, pol.c.interval_months).label(
                "due_on"
            ),
            eff.c.conducted_on.label("basis_on"),
            eff.c.id.label("ref_id"),
            no_uuid.label("draw_id"),
        )
        .join(fx, on_last_day)
        .join(active, active.c.official_id == eff.c.official_id)
        .join(pol, by_policy)
        .where(eff.c.outcome == "pass", fx.c.last_severity == 1)
    )
    adverse = (
        select(
            eff.c.official_id,
            case(
                (eff.c.outcome == "fail", _lit(ObligationKind.VETTING_FAILED)),
                else_=_lit(ObligationKind.VETTING_REFUSED),
            ),
            eff.c.conducted_on,
            eff.c.conducted_on,
            eff.c.id,
            no_uuid,
        )
        .join(fx, on_last_day)
        .join(active, active.c.official_id == eff.c.official_id)
        .where(
            or_(
                and_(eff.c.outcome == "fail", fx.c.last_severity == 2),
                and_(eff.c.outcome == "refused", fx.c.last_severity == 3),
            )
        )
    )
    retest = (
        select(
            eff.c.official_id,
            _lit(ObligationKind.INCONCLUSIVE_RETEST),
            add_days(eff.c.conducted_on, pol.c.retest_days),
            eff.c.conducted_on,
            eff.c.id,
            no_uuid,
        )
        .join(fx, fx.c.official_id == eff.c.official_id)
        .join(active, active.c.official_id == eff.c.official_id)
        .join(pol, by_policy)
        .where(eff.c.outcome == "inconclusive", fx_after)
    )
    promotion = (
        select(
            a.official_id, _lit(ObligationKind.PROMOTION), a.started_on, a.started_on, a.id, no_uuid
        )
        .join(active, active.c.official_id == a.official_id)
        .join(pol, by_policy)
        .outerjoin(fx, fx.c.official_id == a.official_id)
        .where(
            a.kind == "promotion",
            pol.c.promotion_requires_vetting.is_(True),
            or_(fx.c.last_decisive_on.is_(None), a.started_on > fx.c.last_decisive_on),
        )
    )
    random = (
        select(
            s.official_id,
            _lit(ObligationKind.RANDOM_SELECTION),
            s.due_on,
            s.selected_on,
            s.id,
            s.draw_id,
        )
        .join(active, active.c.official_id == s.official_id)
        .outerjoin(fx, fx.c.official_id == s.official_id)
        .where(or_(fx.c.last_random_on.is_(None), fx.c.last_random_on < s.selected_on))
    )
    initial = (
        select(
            active.c.official_id,
            _lit(ObligationKind.INITIAL_VETTING),
            first_start,
            first_start,
            no_uuid,
            no_uuid,
        )
        .outerjoin(fx, fx.c.official_id == active.c.official_id)
        .where(func.coalesce(fx.c.evaluations, 0) == 0)
    )
    obligations = union_all(validity, adverse, retest, promotion, random, initial).subquery(
        "obligations"
    )
    return ScheduleSql(
        active=active, policy=pol, facts=fx, summary=summary, obligations=obligations
    )


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obligation:
    kind: ObligationKind
    due_on: dt.date
    basis_on: dt.date | None
    ref_id: uuid.UUID | None
    draw_id: uuid.UUID | None
    overdue: bool


@dataclass(frozen=True)
class PolicyTerms:
    """The policy a schedule follows today (id None: an R14 default not yet seeded)."""

    id: uuid.UUID | None
    version: int | None
    interval_months: int
    retest_days: int
    promotion_requires_vetting: bool
    due_soon_days: int
    random_due_days: int


@dataclass(frozen=True)
class Schedule:
    official_id: uuid.UUID
    as_of: dt.date
    state: ScheduleState
    next_due: dt.date | None
    agency_id: uuid.UUID | None = None
    sector: str | None = None
    rank_tier: str | None = None
    policy: PolicyTerms | None = None
    reasons: tuple[ObligationKind, ...] = ()
    obligations: tuple[Obligation, ...] = field(default_factory=tuple)
    # The earliest due date per obligation kind (every kind present, with or without rows).
    due_by_kind: dict[ObligationKind, dt.date] = field(default_factory=dict)

    def overdue_kinds(self) -> frozenset[ObligationKind]:
        return frozenset(k for k, due in self.due_by_kind.items() if due < self.as_of)


def _policy_terms(row: Any) -> PolicyTerms:
    return PolicyTerms(
        id=row.policy_id,
        version=row.policy_version,
        interval_months=row.interval_months,
        retest_days=row.retest_days,
        promotion_requires_vetting=bool(row.promotion_requires_vetting),
        due_soon_days=row.due_soon_days,
        random_due_days=row.random_due_days,
    )


def reasons_of(row: Any, today: dt.date) -> tuple[ObligationKind, ...]:
    """The obligation kinds that make a summary row due: those due within the policy's
    ``due_soon_days`` (every kind for a never-vetted official). Empty when current."""
    horizon = today + dt.timedelta(days=int(row.due_soon_days))
    out = []
    for kind, column in KIND_COLUMNS.items():
        due = getattr(row, column)
        if due is not None and (due <= horizon or row.state == ScheduleState.NEVER_VETTED):
            out.append(kind)
    return tuple(sorted(out, key=lambda k: (getattr(row, KIND_COLUMNS[k]), k.value)))


def obligation_stmt(scope: ScheduleScope, *, today: dt.date) -> Select[Any]:
    sql = build_schedule_sql(scope, today=today)
    o = sql.obligations
    return select(o.c.official_id, o.c.kind, o.c.due_on, o.c.basis_on, o.c.ref_id, o.c.draw_id)


def obligations_for(
    session: Session,
    *,
    official_ids: Iterable[uuid.UUID],
    today: dt.date,
    countries: Sequence[str] = BOTH_COUNTRIES,
) -> dict[uuid.UUID, list[Obligation]]:
    """Every obligation of these officials (one statement), earliest first (R15).

    Officials without an active appointment have none (and no key in the result). Task-force
    eligibility (R17) reads ``promotion``, ``inconclusive_retest`` and ``random_selection``
    from here."""
    ids = tuple(official_ids)
    out: dict[uuid.UUID, list[Obligation]] = {i: [] for i in ids}
    if not ids:
        return {}
    scope = ScheduleScope(countries=tuple(countries), official_ids=ids)
    rows = session.execute(obligation_stmt(scope, today=today)).all()
    for r in rows:
        out[r.official_id].append(
            Obligation(
                kind=ObligationKind(r.kind),
                due_on=r.due_on,
                basis_on=r.basis_on,
                ref_id=r.ref_id,
                draw_id=r.draw_id,
                overdue=r.due_on < today,
            )
        )
    for items in out.values():
        items.sort(key=lambda x: (x.due_on, x.kind.value, str(x.ref_id)))
    return {k: v for k, v in out.items() if v}


def overdue_obligations(
    session: Session,
    *,
    official_ids: Iterable[uuid.UUID],
    today: dt.date,
    countries: Sequence[str] = BOTH_COUNTRIES,
) -> dict[uuid.UUID, list[Obligation]]:
    """The obligations whose due date has passed (one statement); officials with none are
    absent. For R17: ``promotion`` → PROMOTION_REVETTING_DUE, ``random_selection`` →
    RANDOM_REVETTING_OVERDUE, ``inconclusive_retest`` → VETTING_INCONCLUSIVE."""
    found = obligations_for(session, official_ids=official_ids, countries=countries, today=today)
    overdue = {k: [o for o in v if o.overdue] for k, v in found.items()}
    return {k: v for k, v in overdue.items() if v}


def schedules_for(
    session: Session,
    *,
    official_ids: Iterable[uuid.UUID],
    today: dt.date,
    countries: Sequence[str] = BOTH_COUNTRIES,
    with_obligations: bool = True,
) -> dict[uuid.UUID, Schedule]:
    """Schedules of a known set of officials (a roster, one official), whatever its size, in
    two statements — one without ``with_obligations``, when state, next due date and the due
    date per kind (``due_by_kind``, ``overdue_kinds()``) suffice, as for R17 eligibility.

    Officials without an active appointment get state ``inactive``."""
    ids = tuple(dict.fromkeys(official_ids))
    if not ids:
        return {}
    scope = ScheduleScope(countries=tuple(countries), official_ids=ids)
    sql = build_schedule_sql(scope, today=today)
    summaries = {r.official_id: r for r in session.execute(select(sql.summary)).all()}
    obligations = (
        obligations_for(session, official_ids=ids, countries=countries, today=today)
        if with_obligations
        else {}
    )
    out: dict[uuid.UUID, Schedule] = {}
    for official_id in ids:
        row = summaries.get(official_id)
        if row is None:
            out[official_id] = Schedule(
                official_id=official_id, as_of=today, state=ScheduleState.INACTIVE, next_due=None
            )
            continue
        out[official_id] = Schedule(
            official_id=official_id,
            as_of=today,
            state=ScheduleState(row.state),
            next_due=row.next_due,
            agency_id=row.agency_id,
            sector=row.sector,
            rank_tier=row.rank_tier,
            policy=_policy_terms(row),
            reasons=reasons_of(row, today),
            obligations=tuple(obligations.get(official_id, ())),
            due_by_kind={
                kind: getattr(row, column)
                for kind, column in KIND_COLUMNS.items()
                if getattr(row, column) is not None
            },
        )
    return out


def schedule_of(
    session: Session, *, official_id: uuid.UUID, country: str, today: dt.date
) -> Schedule:
    """The schedule of one official (R15); the caller has already applied scoping (R24)."""
    return schedules_for(session, official_ids=[official_id], countries=[country], today=today)[
        official_id
    ]


# --- due lists --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueFilters:
    country: str
    agency_id: uuid.UUID | None = None
    sector: str | None = None
    rank_tier: str | None = None
    states: tuple[ScheduleState, ...] = DUE_STATES
    due_before: dt.date | None = None


@dataclass(frozen=True)
class DueRow:
    official_id: uuid.UUID
    given_names: str
    first_surname: str
    second_surname: str | None
    agency_id: uuid.UUID
    agency_acronym: str
    agency_name: str
    sector: str
    rank_tier: str
    state: ScheduleState
    next_due: dt.date
    reasons: tuple[ObligationKind, ...]


def due_list_stmt(
    filters: DueFilters,
    *,
    today: dt.date,
    after: tuple[dt.date, uuid.UUID] | None = None,
    limit: int | None = None,
) -> Select[Any]:
    """One SELECT for the due list (R15): officials of one country by state, agency, sector,
    tier and due date, ordered by (next due date, id) for keyset pagination. Names and agency
    labels are joined after the page is cut, so only the rows shown are looked up."""
    scope = ScheduleScope(
        countries=(filters.country,),
        agency_id=filters.agency_id,
        sector=filters.sector,
        rank_tier=filters.rank_tier,
    )
    summary = build_schedule_sql(scope, today=today).summary
    due = (
        select(summary)
        .where(summary.c.state.in_([s.value for s in filters.states]))
        .order_by(summary.c.next_due, summary.c.official_id)
    )
    if filters.due_before is not None:
        due = due.where(summary.c.next_due < filters.due_before)
    if after is not None:
        last_due, last_id = after
        due = due.where(
            or_(
                summary.c.next_due > last_due,
                and_(summary.c.next_due == last_due, summary.c.official_id > last_id),
            )
        )
    if limit is not None:
        due = due.limit(limit)
    page = due.subquery("due_page")
    o, ag = Official, Agency
    return (
        select(
            page,
            o.given_names,
            o.first_surname,
            o.second_surname,
            ag.acronym.label("agency_acronym"),
            ag.name.label("agency_name"),
        )
        .join(o, o.id == page.c.official_id)
        .join(ag, ag.id == page.c.agency_id)
        .order_by(page.c.next_due, page.c.official_id)
    )


def due_row(row: Any, today: dt.date) -> DueRow:
    return DueRow(
        official_id=row.official_id,
        given_names=row.given_names,
        first_surname=row.first_surname,
        second_surname=row.second_surname,
        agency_id=row.agency_id,
        agency_acronym=row.agency_acronym,
        agency_name=row.agency_name,
        sector=row.sector,
        rank_tier=row.rank_tier,
        state=ScheduleState(row.state),
        next_due=row.next_due,
        reasons=reasons_of(row, today),
    )


def due_list(
    session: Session,
    *,
    filters: DueFilters,
    today: dt.date,
    after: tuple[dt.date, uuid.UUID] | None,
    limit: int,
) -> list[DueRow]:
    """One page of the due list (``limit + 1`` rows, so the caller knows whether more follow)."""
    stmt = due_list_stmt(filters, today=today, after=after, limit=limit + 1)
    return [due_row(r, today) for r in session.execute(stmt)]


# --- scoping and export -----------------------------------------------------------------------


def due_filters_for(
    actor: Principal,
    *,
    agency_id: uuid.UUID | None,
    sector: str | None,
    rank_tier: str | None,
    states: Sequence[ScheduleState] | None,
    due_before: dt.date | None,
) -> DueFilters:
    """Due lists cover the caller's own country (R24); a personnel officer sees only its own
    agency (R25) and is refused another one."""
    if actor.has(Role.PERSONNEL_OFFICER) and not actor.has(Role.ADMIN, Role.VETTING_OFFICER):
        if actor.agency_id is None or agency_id not in (None, actor.agency_id):
            raise Forbidden(
                "Personnel officers act only for their own agency", code="NOT_OWN_AGENCY"
            )
        agency_id = actor.agency_id
    chosen = tuple(dict.fromkeys(states)) if states else DUE_STATES
    if ScheduleState.INACTIVE in chosen:
        raise FieldError("state", "inactive officials have no schedule", location="query")
    return DueFilters(
        country=actor.country,
        agency_id=agency_id,
        sector=sector,
        rank_tier=rank_tier,
        states=chosen,
        due_before=due_before,
    )


CSV_HEADER = (
    "official_id",
    "first_surname",
    "second_surname",
    "given_names",
    "agency",
    "sector",
    "rank_tier",
    "state",
    "next_due",
    "reasons",
)


def due_list_csv(
    factory: sessionmaker[Session], *, filters: DueFilters, today: dt.date
) -> Iterator[bytes]:
    """The whole due list as UTF-8 CSV with a byte-order mark (so spreadsheets read accents),
    a header row, and formula-safe cells. Streams from its own session, one SELECT, in
    batches: the request's session is already closed when the body is sent."""
    buffer = io.StringIO()
    # Every field quoted (#19): a spreadsheet splitting on ";" cannot cut a cell in two.
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_HEADER)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    stmt = due_list_stmt(filters, today=today).execution_options(yield_per=1000)
    with factory() as session:
        for raw in session.execute(stmt):
            row = due_row(raw, today)
            writer.writerow(
                [
                    spreadsheet_safe(v)
                    for v in (
                        row.official_id,
                        row.first_surname,
                        row.second_surname,
                        row.given_names,
                        row.agency_acronym,
                        row.sector,
                        row.rank_tier,
                        row.state.value,
                        row.next_due.isoformat(),
                        ";".join(k.value for k in row.reasons),
                    )
                ]
            )
            if buffer.tell() > 65536:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


__all__ = [
    "DUE_STATES",
    "DueFilters",
    "DueRow",
    "Obligation",
    "ObligationKind",
    "PolicyTerms",
    "Schedule",
    "ScheduleScope",
    "ScheduleSql",
    "ScheduleState",
    "active_officials",
    "add_days",
    "add_months",
    "build_schedule_sql",
    "current_policy",
    "due_filters_for",
    "due_list",
    "due_list_csv",
    "due_list_stmt",
    "obligations_for",
    "overdue_obligations",
    "pass_valid_until",
    "resolved_policies",
    "schedule_of",
    "schedules_for",
    "spreadsheet_safe",
]
