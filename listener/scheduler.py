"""APScheduler runner: one job per source, never two runs of the same job at once.

`max_instances=1` + `coalesce=True`: a slow poll makes the next run wait (and missed runs
collapse into one) instead of stacking up. Each job gets `jitter` so many sources on the
same interval do not hit the network in lock-step. Jobs run in the scheduler's thread
pool: tweepy and praw are synchronous, so threads are the one concurrency model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from listener.collector import Collector
from socialear.config import RulesConfig, SourceConfig, parse_duration
from storage.types import utcnow

log = logging.getLogger(__name__)


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

    def _run(self, name: str) -> None:
        outcome = self.collector.poll(name)
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
            except Exception:  # noqa: BLE001 - never fail the poll's job for a follow-up
                log.exception("after-store check failed")

    def add_job(self, func: Callable[[], object], seconds: float, job_id: str) -> None:
        """A housekeeping job (rules reload, deletion checks) on the same scheduler."""
        self.scheduler.add_job(func, IntervalTrigger(seconds=seconds, timezone="UTC"), id=job_id, replace_existing=True)

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let running polls finish their transaction first."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
