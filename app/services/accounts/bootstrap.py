"""First start: when no user exists, create the admin named by REGISTRY_BOOTSTRAP_ADMIN_*."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.passwords import PasswordHasher
from app.clock import Clock
from app.config import Settings
from app.db import unit_of_work
from app.models import User
from app.services.accounts.users import create_user

log = logging.getLogger(__name__)


def bootstrap_admin(
    factory: sessionmaker[Session], *, settings: Settings, hasher: PasswordHasher, clock: Clock
) -> bool:
    username = settings.bootstrap_admin_username
    password = settings.bootstrap_admin_password
    country = settings.bootstrap_admin_country
    if not (username and password and country):
        return False
    try:
        with unit_of_work(factory) as session:
            if session.scalar(select(func.count()).select_from(User)):
                return False
            create_user(
                session,
                actor=None,
                hasher=hasher,
                username=username,
                password=password,
                roles=["admin"],
                country=country,
                agency_id=None,
                now=clock.now(),
            )
    except IntegrityError:
        # Several processes started together on an empty database: one of them created it.
        log.info("bootstrap admin already created by another process")
        return False
    log.warning("created bootstrap admin %s for %s", username, country)
    return True
