"""APScheduler runner: one job per source, never two runs of the same job at once.

`max_instances=1` + `coalesce=True`: a slow poll makes the next run wait (and missed runs
collapse into one) instead of stacking up. Each job gets `jitter` so many sources on the
same interval do not hit the network in lock-step. Jobs run in the scheduler's thread
pool: tweepy and praw are synchronous, so threads are the one concurrency model.

Stopping: APScheduler's `shutdown(wait=True)` waits for running jobs while holding its
job-store lock, and a poll ending at that moment calls `get_job` for its next run time,
which needs that lock: SIGTERM or Ctrl-C during a poll deadlocked (2 tries in 7). So
`stop` shuts the scheduler down without waiting, and waits itself, on a count of running
jobs that no scheduler lock guards; a job that starts after `stop` began does nothing, and
a running poll stops after its current batch (`Collector.stopping`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from listener.collector import Collector
from socialear.config import RulesConfig, SourceConfig, parse_duration
from storage.types import utcnow

log = logging.getLogger(__name__)

STOP_WAIT_S = 60.0  # a running job that takes longer is left to the process exit


def trigger_for(cfg: SourceConfig) -> IntervalTrigger | CronTrigger:
    jitter = int(parse_duration(cfg.schedule.jitter).total_seconds()) or None
    if cfg.schedule.cron:
        return CronTrigger.from_crontab(cfg.schedule.cron, timezone="UTC")
    seconds = max(1, int(parse_duration(cfg.schedule.every or "2m").total_seconds()))
    return IntervalTrigger(seconds=seconds, jitter=jitter, timezone="UTC")


class SourceScheduler:
    def __init__(self, collector: Collector, rules: Callable[[], RulesConfig], *, threads: int = 8,
                 after_store: Callable[[], object] | None = None):
        self.collector = collector
        self._rules = rules
        # called after a poll committed new mentions (the spike alerts' check)
        self.after_store = after_store
        self._jobs = threading.Condition()  # guards _running and _stopping
        self._running = 0
        self._stopping = False
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(threads)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
            timezone="UTC",
        )

    def start(self) -> list[str]:
        """Schedule every enabled, configured source (first run now); return their names."""
        names = []
        for cfg in self.collector.enabled_sources():
            self.scheduler.add_job(
                self._run,
                trigger_for(cfg),
                args=[cfg.name],
                id=f"source:{cfg.name}",
                name=cfg.name,
                next_run_time=utcnow(),
                replace_existing=True,
            )
            names.append(cfg.name)
            log.info("source %s: scheduled (%s)", cfg.name, cfg.schedule.cron or f"every {cfg.schedule.every}")
        self.scheduler.start()
        return names

    def _guarded(self, func: Callable[[], object]) -> Callable[[], None]:
        """`func`, counted as running so `stop` can wait for it, and skipped once stopping."""

        def run() -> None:
            with self._jobs:
                if self._stopping:
                    return
                self._running += 1
            try:
                func()
            finally:
                with self._jobs:
                    self._running -= 1
                    self._jobs.notify_all()

        return run

    def _run(self, name: str) -> None:
        self._guarded(lambda: self._poll(name))()

    def _poll(self, name: str) -> None:
        outcome = self.collector.poll(name)
        if self._stopping:  # the scheduler is going away: no next run to look up
            return
        job = self.scheduler.get_job(f"source:{name}")
        next_run = outcome.retry_at or (job.next_run_time if job else None)
        self.collector.set_next_run(name, next_run)
        if outcome.ok and not outcome.skipped and outcome.result.fetched:
            r = outcome.result
            log.info(
                "source %s: fetched %d, stored %d, escalated %d, quarantined %d",
                name,
                r.fetched,
                r.stored,
                r.escalated,
                r.quarantined,
            )
        if outcome.ok and not outcome.skipped and outcome.result.stored and self.after_store:
            try:
                self.after_store()
            except Exception:  # never fail the poll's job for a follow-up
                log.exception("after-store check failed")

    def add_job(self, func: Callable[[], object], seconds: float, job_id: str, first_in: float | None = None) -> None:
        """A housekeeping job (rules reload, deletion checks) on the same scheduler; with
        `first_in`, its first run is that many seconds from now instead of one interval."""
        extra: dict[str, object] = {}
        if first_in is not None:
            extra["next_run_time"] = utcnow() + timedelta(seconds=first_in)
        self.scheduler.add_job(
            self._guarded(func), IntervalTrigger(seconds=seconds, timezone="UTC"), id=job_id, replace_existing=True,
            **extra,
        )

    def stop(self, wait: bool = True, timeout: float = STOP_WAIT_S) -> bool:
        """Stop scheduling; with `wait`, let running jobs finish (a poll, its current
        batch's transaction) for up to `timeout` seconds. True if none is left running."""
        with self._jobs:
            self._stopping = True
        self.collector.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # never wait under APScheduler's lock (see above)
        if not wait:
            return self._running == 0
        with self._jobs:
            return self._jobs.wait_for(lambda: self._running == 0, timeout=timeout)
