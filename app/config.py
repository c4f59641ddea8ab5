"""Settings read from the environment (prefix ``REGISTRY_``).

Secrets (JWT key, identifier encryption key, blind-index key, Ed25519 signing key) may be given
explicitly. In development, missing secrets are generated once into ``var/dev-secrets.json`` with
a loud warning, so ``make run`` works on a fresh machine; with ``REGISTRY_ENV=production`` the
service refuses to start without real keys and with hashing parameters below OWASP's minimum.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

VAR_DIR = Path(os.environ.get("REGISTRY_VAR_DIR", "var"))

# OWASP Password Storage Cheat Sheet minimum for Argon2id: m=19 MiB, t=2, p=1 (R26).
OWASP_ARGON2_MEMORY_KIB = 19456
OWASP_ARGON2_TIME_COST = 2
# A scrape secret guessable in reasonable time is no secret (#19).
MIN_METRICS_TOKEN_LENGTH = 32

SECRET_FIELDS = ("jwt_secret", "identifier_key", "blind_index_key", "signing_key")


class ConfigurationError(RuntimeError):
    """The service cannot start with this configuration."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default_factory=lambda: f"sqlite:///{VAR_DIR / 'registry.db'}")
    database_pool_size: int = 10
    # PostgreSQL: seconds a new connection may take before it fails (503, /readyz fails).
    database_connect_timeout_seconds: int = Field(default=5, ge=1, le=60)

    # Secrets: base64url (32 random bytes) or, for the signing key, a PEM/base64 raw Ed25519 seed.
    jwt_secret: str | None = None
    identifier_key: str | None = None
    blind_index_key: str | None = None
    signing_key: str | None = None
    # Keys the audit chain's hashes (HMAC-SHA256), so a database role cannot forge a link (R22,
    # #19; docs/security.md 3.6). Required in production. Elsewhere, unset, it is derived from
    # the signing key, so the server and the commands (sweep, import) of one development or
    # test setup always agree on it.
    audit_key: str | None = None
    dev_secrets_file: Path = VAR_DIR / "dev-secrets.json"

    jwt_issuer: str = "vetting-registry"
    jwt_audience: str = "vetting-registry-api"
    access_token_minutes: int = 15
    # How long a process trusts what it last read of a token's user (version, roles, active)
    # without reading it again (#17; docs/security.md). A revocation or change made through
    # this process applies at once; one made through another process, within this bound.
    principal_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # Lifetime of a signed eligibility attestation (R21; docs/attestations.md).
    attestation_seconds: int = Field(default=300, gt=0, le=3600)

    # Screening (R11, R12a; docs/screening.md). The thresholds are those measured in
    # docs/matching.md; candidates are the officials sharing the most blocking keys.
    screening_high_threshold: float = Field(default=90.0, ge=0, le=100)
    screening_review_threshold: float = Field(default=70.0, ge=0, le=100)
    screening_max_candidates: int = Field(default=200, ge=1, le=5000)
    screening_batch_max_items: int = Field(default=1000, ge=1, le=10000)

    # Enumeration limits (docs/security.md): per-user quotas in fixed windows, counted in the
    # database so every server process shares them. An API key's calls count against the user
    # it belongs to, so a caller cannot multiply its quota by minting keys; a machine client
    # gets a service user (and so a quota) of its own.
    quota_window_seconds: int = Field(default=60, ge=1, le=3600)
    quota_screenings: int = Field(default=600, ge=1)  # single screenings per window
    quota_screening_items: int = Field(default=3000, ge=1)  # identities in batches per window
    quota_searches: int = Field(default=300, ge=1)  # searches and list pages per window
    # An alert audit event (security.enumeration_suspected) once per principal, action and
    # enumeration window when this many misses (answers that found nothing) come within it,
    # however many hits are interleaved (#19: a known hit now and then must not reset it).
    enumeration_miss_threshold: int = Field(default=200, ge=1)
    enumeration_window_seconds: int = Field(default=3600, ge=60, le=86400)
    # Bulk reads (#19, OWASP API6): listing items returned and official records read, per user
    # and per agency in windows of ``quota_volume_window_seconds``. Sized for a caseload (a few
    # dozen people looked up in an hour), far below a copy of the registry.
    quota_volume_window_seconds: int = Field(default=3600, ge=60, le=86400)
    quota_listing_items: int = Field(default=300, ge=1)
    quota_listing_items_per_agency: int = Field(default=1500, ge=1)
    quota_official_reads: int = Field(default=200, ge=1)
    quota_official_reads_per_agency: int = Field(default=1000, ge=1)
    # security.bulk_read_suspected once per window when a user or agency reaches this share of
    # its volume quota: the alert comes before the refusal.
    bulk_read_alert_percent: int = Field(default=50, ge=1, le=100)

    # A SQLite database must be writable and its disk not full when the service starts.
    storage_min_free_bytes: int = Field(default=16 * 1024 * 1024, ge=0)

    argon2_memory_kib: int = OWASP_ARGON2_MEMORY_KIB
    argon2_time_cost: int = OWASP_ARGON2_TIME_COST
    argon2_parallelism: int = 1

    login_max_failures_per_user: int = 5
    login_max_failures_per_address: int = 20
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 300

    # R20: departments whose commission members must all approve an override.
    override_departments: list[str] = ["DOJ", "DHS", "STATE"]

    max_body_bytes: int = 2_000_000
    cors_origins: list[str] = []

    # /metrics (#19, docs/operations.md): unset, open outside production and closed in
    # production; closed, a scraper sends the token as a bearer token, or an admin or auditor
    # its own credentials.
    metrics_public: bool | None = None
    metrics_token: SecretStr | None = None

    bootstrap_admin_username: str | None = None
    bootstrap_admin_password: str | None = None
    bootstrap_admin_country: Literal["MX", "US"] | None = None

    log_level: str = "INFO"
    log_json: bool = True

    # The audit chain (R22, #17; docs/security.md 3.6): requests leave their events pending, and
    # a background chainer in each server process links them every ``audit_chain_interval_seconds``,
    # ``audit_chain_batch`` per transaction; on PostgreSQL one process at a time leads (advisory
    # lock). Off, only the readers that link first (/audit, verify, checkpoints) and the sweep do.
    audit_chain_in_process: bool = True
    audit_chain_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    audit_chain_batch: int = Field(default=500, ge=1, le=10_000)

    # Webhook delivery (R12b, docs/notifications.md): the outbox is delivered by the
    # `registry deliver` worker; a server process may also run a delivery thread of its own.
    deliver_in_process: bool = False
    deliver_poll_seconds: float = Field(default=5.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # Webhook URLs whose host is (or resolves to) a loopback, private, link-local, multicast,
    # reserved or unspecified address are refused at registration and at delivery (SSRF,
    # docs/security.md). Only for a development or test receiver on such an address.
    webhook_allow_private_hosts: bool = False

    @model_validator(mode="after")
    def _screening_thresholds_ordered(self) -> Settings:
        if self.screening_review_threshold > self.screening_high_threshold:
            raise ValueError("screening_review_threshold must not exceed screening_high_threshold")
        return self

    @model_validator(mode="after")
    def _metrics_token_long_enough(self) -> Settings:
        token = self.metrics_token
        if token is not None and len(token.get_secret_value()) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"REGISTRY_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters"
                " (e.g. openssl rand -base64 32)"
            )
        return self

    @property
    def metrics_open(self) -> bool:
        """Whether ``/metrics`` answers anyone (closed by default in production)."""
        if self.metrics_public is not None:
            return self.metrics_public
        return self.env != "production"

    @model_validator(mode="after")
    def _refuse_weak_production(self) -> Settings:
        if self.env != "production":
            return self
        missing = [name for name in (*SECRET_FIELDS, "audit_key") if not getattr(self, name)]
        if missing:
            names = ", ".join(f"REGISTRY_{n.upper()}" for n in missing)
            raise ConfigurationError(f"production requires real keys: set {names}")
        if (
            self.argon2_memory_kib < OWASP_ARGON2_MEMORY_KIB
            or self.argon2_time_cost < OWASP_ARGON2_TIME_COST
        ):
            raise ConfigurationError("production requires Argon2id at least m=19 MiB, t=2")
        return self

    def with_dev_secrets(self) -> Settings:
        """Fill missing secrets from (or into) the development secrets file."""
        missing = [name for name in SECRET_FIELDS if not getattr(self, name)]
        if not missing:
            return self
        if self.env == "production":  # pragma: no cover - the validator refused already
            raise ConfigurationError("production requires real keys")
        stored: dict[str, str] = {}
        if self.dev_secrets_file.exists():
            stored = json.loads(self.dev_secrets_file.read_text())
        changed = False
        for name in SECRET_FIELDS:
            if name not in stored:
                stored[name] = _generate_secret(name)
                changed = True
        if changed:
            self.dev_secrets_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.dev_secrets_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(stored, indent=2))
            tmp.chmod(0o600)
            tmp.replace(self.dev_secrets_file)
        log.warning(
            "using DEVELOPMENT secrets from %s for %s; never do this in production",
            self.dev_secrets_file,
            ", ".join(missing),
        )
        return self.model_copy(update={name: stored[name] for name in missing})

    # Decoded key material. Only valid after with_dev_secrets() or with explicit secrets.
    @cached_property
    def jwt_key(self) -> bytes:
        return _decode_key(self.jwt_secret, "jwt_secret")

    @cached_property
    def identifier_key_bytes(self) -> bytes:
        return _decode_key(self.identifier_key, "identifier_key")

    @cached_property
    def blind_index_key_bytes(self) -> bytes:
        return _decode_key(self.blind_index_key, "blind_index_key")

    @cached_property
    def audit_key_bytes(self) -> bytes:
        if self.audit_key:
            return _decode_key(self.audit_key, "audit_key")
        # Production refuses to start without REGISTRY_AUDIT_KEY; elsewhere a key derived from
        # the signing key's seed serves.
        seed = self.ed25519_key.private_bytes_raw()
        return hmac.new(seed, b"vetting-registry/audit-chain-key/v1", hashlib.sha256).digest()

    @cached_property
    def ed25519_key(self) -> Ed25519PrivateKey:
        raw = self.signing_key
        if not raw:
            raise ConfigurationError("signing_key is not set")
        if raw.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(raw.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigurationError("signing_key must be an Ed25519 private key")
            return key
        return Ed25519PrivateKey.from_private_bytes(_decode_key(raw, "signing_key"))


def _generate_secret(name: str) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _decode_key(value: str | None, name: str) -> bytes:
    if not value:
        raise ConfigurationError(f"{name} is not set")
    padded = value + "=" * (-len(value) % 4)
    try:
        key = base64.urlsafe_b64decode(padded)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not base64url") from exc
    if len(key) != 32:
        raise ConfigurationError(f"{name} must decode to 32 bytes")
    return key


def load_settings() -> Settings:
    return Settings().with_dev_secrets()
