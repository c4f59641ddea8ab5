from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.registry.builders import make_agency
from tests.watches.support import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers of these tests listen on 127.0.0.1, which the service refuses by default
    (SSRF, docs/security.md; tests/security/test_webhook_ssrf.py proves the refusal)."""
    return settings.model_copy(update={"webhook_allow_private_hosts": True})


@pytest.fixture
def world(factory: Any, make_user: Any) -> dict[str, Any]:
    """A Mexican police force, a second Mexican agency and a Mexican vetting body, the FBI;
    their personnel officers, a vetter and both countries' admins."""
    w: dict[str, Any] = {}
    w["mx_police"] = make_agency(factory, country="MX", acronym="PEJ")
    w["mx_fgr"] = make_agency(factory, country="MX", acronym="FGR", sector="justice")
    w["mx_c3"] = make_agency(factory, country="MX", acronym="C3JAL", can_vet=True)
    w["us_fbi"] = make_agency(factory, country="US", acronym="FBI")
    w["mx_admin"] = make_user("admin", "MX")
    w["us_admin"] = make_user("admin", "US")
    w["mx_hr"] = make_user("personnel_officer", "MX", agency_id=w["mx_police"])
    w["mx_hr_fgr"] = make_user("personnel_officer", "MX", agency_id=w["mx_fgr"])
    w["mx_vetter"] = make_user("vetting_officer", "MX", agency_id=w["mx_c3"])
    w["us_hr"] = make_user("personnel_officer", "US", agency_id=w["us_fbi"])
    return w


@pytest.fixture
def receivers() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as client:
        yield client
