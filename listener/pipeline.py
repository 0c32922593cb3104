"""The pipeline: one fetched batch in, one database transaction out.

    Batch ──► dedupe (in batch, then against storage) ──► analyse: brand match, score,
          route (listener.history, in post order) ──► ONE transaction:
              authors + mentions (listener.storing) ──► escalations, cases, outbox rows,
              audit, auto-replies (listener.escalating) ──► quarantined items
              ──► cursor advance + health ──► rollups

Why one transaction: the cursor moves only together with what it covered. A crash
anywhere before the commit leaves the old cursor and nothing stored, so the next poll
re-fetches at most this batch; `(source, external_id)` is unique, so even a replayed
batch cannot store a mention twice (invariant 1). The cursor advance is a compare-and-set
on the cursor this batch was fetched from (`storage.ingest.advance`), so two replicas
that somehow polled the same source cannot both commit.

This module is the orchestration only: the order of the steps and the transaction. Each
step is a module of its own job (analysis with history, the rows stored, the
escalations), and every statement is in `storage` (`storage.ingest`, `storage.cases`),
set-based, at driver speed: the pipeline has to keep up with VADER itself
(bench/pipeline.py measures the ratio). What responders do for a new escalation comes
through the injected `listener.replies.Responders`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from listener import storing
from listener.analysis import Analyzer, PreparedBatch, fresh_mentions
from listener.escalating import OutboxHandoff, escalate
from listener.history import PileOnWindow, analyse_batch
from listener.replies import Responders
from listener.types import Batch, Mention
from socialear.config import RulesConfig, parse_duration
from storage import ingest, rollups
from storage.engine import Connection, Engine
from storage.types import utcnow

__all__ = ["BatchResult", "OutboxHandoff", "Pipeline"]


@dataclass(slots=True)
class BatchResult:
    """What one batch did: the counters that feed source health and metrics."""

    fetched: int = 0
    stored: int = 0
    escalated: int = 0
    quarantined: int = 0
    already_stored: int = 0  # of the duplicates, those stored before this batch (not in-batch repeats)
    stats: Counter[str] = field(default_factory=Counter)

    def merge(self, other: BatchResult) -> None:
        """Add another batch's counters (a poll or an import spans several batches)."""
        self.fetched += other.fetched
        self.stored += other.stored
        self.escalated += other.escalated
        self.quarantined += other.quarantined
        self.already_stored += other.already_stored
        self.stats.update(other.stats)


class Pipeline:
    """Stores batches. `rules` is a callable so a reloaded rules file takes effect next batch."""

    def __init__(self, engine: Engine, rules: Callable[[], RulesConfig], *, responders: Responders):
        self.engine = engine
        self._rules = rules
        self.responders = responders  # renders suggested replies, queues auto-replies (listener.replies)
        self._analyzer: Analyzer | None = None
        self._pile_on: PileOnWindow | None = None
        # `socialear run` attaches its outbox worker here: new outbox rows are written
        # already claimed by it and handed over the moment the batch commits (latency).
        self.outbox_handoff: OutboxHandoff | None = None

    def _window(self, rules: RulesConfig) -> PileOnWindow:
        size = parse_duration(rules.urgency.pile_on_window)
        if self._pile_on is None or self._pile_on.window != size:
            self._pile_on = PileOnWindow(size)
        return self._pile_on

    @property
    def analyzer(self) -> Analyzer:
        rules = self._rules()
        if self._analyzer is None or self._analyzer.rules is not rules:
            self._analyzer = Analyzer(rules)
        return self._analyzer

    def process(
        self, source: str, batch: Batch, cursor_before: str | None, prepared: PreparedBatch | None = None,
        *, owner: str | None = None,
    ) -> BatchResult:
        """Store one batch and advance the cursor from `cursor_before`, atomically.

        `owner`: the polling replica's instance id; the cursor then moves only while the
        source's lease is still its own (storage.ingest.advance).

        `prepared`: the batch's history-free analysis, computed ahead in a worker process
        (listener.prescoring); used when it was made with the current rules, else (and for
        any mention it lacks) the analysis runs here."""
        analyzer = self.analyzer
        rules = analyzer.rules
        src_cfg = rules.source(source)
        only = src_cfg.brands if src_cfg else None
        result = BatchResult(fetched=len(batch.mentions), quarantined=len(batch.quarantined))
        result.stats.update(batch.stats)
        fresh = fresh_mentions(batch.mentions, result.stats)
        now = utcnow()
        handed: list[int] = []  # outbox rows claimed for the local worker (per call: sources poll in parallel)
        with self.engine.begin() as conn:
            fresh = self._drop_stored(conn, source, fresh, result)
            analysed = analyse_batch(conn, analyzer, self._window(rules), fresh, only, prepared)
            result.quarantined += len(analysed.failed)  # kept as quarantine rows, not stored
            if analysed.no_brand:
                result.stats["dropped/no_brand"] += analysed.no_brand
            stored = storing.store_mentions(conn, analysed.scored, now)
            result.stored = len(analysed.scored)
            result.escalated = escalate(conn, rules, self.responders, analysed.scored, stored.mention_ids,
                                        stored.author_ids, now, self.outbox_handoff, handed)
            storing.quarantine(conn, [*batch.quarantined, *analysed.failed], utcnow())
            self._advance(conn, source, cursor_before, batch, result, now, owner)
            # Last, in the same transaction: the rollup rows (brand x day/hour) are the rows every
            # replica's batch updates, so their row locks are taken just before the commit and held
            # for the shortest time; taken earlier they would serialise the replicas' whole batches
            # (and the case-grouping lock of listener.cases would wait behind them).
            rollups.add_mentions(conn, stored.counted)
        if handed and self.outbox_handoff is not None:
            self.outbox_handoff.accept(handed)  # committed: deliver now, not at the next poll
        return result

    @staticmethod
    def _drop_stored(conn: Connection, source: str, mentions: list[Mention], result: BatchResult) -> list[Mention]:
        """The mentions this source has not stored before (a re-fetched page's are)."""
        if not mentions:
            return mentions
        stored = ingest.stored_external_ids(conn, source, [m.external_id for m in mentions])
        if stored:
            result.stats["dropped/duplicate"] += len(stored)
            result.already_stored += len(stored)
        return [m for m in mentions if m.external_id not in stored]

    @staticmethod
    def _advance(
        conn: Connection, source: str, cursor_before: str | None, batch: Batch, result: BatchResult, now: datetime,
        owner: str | None,
    ) -> None:
        """Move the cursor with what it covered (a compare-and-set fenced by the lease:
        CursorConflict if another poller moved it or holds the lease now) and record the
        batch in the source's health row."""
        rate = batch.rate_limit
        ingest.advance(
            conn, source, cursor_before, batch.next_cursor,
            counts={"fetched": result.fetched, "stored": result.stored, "escalated": result.escalated,
                    "quarantined": result.quarantined},
            stats=result.stats, now=now,
            rate_limit=(rate.remaining, rate.reset_at) if rate is not None else None,
            budget_used=batch.budget_used, owner=owner)
