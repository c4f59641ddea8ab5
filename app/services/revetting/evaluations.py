"""Vetting results (R5-R8, R13, R25).

The outcome follows from the components and the policy (R5); a pass is valid for the policy's
interval (R6); a fail or refusal lists the official (R7) — a reciprocal one notifies the owning
country instead, which alone authors its listings (#18 F3b); nothing is edited or deleted, a
correction is a new evaluation naming the one it corrects (R8). The official's row is locked
for the whole write, so concurrent results for one person are applied one after the other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, aliased

from app.domain.access import Principal
from app.domain.dates import add_months
from app.domain.outcome import ComponentResult, ComponentType, Outcome, derive_outcome
from app.errors import Conflict, FieldError, Forbidden, NotFound
from app.models import Agency, Evaluation, Listing, Notification, Official
from app.models.listing import BLOCKING_STATUSES
from app.services.audit import audit
from app.services.registry.listings import open_listing, set_status
from app.services.registry.registry import current_appointment, get_agency
from app.services.revetting.policy import resolve_policy
from app.services.revetting.schedules import (
    BOTH_COUNTRIES,
    ScheduleScope,
    current_policy,
    pass_valid_until,
)

LISTING_BASIS = {Outcome.FAIL: "failed_vetting", Outcome.REFUSED: "refused_vetting"}


_CORRECTOR = aliased(Evaluation)


def effective_evaluations_stmt() -> Select[Evaluation]:
    """Evaluations that no later record corrects (R8)."""
    corrector = aliased(Evaluation)
    return select(Evaluation).where(~exists().where(corrector.corrects_id == Evaluation.id))


def is_currently_vetted(session: Session, official_id: uuid.UUID, today: dt.date) -> bool:
    """Latest effective result of the official's own country is a pass still valid today, and
    no blocking listing (R13).
    Valid means what schedules and eligibility mean (``pass_valid_until`` under today's
    policy, #15): a shortened interval ends a vetter's own pass for this rule too."""
    today_policy = current_policy(
        ScheduleScope(countries=BOTH_COUNTRIES, official_ids=(official_id,))
    )
    latest = session.execute(
        select(
            Evaluation.outcome,
            pass_valid_until(
                Evaluation.conducted_on, Evaluation.valid_until, today_policy.c.interval_months
            ),
        )
        .outerjoin(today_policy, today_policy.c.official_id == Evaluation.official_id)
        .where(
            Evaluation.official_id == official_id,
            ~exists().where(_CORRECTOR.corrects_id == Evaluation.id),  # R8
            # The home verdict: a reciprocal result is not (#18 F3b, as in eligibility).
            exists().where(
                Official.id == Evaluation.official_id,
                Official.country == Evaluation.conducted_by_country,
            ),
        )
        .order_by(Evaluation.conducted_on.desc(), Evaluation.created_at.desc())
        .limit(1)
    ).first()
    if latest is None or latest[0] != Outcome.PASS:
        return False
    valid_until = latest[1]
    if valid_until is None or valid_until < today:
        return False
    listed = session.scalar(
        select(
            exists().where(
                Listing.official_id == official_id, Listing.status.in_(BLOCKING_STATUSES)
            )
        )
    )
    return not listed


@dataclass
class RecordedEvaluation:
    evaluation: Evaluation
    listing: Listing | None


def _check_recorder(
    session: Session, actor: Principal, official: Official, trigger: str, today: dt.date
) -> None:
    if official.country != actor.country:
        # R25: across the border only nominees and members of joint task forces, reciprocally.
        from app.services.task_forces.task_forces import is_nominee_or_member

        if not is_nominee_or_member(session, official.id):
            raise NotFound("No such official", code="OFFICIAL_NOT_FOUND")
        if trigger != "reciprocal":
            raise Forbidden(
                "Across the border only reciprocal evaluations may be recorded",
                code="RECIPROCAL_ONLY",
            )
    # R13: nobody records an evaluation of themselves; a vetter linked to an official record
    # records only while that official is itself currently vetted.
    if actor.official_id == official.id:
        raise Forbidden("Nobody records an evaluation of themselves", code="SELF_EVALUATION")
    if actor.official_id is not None and not is_currently_vetted(session, actor.official_id, today):
        raise Forbidden(
            "Your own vetting is not current; you cannot record evaluations",
            code="VETTER_NOT_VETTED",
        )


def record_evaluation(
    session: Session,
    *,
    actor: Principal,
    official: Official,
    conducted_by: uuid.UUID,
    trigger: str,
    conducted_on: dt.date,
    components: Mapping[ComponentType, ComponentResult],
    outcome: str | None,
    notes: str | None,
    corrects_id: uuid.UUID | None,
    now: dt.datetime,
    source_ref: str | None = None,
) -> RecordedEvaluation:
    """``official`` comes locked and in the caller's scope (R24, R25: see
    ``app.auth.scoping.EvaluableOfficial``)."""
    today = now.date()
    _check_recorder(session, actor, official, trigger, today)
    body = get_agency(session, conducted_by, field="conducted_by")
    if not body.can_vet:
        raise FieldError("conducted_by", "not a vetting body", "NOT_A_VETTING_BODY")
    if body.country != actor.country:
        raise FieldError(
            "conducted_by", "must be a vetting body of your own country", "NOT_OWN_COUNTRY"
        )
    if actor.agency_id is not None and body.id != actor.agency_id:
        # #18 F10: a vetting officer speaks only for the body it works at; recording a result
        # (and so a listing, R7) in another body's name would make that body its author.
        raise FieldError(
            "conducted_by",
            "must be the vetting body you work at",
            "NOT_OWN_VETTING_BODY",
        )
    if conducted_on > today:
        raise FieldError("conducted_on", "must not be in the future")
    if conducted_on < official.date_of_birth:
        raise FieldError("conducted_on", "precedes the official's birth")

    appointment = current_appointment(session, official.id)
    sector = None
    if appointment is not None:
        employer = session.get(Agency, appointment.agency_id)
        sector = employer.sector if employer else None
    policy = resolve_policy(
        session,
        country=official.country,
        sector=sector,
        rank_tier=appointment.rank_tier if appointment else None,
        agency_id=appointment.agency_id if appointment else None,
        now=now,
    )
    derived = derive_outcome(components, policy.required_components)
    if outcome is not None and outcome != derived:
        raise FieldError(
            "outcome",
            f"components give {derived.value}",
            "OUTCOME_MISMATCH",
            detail="The outcome {outcome} contradicts the components, which give {derived}",
            outcome=outcome,
            derived=derived.value,
            extra={"derived_outcome": derived.value},
        )

    corrected: Evaluation | None = None
    if corrects_id is not None:
        corrected = _correctable(session, official, corrects_id, body)
        already = session.scalar(
            select(Evaluation.id).where(Evaluation.corrects_id == corrected.id)
        )
        if already is not None:
            raise Conflict(
                "That evaluation was already corrected",
                code="ALREADY_CORRECTED",
                extra={"corrected_by_id": str(already)},
            )

    evaluation = Evaluation(
        official_id=official.id,
        conducted_by=body.id,
        conducted_by_country=body.country,
        recorded_by=actor.user_id,
        trigger=trigger,
        components={k.value: v.value for k, v in components.items()},
        outcome=derived.value,
        conducted_on=conducted_on,
        valid_until=add_months(conducted_on, policy.interval_months)
        if derived == Outcome.PASS
        else None,
        retest_by=conducted_on + dt.timedelta(days=policy.retest_days)
        if derived == Outcome.INCONCLUSIVE
        else None,
        notes=notes,
        corrects_id=corrected.id if corrected else None,
        policy_id=policy.id,
        policy_version=policy.version,
        interval_months=policy.interval_months,
        source_ref=source_ref,
        created_at=now,
    )
    session.add(evaluation)
    session.flush()

    if corrected is not None:
        _withdraw_listing_of(session, corrected, evaluation, derived, actor, now)

    listing = None
    reciprocal_adverse = derived in LISTING_BASIS and body.country != official.country
    if reciprocal_adverse:
        _notify_owning_country(
            session, official=official, evaluation=evaluation, body=body, now=now
        )
    elif derived in LISTING_BASIS:
        listing = open_listing(
            session,
            official=official,
            basis=LISTING_BASIS[derived],
            source_type="evaluation",
            source_id=evaluation.id,
            listed_by=body,
            listed_on=conducted_on,
            actor=actor,
            now=now,
        )
    from app.services.task_forces.task_forces import on_official_change

    on_official_change(
        session,
        official_id=official.id,
        cause={"kind": "evaluation", "evaluation_id": str(evaluation.id), "outcome": derived.value},
        actor=actor,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="evaluation.record",
        resource_type="evaluation",
        resource_id=evaluation.id,
        details={
            "official_id": official.id,
            "trigger": trigger,
            "outcome": derived.value,
            "conducted_by": body.id,
            "corrects_id": corrected.id if corrected else None,
            "listing_id": listing.id if listing else None,
        },
        now=now,
    )
    return RecordedEvaluation(evaluation, listing)


def _notify_owning_country(
    session: Session, *, official: Official, evaluation: Evaluation, body: Agency, now: dt.datetime
) -> None:
    """#18 F3b (R7, R9, R25): a reciprocal fail or refusal does not list the official. Each
    country is the only author of its own listings: the result stands on record, where it
    makes the official ineligible for joint task forces (its latest result is adverse, and
    no current pass by the other country remains, R17), and the owning country is told, at
    verdict level, so that its own vetting body decides whether to vet and list. The notice
    goes to the official's employing agency (its inbox and webhooks) and, with no active
    appointment, to the country's admins."""
    from app.services.notifications.notifications import enqueue_deliveries

    appointment = current_appointment(session, official.id)
    notification = Notification(
        agency_id=appointment.agency_id if appointment else None,
        country=official.country,
        kind="evaluation.reciprocal_adverse",
        official_id=official.id,
        payload={
            "official_id": str(official.id),
            "outcome": evaluation.outcome,
            "trigger": evaluation.trigger,
            "conducted_by": {"id": str(body.id), "name": body.name, "country": body.country},
            "conducted_on": evaluation.conducted_on.isoformat(),
            "listed": False,
        },
        created_at=now,
    )
    session.add(notification)
    session.flush()
    enqueue_deliveries(session, [notification], now=now)


def _correctable(
    session: Session, official: Official, corrects_id: uuid.UUID, body: Agency
) -> Evaluation:
    """R8, R10, #18 F2: only the vetting body that conducted a result corrects it, so each
    country stays the only author of its own listings. Another country's evaluation answers as
    if it did not exist (R24: its id is not the caller's to know). A listing upheld on appeal
    was decided by the owning country's admin (R10); a correction cannot withdraw it."""
    corrected = session.get(Evaluation, corrects_id)
    if (
        corrected is None
        or corrected.official_id != official.id
        or corrected.conducted_by_country != body.country
    ):
        raise FieldError("corrects_id", "no evaluation of this official")
    if corrected.conducted_by != body.id:
        raise FieldError(
            "corrects_id",
            "only the vetting body that conducted an evaluation may correct it",
            "NOT_SAME_VETTING_BODY",
        )
    upheld = session.scalar(
        select(Listing.id).where(
            Listing.source_type == "evaluation",
            Listing.source_id == corrected.id,
            Listing.status == "upheld",
        )
    )
    if upheld is not None:
        raise Conflict(
            "The listing this evaluation caused was upheld on appeal; a correction cannot "
            "withdraw it",
            code="LISTING_UPHELD",
            extra={"listing_id": str(upheld)},
        )
    return corrected


def _withdraw_listing_of(
    session: Session,
    corrected: Evaluation,
    correction: Evaluation,
    derived: Outcome,
    actor: Principal,
    now: dt.datetime,
) -> None:
    """A correction that no longer fails or refuses withdraws the listing it caused (R8);
    the listing keeps its history and shows the correction as the reason."""
    if derived == Outcome(corrected.outcome) or corrected.outcome not in LISTING_BASIS:
        return
    listing = session.scalar(
        select(Listing).where(
            Listing.source_type == "evaluation",
            Listing.source_id == corrected.id,
            Listing.status.in_(BLOCKING_STATUSES),
        )
    )
    if listing is None or (derived in LISTING_BASIS and LISTING_BASIS[derived] == listing.basis):
        return
    set_status(
        session,
        listing=listing,
        to_status="overturned",
        kind="source_corrected",
        actor=actor,
        reasons=f"evaluation {corrected.id} corrected by {correction.id}",
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="listing.withdrawn",
        resource_type="listing",
        resource_id=listing.id,
        details={"corrected_evaluation": corrected.id, "correction": correction.id},
        now=now,
    )


def list_evaluations(
    session: Session, official_id: uuid.UUID
) -> list[tuple[Evaluation, uuid.UUID | None]]:
    corrector = aliased(Evaluation)
    rows = session.execute(
        select(Evaluation, corrector.id)
        .outerjoin(corrector, corrector.corrects_id == Evaluation.id)
        .where(Evaluation.official_id == official_id)
        .order_by(Evaluation.conducted_on, Evaluation.created_at)
    ).all()
    return [(r[0], r[1]) for r in rows]


def listing_of(session: Session, evaluation_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not evaluation_ids:
        return {}
    rows = session.execute(
        select(Listing.source_id, Listing.id).where(
            Listing.source_type == "evaluation", Listing.source_id.in_(evaluation_ids)
        )
    ).all()
    return {r[0]: r[1] for r in rows}
