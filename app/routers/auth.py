from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.principal import Authenticated, SettingsDep, public
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.access import Country
from app.schemas.common import problem_responses
from app.schemas.user import Me, TokenResponse
from app.services.accounts import auth as auth_service
from app.services.accounts import users as user_service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenResponse,
    dependencies=[Depends(public())],
    responses=problem_responses(401, 422, 429),
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    clock: ClockDep,
    country: Annotated[
        Country | None,
        Form(
            description="The user's country. Usernames are unique per country (#18 F5); "
            "without it, the user of either country whose password matches logs in, if "
            "exactly one does"
        ),
    ] = None,
) -> TokenResponse:
    """OAuth2 password flow: a short-lived bearer token (R26). Every refusal is the same 401
    ``INVALID_CREDENTIALS``, whether the username exists, and in which country, or not."""
    token, lifetime = auth_service.login(
        request.app.state.sessionmaker,
        settings=settings,
        hasher=request.app.state.hasher,
        username=form.username,
        password=form.password,
        client_addr=request.client.host if request.client else None,
        now=clock.now(),
        country=country.value if country is not None else None,
    )
    return TokenResponse(access_token=token, expires_in=lifetime)


@router.get("/me", response_model=Me, responses=problem_responses(401))
def me(principal: Authenticated, session: SessionDep) -> Me:
    user = user_service.get_user_in_scope(session, actor=principal, user_id=principal.user_id)
    return Me.model_validate({**user_service_dict(user), "via": principal.via})


@router.post("/revoke", status_code=204, responses=problem_responses(401))
def revoke_my_tokens(principal: Authenticated, session: SessionDep, clock: ClockDep) -> None:
    """Sign out everywhere: every token issued to the caller so far stops working."""
    user = user_service.get_user_in_scope(session, actor=principal, user_id=principal.user_id)
    user_service.revoke_tokens(session, actor=principal, user=user, now=clock.now())


def user_service_dict(user: object) -> dict[str, object]:
    fields = (
        "id",
        "username",
        "roles",
        "country",
        "agency_id",
        "official_id",
        "is_active",
        "created_at",
    )
    return {f: getattr(user, f) for f in fields}
