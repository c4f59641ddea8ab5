"""Tamper-evident audit log (R22).

* ``record`` inserts an event, and its row in ``audit_pending``, in the caller's transaction: a
  write that rolls back leaves no event, and one that commits always has its event. The request
  does nothing more: it never chains, so it never waits on the chain head (#17).
* ``chain`` links pending events in order and moves the head, ``audit_chain_batch`` events per
  short transaction under the row lock of ``audit_head`` (the only serialised step). It is run
  in the background by ``AuditChainer`` (``app/services/audit/chainer.py``: one leader at a time
  across processes), and first thing by every reader that must see the whole chain:
  ``GET /audit``, ``GET /audit/verify``, ``POST /audit/checkpoints``, ``registry sweep``.
  A batch commits whole or not at all, so a process killed mid-batch leaves the chain as the
  last committed batch left it, and the rest pending for the next run.
* ``verify`` recomputes every event hash and every link and names the first broken one, then
  holds the chain to the newest signed checkpoint: a chain that stops short of it, or passes it
  with another hash, was truncated or rewritten (#19).
* ``checkpoint`` signs the chain head (compact JWS, EdDSA) so it can be exported and later
  compared with the live chain.

Event hashes and links are HMAC-SHA256 under the audit key (``Settings.audit_key_bytes``), so a
role with only database access cannot compute a hash or a link that verifies (#19). The chain
made before migration 0009 keeps its plain sha256 hashes up to the boundary recorded in
``audit_head`` (docs/security.md 3.6).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from asgi_correlation_id import correlation_id
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.auth.tokens import sign_statement
from app.config import Settings, load_settings
from app.domain.access import Principal
from app.models import AuditCheckpoint, AuditEvent, AuditHead, AuditLink, AuditPending

GENESIS_HASH = "0" * 64
HEAD_ID = 1
# PostgreSQL advisory lock of the background chainers' leader (``chain(leader_only=True)``): a
# 63-bit number no other lock of the service uses (the ASCII of "auditch" after a zero byte).
CHAIN_LEADER_LOCK = int.from_bytes(b"\x00auditch", "big")


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _settings(session: Session) -> Settings:
    """The settings the session was made with. A session of a bare factory (a command that did
    not configure one) reads the settings of the environment, once per session: not cached for
    the process, so it always follows the current environment."""
    settings = session.info.get("settings")
    if not isinstance(settings, Settings):
        settings = session.info["settings"] = load_settings()
    return settings


def audit_key(session: Session) -> bytes:
    """The audit key of the settings the session was made with."""
    return _settings(session).audit_key_bytes


def event_digest(event: AuditEvent, key: bytes | None) -> str:
    """HMAC-SHA256 under ``key`` over the canonical JSON of every recorded column (the id is
    bound by the link); plain sha256 with ``key=None``, the scheme before 0009."""
    canonical = {
        "occurred_at": _ts(event.occurred_at),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_username": event.actor_username,
        "actor_country": event.actor_country,
        "actor_agency_id": str(event.actor_agency_id) if event.actor_agency_id else None,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "request_id": event.request_id,
        "outcome": event.outcome,
        "details": event.details,
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if key is None:
        return hashlib.sha256(blob.encode()).hexdigest()
    return hmac.new(key, b"audit-event/v2|" + blob.encode(), hashlib.sha256).hexdigest()


def link_digest(prev_hash: str, seq: int, event_id: int, event_hash: str, key: bytes | None) -> str:
    """The link at ``seq``: HMAC-SHA256 under ``key``; plain sha256 with ``key=None``."""
    message = f"{prev_hash}|{seq}|{event_id}|{event_hash}".encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, b"audit-link/v2|" + message, hashlib.sha256).hexdigest()


def record(
    session: Session,
    *,
    actor: Principal | None,
    action: str,
    resource_type: str,
    resource_id: object | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    now: dt.datetime,
    actor_username: str | None = None,
    actor_id: uuid.UUID | None = None,
    actor_country: str | None = None,
    actor_agency_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append one audit event to the caller's transaction (R22). ``details`` must hold no
    secrets and no raw identifiers: callers pass ids, codes and verdicts only. Without a
    principal (a login), the ``actor_*`` arguments name who acted, as far as it is known."""
    event = AuditEvent(
        occurred_at=now,
        actor_id=actor.user_id if actor else actor_id,
        actor_username=actor.username if actor else actor_username,
        actor_country=actor.country if actor else actor_country,
        actor_agency_id=actor.agency_id if actor else actor_agency_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        request_id=correlation_id.get(),
        outcome=outcome,
        details=json.loads(json.dumps(details or {}, default=str)),
    )
    event.event_hash = event_digest(event, audit_key(session))
    session.add(event)
    session.flush()
    # Linked later, outside the request (``chain``): by the background chainer, or by the
    # first reader that needs the whole chain.
    session.add(AuditPending(event_id=event.id))
    return event


def has_pending(factory: sessionmaker[Session]) -> bool:
    """Whether any committed event waits to be linked: one read, no lock (an idle tick of the
    background chainer costs this and nothing more)."""
    with factory() as session:
        return session.scalar(select(AuditPending.event_id).limit(1)) is not None


def chain(
    factory: sessionmaker[Session], *, batch: int | None = None, leader_only: bool = False
) -> int:
    """Link every pending event into the chain; returns how many were linked.

    Events are linked ``batch`` at a time (default: the setting ``audit_chain_batch``), oldest
    first, each batch in a transaction of its own that commits the links, the head and the
    removal from ``audit_pending`` together: a transaction aborted or a process killed in the
    middle of a batch leaves the chain as the previous batch left it (it verifies), and that
    batch's events pending for the next run.

    ``leader_only`` is the background chainer's mode: on PostgreSQL each batch first tries the
    transaction-scoped advisory lock ``CHAIN_LEADER_LOCK`` and stops if another process holds
    it (that process is the leader for now and links the rest); the lock goes with the
    transaction, so a leader that dies frees it at once. Readers that must see the whole chain
    (verify, checkpoints, the audit list, the sweep) do not try it: they queue on the head's
    row lock behind the leader's batch in progress and link whatever is still pending. The
    head's row lock alone keeps the chain linear; the leader lock only spares the processes
    from queueing on it all together. SQLite has no such lock and needs none: it serves one
    process (docs/security.md 3.6), and its write lock serialises chainers anyway."""
    size = batch
    linked = 0
    while True:
        with factory() as session, session.begin():
            size = size or _settings(session).audit_chain_batch
            if leader_only and session.get_bind().dialect.name == "postgresql":
                leader = session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CHAIN_LEADER_LOCK}
                )
                if not leader:
                    return linked
            # The UPDATE takes the head's row lock (PostgreSQL) / the write lock (SQLite) first,
            # so two chainers never extend the same head.
            session.execute(
                update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq)
            )
            head = session.get(AuditHead, HEAD_ID, populate_existing=True)
            if head is None:
                head = AuditHead(
                    id=HEAD_ID,
                    seq=0,
                    chain_hash=GENESIS_HASH,
                    keyed_from_seq=1,
                    keyed_from_event_id=1,
                )
                session.add(head)
                session.flush()
            key = audit_key(session)
            rows = session.execute(
                select(AuditEvent.id, AuditEvent.event_hash)
                .join(AuditPending, AuditPending.event_id == AuditEvent.id)
                .order_by(AuditEvent.id)
                .limit(size)
            ).all()
            if not rows:
                return linked
            seq, prev = head.seq, head.chain_hash
            links = []
            for event_id, event_hash in rows:
                seq += 1
                digest = link_digest(
                    prev, seq, event_id, event_hash, key if seq >= head.keyed_from_seq else None
                )
                links.append(
                    {"seq": seq, "event_id": event_id, "prev_hash": prev, "chain_hash": digest}
                )
                prev = digest
            session.execute(insert(AuditLink), links)
            session.execute(
                delete(AuditPending).where(AuditPending.event_id.in_([r[0] for r in rows]))
            )
            head.seq, head.chain_hash = seq, prev
            linked += len(rows)
            if len(rows) < size:
                return linked


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    pending: int
    broken_seq: int | None = None
    broken_event_id: int | None = None
    reason: str | None = None
    # The newest checkpoint the chain was held to (its signed position), if any.
    checkpoint_id: uuid.UUID | None = None
    checkpoint_seq: int | None = None


@dataclass
class _Checkpoint:
    id: uuid.UUID
    seq: int
    chain_hash: str
    keyed_from_seq: int | None
    keyed_from_event_id: int | None
    valid: bool


def _newest_checkpoint(session: Session, settings: Settings) -> _Checkpoint | None:
    """The stored checkpoint furthest along the chain, as its signature states it: the row's
    own columns are not trusted, the signed claims are (an altered or forged checkpoint is
    reported, not believed)."""
    row = session.scalars(
        select(AuditCheckpoint)
        .order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    try:
        claims = jwt.decode(
            row.jws,
            settings.ed25519_key.public_key(),
            algorithms=["EdDSA"],
            issuer=settings.jwt_issuer,
            options={"verify_aud": False, "require": ["seq", "chain_hash", "jti"]},
        )
        valid = claims.get("sub") == "audit-chain-head" and claims["jti"] == str(row.id)
        seq, chain_hash = int(claims["seq"]), str(claims["chain_hash"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return _Checkpoint(row.id, row.seq, row.chain_hash, None, None, valid=False)
    return _Checkpoint(
        row.id,
        seq,
        chain_hash,
        claims.get("keyed_from_seq"),
        claims.get("keyed_from_event_id"),
        valid=valid and (seq, chain_hash) == (row.seq, row.chain_hash),
    )


def verify(session: Session, *, settings: Settings) -> VerifyResult:
    """Recompute the chain from the first link and name the first broken link (R22); then hold
    it to the newest signed checkpoint (#19): the chain must reach the checkpoint's position
    with the checkpoint's hash there, so deleting the last events and rewinding the head
    (``truncated``) or rewriting the chain up to it (``checkpoint_mismatch``) is found. A
    checkpoint whose signature fails is itself reported (``checkpoint_invalid``)."""
    key = audit_key(session)
    head = session.get(AuditHead, HEAD_ID)
    keyed_seq = head.keyed_from_seq if head else 1
    keyed_event = head.keyed_from_event_id if head else 1
    cp = _newest_checkpoint(session, settings)

    def result(ok: bool, checked: int, **fields: Any) -> VerifyResult:
        return VerifyResult(
            ok=ok,
            checked=checked,
            head_seq=head.seq if head else 0,
            head_hash=head.chain_hash if head else GENESIS_HASH,
            pending=_pending(session),
            checkpoint_id=cp.id if cp else None,
            checkpoint_seq=cp.seq if cp else None,
            **fields,
        )

    prev, expected_seq, checked = GENESIS_HASH, 1, 0
    at_checkpoint: str | None = GENESIS_HASH if cp is not None and cp.seq == 0 else None
    stmt = (
        select(AuditLink, AuditEvent)
        .join(AuditEvent, AuditEvent.id == AuditLink.event_id, isouter=True)
        .order_by(AuditLink.seq)
        .execution_options(yield_per=1000)
    )
    for link, event in session.execute(stmt):
        problem = None
        link_key = key if link.seq >= keyed_seq else None
        if link.seq != expected_seq:
            problem = "missing_link"
        elif link.prev_hash != prev:
            problem = "link_altered"
        elif event is None:
            problem = "event_missing"
        elif event_digest(event, key if event.id >= keyed_event else None) != event.event_hash:
            problem = "event_altered"
        elif (
            link_digest(prev, link.seq, link.event_id, event.event_hash, link_key)
            != link.chain_hash
        ):
            problem = "link_altered"
        if problem:
            return result(
                False,
                checked,
                broken_seq=expected_seq if problem == "missing_link" else link.seq,
                broken_event_id=link.event_id,
                reason=problem,
            )
        prev, expected_seq, checked = link.chain_hash, expected_seq + 1, checked + 1
        if cp is not None and link.seq == cp.seq:
            at_checkpoint = link.chain_hash
    head_seq = head.seq if head else 0
    head_hash = head.chain_hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev:
        return result(False, checked, broken_seq=checked + 1, reason="head_mismatch")
    if cp is not None:
        if not cp.valid:
            return result(False, checked, broken_seq=cp.seq, reason="checkpoint_invalid")
        if cp.seq > checked:
            # Events the checkpoint signed are gone: the chain ends before it.
            return result(False, checked, broken_seq=checked + 1, reason="truncated")
        moved = (cp.keyed_from_seq, cp.keyed_from_event_id) != (None, None) and (
            cp.keyed_from_seq,
            cp.keyed_from_event_id,
        ) != (keyed_seq, keyed_event)
        if at_checkpoint != cp.chain_hash or moved:
            return result(False, checked, broken_seq=cp.seq, reason="checkpoint_mismatch")
    return result(True, checked)


def _pending(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditPending)) or 0)


def checkpoint(
    session: Session, *, settings: Settings, actor: Principal, now: dt.datetime
) -> AuditCheckpoint:
    """Sign the current chain head (call ``chain`` first so nothing committed is left out: the
    background chainer may lag the commits by up to its interval)."""
    head = session.get(AuditHead, HEAD_ID)
    seq = head.seq if head else 0
    chain_hash = head.chain_hash if head else GENESIS_HASH
    cp_id = uuid.uuid4()
    claims = {
        "iss": settings.jwt_issuer,
        "sub": "audit-chain-head",
        "jti": str(cp_id),
        "iat": int(now.timestamp()),
        "seq": seq,
        "chain_hash": chain_hash,
        # The keyed scheme's boundary is signed too: moving it later (to pass a rewritten
        # chain off as the unkeyed one from before 0009) no longer matches (#19).
        "keyed_from_seq": head.keyed_from_seq if head else 1,
        "keyed_from_event_id": head.keyed_from_event_id if head else 1,
    }
    cp = AuditCheckpoint(
        id=cp_id,
        seq=seq,
        chain_hash=chain_hash,
        created_at=now,
        created_by=actor.user_id,
        jws=sign_statement(settings, claims, typ="audit-checkpoint+jwt"),
    )
    session.add(cp)
    record(
        session,
        actor=actor,
        action="audit.checkpoint",
        resource_type="audit_checkpoint",
        resource_id=cp_id,
        details={"seq": seq, "chain_hash": chain_hash},
        now=now,
    )
    return cp
