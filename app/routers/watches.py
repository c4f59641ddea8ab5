"""Watches left by screenings (R12b): list and deactivate. A watch is created by
``POST /screenings`` with ``"watch": true``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.pagination import TIME_ID_CURSOR, Cursor, Limit, decode_cursor, paginate
from app.auth.principal import Principal, Role, require_roles
from app.auth.scoping import ScopedWatch
from app.clock import ClockDep
from app.db import SessionDep
from app.schemas.common import Page, problem_responses
from app.schemas.watch import WatchRead, WatchSubject
from app.services.screening import watches as watch_service

router = APIRouter(prefix="/watches", tags=["watches"])

WatchKeeper = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PERSONNEL_OFFICER))]


def _view(row: watch_service.WatchRow) -> WatchRead:
    watch, screening = row.watch, row.screening
    return WatchRead(
        id=watch.id,
        screening_id=watch.screening_id,
        agency_id=watch.agency_id,
        country=watch.country,
        created_by=watch.created_by,
        subject=WatchSubject(
            given_names=screening.given_names,
            first_surname=screening.first_surname,
            second_surname=screening.second_surname,
        ),
        matched_official_ids=[uuid.UUID(x) for x in watch.matched_official_ids],
        active=watch.active,
        expires_on=watch.expires_on,
        created_at=watch.created_at,
    )


def _after(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    return decode_cursor(cursor, TIME_ID_CURSOR)


@router.get("", response_model=Page[WatchRead], responses=problem_responses(401, 403, 422))
def list_watches(
    actor: WatchKeeper,
    session: SessionDep,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[WatchRead]:
    """The watches of the caller's agency (an admin: of its country), newest first."""
    rows = watch_service.list_watches(
        session, actor=actor, active=active, after=_after(cursor), limit=limit
    )
    page = paginate(rows, limit, lambda r: (r.watch.created_at, r.watch.id))
    return Page[WatchRead](items=[_view(r) for r in page.rows], next_cursor=page.next_cursor)


@router.get("/{watch_id}", response_model=WatchRead, responses=problem_responses(401, 403, 404))
def read_watch(actor: WatchKeeper, row: ScopedWatch) -> WatchRead:
    return _view(row)


@router.delete("/{watch_id}", status_code=204, responses=problem_responses(401, 403, 404))
def deactivate_watch(
    actor: WatchKeeper, row: ScopedWatch, session: SessionDep, clock: ClockDep
) -> None:
    """Stop the watch; corrections of what it already reported still arrive (R12b). The watch
    stays readable, inactive."""
    watch_service.deactivate_watch(session, actor=actor, watch_id=row.watch.id, now=clock.now())
