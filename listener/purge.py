"""Deletion sweeps: purge stored posts that their platform has since deleted.

X's and Reddit's terms require that content deleted on the platform is deleted here
too. `DeletionSweeper.sweep()` walks, per X/Reddit source, the mentions stored in the
last `max_age` (default 7 days) that are not purged yet, asks the source's deletion
checker (listener.deletions) which are gone, 100 ids per request, and purges those with
`storage.repo.purge_mention_content` (content blanked in every table, an audit event
without the content).

Politeness (never hammer the platform): a source is walked in *passes*. A pass goes
through the window in mention-id order, at most `max_batches` requests per source per
sweep, resuming where the previous sweep stopped, so the ids checked longest ago are
always next. When a pass reaches the end, the next one starts only `every` (default
24 h) after it began. Where a pass stands is recorded as an audit event
(`deletions.checked`, subject `source:<name>`, ids and counts only), one per batch, so it
survives restarts, replicas see it, and there is a trail showing that the checks ran.

Failures: a batch whose lookup fails (rate limit, outage, bad credentials) purges
nothing and is not recorded; that source stops for this sweep and the same ids are asked
again next time. Other sources carry on.

Cost: X bills post reads on tweet lookup too, so the posts X returned are added to the
source's monthly `budget_used` (the one `max_posts_per_month` caps).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from listener.sources import SOURCES
from socialear.errors import NotConfigured, SocialearError
from storage import repo
from storage.audit import last_details
from storage.engine import Engine, session_scope
from storage.mentions import fetched_since
from storage.types import as_utc, utcnow

log = logging.getLogger(__name__)

ACTION = "deletions.checked"
PURGE_REASON = "deleted on the platform"


class DeletionChecker(Protocol):
    """Tells which of the given platform ids no longer exist on the platform."""

    charges_reads: bool  # each id looked up counts against the platform's read budget (X)

    def gone(self, ids: list[str]) -> set[str]:
        """The subset of `ids` deleted (or no longer visible); raises if a lookup failed."""
        ...


def checker_for(source: Any) -> DeletionChecker | None:
    """A deletion checker sharing the built source's client (same credentials, timeouts and
    session), or None for a platform whose terms ask for no deletion checks. A source
    whose platform does offers `deletion_checker()` (X, Reddit)."""
    make = getattr(source, "deletion_checker", None)
    return make() if callable(make) else None


def checkers_from(collector: Any, rules: Any) -> dict[str, DeletionChecker]:
    """Checkers for every enabled, configured X/Reddit source in `rules`, built from the
    `Collector`'s sources (so they share the sources' clients)."""
    out: dict[str, DeletionChecker] = {}
    for cfg in rules.sources:
        if not cfg.enabled or not hasattr(SOURCES.get(cfg.type), "deletion_checker"):
            continue
        try:
            checker = checker_for(collector.source(cfg.name))
        except NotConfigured:
            continue  # already reported by the collector as "not configured"
        if checker is not None:
            out[cfg.name] = checker
    return out


@dataclass(slots=True)
class SourceSweep:
    """What one sweep did for one source."""

    source: str
    checked: int = 0
    purged: int = 0
    requests: int = 0
    skipped: str | None = None  # why nothing was checked (pass done recently)
    error: str | None = None  # the failure that stopped this source's sweep


@dataclass(slots=True)
class SweepReport:
    sources: dict[str, SourceSweep] = field(default_factory=dict)

    @property
    def purged(self) -> int:
        return sum(s.purged for s in self.sources.values())

    @property
    def checked(self) -> int:
        return sum(s.checked for s in self.sources.values())


class DeletionSweeper:
    """Checks recent stored X/Reddit mentions against the platform and purges the deleted."""

    def __init__(
        self,
        engine: Engine,
        checkers: Mapping[str, DeletionChecker],
        max_age: timedelta = timedelta(days=7),
        batch: int = 100,
        *,
        max_batches: int = 10,
        every: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utcnow,
    ):
        if not 1 <= batch <= 100:
            raise ValueError("batch must be 1..100 (the platforms' lookup limit)")
        self.engine = engine
        self.checkers = dict(checkers)
        self.max_age = max_age
        self.batch = batch
        self.max_batches = max_batches
        self.every = every
        self.clock = clock

    def sweep(self) -> SweepReport:
        """One round over every source; never raises for one source's failure."""
        report = SweepReport()
        for name, checker in self.checkers.items():
            try:
                report.sources[name] = self._sweep_source(name, checker)
            except Exception as exc:  # one source's failure must not stop the others
                log.exception("deletion check of %s failed", name)
                report.sources[name] = SourceSweep(name, error=f"{type(exc).__name__}: {exc}")
        return report

    # ------------------------------------------------------------------ one source

    def _sweep_source(self, name: str, checker: DeletionChecker) -> SourceSweep:
        result = SourceSweep(name)
        now = as_utc(self.clock())
        position, started = self._position(name)
        if position is None and started is not None and now - started < self.every:
            result.skipped = f"last pass started {started.isoformat()}; the next starts {self.every} after it"
            return result
        if position is None or started is None:  # start a new pass from the oldest
            position, started = 0, now
        after_id, pass_started = position, started
        for _ in range(self.max_batches):
            rows = self._candidates(name, after_id, now - self.max_age)
            if not rows:
                self._record(name, None, pass_started, 0, 0)  # pass complete
                break
            ids = [external_id for _, external_id in rows]
            result.requests += 1
            try:
                gone = checker.gone(ids) & set(ids)
            except SocialearError as exc:
                result.error = str(exc)
                log.warning("deletion check of %s stopped: %s", name, exc)
                break
            last = rows[-1][0]
            done = len(rows) < self.batch
            purged = self._purge(name, rows, gone, checker, last if not done else None, pass_started)
            result.checked += len(rows)
            result.purged += purged
            after_id = last
            if done:
                break
        if result.purged:
            log.info("source %s: purged %d post(s) deleted on the platform", name, result.purged)
        return result

    def _candidates(self, name: str, after_id: int, since: datetime) -> list[tuple[int, str]]:
        return fetched_since(self.engine, name, after_id, since, self.batch)

    def _purge(
        self,
        name: str,
        rows: list[tuple[int, str]],
        gone: set[str],
        checker: DeletionChecker,
        after_id: int | None,
        pass_started: datetime,
    ) -> int:
        """Purge `gone` and record the pass position, in one transaction."""
        purged = 0
        with session_scope(self.engine) as session:
            for mention_id, external_id in rows:
                if external_id in gone and repo.purge_mention_content(session, mention_id, PURGE_REASON):
                    purged += 1
            if checker.charges_reads:
                self._charge_reads(session, name, len(rows) - len(gone))
            self._audit(session, name, after_id, pass_started, len(rows), purged)
        return purged

    # ------------------------------------------------------------------ state

    def _position(self, name: str) -> tuple[int | None, datetime | None]:
        """(mention id the current pass stopped after, when the pass began) from the last record."""
        with self.engine.connect() as conn:
            details = last_details(conn, "source", name, ACTION)
        if not details:
            return None, None
        started = details.get("pass_started")
        after = details.get("after_id")
        return (
            int(after) if after is not None else None,
            as_utc(datetime.fromisoformat(started)) if started else None,
        )

    def _record(self, name: str, after_id: int | None, pass_started: datetime, checked: int, purged: int) -> None:
        with session_scope(self.engine) as session:
            self._audit(session, name, after_id, pass_started, checked, purged)

    def _audit(
        self, session: Any, name: str, after_id: int | None, pass_started: datetime, checked: int, purged: int
    ) -> None:
        repo.audit(
            session, "system", ACTION, "source", name, at=self.clock(),
            after_id=after_id, pass_started=pass_started.isoformat(), checked=checked, purged=purged,
        )

    def _charge_reads(self, session: Any, name: str, reads: int) -> None:
        """Add the posts X returned to this month's read budget of the source."""
        if reads <= 0:
            return
        period = as_utc(self.clock()).strftime("%Y-%m")
        state = repo.get_state(session, name)
        if state is not None and state.budget_period == period:
            repo.bump_counters(session, name, budget_used=reads)  # an increment in SQL
        else:
            repo.record_health(session, name, budget_used=reads, budget_period=period)


__all__ = ["DeletionChecker", "DeletionSweeper", "SourceSweep", "SweepReport", "checker_for", "checkers_from"]
