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

from listener.pipeline import BatchResult, Pipeline
from listener.replies import Responders
from listener.sources import build_source
from listener.sources._common import RetryPolicy
from listener.types import Source
from socialear.config import RulesConfig, SourceConfig
from socialear.errors import NotConfigured, PermanentError, RateLimited, RetryableError
from socialear.metrics import PIPELINE_BATCH_SECONDS
from storage import sources as state
from storage.engine import Engine, session_scope
from storage.ingest import CursorConflict
from storage.types import utcnow

log = logging.getLogger(__name__)

# A poll renews its source's lease every LEASE_TTL_S / 3 (a heartbeat thread), so a live
# replica keeps it however long a poll runs, and a dead one's lapses within 30 s.
LEASE_TTL_S = 30
MAX_BATCHES_PER_RUN = 50  # drain a backlog, but give the thread back eventually


def default_instance_id() -> str:
    """The service replica's name for leases and outbox claims: $SOCIALEAR_INSTANCE_ID
    (settings.instance_id, read by the caller) or else the host name, which a container
    keeps across restarts. Not the pid: a replica restarted after a crash must own its
    own lease and `sending` rows at once instead of waiting for them to lapse."""
    return socket.gethostname()


def process_instance_id() -> str:
    """A name for one-off commands (`collect --once`): never the service's own, so a
    manual poll does not share, or release, the running service's lease."""
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
        responders: Responders,
    ):
        self.engine = engine
        self._rules = rules
        self.pipeline = Pipeline(engine, rules, responders=responders)
        self.instance_id = instance_id or process_instance_id()
        self.env = env if env is not None else os.environ
        self.clients = dict(clients or {})
        self.lease_ttl_s = lease_ttl_s
        self._sources: dict[str, tuple[SourceConfig, Source]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._paused_until: dict[str, datetime] = {}
        self._failures: dict[str, int] = {}
        self.not_configured: dict[str, str] = {}
        self.stopping = threading.Event()  # set on shutdown: a poll ends after its current batch
        self._held: dict[str, bool] = {}  # sources this instance is polling -> lease lost meanwhile
        self._held_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None

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
        if isinstance(getattr(src, "retry", None), RetryPolicy):
            src.retry.stopping = self.stopping  # type: ignore[attr-defined]  # waits inside a fetch end on shutdown
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
        paused = self._paused_until.get(name) or self._stored_pause(name, now)
        if paused and now < paused and not ignore_pause:
            return PollOutcome(name, ok=True, skipped=f"rate limited until {paused.isoformat()}", retry_at=paused)
        if not self._acquire_lease(name, now):
            return PollOutcome(name, ok=True, skipped="another replica holds this source's lease")
        outcome = PollOutcome(name, ok=True)
        self._hold(name)
        try:
            source = self.source(name)
            for _ in range(MAX_BATCHES_PER_RUN):
                cursor, budget = self._cursor_and_budget(name)
                if hasattr(source, "budget_used_this_month"):
                    source.budget_used_this_month = budget
                started = time.perf_counter()
                batch = source.fetch(cursor)
                res = self.pipeline.process(name, batch, cursor, owner=self.instance_id)
                PIPELINE_BATCH_SECONDS.labels(name).observe(time.perf_counter() - started)
                outcome.batches += 1
                outcome.result.merge(res)
                if batch.exhausted or (batch.next_cursor == cursor and not batch.mentions):
                    break
                if self.stopping.is_set() or self._lost(name):
                    break
            self._failures.pop(name, None)
            self._paused_until.pop(name, None)
        except RateLimited as exc:
            wait = max(1.0, exc.retry_after or 60.0)
            outcome.retry_at = now + timedelta(seconds=wait)
            self._paused_until[name] = outcome.retry_at
            # stored too, so a restarted process or another replica also waits for the reset
            self._fail(
                outcome, f"rate limited: {exc}", healthy=True, next_run=outcome.retry_at,
                rate_limit_remaining=0, rate_limit_reset=outcome.retry_at,
            )
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
        except Exception as exc:  # a broken source must not stop the others
            log.exception("source %s: unexpected error", name)
            retry = now + self._backoff(name)
            self._paused_until[name] = retry
            self._fail(outcome, f"{type(exc).__name__}: {exc}", healthy=False, next_run=retry)
        finally:
            self._unhold(name)
            self._release_lease(name)
        return outcome

    # -- the lease heartbeat ----------------------------------------------------------
    def _hold(self, name: str) -> None:
        with self._held_lock:
            self._held[name] = False
            if self._heartbeat is None:  # the thread clears this, under the lock, as it ends
                self._heartbeat = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
                self._heartbeat.start()

    def _unhold(self, name: str) -> None:
        with self._held_lock:
            self._held.pop(name, None)

    def _lost(self, name: str) -> bool:
        with self._held_lock:
            return self._held.get(name, False)

    def _beat(self) -> None:
        """Renew the lease of every source being polled, every third of the TTL; ends
        when no poll is running (the next poll starts it again)."""
        while True:
            self.stopping.wait(self.lease_ttl_s / 3)
            with self._held_lock:
                if not self._held or self.stopping.is_set():
                    self._heartbeat = None
                    return
                names = [n for n, lost in self._held.items() if not lost]
            for name in names:
                try:
                    with session_scope(self.engine) as session:
                        renewed = state.renew_lease(session, name, self.instance_id, self.lease_ttl_s)
                except Exception:  # a database blip: the next beat tries again
                    log.warning("source %s: could not renew the lease", name, exc_info=True)
                    continue
                if not renewed:
                    log.warning("source %s: lease taken over by another replica; stopping after this batch", name)
                    with self._held_lock:
                        if name in self._held:
                            self._held[name] = True

    def _backoff(self, name: str, slow: bool = False) -> timedelta:
        n = self._failures.get(name, 0) + 1
        self._failures[name] = n
        base = 60.0 if slow else 5.0
        return timedelta(seconds=min(base * 2 ** (n - 1), 3600.0))

    def _fail(
        self, outcome: PollOutcome, message: str, *, healthy: bool, next_run: datetime | None = None, **health: Any
    ) -> None:
        outcome.ok = False
        outcome.error = message
        log.warning("source %s: %s", outcome.source, message)
        self._record(outcome.source, healthy=healthy, error=message, next_run=next_run, **health)

    # -- storage of state (lease, cursor, health): storage.sources owns the SQL ------------
    def _acquire_lease(self, name: str, now: datetime) -> bool:
        with session_scope(self.engine) as session:
            return state.acquire_lease(session, name, self.instance_id, self.lease_ttl_s, now=now)

    def _release_lease(self, name: str) -> None:
        with session_scope(self.engine) as session:
            state.release_lease(session, name, self.instance_id)

    def _stored_pause(self, name: str, now: datetime) -> datetime | None:
        """The platform's rate-limit reset, if the last word we stored was "0 left"."""
        with session_scope(self.engine) as session:
            row = state.get_state(session, name)
            if row is None or row.rate_limit_remaining != 0 or row.rate_limit_reset is None:
                return None
            return row.rate_limit_reset if row.rate_limit_reset > now else None

    def _cursor_and_budget(self, name: str) -> tuple[str | None, int]:
        with session_scope(self.engine) as session:
            row = state.get_state(session, name)
            if row is None:
                return None, 0
            period = utcnow().strftime("%Y-%m")
            return row.cursor, (row.budget_used or 0) if row.budget_period == period else 0

    def _record(self, name: str, *, healthy: bool, error: str | None = None, **fields: Any) -> None:
        with session_scope(self.engine) as session:
            if error is not None:
                state.append_error(session, name, error)
                fields.setdefault("status_message", error)
            state.record_health(session, name, healthy=healthy, **fields)

    def set_next_run(self, name: str, when: datetime | None) -> None:
        with session_scope(self.engine) as session:
            state.record_health(session, name, next_run=when)

