"""Background jobs that must run once per cluster, not once per replica.

The deletion sweep (X bills every lookup), the ticket-status poller and the digest/spike
jobs run on a timer in every replica. `ClusterJob` wraps such a job so that, across all
replicas sharing the database, it runs at most once per period: before running, a replica
takes the job's lease (`storage.sources.acquire_lease` on the row `job:<name>`, the same
single conditional UPDATE that keeps one poller per source). The lease lasts 1.5 periods
and the replica that holds it renews it on each run, so the same replica keeps the job
while it lives; other replicas skip. When it dies (or stops cleanly and releases the
lease) another replica takes over within 1.5 periods at most.

Wrap any periodic callable: `scheduler.add_job(ClusterJob(engine, "digest", fn, 3600,
owner), 3600, "digest")`. A run's failure is logged and recorded on the job's row (so
`last_error` shows it) and does not hand the job to another replica early.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from storage import sources as state
from storage.engine import Engine, session_scope
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE_PERIODS = 1.5


class ClusterJob:
    """`fn` at most once per `every_s` across replicas; calling it returns True if it ran here."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        fn: Callable[[], Any],
        every_s: float,
        owner: str,
        *,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.engine = engine
        self.name = name
        self.key = state.job_key(name)
        self.fn = fn
        self.every_s = every_s
        self.owner = owner
        self.clock = clock
        self.runs = 0  # runs made by this replica (for logs and tests)
        self.last_run: datetime | None = None

    def __call__(self) -> bool:
        now = self.clock()
        with session_scope(self.engine) as session:
            held = state.acquire_lease(session, self.key, self.owner, self.every_s * LEASE_PERIODS, now=now)
        if not held:
            log.debug("job %s: another replica runs it", self.name)
            return False
        if self.last_run is not None and (now - self.last_run).total_seconds() < self.every_s / 2:
            return False  # ran here moments ago (a manual trigger, a coalesced timer)
        self.last_run = now
        self.runs += 1
        try:
            self.fn()
        except Exception as exc:  # a failed run must not kill the scheduler thread
            log.exception("job %s failed", self.name)
            with session_scope(self.engine) as session:
                state.append_error(session, self.key, exc, at=now)
                state.record_health(session, self.key, healthy=False)
            return True
        with session_scope(self.engine) as session:
            state.record_health(session, self.key, last_success=self.clock(), healthy=True, status_message=None)
        return True

    def release(self) -> None:
        """Hand the job over at once (clean shutdown) instead of after the lease expires."""
        with session_scope(self.engine) as session:
            state.release_lease(session, self.key, self.owner)
