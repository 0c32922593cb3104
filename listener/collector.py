"""Polling one source once: lease → cursor → fetch → pipeline → health.

Shared by the scheduler (every run) and `socialear collect --once`. Failures are sorted
by kind, never by vendor class (see socialear.errors):

- RateLimited: wait for the reset; the source is skipped until then (never hammered).
- RetryableError: back off exponentially per consecutive failure (capped), then retry.
- PermanentError / BadCredentials: mark the source unhealthy with the message; try
  again only at a slow pace (credentials may be fixed without a restart).
- Any other exception: a bug in a source; recorded like a retryable failure so one broken
  source never stops the others (invariant 5).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.pipeline import BatchResult, CursorConflict, Pipeline
from listener.sources import build_source
from listener.types import Source
from socialear.config import RulesConfig, SourceConfig
from socialear.errors import NotConfigured, PermanentError, RateLimited, RetryableError
from storage import models as t
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE_TTL_S = 300
MAX_BATCHES_PER_RUN = 50  # drain a backlog, but give the thread back eventually
ERROR_LOG_CAP = 20


def default_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class PollOutcome:
    source: str
    ok: bool
    result: BatchResult = field(default_factory=BatchResult)
    batches: int = 0
    error: str | None = None
    skipped: str | None = None  # why the poll did not run (lease held, rate limited)
    retry_at: datetime | None = None


class Collector:
    """Builds sources from the rules and polls them. Thread-safe per source (one lock each)."""

    def __init__(
        self,
        engine: Engine,
        rules: Callable[[], RulesConfig],
        *,
        instance_id: str | None = None,
        env: Mapping[str, str] | None = None,
        clients: Mapping[str, Any] | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
    ):
        self.engine = engine
        self._rules = rules
        self.pipeline = Pipeline(engine, rules)
        self.instance_id = instance_id or default_instance_id()
        self.env = env if env is not None else os.environ
        self.clients = dict(clients or {})
        self.lease_ttl_s = lease_ttl_s
        self._sources: dict[str, tuple[SourceConfig, Source]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._paused_until: dict[str, datetime] = {}
        self._failures: dict[str, int] = {}
        self.not_configured: dict[str, str] = {}

    # -- building --------------------------------------------------------------------
    def source(self, name: str) -> Source:
        """The live Source for a configured name, rebuilt when its config changed."""
        rules = self._rules()
        cfg = rules.source(name)
        if cfg is None:
            raise NotConfigured(f"no source named {name!r} in the rules")
        cached = self._sources.get(name)
        if cached and cached[0] == cfg:
            return cached[1]
        brands = [b for b in rules.brands if cfg.brands is None or b.name in cfg.brands]
        src = build_source(name, cfg.type, cfg.options, env=self.env, client=self.clients.get(name), brands=brands)
        self._sources[name] = (cfg, src)
        return src

    def enabled_sources(self) -> list[SourceConfig]:
        """Sources that are on and configured; the rest are logged once with the reason."""
        out = []
        for cfg in self._rules().sources:
            if not cfg.enabled:
                log.info("source %s: disabled in rules", cfg.name)
                continue
            try:
                self.source(cfg.name)
            except NotConfigured as exc:
                self.not_configured[cfg.name] = str(exc)
                log.warning("source %s: not configured: %s", cfg.name, exc)
                self._record(cfg.name, healthy=False, status_message=f"not configured: {exc}")
                continue
            self.not_configured.pop(cfg.name, None)
            out.append(cfg)
        return out

    # -- polling ---------------------------------------------------------------------
    def poll(self, name: str, *, ignore_pause: bool = False) -> PollOutcome:
        """Poll one source until it has nothing more right now (bounded)."""
        lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            return PollOutcome(name, ok=True, skipped="a poll of this source is already running")
        try:
            return self._poll_locked(name, ignore_pause)
        finally:
            lock.release()

    def _poll_locked(self, name: str, ignore_pause: bool) -> PollOutcome:
        now = utcnow()
        paused = self._paused_until.get(name)
        if paused and now < paused and not ignore_pause:
            return PollOutcome(name, ok=True, skipped=f"rate limited until {paused.isoformat()}", retry_at=paused)
        if not self._acquire_lease(name, now):
            return PollOutcome(name, ok=True, skipped="another replica holds this source's lease")
        outcome = PollOutcome(name, ok=True)
        try:
            source = self.source(name)
            for _ in range(MAX_BATCHES_PER_RUN):
                cursor, budget = self._cursor_and_budget(name)
                if hasattr(source, "budget_used_this_month"):
                    source.budget_used_this_month = budget  # type: ignore[attr-defined]
                batch = source.fetch(cursor)
                res = self.pipeline.process(name, batch, cursor)
                outcome.batches += 1
                _merge(outcome.result, res)
                if batch.exhausted or (batch.next_cursor == cursor and not batch.mentions):
                    break
            self._failures.pop(name, None)
            self._paused_until.pop(name, None)
        except RateLimited as exc:
            wait = max(1.0, exc.retry_after or 60.0)
            outcome.retry_at = now + timedelta(seconds=wait)
            self._paused_until[name] = outcome.retry_at
            self._fail(outcome, f"rate limited: {exc}", healthy=True, next_run=outcome.retry_at)
        except PermanentError as exc:
            self._fail(outcome, str(exc), healthy=False, next_run=now + self._backoff(name, slow=True))
        except NotConfigured as exc:
            self._fail(outcome, f"not configured: {exc}", healthy=False)
        except CursorConflict as exc:
            outcome.skipped = str(exc)
            log.warning("source %s: %s", name, exc)
        except RetryableError as exc:
            retry = now + timedelta(seconds=max(exc.retry_after or 0, self._backoff(name).total_seconds()))
            self._paused_until[name] = retry
            self._fail(outcome, str(exc), healthy=True, next_run=retry)
        except Exception as exc:  # noqa: BLE001 - a broken source must not stop the others
            log.exception("source %s: unexpected error", name)
            retry = now + self._backoff(name)
            self._paused_until[name] = retry
            self._fail(outcome, f"{type(exc).__name__}: {exc}", healthy=False, next_run=retry)
        finally:
            self._release_lease(name)
        return outcome

    def _backoff(self, name: str, slow: bool = False) -> timedelta:
        n = self._failures.get(name, 0) + 1
        self._failures[name] = n
        base = 60.0 if slow else 5.0
        return timedelta(seconds=min(base * 2 ** (n - 1), 3600.0))

    def _fail(self, outcome: PollOutcome, message: str, *, healthy: bool, next_run: datetime | None = None) -> None:
        outcome.ok = False
        outcome.error = message
        log.warning("source %s: %s", outcome.source, message)
        self._record(outcome.source, healthy=healthy, error=message, next_run=next_run)

    # -- storage of state (lease, cursor, health) ---------------------------------------------
    def _ensure_row(self, conn: sa.Connection, name: str) -> None:
        st = t.SourceState.__table__
        if conn.execute(sa.select(st.c.source).where(st.c.source == name)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(st.insert(), {"source": name, "updated_at": utcnow(), "stats": {}, "error_log": []})
            except sa.exc.IntegrityError:
                pass  # another replica inserted it first

    def _acquire_lease(self, name: str, now: datetime) -> bool:
        st = t.SourceState.__table__
        with self.engine.begin() as conn:
            self._ensure_row(conn, name)
            res = conn.execute(
                st.update()
                .where(
                    st.c.source == name,
                    sa.or_(st.c.lease_until.is_(None), st.c.lease_until < now, st.c.lease_owner == self.instance_id),
                )
                .values(lease_owner=self.instance_id, lease_until=now + timedelta(seconds=self.lease_ttl_s))
            )
            return res.rowcount == 1

    def _release_lease(self, name: str) -> None:
        st = t.SourceState.__table__
        with self.engine.begin() as conn:
            conn.execute(
                st.update()
                .where(st.c.source == name, st.c.lease_owner == self.instance_id)
                .values(lease_owner=None, lease_until=None)
            )

    def _cursor_and_budget(self, name: str) -> tuple[str | None, int]:
        st = t.SourceState.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(st.c.cursor, st.c.budget_used, st.c.budget_period).where(st.c.source == name)
            ).first()
        if row is None:
            return None, 0
        period = utcnow().strftime("%Y-%m")
        return row.cursor, (row.budget_used or 0) if row.budget_period == period else 0

    def _record(self, name: str, *, healthy: bool, error: str | None = None, **fields: Any) -> None:
        st = t.SourceState.__table__
        now = utcnow()
        with self.engine.begin() as conn:
            self._ensure_row(conn, name)
            values: dict[str, Any] = {"healthy": healthy, "updated_at": now, **fields}
            if error is not None:
                log_rows = conn.execute(sa.select(st.c.error_log).where(st.c.source == name)).scalar() or []
                values.update(
                    last_error=error,
                    last_error_at=now,
                    status_message=fields.get("status_message", error),
                    error_log=([{"at": now.isoformat(), "error": error}] + list(log_rows))[:ERROR_LOG_CAP],
                )
            conn.execute(st.update().where(st.c.source == name).values(**values))

    def set_next_run(self, name: str, when: datetime | None) -> None:
        st = t.SourceState.__table__
        with self.engine.begin() as conn:
            self._ensure_row(conn, name)
            conn.execute(st.update().where(st.c.source == name).values(next_run=when))


def _merge(into: BatchResult, res: BatchResult) -> None:
    into.fetched += res.fetched
    into.stored += res.stored
    into.escalated += res.escalated
    into.quarantined += res.quarantined
    into.stats.update(res.stats)


def wait_until(deadline: float) -> None:
    """Sleep until a monotonic deadline (used by tests and the CLI's paced loops)."""
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
