"""An agency's inbox of notifications (R12b)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.pagination import ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth.principal import Principal, Role, require_roles
from app.auth.scoping import MAX_ID, ScopedNotification
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.notification import NotificationRead
from app.services.notifications import notifications as notification_service

router = APIRouter(prefix="/notifications", tags=["notifications"])

InboxReader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER))]


@router.get("", response_model=Page[NotificationRead], responses=problem_responses(401, 403, 422))
def list_notifications(
    actor: InboxReader,
    session: SessionDep,
    unread: bool | None = None,
    since_id: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Only notifications with a greater id (polling)"),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[NotificationRead]:
    """The caller's agency's notifications (an admin: its country's), newest first."""
    after = decode_cursor(cursor, ID_CURSOR)
    rows = notification_service.list_notifications(
        session,
        actor=actor,
        unread=unread,
        since_id=since_id,
        before_id=after[0] if after else None,
        limit=limit,
    )
    page = paginate(rows, limit, lambda n: (n.id,))
    return Page[NotificationRead](
        items=[NotificationRead.model_validate(n) for n in page.rows],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{notification_id}",
    response_model=NotificationRead,
    responses=problem_responses(401, 403, 404, 422),
)
def read_notification(actor: InboxReader, notification: ScopedNotification) -> NotificationRead:
    return NotificationRead.model_validate(notification)


@router.post(
    "/{notification_id}/read",
    response_model=NotificationRead,
    responses=problem_responses(401, 403, 404, 422),
)
def mark_read(
    actor: InboxReader, notification: ScopedNotification, session: SessionDep, clock: ClockDep
) -> NotificationRead:
    """Mark it read for the agency; repeating keeps the first read time."""
    notification = notification_service.mark_read(
        session, actor=actor, notification_id=notification.id, now=clock.now()
    )
    return NotificationRead.model_validate(notification)
