"""Webhook receivers of agencies (R12b): registration, the signing secret, the signature.

* The signing secret is generated here, shown once at registration and kept encrypted
  (AES-256-GCM under a key derived with HKDF from the identifier key, the webhook id bound as
  associated data): it must be used to sign, so it cannot be hashed like an API key.
* ``sign`` and ``verify_signature`` define the scheme documented in docs/notifications.md:
  ``X-Registry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
  ``verify_signature`` depends on the standard library only, so receivers may copy it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import uuid
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.access import Principal, Role
from app.errors import FieldError, Forbidden, NotFound
from app.models import Agency, Webhook, WebhookDelivery
from app.services.audit import audit

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Registry-Signature"
TIMESTAMP_HEADER = "X-Registry-Timestamp"
DELIVERY_HEADER = "X-Registry-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_URL_LENGTH = 500

_TOKEN_VERSION = b"\x01"
_NONCE_BYTES = 12
_AAD_LABEL = b"vetting-registry/webhook-secret/v1:"


# --- the signing secret at rest --------------------------------------------------------------


class WebhookSecretError(Exception):
    """A stored secret could not be decrypted (wrong key or tampering): a server fault."""


@lru_cache(maxsize=8)
def _aead(identifier_key: bytes) -> AESGCM:
    # A key of its own, derived from the identifier key: the two ciphertext families can never
    # be confused, and no new secret has to be configured.
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"vetting-registry/webhook-secret"
    ).derive(identifier_key)
    return AESGCM(derived)


def encrypt_secret(settings: Settings, secret: str, *, webhook_id: uuid.UUID) -> bytes:
    """``version || nonce || AES-GCM(secret)``, the webhook id bound as associated data, so a
    ciphertext copied to another webhook's row does not decrypt."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _aead(settings.identifier_key_bytes).encrypt(
        nonce, secret.encode("utf-8"), _AAD_LABEL + str(webhook_id).encode("ascii")
    )
    return _TOKEN_VERSION + nonce + sealed


def decrypt_secret(settings: Settings, token: bytes, *, webhook_id: uuid.UUID) -> str:
    if len(token) < 1 + _NONCE_BYTES + 16 or token[:1] != _TOKEN_VERSION:
        raise WebhookSecretError("not a webhook secret token of a known version")
    nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
    try:
        plain = _aead(settings.identifier_key_bytes).decrypt(
            nonce, sealed, _AAD_LABEL + str(webhook_id).encode("ascii")
        )
    except InvalidTag:
        raise WebhookSecretError("webhook secret failed authentication") from None
    return plain.decode("utf-8")


# --- the signature ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Registry-Signature`` for ``body`` sent at ``timestamp``."""
    digest = hmac.new(
        secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    *,
    now: dt.datetime | float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """For receivers: is ``header`` (``X-Registry-Signature``) a valid signature of ``body``
    (the raw request body, as received) sent at ``timestamp`` (``X-Registry-Timestamp``)?

    True only if the header's ``t`` equals the timestamp header, the timestamp is within
    ``tolerance`` seconds of ``now`` (a replayed old delivery is refused), and one of its
    ``v1`` values equals ``hex(HMAC-SHA256(secret, "<t>.<body>"))``, compared in constant time.
    Standard library only.
    """
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    if fields.get("t") != [str(ts)] or not fields.get("v1"):
        return False
    current = now.timestamp() if isinstance(now, dt.datetime) else float(now)
    if abs(current - ts) > tolerance:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = hmac.new(
        secret.encode("utf-8"), str(ts).encode("ascii") + b"." + raw, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in fields["v1"])


# --- registration ----------------------------------------------------------------------------


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Names that always mean this machine (RFC 6761); any other name is checked once resolved, at
# delivery.
LOCAL_NAMES = ("localhost", "localhost.localdomain")


def forbidden_address(address: IPAddress) -> bool:
    """Whether a webhook may not be sent to ``address`` (SSRF, docs/security.md): loopback,
    private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata address
    169.254.169.254, fe80::/10), unspecified, multicast, reserved, or otherwise not global
    (shared 100.64/10, documentation ranges, IPv6 site-local). An IPv4-mapped IPv6 address is
    judged as its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return forbidden_address(address.ipv4_mapped)
        if address.is_site_local:
            return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a resolver accepts (``127.1``, ``0x7f.0.0.1``,
    ``2130706433``, ``[::1]``), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _host_problem(host: str) -> str | None:
    name = host.rstrip(".").lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return "must not name this machine (localhost)"
    address = literal_address(name)
    if address is not None and forbidden_address(address):
        return "must not be a loopback, private, link-local, multicast or reserved address"
    return None


def validate_url(url: str, *, settings: Settings | None = None) -> str:
    """An absolute http(s) URL with a host and no credentials (they would be stored in clear
    and end up in logs); its host not a loopback, private, link-local, multicast, reserved or
    unspecified address nor ``localhost`` (unless ``webhook_allow_private_hosts``); ``https``
    only in production."""
    problem = url_problem(
        url,
        allow_private=settings.webhook_allow_private_hosts if settings else False,
        require_https=settings.env == "production" if settings else False,
    )
    if problem is not None:
        raise FieldError("url", problem, kind="url", detail="The webhook URL is not acceptable")
    return url


def url_problem(
    url: str, *, allow_private: bool = False, require_https: bool = False
) -> str | None:
    """What is wrong with ``url`` as a webhook URL, or None. Names are not resolved here (the
    answer could change before delivery): delivery resolves them and checks every address."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "not a valid URL"
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if require_https and parts.scheme != "https":
        return "must be an https URL in production"
    if not allow_private:
        return _host_problem(parts.hostname)
    return None


def destination_problem(url: str, *, settings: Settings) -> str | None:
    """Checked before every delivery: what forbids posting to ``url`` now, or None. The URL is
    checked again (a setting may have changed since registration), then the host is resolved
    and every address it resolves to must be allowed, so a name pointing at an internal
    address (or re-pointed after registration) is not called."""
    problem = url_problem(
        url,
        allow_private=settings.webhook_allow_private_hosts,
        require_https=settings.env == "production",
    )
    if problem is not None:
        return f"refused: the URL {problem}"
    if settings.webhook_allow_private_hosts:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"cannot resolve the host ({type(exc).__name__})"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if forbidden_address(address):
            return (
                "refused: the host resolves to a loopback, private, link-local, multicast "
                "or reserved address"
            )
    return None


def _target_agency(
    session: Session, actor: Principal, agency_id: uuid.UUID | None
) -> uuid.UUID | None:
    """Whose notifications the webhook receives: a personnel officer's own agency; for an
    admin, an agency of its country or, without one, the country's agency-less notifications
    (R25)."""
    if not actor.has(Role.ADMIN):
        if agency_id is not None and agency_id != actor.agency_id:
            raise Forbidden(
                "Personnel officers act only for their own agency", code="NOT_OWN_AGENCY"
            )
        return actor.agency_id
    target = agency_id if agency_id is not None else actor.agency_id
    if target is not None:
        agency = session.get(Agency, target)
        if agency is None or agency.country != actor.country:
            raise NotFound("No such agency", code="AGENCY_NOT_FOUND")
    return target


def register_webhook(
    session: Session,
    *,
    settings: Settings,
    actor: Principal,
    url: str,
    agency_id: uuid.UUID | None,
    now: dt.datetime,
) -> tuple[Webhook, str]:
    """Register a receiver for an agency's notifications (R12b) and return it with its signing
    secret, which is not kept in clear and cannot be shown again."""
    validate_url(url, settings=settings)
    target = _target_agency(session, actor, agency_id)
    if target is None and not actor.has(Role.ADMIN):
        raise Forbidden("Personnel officers act only for their own agency", code="NOT_OWN_AGENCY")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    webhook_id = uuid.uuid4()
    webhook = Webhook(
        id=webhook_id,
        agency_id=target,
        country=actor.country,
        url=url,
        secret_ciphertext=encrypt_secret(settings, secret, webhook_id=webhook_id),
        active=True,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(webhook)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.create",
        resource_type="webhook",
        resource_id=webhook.id,
        # The host only: a path may carry a receiver's own token.
        details={"agency_id": target, "host": urlsplit(url).hostname},
        now=now,
    )
    return webhook, secret


def _scope(actor: Principal) -> list[ColumnElement[bool]]:
    if actor.has(Role.ADMIN):
        return [Webhook.country == actor.country]
    return [Webhook.country == actor.country, Webhook.agency_id == actor.agency_id]


def list_webhooks(session: Session, *, actor: Principal) -> list[Webhook]:
    """The active webhooks of the caller's agency (an admin: of its country)."""
    if not actor.has(Role.ADMIN) and actor.agency_id is None:
        return []
    return list(
        session.scalars(
            select(Webhook)
            .where(Webhook.active.is_(True), *_scope(actor))
            .order_by(Webhook.created_at, Webhook.id)
        )
    )


def delete_webhook(
    session: Session, *, actor: Principal, webhook_id: uuid.UUID, now: dt.datetime
) -> None:
    """Deactivate a webhook; deliveries still waiting for it are given up (status ``dead``).
    The row and its delivery log stay."""
    webhook = session.get(Webhook, webhook_id)
    if (
        webhook is None
        or not webhook.active
        or webhook.country != actor.country
        or (not actor.has(Role.ADMIN) and webhook.agency_id != actor.agency_id)
        or (not actor.has(Role.ADMIN) and actor.agency_id is None)
    ):
        raise NotFound("No such webhook", code="WEBHOOK_NOT_FOUND")
    webhook.active = False
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.webhook_id == webhook.id,
            WebhookDelivery.status.in_(("pending", "failed")),
        )
        .values(status="dead", last_error="webhook deleted")
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.delete",
        resource_type="webhook",
        resource_id=webhook.id,
        details={"agency_id": webhook.agency_id},
        now=now,
    )
