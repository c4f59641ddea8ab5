from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from app.api.idempotency import idempotent
from app.api.problems import TYPE_BASE, placed
from app.api.quota import ScreeningBatchQuota, ScreeningQuota, record_outcome, record_outcomes
from app.auth import disclosure
from app.auth.principal import Principal, Role, SettingsDep, require_roles
from app.auth.scoping import ScopedScreening
from app.clock import ClockDep
from app.db import SessionDep
from app.errors import AppError, Unprocessable
from app.i18n import negotiate, translate
from app.schemas.common import Problem, problem_responses
from app.schemas.screening import (
    BatchItemRead,
    BatchSummary,
    DecisionCreate,
    DecisionRead,
    ScreeningBatchCreate,
    ScreeningBatchRead,
    ScreeningCreate,
    ScreeningQueryRead,
    ScreeningRead,
)
from app.services.registry.officials import IdentifierInput
from app.services.screening import screening as screening_service
from app.services.screening.screening import ScreeningInput, ScreeningResult

router = APIRouter(prefix="/screenings", tags=["screenings"])

Screener = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER))]


def _input(body: ScreeningCreate) -> ScreeningInput:
    return ScreeningInput(
        given_names=body.given_names,
        first_surname=body.first_surname,
        second_surname=body.second_surname,
        date_of_birth=body.date_of_birth,
        identifiers=[IdentifierInput(i.scheme.value, i.value) for i in body.identifiers],
        purpose=body.purpose.value if body.purpose else None,
        watch=body.watch,
    )


def _view(result: ScreeningResult) -> ScreeningRead:
    s = result.screening
    return ScreeningRead(
        id=s.id,
        verdict=s.verdict,
        top_score=s.top_score,
        country=s.country,
        agency_id=s.agency_id,
        purpose=s.purpose,
        batch_id=s.batch_id,
        created_at=s.created_at,
        query=ScreeningQueryRead(
            given_names=s.given_names,
            first_surname=s.first_surname,
            second_surname=s.second_surname,
            date_of_birth=s.date_of_birth,
            identifiers_given=len(s.identifier_indexes),
        ),
        matches=[disclosure.match_view(m, s.country) for m in result.matches],
        warnings=result.warnings,
        candidates_truncated=result.truncated,
        decisions=[
            DecisionRead(
                id=d.id,
                screening_id=d.screening_id,
                official_id=d.official_id,
                decision=d.decision,
                reasons=d.reasons,
                decided_by=d.decided_by,
                agency_id=d.agency_id,
                created_at=d.created_at,
            )
            for d in result.decisions
        ],
        watch_id=result.watch_id,
    )


def _parse_item(index: int, raw: Any) -> ScreeningInput | AppError:
    """One batch item, validated on its own so that a bad item fails alone."""
    try:
        return _input(ScreeningCreate.model_validate(raw))
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(["body", "items", str(index), *map(str, e["loc"])]),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return Unprocessable(
            "Invalid fields: {fields}",
            code="VALIDATION_ERROR",
            fields=", ".join(e["field"] for e in errors),
            extra={"errors": errors},
        )


def _problem(request: Request, exc: AppError) -> Problem:
    lang = negotiate(request.headers.get("accept-language"))
    params, extra = placed(exc)  # an item's field error says body.items.N.… (#16)
    return Problem(
        type=TYPE_BASE + exc.instance_code.lower().replace("_", "-"),
        title=translate(exc.title, lang),
        status=exc.status,
        detail=translate(exc.detail, lang, **params),
        code=exc.instance_code,
        **extra,
    )


@router.post(
    "",
    status_code=201,
    response_model=ScreeningRead,
    responses=problem_responses(401, 403, 422, 429),
    dependencies=[ScreeningQuota],
)
@idempotent
def create_screening(
    body: ScreeningCreate,
    actor: Screener,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ScreeningRead:
    """Screen an identity before hiring (R11): verdict clear, review or listed, with scored
    candidates that carry the features behind their score; kept and audited (R12)."""
    result = screening_service.screen(
        session, actor=actor, settings=settings, data=_input(body), now=clock.now()
    )
    view = _view(result)
    record_outcome(
        session, principal=actor, action="screening", hit=view.verdict != "clear", now=clock.now()
    )
    return view


@router.post(
    "/batch",
    response_model=ScreeningBatchRead,
    responses=problem_responses(401, 403, 422, 429),
    dependencies=[ScreeningBatchQuota],
)
@idempotent
def create_screening_batch(
    body: ScreeningBatchCreate,
    request: Request,
    actor: Screener,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ScreeningBatchRead:
    """Screen up to 1,000 identities: one answer per item, in order; an item that cannot be
    screened gets a problem document in place of its result, and the others go on."""
    batch_id, answers = screening_service.screen_batch(
        session,
        actor=actor,
        settings=settings,
        items=[_parse_item(i, raw) for i, raw in enumerate(body.items)],
        now=clock.now(),
    )
    items = [
        BatchItemRead(index=i, problem=_problem(request, a))
        if isinstance(a, AppError)
        else BatchItemRead(index=i, result=_view(a))
        for i, a in enumerate(answers)
    ]
    verdicts = [it.result.verdict for it in items if it.result is not None]
    record_outcomes(
        session,
        principal=actor,
        action="screening_batch",
        hits=[v != "clear" for v in verdicts],
        now=clock.now(),
    )
    view = ScreeningBatchRead(
        batch_id=batch_id,
        summary=BatchSummary(
            items=len(items),
            clear=verdicts.count("clear"),
            review=verdicts.count("review"),
            listed=verdicts.count("listed"),
            errors=len(items) - len(verdicts),
        ),
        items=items,
    )
    return view


@router.get(
    "/{screening_id}",
    response_model=ScreeningRead,
    responses=problem_responses(401, 403, 404),
)
def read_screening(
    actor: Screener, screening: ScopedScreening, session: SessionDep
) -> ScreeningRead:
    """A kept screening, for its own agency or its country's admin (404 for anyone else)."""
    return _view(screening_service.get_screening(session, actor=actor, screening_id=screening.id))


@router.post(
    "/{screening_id}/decisions",
    status_code=201,
    response_model=DecisionRead,
    responses=problem_responses(401, 403, 404, 422),
)
@idempotent
def create_decision(
    body: DecisionCreate,
    actor: Screener,
    screening: ScopedScreening,
    session: SessionDep,
    clock: ClockDep,
) -> DecisionRead:
    """Rule on a candidate (R12a): ``not_same_person`` keeps it from raising this identity
    again; ``same_person`` confirms it. Later screenings of the identity show the ruling."""
    d = screening_service.record_decision(
        session,
        actor=actor,
        screening_id=screening.id,
        official_id=body.official_id,
        decision=body.decision.value,
        reasons=body.reasons,
        now=clock.now(),
    )
    view = DecisionRead(
        id=d.id,
        screening_id=d.screening_id,
        official_id=d.official_id,
        decision=body.decision,
        reasons=d.reasons,
        decided_by=d.decided_by,
        agency_id=d.agency_id,
        created_at=d.created_at,
    )
    return view
