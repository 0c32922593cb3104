"""The pipeline: one fetched batch in, one database transaction out.

    Batch ──► dedupe (in batch, then against storage) ──► brand match ──► score
          ──► route ──► ONE transaction: authors + mentions + escalations + outbox rows
                                         + quarantined items + cursor advance + health

Why one transaction: the cursor moves only together with what it covered. A crash
anywhere before the commit leaves the old cursor and nothing stored, so the next poll
re-fetches at most this batch; `(source, external_id)` is unique, so even a replayed
batch cannot store a mention twice (invariant 1). The cursor advance is a compare-and-set
on the cursor this batch was fetched from, so two replicas that somehow polled the same
source cannot both commit.

Bulk SQL (Core `insert ... returning`) rather than one ORM object per mention: the
pipeline has to keep up with VADER itself (bench/pipeline.py measures the ratio).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from listener import cases
from listener.analysis import Analyzer, Failed, PreparedBatch, Scored, failure, fresh_mentions

__all__ = ["Analyzer", "BatchResult", "CursorConflict", "Pipeline", "Scored"]
from listener.replies import Responders, suggested_reply
from listener.routing import Decision
from listener.scoring import ScoringContext
from listener.types import Batch, Mention, Quarantined
from socialear.config import RulesConfig, parse_duration
from storage import customers, ingest, rollups
from storage import models as t
from storage.audit import Event, audit_many
from storage.engine import Connection, Engine
from storage.ingest import CursorConflict
from storage.types import utcnow

log = logging.getLogger(__name__)



class OutboxHandoff(Protocol):
    """The in-process outbox worker, as the pipeline sees it (responders.outbox.OutboxWorker)."""

    @property
    def owner(self) -> str: ...

    @property
    def lease_s(self) -> float: ...

    def accept(self, ids: list[int]) -> None: ...


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


def idempotency_key(source: str, external_id: str) -> str:
    """Stable across retries and replicas: a sink creates one ticket per key."""
    digest = hashlib.sha256(f"{source}\x1f{external_id}".encode()).hexdigest()[:32]
    return f"sk-{digest}"


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PileOnWindow:
    """Recent negative mentions per thread and per (brand, category), for the pile-on signal.

    Kept across batches and updated as each batch is scored (so a surge inside one batch
    counts too); re-read from storage at most every RESEED_S seconds, so mentions stored
    by other replicas are seen within that time without querying on every batch.
    """

    RESEED_S = 30.0

    def __init__(self, window: timedelta):
        self.window = window
        self.events: deque[tuple[datetime, str | None, tuple[str, ...], str | None]] = deque()
        self.threads: Counter[str] = Counter()
        self.categories: Counter[tuple[str | None, str]] = Counter()
        self.seeded_at = float("-inf")
        self.seeded_from: datetime | None = None

    def prepare(self, conn: Connection, oldest: datetime, newest: datetime) -> None:
        """Make sure the window covers [oldest - window, newest]; reseed when stale or out of range."""
        since = oldest - self.window
        stale = time.monotonic() - self.seeded_at > self.RESEED_S
        if stale or self.seeded_from is None or since < self.seeded_from:
            self._seed(conn, since, newest)

    def _seed(self, conn: Connection, since: datetime, until: datetime) -> None:
        self.events.clear()
        self.threads.clear()
        self.categories.clear()
        for created, brand, cats, conv in ingest.negative_mentions(conn, since, until):
            self._push(as_utc(created), brand, tuple(cats or ()), conv)
        self.seeded_at = time.monotonic()
        self.seeded_from = since

    def _push(self, at: datetime, brand: str | None, cats: tuple[str, ...], conv: str | None) -> None:
        self.events.append((at, brand, cats, conv))
        if conv:
            self.threads[conv] += 1
        for cat in cats:
            self.categories[(brand, cat)] += 1

    def _evict(self, now: datetime) -> None:
        horizon = now - self.window
        while self.events and self.events[0][0] < horizon:
            _, brand, cats, conv = self.events.popleft()
            if conv:
                self.threads[conv] -= 1
            for cat in cats:
                self.categories[(brand, cat)] -= 1

    def context(self, m: Mention, brand: str | None, open_escalations: int) -> ScoringContext:
        self._evict(as_utc(m.created_at))
        return ScoringContext(
            author_open_escalations=open_escalations,
            thread_negative_recent=self.threads[m.conversation_id] if m.conversation_id else 0,
            category_negative_recent={c: n for (b, c), n in self.categories.items() if b == brand and n > 0},
        )

    def add(self, s: Scored) -> None:
        if s.score.sentiment.label == "negative":
            self._push(as_utc(s.mention.created_at), s.brand, tuple(s.score.categories), s.mention.conversation_id)


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

    # -- public ------------------------------------------------------------------------
    def process(
        self, source: str, batch: Batch, cursor_before: str | None, prepared: PreparedBatch | None = None
    ) -> BatchResult:
        """Store one batch and advance the cursor from `cursor_before`, atomically.

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
            failed: list[Quarantined] = []  # mentions the analysis raised on: kept, not stored
            scored = self._analyse(conn, analyzer, fresh, only, result, failed, prepared)
            author_ids = ingest.upsert_authors(conn, {(s.mention.author.platform, s.mention.author.handle):
                                                      s.mention.author for s in scored}, now)
            mention_ids, counted = self._insert_mentions(conn, scored, author_ids, now)  # ids of the escalated
            result.stored = len(scored)
            result.escalated = self._escalate(conn, rules, scored, mention_ids, author_ids, now, handed)
            self._quarantine(conn, [*batch.quarantined, *failed], utcnow())
            self._advance(conn, source, cursor_before, batch, result, now)
            # Last, in the same transaction: the rollup rows (brand x day/hour) are the rows every
            # replica's batch updates, so their row locks are taken just before the commit and held
            # for the shortest time; taken earlier they would serialise the replicas' whole batches
            # (and the case-grouping lock of listener.cases would wait behind them).
            rollups.add_mentions(conn, counted)
        if handed and self.outbox_handoff is not None:
            self.outbox_handoff.accept(handed)  # committed: deliver now, not at the next poll
        return result

    # -- steps ---------------------------------------------------------------------------
    @staticmethod
    def _drop_stored(conn: Connection, source: str, mentions: list[Mention], result: BatchResult) -> list[Mention]:
        if not mentions:
            return mentions
        stored = ingest.stored_external_ids(conn, source, [m.external_id for m in mentions])
        if stored:
            result.stats["dropped/duplicate"] += len(stored)
            result.already_stored += len(stored)
        return [m for m in mentions if m.external_id not in stored]

    def _analyse(
        self,
        conn: Connection,
        analyzer: Analyzer,
        mentions: list[Mention],
        only: list[str] | None,
        result: BatchResult,
        failed: list[Quarantined],
        prepared: PreparedBatch | None = None,
    ) -> list[Scored]:
        if not mentions:
            return []
        ahead = prepared.items if prepared is not None and prepared.rules is analyzer.rules else {}
        window = self._window(analyzer.rules)
        created = [as_utc(m.created_at) for m in mentions]
        window.prepare(conn, min(created), max(created))
        prior = ingest.escalation_counts(conn, {(m.author.platform, m.author.handle) for m in mentions})
        # the customer directory: routes may match the segment, SLAs depend on it
        customers.annotate(conn, mentions)
        out = []
        for m in sorted(mentions, key=lambda x: as_utc(x.created_at)):
            key = (m.author.platform, m.author.handle)
            counts = prior.setdefault(key, [0, 0])

            def context(brand: str, m: Mention = m, n: int = counts[0]) -> ScoringContext:
                return window.context(m, brand, n)

            try:
                p = ahead.get(m.external_id)
                if p is None:
                    p = analyzer.prepare(m, only)
                if isinstance(p, Failed):
                    log.error("source %s: cannot analyse mention %s: %s", m.source, m.external_id, p.error)
                    failed.append(_quarantined(m, p.error))
                    result.quarantined += 1
                    continue
                s = analyzer.complete(m, p, context)
            except Exception as exc:  # noqa: BLE001 - one poison mention must not fail its batch forever
                log.exception("source %s: cannot analyse mention %s", m.source, m.external_id)
                failed.append(_quarantined(m, failure(exc).error))
                result.quarantined += 1
                continue
            if s is None:
                result.stats["dropped/no_brand"] += 1
                continue
            window.add(s)
            if s.decision.escalate:
                s.repeat_contact = counts[1] > 0
                counts[0] += 1
                counts[1] += 1
            out.append(s)
        return out

    @staticmethod
    def _insert_mentions(
        conn: Connection, scored: list[Scored], author_ids: dict[tuple[str, str], int], now: datetime
    ) -> tuple[dict[str, int], list[rollups.RollupRow]]:
        """Insert the mentions; return the ids of the escalated ones and the rows the
        rollups count (added by the caller at the end of the transaction)."""
        if not scored:
            return {}, []
        rows = []
        for s in scored:
            m, sc = s.mention, s.score
            rows.append(
                {
                    "source": m.source,
                    "platform": m.platform,
                    "external_id": m.external_id,
                    "url": m.url,
                    "text": m.text,
                    "title": m.title,
                    "lang": sc.language or m.lang,
                    "rating": m.rating,
                    "created_at": as_utc(m.created_at),
                    "fetched_at": now,
                    "author_id": author_ids[(m.author.platform, m.author.handle)],
                    "brand": s.brand,
                    "brands": list(s.brands),
                    "competitor": s.competitor,
                    "in_reply_to": m.in_reply_to,
                    "conversation_id": m.conversation_id,
                    "engagement": m.engagement,
                    "is_repost": m.is_repost,
                    "sentiment_label": sc.sentiment.label,
                    "sentiment_compound": sc.sentiment.compound,
                    "urgency": sc.urgency,
                    "categories": list(sc.categories),
                    "scoring": scoring_json(sc, s.decision),
                    "route": s.decision.route,
                }
            )
        ingest.insert_mentions(conn, rows)
        ids = ingest.mention_ids(conn, scored[0].mention.source,
                                 [s.mention.external_id for s in scored if s.decision.escalate])
        return ids, [rollups.as_rollup_row(r) for r in rows]

    def _escalate(
        self,
        conn: Connection,
        rules: RulesConfig,
        scored: list[Scored],
        mention_ids: dict[str, int],
        author_ids: dict[tuple[str, str], int],
        now: datetime,
        handed: list[int] | None = None,
    ) -> int:
        """Escalations, their outbox rows and audit events, in bulk (one statement each).

        The outbox row carries ids, not the ticket body: the worker builds the payload
        when it delivers (responders.payloads), with the author's history as of then.
        """
        todo = [s for s in scored if s.decision.escalate]
        if not todo:
            return 0
        rows = []
        for s in todo:
            d = s.decision
            priority = d.priority or "normal"
            rows.append(
                {
                    "mention_id": mention_ids[s.mention.external_id],
                    "idempotency_key": idempotency_key(s.mention.source, s.mention.external_id),
                    "route": d.route,
                    "queue": d.queue,
                    "priority": priority,
                    "priority_rank": t.PRIORITY_RANK[priority],
                    "status": "open",
                    "sla_due": now + rules.sla.due_after(
                        priority, (s.mention.extra or {}).get("customer_segment")),
                    "created_at": now,
                    "updated_at": now,
                    "suggested_reply": s.reply if s.reply is not None else suggested_reply(
                        self.responders.render_reply, rules, s),
                    "tags": d.tags,
                    "alert": d.alert,
                    "decision": {**d.to_dict(), "score": s.score.to_dict(), "repeat_contact": s.repeat_contact},
                    "brand": s.brand,
                    "source": s.mention.source,
                    "platform": s.mention.platform,
                    "categories": list(s.score.categories),
                    "urgency": s.score.urgency,
                }
            )
        # Placed in their cases before they are inserted (listener.cases.place_pending): each
        # row goes in final, follow-ups already closed into their case's head.
        esc_ids = ingest.allocate_escalation_ids(conn, len(rows))
        placing = cases.place_pending(conn, [
            cases.pending(esc_id, author_ids[(s.mention.author.platform, s.mention.author.handle)], s.mention.source,
                          s.mention.external_id, s.mention.in_reply_to, s.mention.conversation_id,
                          row["priority_rank"], row["urgency"], row["sla_due"], s.mention.created_at)
            for esc_id, row, s in zip(esc_ids, rows, todo, strict=True)
        ], now)
        for esc_id, row in zip(esc_ids, rows, strict=True):
            row.update(id=esc_id, case_id=None, follow_up_of=None, resolution=None, resolved_at=None)
            row.update(placing.get(esc_id, {}))
        ingest.insert_escalations(conn, rows)
        sinks = [sink for sink in rules.sinks if sink.enabled]
        outbox = [
            {
                "escalation_id": esc_id,
                "sink": sink.name,
                "kind": "alert" if sink.type == "alert" else "escalation",
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "idempotency_key": row["idempotency_key"],
                "priority_rank": row["priority_rank"],
                "payload": {},
                "created_at": now,
                "updated_at": now,
            }
            for esc_id, row, s in zip(esc_ids, rows, todo, strict=True)
            for sink in sinks
            if (s.decision.sinks is None or sink.name in s.decision.sinks)
            and (sink.type != "alert" or s.decision.alert)
        ]
        handoff = self.outbox_handoff
        if outbox and handoff is not None and handed is not None:
            # claimed for the local worker in this same transaction: no claim round-trip,
            # and if this process dies the rows are its own to resume (or lapse in 30 s)
            claim = ingest.claimed(handoff.owner, handoff.lease_s, now)
            handed.extend(ingest.insert_outbox(conn, [{**row, **claim} for row in outbox], returning=True))
        else:
            ingest.insert_outbox(conn, outbox, returning=False)
        audit_many(conn, [
            Event("system", "escalation.created", "escalation", esc_id, now,
                  {"route": row["route"], "queue": row["queue"], "priority": row["priority"]})
            for esc_id, row in zip(esc_ids, rows, strict=True)
        ])
        # Public replies only where a route explicitly says `publish: true` (never by default).
        publish = [esc_id for esc_id, s in zip(esc_ids, todo, strict=True) if s.decision.publish]
        if publish:
            self.responders.queue_auto_replies(conn, rules, publish)
        return len(esc_ids)

    @staticmethod
    def _quarantine(conn: Connection, items: list[Quarantined], now: datetime) -> None:
        ingest.insert_quarantined(conn, [
            {"source": q.source, "external_id": q.external_id, "payload": q.payload, "error": q.error,
             "at": now, "resolved": False}
            for q in items
        ])

    @staticmethod
    def _advance(
        conn: Connection, source: str, cursor_before: str | None, batch: Batch, result: BatchResult, now: datetime
    ) -> None:
        """Move the cursor with what it covered (a compare-and-set: CursorConflict if another
        poller moved it) and record the batch in the source's health row."""
        rate = batch.rate_limit
        ingest.advance(
            conn, source, cursor_before, batch.next_cursor,
            counts={"fetched": result.fetched, "stored": result.stored, "escalated": result.escalated,
                    "quarantined": result.quarantined},
            stats=result.stats, now=now,
            rate_limit=(rate.remaining, rate.reset_at) if rate is not None else None,
            budget_used=batch.budget_used)


# -- helpers shared with the CLI and the console -------------------------------------------


def scoring_json(score: Any, decision: Decision) -> dict[str, Any]:
    data = score.to_dict()
    data["matched_routes"] = decision.matched
    data["ignored"] = decision.ignored
    return data


def _quarantined(m: Mention, error: str) -> Quarantined:
    """A mention the analysis raised on, as a quarantine row with its full content."""
    payload = json.dumps(dataclasses.asdict(m), ensure_ascii=False, default=str)
    return Quarantined(m.source, payload, error, m.external_id)

