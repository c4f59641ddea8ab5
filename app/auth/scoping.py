"""Lookup-or-404 path dependencies that apply country and agency scope (R24, R25; STYLE 2; #16).

A route that names a record in its path (``/officials/{official_id}``) takes the record through
one of the aliases below instead of the bare id, so it cannot forget the scope check: the
dependency reads the path parameter, the principal and the request's session, loads the record
and answers 404 outside the caller's scope (existence does not leak, R24). The ``Locked*``
variants take the row lock (``SELECT … FOR UPDATE``) for write routes that decide from the
record's state.

The principal comes from ``authenticate`` (the same cached call as the route's role guard), so
the guard must be solved first: a route declares its role parameter (``actor: Registrar``)
before the scoped record, and ``tests/test_route_scoping.py`` checks both that every record id
of a path is resolved here and that the role guard runs first (403 before 404, R23).

Dependencies run before the request body is validated: a record outside scope answers 404 even
when the body is also wrong; an ill-formed id is still a 422 (the dependency is not called).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path
from sqlalchemy.orm import Session

from app.auth.principal import Principal, authenticate
from app.db import SessionDep
from app.errors import NotFound
from app.models import (
    Agency,
    ImportJob,
    Listing,
    Notification,
    Official,
    Override,
    RandomDraw,
    Screening,
    TaskForce,
    User,
    VettingPolicy,
)
from app.services.accounts import users as user_service
from app.services.imports import imports as import_service
from app.services.notifications import notifications as notification_service
from app.services.registry import agencies as agency_service
from app.services.registry.registry import own_country_official, visible_official
from app.services.revetting import policies as policy_service
from app.services.screening import screening as screening_service
from app.services.screening import watches as watch_service
from app.services.task_forces import overrides as override_service
from app.services.task_forces import task_forces as tf_service

CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

MAX_ID = 2**63 - 1  # a BIGINT: a greater number is a bad request, not a database error
NotificationId = Annotated[int, Path(ge=1, le=MAX_ID)]


# --- officials ------------------------------------------------------------------------------


def scoped_official(
    official_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Official:
    """An official of the caller's own country; 404 otherwise (R24)."""
    return own_country_official(session, actor, official_id)


def locked_official(
    official_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Official:
    """As ``scoped_official``, with the official's row lock held to the commit."""
    return own_country_official(session, actor, official_id, lock=True)


def visible_official_dep(
    official_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Official:
    """An official of the own country, or of the other country when the person is visible
    across the border (listed, nominee or member of a joint task force: R9, R24); 404
    otherwise. What the caller sees of it is ``app.auth.disclosure``'s business."""
    official, _full = visible_official(session, actor, official_id)
    return official


def evaluable_official(
    official_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Official:
    """An official the caller may record an evaluation of, locked: its own country's, or a
    nominee or member of a joint task force across the border (R25, reciprocal); 404
    otherwise. The trigger rule (reciprocal only across) stays with the body's rules."""
    from app.services.task_forces.task_forces import is_nominee_or_member

    official = _official_or_404(session, official_id, lock=True)
    if official.country != actor.country and not is_nominee_or_member(session, official.id):
        raise NotFound("No such official", code="OFFICIAL_NOT_FOUND")
    return official


def _official_or_404(session: Session, official_id: uuid.UUID, *, lock: bool) -> Official:
    official = session.get(Official, official_id, with_for_update=lock or None)
    if official is None:
        raise NotFound("No such official", code="OFFICIAL_NOT_FOUND")
    return official


ScopedOfficial = Annotated[Official, Depends(scoped_official)]
LockedOfficial = Annotated[Official, Depends(locked_official)]
VisibleOfficial = Annotated[Official, Depends(visible_official_dep)]
EvaluableOfficial = Annotated[Official, Depends(evaluable_official)]


# --- listings -------------------------------------------------------------------------------


def _listing_or_404(session: Session, listing_id: uuid.UUID, *, lock: bool) -> Listing:
    """``lock`` takes the row lock and reads the latest committed state: writers that decide
    from the listing's status (appeals) queue on it, so the one that comes second sees the
    first's change and is refused by the rule (409), not by the version check (412)."""
    if lock:
        listing = session.get(Listing, listing_id, with_for_update=True, populate_existing=True)
    else:
        listing = session.get(Listing, listing_id)
    if listing is None:
        raise NotFound("No such listing", code="LISTING_NOT_FOUND")
    return listing


def _owned(session: Session, actor: Principal, listing: Listing) -> Listing:
    official = session.get(Official, listing.official_id)
    if official is None or official.country != actor.country:
        raise NotFound("No such listing", code="LISTING_NOT_FOUND")
    return listing


def visible_listing(listing_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> Listing:
    """Any listing: both countries see listings at verdict level (R9)."""
    del actor  # scope is both countries; the viewer picks the view (app.auth.disclosure)
    return _listing_or_404(session, listing_id, lock=False)


def scoped_listing(listing_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> Listing:
    """A listing of the caller's own country's official; 404 otherwise (R9, R24)."""
    return _owned(session, actor, _listing_or_404(session, listing_id, lock=False))


def locked_listing(listing_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> Listing:
    """As ``scoped_listing``, locked and freshly read (appeals, R10)."""
    return _owned(session, actor, _listing_or_404(session, listing_id, lock=True))


VisibleListing = Annotated[Listing, Depends(visible_listing)]
ScopedListing = Annotated[Listing, Depends(scoped_listing)]
LockedListing = Annotated[Listing, Depends(locked_listing)]


# --- agencies, users, policies ----------------------------------------------------------------


def visible_agency(agency_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> Agency:
    """Any agency, of either country: agency names are public across the border (R24)."""
    del actor
    return agency_service.get_agency_or_404(session, agency_id)


def scoped_agency(agency_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> Agency:
    """An agency of the caller's own country; 404 otherwise (R24)."""
    return agency_service.get_agency_for_update(session, actor=actor, agency_id=agency_id)


def scoped_user(user_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> User:
    """A user of the caller's own country; 404 otherwise (R24)."""
    return user_service.get_user_in_scope(session, actor=actor, user_id=user_id)


def scoped_policy(
    policy_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> VettingPolicy:
    """A vetting policy of the caller's own country; 404 otherwise (R24)."""
    return policy_service.get_policy(session, actor=actor, policy_id=policy_id)


def locked_policy(
    policy_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> VettingPolicy:
    return policy_service.get_policy(session, actor=actor, policy_id=policy_id, lock=True)


VisibleAgency = Annotated[Agency, Depends(visible_agency)]
ScopedAgency = Annotated[Agency, Depends(scoped_agency)]
ScopedUser = Annotated[User, Depends(scoped_user)]
ScopedPolicy = Annotated[VettingPolicy, Depends(scoped_policy)]
LockedPolicy = Annotated[VettingPolicy, Depends(locked_policy)]


# --- screenings, watches, notifications, overrides ------------------------------------------


def scoped_screening(
    screening_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Screening:
    """A screening of the caller's agency, or of its country for an admin; 404 otherwise."""
    return screening_service.scoped_screening(session, actor, screening_id)


def scoped_watch(
    watch_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> watch_service.WatchRow:
    """A watch in the caller's scope (its screening's agency or country); 404 otherwise."""
    return watch_service.get_watch(session, actor=actor, watch_id=watch_id)


def scoped_notification(
    notification_id: NotificationId, actor: CurrentPrincipal, session: SessionDep
) -> Notification:
    """A notification of the caller's inbox (agency, or country for an admin); 404 otherwise."""
    return notification_service.get_notification(
        session, actor=actor, notification_id=notification_id
    )


def scoped_override(
    override_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Override:
    """An override of a task force the caller may read; 404 otherwise (R24, R25)."""
    return override_service.get_override(session, actor, override_id)


def locked_override(
    override_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> Override:
    """As ``scoped_override``, with the override's row lock held to the commit (approvals)."""
    override = session.get(Override, override_id, with_for_update=True)
    if override is None:
        raise NotFound("No such override", code="OVERRIDE_NOT_FOUND")
    tf = session.get(TaskForce, override.task_force_id)
    if tf is None or not tf_service.can_read(session, actor, tf):
        raise NotFound("No such override", code="OVERRIDE_NOT_FOUND")
    return override


ScopedScreening = Annotated[Screening, Depends(scoped_screening)]
ScopedWatch = Annotated[watch_service.WatchRow, Depends(scoped_watch)]
ScopedNotification = Annotated[Notification, Depends(scoped_notification)]
ScopedOverride = Annotated[Override, Depends(scoped_override)]
LockedOverride = Annotated[Override, Depends(locked_override)]


# --- task forces, draws, imports -------------------------------------------------------------


def scoped_task_force(
    task_force_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> TaskForce:
    """A task force the caller may read (its leads, admins of the lead agency's country or of
    a country with members or open nominees, commission members); 404 otherwise (R24, R25)."""
    return tf_service.get_task_force(session, actor, task_force_id)


def locked_task_force(
    task_force_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> TaskForce:
    """A task force the caller manages (its leads, admins of the lead agency's country), with
    its row lock held to the commit; 404 otherwise, as for one it may not read (R25)."""
    return tf_service.get_task_force(session, actor, task_force_id, manage=True, lock=True)


def nominating_task_force(
    task_force_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> TaskForce:
    """A task force the caller may nominate to, locked: its managers', or — for their own
    country's officials only, which the route checks against the body with the same 404 —
    any admin's (#18 F3, R18, R24); 404 otherwise."""
    return tf_service.task_force_for_nomination(session, actor, task_force_id)


def withdrawable_task_force(
    task_force_id: uuid.UUID, nomination_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep
) -> TaskForce:
    """A task force whose nomination ``nomination_id`` the caller may withdraw, locked: its
    managers withdraw any; the admin of a nominee's country the nominations of its own
    officials (#18 F3); 404 otherwise. Whether the nomination is one of this task force is
    the service's (404 ``NOMINATION_NOT_FOUND``)."""
    return tf_service.task_force_for_withdrawal(session, actor, task_force_id, nomination_id)


def _draw_or_404(session: Session, draw_id: uuid.UUID, *, lock: bool) -> RandomDraw:
    draw = session.get(RandomDraw, draw_id, with_for_update=lock or None)
    if draw is None:
        raise NotFound("No such draw", code="DRAW_NOT_FOUND")
    return draw


def visible_draw(draw_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> RandomDraw:
    """Any draw: draws are binational, seen by the admins and auditors of both countries (R16;
    the role guard admits them). What each sees of it is ``app.auth.disclosure``'s business."""
    del actor
    return _draw_or_404(session, draw_id, lock=False)


def locked_draw(draw_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> RandomDraw:
    """As ``visible_draw``, with the draw's row lock held to the commit (commitments and
    reveals decide from its state)."""
    del actor
    return _draw_or_404(session, draw_id, lock=True)


def scoped_import(import_id: uuid.UUID, actor: CurrentPrincipal, session: SessionDep) -> ImportJob:
    """An import job of the caller's country, for its admins, or the caller's own (a vetting
    officer's); 404 otherwise (R24, R25)."""
    return import_service.get_job(session, actor, import_id)


ScopedTaskForce = Annotated[TaskForce, Depends(scoped_task_force)]
LockedTaskForce = Annotated[TaskForce, Depends(locked_task_force)]
NominatingTaskForce = Annotated[TaskForce, Depends(nominating_task_force)]
WithdrawableTaskForce = Annotated[TaskForce, Depends(withdrawable_task_force)]
VisibleDraw = Annotated[RandomDraw, Depends(visible_draw)]
LockedDraw = Annotated[RandomDraw, Depends(locked_draw)]
ScopedImport = Annotated[ImportJob, Depends(scoped_import)]


# --- child records ----------------------------------------------------------------------------
# A child's id in a path (``/officials/{official_id}/appointments/{appointment_id}``) is
# resolved by the rules within its scoped parent (an appointment of that official, an appeal of
# that listing). These aliases only read it, after the parent: FastAPI then lists and solves
# the parent first.


def appointment_id_in_path(appointment_id: uuid.UUID) -> uuid.UUID:
    return appointment_id


def appeal_id_in_path(appeal_id: uuid.UUID) -> uuid.UUID:
    return appeal_id


def member_official_id_in_path(official_id: uuid.UUID) -> uuid.UUID:
    return official_id


def nomination_id_in_path(nomination_id: uuid.UUID) -> uuid.UUID:
    return nomination_id


AppointmentId = Annotated[uuid.UUID, Depends(appointment_id_in_path)]
AppealId = Annotated[uuid.UUID, Depends(appeal_id_in_path)]
#: A current member of the scoped task force (``/task-forces/{id}/members/{official_id}``,
#: resolved by the service: 404 ``MEMBER_NOT_FOUND``).
MemberOfficialId = Annotated[uuid.UUID, Depends(member_official_id_in_path)]
#: A nomination of the scoped task force (``WithdrawableTaskForce`` reads it too).
NominationId = Annotated[uuid.UUID, Depends(nomination_id_in_path)]


#: Every dependency callable of this module that resolves a path record within scope; the
#: route-scoping test looks for one of these in each route's dependency tree.
SCOPED_LOADERS: frozenset[Callable[..., Any]] = frozenset(
    {
        scoped_official,
        locked_official,
        visible_official_dep,
        evaluable_official,
        visible_listing,
        scoped_listing,
        locked_listing,
        visible_agency,
        scoped_agency,
        scoped_user,
        scoped_policy,
        locked_policy,
        scoped_screening,
        scoped_watch,
        scoped_notification,
        scoped_override,
        locked_override,
        scoped_task_force,
        locked_task_force,
        nominating_task_force,
        withdrawable_task_force,
        visible_draw,
        locked_draw,
        scoped_import,
    }
)
