"""Eligibility of known officials (R17, R21, R24), assessed in bulk.

``assess`` answers for any number of officials with a fixed number of statements (five per
2,000 officials and one for the policies in force), so a task force's roster compliance can
call it with its whole roster. Without a task force it applies R17 without the task-force
parts; with one (or with ``max_vetting_age_months`` / ``require_reciprocal``) it adds them.

Reasons, in the order they are reported (DESIGN §3):

* ``NOT_ACTIVE`` — no appointment in force today;
* ``LISTED`` — a blocking listing (``BLOCKING_STATUSES``);
* ``NEVER_VETTED`` — no evaluation at all;
* ``VETTING_EXPIRED`` — the latest result is a pass whose validity has ended: the earlier of
  its stored ``valid_until`` and ``conducted_on`` plus today's policy interval
  (``app.services.revetting.schedules.pass_valid_until``, the same date schedules, due lists,
  coverage
  and the sweep use; R6, #15);
* ``VETTING_FAILED`` / ``VETTING_REFUSED`` — the latest result is a fail / a refusal;
* ``VETTING_INCONCLUSIVE`` — the latest result is inconclusive and either no earlier pass is
  still valid or its retest window has passed (R6; within the window an earlier valid pass
  still counts, as R17 asks only that no retest be *overdue*);
* ``VETTING_TOO_OLD`` — the pass relied on is older than ``max_vetting_age_months``;
* ``PROMOTION_REVETTING_DUE`` — under a policy with ``promotion_requires_vetting``, a
  promotion that started before today is covered by no pass (a pass conducted on or after its
  start, or a ``promotion`` evaluation conducted during the appointment it replaced);
* ``RANDOM_REVETTING_OVERDUE`` — a random selection (R16) past its ``due_on`` with no
  ``random`` evaluation since it was made;
* ``RECIPROCAL_VETTING_MISSING`` — ``require_reciprocal`` and the latest decisive result by a
  vetting body of the other country is not a current pass: there is none, it has expired, or
  it is a fail or refusal (R17, R19; on one day the most adverse counts).

Whose evaluations count (#18 F3b): every reason but the last reads only the evaluations of the
official's own country's vetting bodies — the home verdict, the one schedules and due lists
show (``app.services.revetting.schedules``). A reciprocal result (the other country's vetting of
a joint task force's nominee or member) counts toward ``RECIPROCAL_VETTING_MISSING`` only: a
U.S. refusal of a Mexican official makes them not reciprocally vetted, not ``VETTING_REFUSED``
at home, and a U.S. pass is no Mexican vetting.

Corrected evaluations do not count (R8). Dates are inclusive: a pass is valid through its
``valid_until``, a retest or random re-vetting is overdue the day after its due date. An
eligible answer's ``valid_until`` is the last day it holds unless new facts arrive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeVar

from sqlalchemy import Select, case, exists, select
from sqlalchemy.orm import Session, aliased

from app.config import Settings
from app.domain.access import Principal
from app.domain.dates import add_months
from app.domain.vocabulary import EligibilityReason
from app.models import Agency, Appointment, Evaluation, Listing, Official, RandomSelection
from app.models.listing import BLOCKING_STATUSES
from app.services.audit import audit
from app.services.registry.registry import visible_official
from app.services.revetting.policy import default_policy, policy_source, specificity
from app.services.revetting.schedules import (
    BOTH_COUNTRIES,
    ScheduleScope,
    add_days,
    current_policy,
    pass_valid_until,
)
from app.services.task_forces.attestation import Attestation, attest_eligibility

CHUNK: Final = 2000
T = TypeVar("T")


_ORDER: Final = {reason: i for i, reason in enumerate(EligibilityReason)}

# ``overridden`` is a verdict of task-force membership (R20), set by the task-force service on
# top of an ``ineligible`` assessment; ``assess`` itself answers eligible or ineligible.
Verdict = Literal["eligible", "ineligible", "overridden"]


class TaskForceRules(Protocol):
    """What ``assess`` reads of a task force (``app.models.TaskForce`` fits)."""

    id: uuid.UUID
    max_vetting_age_months: int
    require_reciprocal: bool


@dataclass(frozen=True)
class Eligibility:
    """The verdict on one official, with the facts a task force needs beside it (R17, R19)."""

    official_id: uuid.UUID
    country: str
    verdict: Verdict
    reasons: tuple[EligibilityReason, ...]
    valid_until: dt.date | None
    rank_tier: str | None  # of the appointment in force (R19: senior tiers)
    agency_id: uuid.UUID | None
    last_pass_on: dt.date | None  # conducted_on of the latest pass, if any

    @property
    def eligible(self) -> bool:
        return self.verdict == "eligible"


# --- facts, fetched in bulk --------------------------------------------------------------------


@dataclass(frozen=True)
class _Appt:
    agency_id: uuid.UUID
    rank_tier: str
    kind: str
    started_on: dt.date
    ended_on: dt.date | None
    id: uuid.UUID
    replaces_id: uuid.UUID | None
    sector: str


@dataclass(frozen=True)
class _Eval:
    outcome: str
    trigger: str
    conducted_on: dt.date
    valid_until: dt.date | None
    retest_by: dt.date | None
    conducted_by_country: str


@dataclass
class _Facts:
    country: str
    appointments: list[_Appt]
    evaluations: list[_Eval]  # effective only, oldest first
    selections: list[tuple[dt.date, dt.date]]  # (selected_on, due_on)
    listed: bool = False


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


@dataclass(frozen=True)
class _PolicyScope:
    country: str
    sector: str | None
    rank_tier: str | None
    agency_id: uuid.UUID | None
    promotion_requires_vetting: bool

    def applies(self, country: str, appointment: _Appt | None) -> bool:
        sector = appointment.sector if appointment else None
        tier = appointment.rank_tier if appointment else None
        agency = appointment.agency_id if appointment else None
        return (
            self.country == country
            and self.sector in (None, sector)
            and self.rank_tier in (None, tier)
            and self.agency_id in (None, agency)
        )


@functools.lru_cache(maxsize=8)
def _policies_stmt(countries: tuple[str, ...]) -> Select[Any]:
    """Built once per set of countries: the union with the R14 defaults is a few hundred
    constructs, and building it for every answer cost as much CPU as running it. A statement
    is immutable, and the defaults it carries are constants of the code."""
    src = policy_source(countries)
    return select(
        src.c.country,
        src.c.sector,
        src.c.rank_tier,
        src.c.agency_id,
        src.c.promotion_requires_vetting,
    )


def _policies(session: Session, countries: Iterable[str]) -> list[_PolicyScope]:
    """Every active policy of these countries (and the R14 defaults not seeded yet) in one
    statement; ``_promotion_requires_vetting`` picks the most specific, as ``resolve`` does."""
    stmt = _policies_stmt(tuple(sorted(set(countries))))
    return [_PolicyScope(*row) for row in session.execute(stmt)]


def _promotion_requires_vetting(
    policies: Sequence[_PolicyScope], country: str, appointment: _Appt | None
) -> bool:
    """R14, R15: the most specific applicable policy decides (app.services.revetting.policy)."""
    applicable = [p for p in policies if p.applies(country, appointment)]
    if not applicable:
        tier = appointment.rank_tier if appointment else None
        return default_policy(country, tier).promotion_requires_vetting
    best = max(
        applicable,
        key=lambda p: specificity(sector=p.sector, rank_tier=p.rank_tier, agency_id=p.agency_id),
    )
    return best.promotion_requires_vetting


# A correcting evaluation (R8); one alias for every call, as building it is not free.
_CORRECTOR = aliased(Evaluation)


def _facts(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Facts]:
    facts: dict[uuid.UUID, _Facts] = {}
    for chunk in _chunks(ids):
        # Today's policy per official, resolved as schedules resolve it, so a pass's validity
        # is the schedule's (``pass_valid_until``; R6, R15, R17, #15) — not the stored date.
        today_policy = current_policy(
            ScheduleScope(countries=BOTH_COUNTRIES, official_ids=tuple(chunk))
        )
        for official_id, country in session.execute(
            select(Official.id, Official.country).where(Official.id.in_(chunk))
        ):
            facts[official_id] = _Facts(country, [], [], [])
        for row in session.execute(
            select(
                Appointment.official_id,
                Appointment.agency_id,
                Appointment.rank_tier,
                Appointment.kind,
                Appointment.started_on,
                Appointment.ended_on,
                Appointment.id,
                Appointment.replaces_id,
                Agency.sector,
            )
            .join(Agency, Agency.id == Appointment.agency_id)
            .where(Appointment.official_id.in_(chunk))
            .order_by(Appointment.started_on, Appointment.id)
        ):
            facts[row[0]].appointments.append(
                _Appt(
                    agency_id=row[1],
                    rank_tier=row[2],
                    kind=row[3],
                    started_on=row[4],
                    ended_on=row[5],
                    id=row[6],
                    replaces_id=row[7],
                    sector=row[8],
                )
            )
        for (official_id,) in session.execute(
            select(Listing.official_id)
            .where(Listing.official_id.in_(chunk), Listing.status.in_(BLOCKING_STATUSES))
            .distinct()
        ):
            facts[official_id].listed = True
        for ev in session.execute(
            select(
                Evaluation.official_id,
                Evaluation.outcome,
                Evaluation.trigger,
                Evaluation.conducted_on,
                case(
                    (
                        Evaluation.outcome == "pass",
                        pass_valid_until(
                            Evaluation.conducted_on,
                            Evaluation.valid_until,
                            today_policy.c.interval_months,
                        ),
                    )
                ).label("valid_until"),
                # The retest window is today's policy's too, as in schedules (R6, #15).
                case(
                    (
                        today_policy.c.retest_days.is_not(None),
                        add_days(Evaluation.conducted_on, today_policy.c.retest_days),
                    ),
                    else_=Evaluation.retest_by,
                ).label("retest_by"),
                Evaluation.conducted_by_country,
            )
            .outerjoin(today_policy, today_policy.c.official_id == Evaluation.official_id)
            .where(
                Evaluation.official_id.in_(chunk),
                ~exists().where(_CORRECTOR.corrects_id == Evaluation.id),  # R8
            )
            .order_by(Evaluation.conducted_on, Evaluation.created_at, Evaluation.id)
        ):
            facts[ev[0]].evaluations.append(
                _Eval(
                    outcome=ev[1],
                    trigger=ev[2],
                    conducted_on=ev[3],
                    valid_until=ev[4],
                    retest_by=ev[5],
                    conducted_by_country=ev[6],
                )
            )
        for official_id, selected_on, due_on in session.execute(
            select(
                RandomSelection.official_id, RandomSelection.selected_on, RandomSelection.due_on
            ).where(RandomSelection.official_id.in_(chunk))
        ):
            facts[official_id].selections.append((selected_on, due_on))
    return facts


# --- the rules ---------------------------------------------------------------------------------


def _promotion_covered(promotion: _Appt, passes: Iterable[_Eval], replaced: _Appt | None) -> bool:
    for p in passes:
        if p.conducted_on >= promotion.started_on:
            return True
        if (
            p.trigger == "promotion"
            and replaced is not None
            and p.conducted_on >= replaced.started_on
        ):
            return True
    return False


def _open_retest_by(evals: Sequence[_Eval]) -> dt.date | None:
    """The retest deadline of the first inconclusive result after the latest decisive day:
    the schedule's ``retest_due`` (R6, R15), so repeating inconclusive results never extend the
    window and eligibility agrees with the schedule (#15)."""
    decisive = [e.conducted_on for e in evals if e.outcome in ("pass", "fail", "refused")]
    last_decisive = max(decisive) if decisive else None
    open_ = [
        e
        for e in evals
        if e.outcome == "inconclusive" and (last_decisive is None or e.conducted_on > last_decisive)
    ]
    return min(open_, key=lambda e: e.conducted_on).retest_by if open_ else None


def _reciprocal_valid_until(f: _Facts, today: dt.date) -> dt.date | None:
    """The last day the official stays reciprocally vetted (R17, R19), or ``None`` when they
    are not: the latest decisive result by the other country's vetting bodies must be a pass
    still valid today. A later fail or refusal ends an earlier pass (#18 F3b); on one day the
    most adverse result counts, as in schedules."""
    theirs = [
        e
        for e in f.evaluations
        if e.conducted_by_country != f.country and e.outcome in ("pass", "fail", "refused")
    ]
    if not theirs:
        return None
    last_day = max(e.conducted_on for e in theirs)
    on_last_day = [e for e in theirs if e.conducted_on == last_day]
    if any(e.outcome != "pass" for e in on_last_day):
        return None
    valid = [e.valid_until for e in on_last_day if e.valid_until and e.valid_until >= today]
    return max(valid) if valid else None


def _judge(
    official_id: uuid.UUID,
    f: _Facts,
    *,
    policies: Sequence[_PolicyScope],
    today: dt.date,
    max_age_months: int | None,
    require_reciprocal: bool,
) -> Eligibility:
    reasons: set[EligibilityReason] = set()
    bounds: list[dt.date] = []

    active = [
        a
        for a in f.appointments
        if a.started_on <= today and (a.ended_on is None or a.ended_on >= today)
    ]
    current = active[-1] if active else None
    if not active:
        reasons.add(EligibilityReason.NOT_ACTIVE)
    elif all(a.ended_on is not None for a in active):
        bounds.append(max(a.ended_on for a in active if a.ended_on is not None))
    if f.listed:
        reasons.add(EligibilityReason.LISTED)

    # The home verdict: the official's own country's evaluations only (#18 F3b).
    evals = [e for e in f.evaluations if e.conducted_by_country == f.country]
    passes = [e for e in evals if e.outcome == "pass"]
    last_pass = passes[-1] if passes else None
    current_pass = (
        last_pass
        if last_pass is not None and last_pass.valid_until and last_pass.valid_until >= today
        else None
    )
    if not evals:
        reasons.add(EligibilityReason.NEVER_VETTED)
    else:
        latest = evals[-1]
        if latest.outcome == "fail":
            reasons.add(EligibilityReason.VETTING_FAILED)
        elif latest.outcome == "refused":
            reasons.add(EligibilityReason.VETTING_REFUSED)
        elif latest.outcome == "inconclusive":
            retest_by = _open_retest_by(evals) or latest.retest_by
            overdue = retest_by is None or retest_by < today
            if current_pass is None or overdue:
                reasons.add(EligibilityReason.VETTING_INCONCLUSIVE)
            elif retest_by is not None:
                bounds.append(retest_by)
        elif current_pass is None:
            reasons.add(EligibilityReason.VETTING_EXPIRED)

    if current_pass is not None and current_pass.valid_until is not None:
        bounds.append(current_pass.valid_until)
        if max_age_months is not None:
            age_limit = add_months(current_pass.conducted_on, max_age_months)
            if age_limit < today:
                reasons.add(EligibilityReason.VETTING_TOO_OLD)
            else:
                bounds.append(age_limit)

    scope = current or (f.appointments[-1] if f.appointments else None)
    if passes and _promotion_requires_vetting(policies, f.country, scope):
        by_id = {a.id: a for a in f.appointments}
        for a in f.appointments:
            if a.kind != "promotion":
                continue
            replaced = by_id.get(a.replaces_id) if a.replaces_id else None
            if _promotion_covered(a, passes, replaced):
                continue
            if a.started_on < today:
                reasons.add(EligibilityReason.PROMOTION_REVETTING_DUE)
            else:
                bounds.append(a.started_on)

    for selected_on, due_on in f.selections:
        done = any(e.trigger == "random" and e.conducted_on >= selected_on for e in evals)
        if done:
            continue
        if due_on < today:
            reasons.add(EligibilityReason.RANDOM_REVETTING_OVERDUE)
        else:
            bounds.append(due_on)

    if require_reciprocal:
        reciprocal_until = _reciprocal_valid_until(f, today)
        if reciprocal_until is not None:
            bounds.append(reciprocal_until)
        else:
            reasons.add(EligibilityReason.RECIPROCAL_VETTING_MISSING)

    ordered = tuple(sorted(reasons, key=_ORDER.__getitem__))
    return Eligibility(
        official_id=official_id,
        country=f.country,
        verdict="ineligible" if ordered else "eligible",
        reasons=ordered,
        valid_until=None if ordered else min(bounds, default=None),
        rank_tier=current.rank_tier if current else None,
        agency_id=current.agency_id if current else None,
        last_pass_on=last_pass.conducted_on if last_pass else None,
    )


def assess(
    session: Session,
    official_ids: Iterable[uuid.UUID],
    *,
    today: dt.date,
    task_force: TaskForceRules | None = None,
    max_vetting_age_months: int | None = None,
    require_reciprocal: bool | None = None,
) -> dict[uuid.UUID, Eligibility]:
    """The eligibility of each official (R17), keyed by id; unknown ids are left out.

    ``task_force`` supplies ``max_vetting_age_months`` and ``require_reciprocal``; explicit
    arguments win over it. Without either, the task-force parts (``VETTING_TOO_OLD``,
    ``RECIPROCAL_VETTING_MISSING``) are not applied. Reads only, in five statements per 2,000
    officials: officials, appointments (with the agency's sector, for the policy), blocking
    listings, effective evaluations, random selections; plus one for the policies in force.
    """
    if task_force is not None:
        if max_vetting_age_months is None:
            max_vetting_age_months = task_force.max_vetting_age_months
        if require_reciprocal is None:
            require_reciprocal = task_force.require_reciprocal
    ids = sorted(set(official_ids))
    if not ids:
        return {}
    facts = _facts(session, ids)
    policies = _policies(session, (f.country for f in facts.values())) if facts else []
    return {
        official_id: _judge(
            official_id,
            f,
            policies=policies,
            today=today,
            max_age_months=max_vetting_age_months,
            require_reciprocal=bool(require_reciprocal),
        )
        for official_id, f in facts.items()
    }


# --- the answer to one caller --------------------------------------------------------------------


@dataclass(frozen=True)
class EligibilityAnswer:
    eligibility: Eligibility
    assessed_at: dt.datetime
    full_view: bool
    attestation: Attestation | None
    task_force_id: uuid.UUID | None = None
    override_id: uuid.UUID | None = None


def answer(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    official_id: uuid.UUID,
    attest: bool,
    now: dt.datetime,
    task_force_id: uuid.UUID | None = None,
) -> EligibilityAnswer:
    """Eligibility of one official for a caller who may see them (R24: the own country, or
    the other country where the person is visible across the border; 404 otherwise). The
    verdict and reason codes are what crosses the border. With ``attest`` the answer carries a
    signed attestation (R21). Every answer is audited with its verdict (R12)."""
    official, full = visible_official(session, actor, official_id)
    eligibility = assess(session, [official.id], today=now.date())[official.id]
    override_id = None
    if task_force_id is not None:
        # With a task force: its vetting-age limit and reciprocity apply, and an active
        # commission override turns ineligible into overridden (R17, R20).
        from app.services.task_forces import task_forces as tf_service

        tf = tf_service.get_task_force(session, actor, task_force_id)
        eligibility = assess(
            session,
            [official.id],
            today=now.date(),
            max_vetting_age_months=tf.max_vetting_age_months,
            require_reciprocal=tf.require_reciprocal,
        )[official.id]
        verdict = tf_service.assess_members(session, tf, [official.id], today=now.date(), now=now)
        override_id = verdict[official.id].override_id
        if override_id is not None:
            eligibility = dataclasses.replace(eligibility, verdict="overridden")
    attestation = (
        attest_eligibility(settings, eligibility=eligibility, now=now, task_force_id=task_force_id)
        if attest
        else None
    )
    details: dict[str, Any] = {
        "verdict": eligibility.verdict,
        "reasons": [str(r) for r in eligibility.reasons],
        "valid_until": eligibility.valid_until,
        "cross_border": not full,
        "attestation_id": attestation.jti if attestation else None,
        "task_force_id": task_force_id,
        "override_id": override_id,
    }
    audit.record(
        session,
        actor=actor,
        action="eligibility.read",
        resource_type="official",
        resource_id=official.id,
        details=details,
        now=now,
    )
    return EligibilityAnswer(eligibility, now, full, attestation, task_force_id, override_id)
