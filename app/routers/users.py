from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.etag import check_if_match, set_etag
from app.api.idempotency import idempotent
from app.api.pagination import TEXT_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth.principal import AdminOnly
from app.auth.scoping import ScopedUser
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.user import UserCreate, UserRead, UserUpdate
from app.services.accounts import users as user_service

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    status_code=201,
    response_model=UserRead,
    responses=problem_responses(401, 403, 409, 422),
)
@idempotent
def create_user(
    body: UserCreate,
    request: Request,
    response: Response,
    admin: AdminOnly,
    session: SessionDep,
    clock: ClockDep,
) -> UserRead:
    user = user_service.create_user(
        session,
        actor=admin,
        hasher=request.app.state.hasher,
        username=body.username,
        password=body.password,
        roles=[r.value for r in body.roles],
        country=body.country.value,
        agency_id=body.agency_id,
        official_id=body.official_id,
        now=clock.now(),
    )
    result = UserRead.model_validate(user)
    set_etag(response, user.version)
    return result


@router.get("", response_model=Page[UserRead], responses=problem_responses(401, 403, 422))
def list_users(
    admin: AdminOnly, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[UserRead]:
    after = decode_cursor(cursor, TEXT_CURSOR)
    users = user_service.list_users(
        session, actor=admin, after=str(after[0]) if after else None, limit=limit
    )
    page = paginate(users, limit, lambda u: (u.username,))
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in page.rows], next_cursor=page.next_cursor
    )


@router.get("/{user_id}", response_model=UserRead, responses=problem_responses(401, 403, 404))
def read_user(admin: AdminOnly, user: ScopedUser, response: Response) -> UserRead:
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def update_user(
    body: UserUpdate,
    request: Request,
    response: Response,
    admin: AdminOnly,
    user: ScopedUser,
    session: SessionDep,
    clock: ClockDep,
) -> UserRead:
    check_if_match(request, user.version)
    user_service.update_user(
        session,
        actor=admin,
        user=user,
        changes=body.model_dump(exclude_unset=True),
        now=clock.now(),
    )
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.delete("/{user_id}", status_code=204, responses=problem_responses(401, 403, 404, 409))
def deactivate_user(
    admin: AdminOnly, user: ScopedUser, session: SessionDep, clock: ClockDep
) -> None:
    """Deactivate (users are never deleted, so the audit trail keeps its meaning)."""
    user_service.deactivate_user(session, actor=admin, user=user, now=clock.now())


@router.post(
    "/{user_id}/revoke-tokens", status_code=204, responses=problem_responses(401, 403, 404)
)
def revoke_tokens(admin: AdminOnly, user: ScopedUser, session: SessionDep, clock: ClockDep) -> None:
    user_service.revoke_tokens(session, actor=admin, user=user, now=clock.now())
