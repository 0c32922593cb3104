"""The outbox worker: deliver committed escalations to their sinks, at least once.

The pipeline writes an outbox row in the same transaction as its escalation, so nothing
decided is ever lost. This worker claims due rows (highest priority first; on PostgreSQL
with `FOR UPDATE SKIP LOCKED`, so replicas never take the same row), delivers each in a
thread pool, and records the outcome:

    pending/retry ──claim──► sending ──ok──────────────► sent (external_ref kept)
                                 ├──retryable──────────► retry (next_attempt_at = backoff, ≥ Retry-After)
                                 └──permanent/too many─► dead  (last_error says why)
    a crashed worker's `sending` row is re-claimed when its lock expires.

Delivery is at-least-once; every sink is idempotent by the row's key (a retry after an
ambiguous failure looks the ticket up instead of creating a second one), so a customer
gets one ticket. Jobs pass ids, never ORM objects, between threads.

Rows by kind:

    escalation, alert ─► the sink named by the row (SinkSet); external_ref → escalation.external_ref
    reply ─────────────► the platform publisher of the row's source (responders.publish);
                         the platform's reply id → escalation.reply_external_id

`clock` and `rng` are injectable so tests (and the recovery test) can drive time and
backoff deterministically.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from responders.backoff import MAX_ATTEMPTS, decide
from responders.payloads import build_payload
from responders.publish import Publishers, deliver_reply, record_published
from responders.sinks import build_sink
from responders.types import EscalationPayload, Sink
from socialear.config import RulesConfig
from socialear.errors import NotConfigured
from storage import models as t
from storage import repo
from storage.engine import session_scope
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OutboxStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class SinkSet:
    """Sinks built from the rules, rebuilt when the rules object changes; unconfigured ones
    are remembered with their reason instead of failing start-up."""

    def __init__(self, rules: Callable[[], RulesConfig], env: Mapping[str, str] | None = None, clients: Mapping[str, Any] | None = None):
        self._rules = rules
        self._env = env
        self._clients = dict(clients or {})
        self._built_for: RulesConfig | None = None
        self._sinks: dict[str, Sink] = {}
        self.not_configured: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def rules(self) -> Callable[[], RulesConfig]:
        return self._rules

    @property
    def env(self) -> Mapping[str, str] | None:
        return self._env

    def console_url(self) -> str | None:
        return self._rules().console_url

    def flush(self, force: bool = False) -> None:
        """Let grouping sinks (alerts) send windows that have closed; `force` at shutdown."""
        with self._lock:
            sinks = list(self._sinks.values())
        for sink in sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None:
                try:
                    flush(force=force)
                except Exception:  # noqa: BLE001 - an alert channel down must not stop deliveries
                    log.exception("sink %s: flush failed", getattr(sink, "name", "?"))

    def get(self, name: str) -> Sink:
        with self._lock:
            rules = self._rules()
            if rules is not self._built_for:
                self._build(rules)
            if name in self.not_configured:
                raise NotConfigured(self.not_configured[name])
            if name not in self._sinks:
                raise NotConfigured(f"no sink named {name!r} in the rules")
            return self._sinks[name]

    def _build(self, rules: RulesConfig) -> None:
        self._sinks, self.not_configured = {}, {}
        for cfg in rules.sinks:
            if not cfg.enabled:
                continue
            try:
                self._sinks[cfg.name] = build_sink(cfg.name, cfg.type, cfg.options, env=self._env, client=self._clients.get(cfg.name))
            except NotConfigured as exc:
                self.not_configured[cfg.name] = str(exc)
                log.warning("sink %s: not configured: %s", cfg.name, exc)
        self._built_for = rules


class OutboxWorker:
    def __init__(
        self,
        engine: Engine,
        sinks: SinkSet,
        *,
        worker_id: str,
        parallel: int = 4,
        max_attempts: int = MAX_ATTEMPTS,
        lock_ttl: timedelta = timedelta(minutes=5),
        publishers: Publishers | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
    ):
        self.engine = engine
        self.sinks = sinks
        # Replies go out through the platform publishers of the same rules/environment.
        self.publishers = publishers or Publishers(sinks.rules, sinks.env)
        self.clock = clock
        self.rng = rng
        self.worker_id = worker_id
        self.parallel = parallel
        self.max_attempts = max_attempts
        self.lock_ttl = lock_ttl
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="outbox")
        self._stop = threading.Event()
        self._done = threading.Event()

    def run_once(self) -> OutboxStats:
        """Claim what is due (up to 2 × parallel rows) and deliver it; returns the outcome counts."""
        with session_scope(self.engine) as session:
            ids = repo.claim_outbox(session, self.worker_id, self.parallel * 2, self.clock(), lease_s=self.lock_ttl.total_seconds())
        stats = OutboxStats()
        for outcome in self._pool.map(self._deliver_one, ids):
            setattr(stats, outcome, getattr(stats, outcome) + 1)
        return stats

    def drain(self, max_rounds: int = 100) -> OutboxStats:
        """Deliver until nothing is due (tests, `--once` style runs)."""
        total = OutboxStats()
        for _ in range(max_rounds):
            s = self.run_once()
            total.sent += s.sent
            total.retried += s.retried
            total.dead += s.dead
            if s.sent + s.retried + s.dead == 0:
                break
        return total

    def run_forever(self, idle_s: float = 1.0) -> None:
        try:
            while not self._stop.is_set():
                try:
                    s = self.run_once()
                except Exception:  # noqa: BLE001 - keep the worker alive through a DB blip
                    log.exception("outbox: round failed")
                    s = OutboxStats()
                self.sinks.flush()
                if s.sent + s.retried + s.dead == 0:
                    self._stop.wait(idle_s)
        finally:
            self.sinks.flush(force=True)
            self.close()
            self._done.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask `run_forever` to finish its current round, and wait for it."""
        self._stop.set()
        self._done.wait(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- one delivery ------------------------------------------------------------------
    def _payload(self, row: Any) -> EscalationPayload:
        """A row written with a frozen payload delivers that; otherwise build it now."""
        if row.payload:
            return EscalationPayload.from_dict(dict(row.payload))
        with self.engine.connect() as conn:
            return build_payload(conn, row.escalation_id, self.sinks.console_url())

    def _deliver_one(self, item_id: int) -> str:
        ot = t.OutboxItem.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ot.c.sink, ot.c.attempts, ot.c.payload, ot.c.escalation_id, ot.c.kind, ot.c.idempotency_key)
                .where(ot.c.id == item_id)
            ).one()
        attempt = row.attempts or 1
        kind = getattr(row.kind, "value", row.kind)
        try:
            if kind == "reply":
                result = deliver_reply(self.engine, self.publishers, row.idempotency_key, row.payload or {}, attempt)
            else:
                sink = self.sinks.get(row.sink)
                payload = self._payload(row)
                result = sink.deliver(payload, attempt=attempt)  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - classified below; the row records it
            verdict = decide(exc, attempt, max_attempts=self.max_attempts, rng=self.rng)
            with session_scope(self.engine) as session:
                if verdict.verdict == "retry":
                    repo.mark_retry(session, item_id, verdict.reason, self.clock() + timedelta(seconds=verdict.delay or 0))
                    log.info("outbox %d → %s: retry in %.0fs: %s", item_id, row.sink, verdict.delay or 0, verdict.reason)
                    return "retried"
                repo.mark_dead(session, item_id, verdict.reason)
                repo.audit(session, "system", "reply.failed" if kind == "reply" else "outbox.dead", "escalation",
                           str(row.escalation_id), sink=row.sink, kind=kind, error=verdict.reason)
            log.warning("outbox %d → %s: dead: %s", item_id, row.sink, verdict.reason)
            return "dead"
        with session_scope(self.engine) as session:
            repo.mark_sent(session, item_id, result.external_ref)
            if kind == "reply":
                record_published(session.connection(), row.escalation_id, result, row.payload or {})
            elif kind == "escalation" and result.external_ref:
                et = t.Escalation.__table__
                session.execute(
                    et.update()
                    .where(et.c.id == row.escalation_id, et.c.external_ref.is_(None))
                    .values(external_ref=str(result.external_ref), updated_at=utcnow())
                )
            repo.audit(
                session, "system", "outbox.sent", "escalation", str(row.escalation_id),
                sink=row.sink, external_ref=result.external_ref, created=result.created,
            )
        return "sent"
