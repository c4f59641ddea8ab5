"""The background audit chainer (R22, #17): links pending audit events off the request path.

A request writes its audit event, pending, in its own transaction and returns; it never chains
(``audit.record``). Each server process runs one ``AuditChainer`` thread (the app's lifespan,
``REGISTRY_AUDIT_CHAIN_IN_PROCESS``): every ``REGISTRY_AUDIT_CHAIN_INTERVAL_SECONDS`` it looks for
pending events (one read) and, if there are any, links them ``REGISTRY_AUDIT_CHAIN_BATCH`` per
transaction as the leader (``audit.chain(leader_only=True)``): on PostgreSQL one process at a time
holds the advisory lock ``audit.CHAIN_LEADER_LOCK`` for its batch, and the others skip their turn.
The chain head therefore lags the commits by up to the interval; readers that need the whole
chain link what is pending first, so none ever sees a half chain (docs/security.md 3.6).

A thread, not an asyncio task: chaining is blocking database work, like the rest of the service's
(synchronous SQLAlchemy), and must not run on the event loop.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.services.audit import audit

log = logging.getLogger(__name__)


class AuditChainer:
    """Links pending audit events every ``interval`` seconds, ``batch`` per transaction, until
    stopped. ``run_once`` is one tick (what the thread does, and what a test or a command may
    call); ``tick`` is one tick whose failure is logged, as the thread logs it."""

    def __init__(self, factory: sessionmaker[Session], *, settings: Settings) -> None:
        self.factory = factory
        self.interval = settings.audit_chain_interval_seconds
        self.batch = settings.audit_chain_batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Link what is pending, as the leader; returns how many events were linked (0 when
        nothing was pending or another process is the leader)."""
        if not audit.has_pending(self.factory):
            return 0
        return audit.chain(self.factory, batch=self.batch, leader_only=True)

    def tick(self) -> int | None:
        """``run_once``, its failure (the database away, a batch refused) logged, not raised:
        what failed stays pending for the next tick. Returns None on a failure."""
        try:
            return self.run_once()
        except Exception as exc:
            # The class only: a driver error's text may quote SQL.
            log.error(
                "audit chaining failed (%s); the events stay pending and the next run links them",
                type(exc).__name__,
                exc_info=exc,
            )
            return None

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="audit-chainer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in progress, if any (a batch is a few milliseconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
