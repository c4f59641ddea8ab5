"""Server-side request forgery through webhook URLs (docs/security.md; OWASP API7, ASVS V12.6.1).

The only requests the service makes are webhook deliveries (R12b), to URLs its callers choose.
By default a URL whose host is a loopback, private, link-local (cloud metadata), multicast,
reserved or unspecified address, or ``localhost``, is refused at registration (422 naming
``body.url``); at delivery the host is resolved and every address checked, so a name that
resolves to such an address is not called: the attempt is recorded as failed, nothing crashes.
``REGISTRY_WEBHOOK_ALLOW_PRIVATE_HOSTS`` lifts both checks for a development receiver (the
tests of tests/watches/ use it for theirs on 127.0.0.1). In production only https is accepted.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.models import Notification, WebhookAttempt, WebhookDelivery
from app.services.notifications.delivery import deliver_due
from app.services.notifications.notifications import enqueue_deliveries
from app.services.notifications.webhooks import forbidden_address, literal_address, url_problem
from tests.conftest import T0
from tests.registry.builders import make_agency
from tests.watches.support import Receiver

WEBHOOKS = "/api/v1/webhooks"

REFUSED_BY_DEFAULT = [
    "http://127.0.0.1:8080/hook",  # loopback
    "http://127.1/hook",  # loopback, short form a resolver accepts
    "http://2130706433/hook",  # loopback as one decimal number
    "http://0x7f000001/hook",  # loopback in hex
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://10.0.0.5/hook",  # RFC 1918
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata, link-local
    "http://[fe80::1]/hook",  # IPv6 link-local
    "http://[fd00::1]/hook",  # IPv6 unique local (fc00::/7)
    "http://0.0.0.0/hook",  # unspecified
    "http://[::]/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://[ff02::1]/hook",
    "http://240.0.0.1/hook",  # reserved
    "http://100.64.0.1/hook",  # shared address space (carrier NAT)
]


@pytest.fixture
def hr(factory: Any, make_user: Any) -> Any:
    return make_user("personnel_officer", "US", agency_id=make_agency(factory, country="US"))


@pytest.mark.parametrize("url", REFUSED_BY_DEFAULT)
def test_internal_addresses_are_refused_at_registration(
    client: TestClient, hr: Any, url: str
) -> None:
    response = client.post(WEBHOOKS, json={"url": url}, headers=hr.headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in body["errors"]] == ["body.url"]
    assert client.get(WEBHOOKS, headers=hr.headers).json()["items"] == []


def test_non_http_schemes_are_refused(client: TestClient, hr: Any) -> None:
    for url in ("file:///etc/passwd", "gopher://example.org/", "ftp://example.org/x"):
        response = client.post(WEBHOOKS, json={"url": url}, headers=hr.headers)
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["field"] == "body.url"


def test_public_hosts_are_accepted(client: TestClient, hr: Any) -> None:
    for url in ("https://hooks.example.gov/registry", "https://93.184.216.34/h"):
        response = client.post(WEBHOOKS, json={"url": url}, headers=hr.headers)
        assert response.status_code == 201, (url, response.text)


def test_the_setting_admits_a_private_receiver(
    settings: Settings, clock: Any, factory: Any, make_user: Any
) -> None:
    app = create_app(settings.model_copy(update={"webhook_allow_private_hosts": True}), clock=clock)
    hr = make_user("personnel_officer", "US", agency_id=make_agency(factory, country="US"))
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            response = c.post(WEBHOOKS, json={"url": "http://127.0.0.1:9/h"}, headers=hr.headers)
            assert response.status_code == 201, response.text
    finally:
        app.state.engine.dispose()


def test_production_takes_https_only() -> None:
    """A notification names listed officials: in production it travels encrypted."""
    assert url_problem("http://hooks.example.gov/h", require_https=True) is not None
    assert url_problem("https://hooks.example.gov/h", require_https=True) is None
    assert url_problem("http://hooks.example.gov/h") is None


def _own_name_resolving_internally() -> str | None:
    """This machine's name, if it resolves (hosts file or DNS) to internal addresses only: a
    name the registration check cannot judge, which only resolution at delivery catches."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        return None
    addresses = {ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos}
    if not addresses or literal_address(name) is not None:
        return None
    return name if all(forbidden_address(a) for a in addresses) else None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "own-name"])
def test_delivery_to_a_host_resolving_to_an_internal_address_is_refused(
    settings: Settings,
    clock: Any,
    factory: Any,
    make_user: Any,
    receivers: Any,
    http_client: httpx.Client,
    host: str,
) -> None:
    """A webhook stored while private hosts were allowed (or a name re-pointed at an internal
    address after registration) is not called once they are not: the host is resolved at
    delivery, the attempt is logged as failed with the reason and retried later; the receiver
    listening there gets nothing."""
    permissive = create_app(
        settings.model_copy(update={"webhook_allow_private_hosts": True}), clock=clock
    )
    agency = make_agency(factory, country="US")
    hr = make_user("personnel_officer", "US", agency_id=agency)
    if host == "own-name":
        own = _own_name_resolving_internally()
        if own is None:
            pytest.skip("this machine's name does not resolve to an internal address only")
        host = own
    receiver = receivers()
    url = receiver.url.replace("127.0.0.1", host)
    try:
        with TestClient(permissive, raise_server_exceptions=False) as c:
            assert c.post(WEBHOOKS, json={"url": url}, headers=hr.headers).status_code == 201
    finally:
        permissive.state.engine.dispose()
    with unit_of_work(factory) as session:
        note = Notification(
            agency_id=agency, country="US", kind="listing.listed", payload={}, created_at=T0
        )
        session.add(note)
        session.flush()
        assert enqueue_deliveries(session, [note], now=T0) == 1

    assert settings.webhook_allow_private_hosts is False
    attempted = deliver_due(factory, settings=settings, now=T0, http_client=http_client)
    assert attempted == 1
    assert receiver.requests == []
    with factory() as session:
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        [attempt] = session.scalars(select(WebhookAttempt)).all()
    assert delivery.status == "failed"
    assert delivery.last_status_code is None
    assert (delivery.last_error or "").startswith("refused:")
    assert attempt.error == delivery.last_error


# The receiver fixtures of tests/watches/, for the delivery test above.
@pytest.fixture
def receivers() -> Any:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def http_client() -> Any:
    with httpx.Client(timeout=2.0) as client:
        yield client
