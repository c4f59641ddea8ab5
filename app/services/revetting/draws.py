"""Random re-vetting draws that neither country can steer (R16).

Life of a draw (``docs/draws.md``):

1. An admin of either country creates it with a *scope* and a sample size. The population —
   the officials with an active appointment in the scope, resolved once — is frozen in
   ``draw_members`` and its hash published. There is no way to change it afterwards; completion
   recomputes the hash and fails the draw if the stored population no longer matches.
2. Each country's admin commits ``sha256(secret)`` once, before the commit deadline.
3. Once both have committed, each reveals its secret before the reveal deadline; a secret that
   does not match its commitment is refused (422 ``REVEAL_MISMATCH``). Reveals are published
   only when the draw is complete (or failed), so the second revealer never sees the first
   secret through the service.
4. With both reveals in, the seed and the selection follow from
``app.services.revetting.draw_math``;
   each selected official owes a ``random`` evaluation by ``selected_on + random_due_days`` of
   the policy that applies to them (R15).

A deadline that passes first makes the draw ``failed`` — recorded for the request that notices
(which is refused: its own transaction rolls back, and the failure is written in a unit of work
of its own once it has ended, ``app.db.after_transaction``) or by the sweep — and it is never
re-drawn silently: a new draw is a new record with a new population hash and new commitments.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import after_transaction, unit_of_work
from app.domain.access import Principal
from app.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from app.models import (
    Agency,
    DrawCommitment,
    DrawMember,
    Official,
    RandomDraw,
    RandomSelection,
    TaskForce,
    TaskForceMember,
)
from app.services.audit import audit
from app.services.revetting import draw_math
from app.services.revetting.policy import resolve_policy
from app.services.revetting.schedules import (
    BOTH_COUNTRIES,
    ScheduleScope,
    active_officials,
    resolved_policies,
)
from app.services.task_forces.task_forces import can_read as can_read_task_force

COUNTRIES = BOTH_COUNTRIES
DEFAULT_COMMIT_WINDOW = dt.timedelta(days=7)
DEFAULT_REVEAL_WINDOW = dt.timedelta(days=7)
MAX_HORIZON = dt.timedelta(days=90)
OPEN, COMMITTED, COMPLETED, FAILED = "open", "committed", "completed", "failed"


@dataclass(frozen=True)
class DrawScope:
    """Who is in a draw: officials with an active appointment whose *current* appointment
    matches every given field. ``country`` is ``MX``, ``US`` or ``BOTH`` (default: the creator's
    own); an agency implies its country. A task force scope takes its current members (both
    countries) and admits no other field."""

    agency_id: uuid.UUID | None = None
    country: str | None = None
    sector: str | None = None
    rank_tier: str | None = None
    task_force_id: uuid.UUID | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "agency_id": str(self.agency_id) if self.agency_id else None,
            "country": self.country,
            "sector": self.sector,
            "rank_tier": self.rank_tier,
            "task_force_id": str(self.task_force_id) if self.task_force_id else None,
        }


def effective_status(draw: RandomDraw, now: dt.datetime) -> tuple[str, str | None]:
    """The status the clock implies (a passed deadline fails the draw), and why.

    Reads never wait for the sweep: a draw past its deadline shows as failed at once."""
    if draw.status == OPEN and now > draw.commit_deadline:
        return FAILED, "commit deadline passed before both countries committed"
    if draw.status == COMMITTED and now > draw.reveal_deadline:
        return FAILED, "reveal deadline passed before both countries revealed"
    return draw.status, draw.failure_reason


def _population(session: Session, actor: Principal, scope: DrawScope) -> Any:
    """Resolve the scope to a SELECT of the ids of its active officials."""
    if scope.task_force_id is not None:
        if any((scope.agency_id, scope.country, scope.sector, scope.rank_tier)):
            raise FieldError(
                "scope", "a task force scope admits no other field", "DRAW_SCOPE_INVALID"
            )
        # A task force the caller may not read answers as an unknown one (#18, R24).
        task_force = session.get(TaskForce, scope.task_force_id)
        if task_force is None or not can_read_task_force(session, actor, task_force):
            raise NotFound("No such task force", code="TASK_FORCE_NOT_FOUND")
        active = active_officials(ScheduleScope(countries=COUNTRIES))
        members = select(TaskForceMember.official_id).where(
            TaskForceMember.task_force_id == scope.task_force_id,
            TaskForceMember.left_on.is_(None),
        )
        return select(active.c.official_id).where(active.c.official_id.in_(members))
    if scope.agency_id is not None:
        agency = session.get(Agency, scope.agency_id)
        if agency is None or agency.country != actor.country:
            raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
        if scope.country not in (None, agency.country):
            raise FieldError("scope.country", "differs from the agency's country")
        countries = [agency.country]
    elif scope.country == "BOTH":
        countries = list(COUNTRIES)
    elif scope.country in (None, actor.country):
        countries = [actor.country]
    else:
        raise Forbidden(
            "A draw's population must include your own country's officials",
            code="DRAW_SCOPE_FOREIGN",
        )
    active = active_officials(
        ScheduleScope(
            countries=tuple(countries),
            agency_id=scope.agency_id,
            sector=scope.sector,
            rank_tier=scope.rank_tier,
        )
    )
    return select(active.c.official_id)


def create_draw(
    session: Session,
    *,
    actor: Principal,
    scope: DrawScope,
    sample_size: int,
    commit_deadline: dt.datetime | None,
    reveal_deadline: dt.datetime | None,
    now: dt.datetime,
) -> RandomDraw:
    """Fix a draw's population and sample size and publish the population hash (R16).

    Deadlines default to a week to commit and a week more to reveal, within 90 days."""
    commit_by = commit_deadline or now + DEFAULT_COMMIT_WINDOW
    reveal_by = reveal_deadline or commit_by + DEFAULT_REVEAL_WINDOW
    if commit_by <= now or commit_by > now + MAX_HORIZON:
        raise FieldError("commit_deadline", "must be in the future, within 90 days")
    if reveal_by <= commit_by or reveal_by > now + MAX_HORIZON:
        raise FieldError("reveal_deadline", "must follow the commit deadline, within 90 days")
    population_stmt = _population(session, actor, scope)
    ids = sorted(set(session.scalars(population_stmt)), key=str)
    if not ids:
        raise Unprocessable(
            "The scope has no active officials to draw from", code="DRAW_POPULATION_EMPTY"
        )
    reference = resolve_policy(
        session, country=actor.country, sector=None, rank_tier=None, agency_id=None, now=now
    )
    draw = RandomDraw(
        scope=scope.as_json(),
        sample_size=sample_size,
        population_size=len(ids),
        population_hash=draw_math.population_hash(ids),
        status=OPEN,
        commit_deadline=commit_by,
        reveal_deadline=reveal_by,
        random_due_days=reference.random_due_days,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(draw)
    session.flush()
    for start in range(0, len(ids), 5000):
        session.execute(
            insert(DrawMember),
            [{"draw_id": draw.id, "official_id": i} for i in ids[start : start + 5000]],
        )
    audit.record(
        session,
        actor=actor,
        action="draw.create",
        resource_type="random_draw",
        resource_id=draw.id,
        details={
            "scope": scope.as_json(),
            "sample_size": sample_size,
            "population_size": len(ids),
            "population_hash": draw.population_hash,
        },
        now=now,
    )
    return draw


def list_draws(
    session: Session, *, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[RandomDraw]:
    stmt = select(RandomDraw).order_by(RandomDraw.created_at.desc(), RandomDraw.id.desc())
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            (RandomDraw.created_at < at)
            | ((RandomDraw.created_at == at) & (RandomDraw.id < last_id))
        )
    return list(session.scalars(stmt.limit(limit + 1)))


def commitments_of(session: Session, draw_id: uuid.UUID) -> dict[str, DrawCommitment]:
    rows = session.scalars(select(DrawCommitment).where(DrawCommitment.draw_id == draw_id))
    return {c.country: c for c in rows}


def fail_draw(
    session: Session, *, draw: RandomDraw, reason: str, actor: Principal | None, now: dt.datetime
) -> None:
    """Mark a draw failed, for good (R16: never silently re-drawn); audited."""
    draw.status = FAILED
    draw.failure_reason = reason
    session.flush()
    audit.record(
        session,
        actor=actor,
        actor_username=None if actor else "sweep",
        action="draw.failed",
        resource_type="random_draw",
        resource_id=draw.id,
        details={"reason": reason},
        now=now,
    )


def _fail_after_refusal(
    session: Session, *, draw: RandomDraw, reason: str, actor: Principal, now: dt.datetime
) -> None:
    """The request is refused (its transaction rolls back), but the failure it noticed is kept:
    written in a unit of work of its own once the request's transaction has ended, so it never
    waits on the request's lock on the draw (R16; ``app.db.after_transaction``). A draw that
    another request or the sweep has failed in between is left as it is."""
    factory: sessionmaker[Session] = session.info.get("factory") or sessionmaker(
        bind=session.get_bind(), expire_on_commit=False
    )
    draw_id = draw.id

    def write() -> None:
        with unit_of_work(factory) as own:
            fresh = own.get(RandomDraw, draw_id, with_for_update=True)
            if fresh is not None and fresh.status in (OPEN, COMMITTED):
                fail_draw(own, draw=fresh, reason=reason, actor=actor, now=now)

    after_transaction(session, write)


def _refuse_past_deadline(
    session: Session, draw: RandomDraw, actor: Principal, now: dt.datetime
) -> None:
    status, reason = effective_status(draw, now)
    if status == FAILED and draw.status != FAILED:
        _fail_after_refusal(
            session, draw=draw, reason=reason or "deadline passed", actor=actor, now=now
        )
        raise Conflict(
            "The draw's deadline has passed; it has failed and will not be re-drawn",
            code="DRAW_DEADLINE_PASSED",
            extra={"draw_status": FAILED},
        )


def _refuse_closed(draw: RandomDraw) -> None:
    if draw.status == FAILED:
        raise Conflict(
            "The draw has failed ({reason})",
            code="DRAW_FAILED",
            reason=draw.failure_reason or "-",
        )
    if draw.status == COMPLETED:
        raise Conflict("The draw is already complete", code="DRAW_COMPLETED")


def _check_participant(actor: Principal) -> str:
    if actor.country not in COUNTRIES:
        raise Forbidden("Only the admins of Mexico and the United States take part")
    return actor.country


def submit_commitment(
    session: Session, *, actor: Principal, draw: RandomDraw, commitment: str, now: dt.datetime
) -> DrawCommitment:
    """Record the caller's country's ``sha256(secret)`` (R16): once per country (409 on a
    second), before the commit deadline (after it the draw fails). ``draw`` is locked by the
    caller (``app.auth.scoping.LockedDraw``)."""
    country = _check_participant(actor)
    value = draw_math.parse_commitment(commitment)
    _refuse_closed(draw)
    existing = commitments_of(session, draw.id)
    if country in existing:
        raise Conflict(
            "Your country has already committed to this draw", code="DRAW_ALREADY_COMMITTED"
        )
    _refuse_past_deadline(session, draw, actor, now)
    row = DrawCommitment(
        draw_id=draw.id,
        country=country,
        commitment=value,
        committed_by=actor.user_id,
        committed_at=now,
    )
    session.add(row)
    if len(existing) + 1 == len(COUNTRIES):
        draw.status = COMMITTED
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="draw.commit",
        resource_type="random_draw",
        resource_id=draw.id,
        details={"country": country, "commitment": value, "status": draw.status},
        now=now,
    )
    return row


def submit_reveal(
    session: Session, *, actor: Principal, draw: RandomDraw, secret: str, now: dt.datetime
) -> DrawCommitment:
    """Record the caller's country's secret (R16): only after both commitments, once, before
    the reveal deadline, and only if ``sha256(secret)`` is the commitment (422
    ``REVEAL_MISMATCH``). The second reveal completes the draw. ``draw`` is locked by the
    caller (``app.auth.scoping.LockedDraw``)."""
    country = _check_participant(actor)
    _refuse_closed(draw)
    _refuse_past_deadline(session, draw, actor, now)
    if draw.status != COMMITTED:
        raise Conflict(
            "Both countries must commit before anyone reveals", code="DRAW_NOT_COMMITTED"
        )
    commitments = commitments_of(session, draw.id)
    mine = commitments[country]
    if mine.secret is not None:
        raise Conflict("Your country has already revealed its secret", code="DRAW_ALREADY_REVEALED")
    if not draw_math.verify_reveal(secret, mine.commitment):
        raise Unprocessable(
            "The secret does not match your country's commitment", code="REVEAL_MISMATCH"
        )
    mine.secret = secret
    mine.revealed_by = actor.user_id
    mine.revealed_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="draw.reveal",
        resource_type="random_draw",
        resource_id=draw.id,
        details={"country": country},
        now=now,
    )
    if all(c.secret is not None for c in commitments.values()):
        _complete(session, draw=draw, commitments=commitments, actor=actor, now=now)
    return mine


def member_ids(session: Session, draw_id: uuid.UUID) -> list[uuid.UUID]:
    return sorted(
        session.scalars(select(DrawMember.official_id).where(DrawMember.draw_id == draw_id)),
        key=str,
    )


def _complete(
    session: Session,
    *,
    draw: RandomDraw,
    commitments: dict[str, DrawCommitment],
    actor: Principal,
    now: dt.datetime,
) -> None:
    """Seed and selection (R16); each selected official owes a ``random`` evaluation by
    ``today + random_due_days`` of their own applicable policy (R15). A population that no
    longer matches its hash fails the draw instead (the reveal that found it is refused)."""
    ids = member_ids(session, draw.id)
    if len(ids) != draw.population_size or draw_math.population_hash(ids) != draw.population_hash:
        _fail_after_refusal(
            session,
            draw=draw,
            reason="the population changed after the draw was created",
            actor=actor,
            now=now,
        )
        raise Conflict(
            "The draw's population no longer matches its published hash; the draw has failed",
            code="DRAW_POPULATION_CHANGED",
            extra={"draw_status": FAILED},
        )
    secret_mx = draw_math.parse_secret(str(commitments["MX"].secret))
    secret_us = draw_math.parse_secret(str(commitments["US"].secret))
    seed = draw_math.seed_from(secret_mx, secret_us)
    chosen = draw_math.select(seed, ids, draw.sample_size)
    due_days = _random_due_days(session, chosen)
    today = now.date()
    session.execute(
        insert(RandomSelection),
        [
            {
                "id": uuid.uuid4(),
                "draw_id": draw.id,
                "official_id": official_id,
                "rank": rank,
                "ranking_mac": draw_math.ranking_mac(seed, official_id),
                "selected_on": today,
                "due_on": today
                + dt.timedelta(days=due_days.get(official_id, draw.random_due_days)),
                "created_at": now,
            }
            for rank, official_id in enumerate(chosen, start=1)
        ],
    )
    draw.seed = seed.hex()
    draw.status = COMPLETED
    draw.completed_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="draw.complete",
        resource_type="random_draw",
        resource_id=draw.id,
        details={"seed": draw.seed, "selected": len(chosen)},
        now=now,
    )


def _random_due_days(session: Session, official_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """``random_due_days`` of each official's applicable policy, in one statement."""
    if not official_ids:
        return {}
    scope = ScheduleScope(countries=COUNTRIES, official_ids=tuple(official_ids))
    active, pol = active_officials(scope), resolved_policies(scope)
    rows = session.execute(
        select(active.c.official_id, pol.c.random_due_days).join(
            pol,
            (pol.c.agency_id == active.c.agency_id) & (pol.c.rank_tier == active.c.rank_tier),
        )
    )
    return {r.official_id: int(r.random_due_days) for r in rows}


@dataclass(frozen=True)
class Published:
    """Every value an outside verifier needs (docs/draws.md), as one country sees them:
    ``population`` and ``selection`` hold that country's own officials only (#18 F3a, R24);
    the other country's are counted in ``population_withheld`` and ``selection_withheld``.
    ``threshold_mac`` is the largest ranking MAC selected: with the seed, each country checks
    that every one of its officials is selected exactly when their MAC is at most it."""

    draw: RandomDraw
    status: str
    failure_reason: str | None
    population: list[uuid.UUID]
    commitments: dict[str, str]
    reveals: dict[str, str]
    selection: list[RandomSelection]
    population_withheld: int
    selection_withheld: int
    threshold_mac: str | None


def member_countries(session: Session, draw_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = session.execute(
        select(DrawMember.official_id, Official.country)
        .join(Official, Official.id == DrawMember.official_id)
        .where(DrawMember.draw_id == draw_id)
    )
    return {r[0]: r[1] for r in rows}


def published(
    session: Session, *, draw: RandomDraw, now: dt.datetime, viewer_country: str
) -> Published:
    """R16 reconciled with R24 (#18 F3a): the population hash, the commitments, reveals and
    seed are published to both countries; the official ids of the population and of the
    selection only to the country each official belongs to, so a draw scoped to the other
    country's agency or task force names none of its unlisted officials. A country verifies
    its own part against the seed and ``threshold_mac``; the two countries' lists together
    reproduce the population hash (docs/draws.md)."""
    status, reason = effective_status(draw, now)
    commitments = commitments_of(session, draw.id)
    # Reveals are published once nothing can be steered any more (complete or failed).
    show_reveals = status in (COMPLETED, FAILED)
    selection = list(
        session.scalars(
            select(RandomSelection)
            .where(RandomSelection.draw_id == draw.id)
            .order_by(RandomSelection.rank)
        )
    )
    countries = member_countries(session, draw.id)
    population = sorted((i for i, c in countries.items() if c == viewer_country), key=str)
    own_selection = [s for s in selection if countries.get(s.official_id) == viewer_country]
    return Published(
        draw=draw,
        status=status,
        failure_reason=reason,
        population=population,
        commitments={c: row.commitment for c, row in sorted(commitments.items())},
        reveals={
            c: row.secret
            for c, row in sorted(commitments.items())
            if show_reveals and row.secret is not None
        },
        selection=own_selection,
        population_withheld=len(countries) - len(population),
        selection_withheld=len(selection) - len(own_selection),
        threshold_mac=max((s.ranking_mac for s in selection), default=None),
    )


def participation_of(
    session: Session, draw_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[DrawCommitment]]:
    """Commitments of several draws in one statement, by country."""
    out: dict[uuid.UUID, list[DrawCommitment]] = {}
    if not draw_ids:
        return out
    rows = session.scalars(
        select(DrawCommitment)
        .where(DrawCommitment.draw_id.in_(draw_ids))
        .order_by(DrawCommitment.draw_id, DrawCommitment.country)
    )
    for row in rows:
        out.setdefault(row.draw_id, []).append(row)
    return out


def selected_counts(session: Session, draw_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many officials each draw selected, in one statement."""
    if not draw_ids:
        return {}
    rows = session.execute(
        select(RandomSelection.draw_id, func.count())
        .where(RandomSelection.draw_id.in_(draw_ids))
        .group_by(RandomSelection.draw_id)
    )
    return {r[0]: int(r[1]) for r in rows}
