"""Who may read ``/metrics`` (#19; docs/operations.md).

Request counts and latencies per route tell an outsider what the service is used for and when,
so production keeps the endpoint closed unless ``REGISTRY_METRICS_PUBLIC=true``
(``Settings.metrics_open``). Closed, it admits a scraper presenting the configured secret as a
bearer token (``REGISTRY_METRICS_TOKEN``, compared in constant time), or an admin or auditor
with its own token or API key; anyone else gets the 401 or 403 problem of any other route.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from app.auth.principal import SettingsDep, api_key_scheme, authenticate, oauth2_scheme
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.access import Role
from app.errors import Forbidden

READERS = (Role.ADMIN.value, Role.AUDITOR.value)


def metrics_access(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> None:
    if settings.metrics_open:
        return
    secret = settings.metrics_token
    if (
        secret is not None
        and token is not None
        and hmac.compare_digest(token.encode(), secret.get_secret_value().encode())
    ):
        return
    principal = authenticate(request, session, settings, clock, token, api_key)
    if not principal.has(*READERS):
        raise Forbidden("Your role does not allow this operation", code="ROLE_NOT_ADMITTED")
