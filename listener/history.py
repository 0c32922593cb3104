"""The history half of a batch's analysis: what each mention's score and route read from
what came before it, in post order.

    oldest post ──► ... ──► newest post      each: finish the score with the pile-on window
                                             and the author's open escalations, route, then
                                             count it (a surge or a repeat contact inside
                                             one batch counts, as post by post)

Why its own module: the history-free half (`listener.analysis.Analyzer.prepare`) may run
ahead in a worker process (listener.prescoring); this half reads the database (the batch's
authors' escalation counts, the customer directory, recent negative mentions, all
through `storage`) and must run in the pipeline's process, inside the batch's
transaction, one mention after the other. A mention whose analysis raises is kept as a
quarantine row, never lost and never fatal to its batch (invariant 2).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from listener.analysis import Analyzer, Failed, PreparedBatch, Scored, failure
from listener.scoring import ScoringContext
from listener.types import Mention, Quarantined
from storage import customers, ingest
from storage.engine import Connection
from storage.types import as_utc

log = logging.getLogger(__name__)


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
        # the same counts by brand, then category: `context` reads one brand's (per mention)
        self.by_brand: dict[str | None, Counter[str]] = {}
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
        self.by_brand.clear()
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
            self.by_brand.setdefault(brand, Counter())[cat] += 1

    def _evict(self, now: datetime) -> None:
        horizon = now - self.window
        while self.events and self.events[0][0] < horizon:
            _, brand, cats, conv = self.events.popleft()
            if conv:
                self.threads[conv] -= 1
            for cat in cats:
                self.categories[(brand, cat)] -= 1
                self.by_brand[brand][cat] -= 1

    def context(self, m: Mention, brand: str | None, open_escalations: int) -> ScoringContext:
        self._evict(as_utc(m.created_at))
        return ScoringContext(
            author_open_escalations=open_escalations,
            thread_negative_recent=self.threads[m.conversation_id] if m.conversation_id else 0,
            category_negative_recent={c: n for c, n in self.by_brand.get(brand, {}).items() if n > 0},
        )

    def add(self, s: Scored) -> None:
        if s.score.sentiment.label == "negative":
            self._push(as_utc(s.mention.created_at), s.brand, tuple(s.score.categories), s.mention.conversation_id)



class Analysed(NamedTuple):
    """A batch's analysis: what is stored, what is quarantined, how many were about no brand."""

    scored: list[Scored]
    failed: list[Quarantined]
    no_brand: int


def analyse_batch(
    conn: Connection,
    analyzer: Analyzer,
    window: PileOnWindow,
    mentions: Sequence[Mention],
    only: list[str] | None,
    prepared: PreparedBatch | None = None,
) -> Analysed:
    """Analyse the batch's new mentions in post order. `prepared`: their history-free
    half, made ahead by the prescoring worker; used when made with `analyzer`'s rules,
    else (and for any mention it lacks) that half runs here too."""
    out: list[Scored] = []
    failed: list[Quarantined] = []
    no_brand = 0
    if not mentions:
        return Analysed(out, failed, no_brand)
    ahead = prepared.items if prepared is not None and prepared.rules is analyzer.rules else {}
    created = [as_utc(m.created_at) for m in mentions]
    window.prepare(conn, min(created), max(created))
    prior = ingest.escalation_counts(conn, {(m.author.platform, m.author.handle) for m in mentions})
    # the customer directory: routes may match the segment, SLAs depend on it
    customers.annotate(conn, mentions)
    for m in sorted(mentions, key=lambda x: as_utc(x.created_at)):
        key = (m.author.platform, m.author.handle)
        counts = prior.setdefault(key, [0, 0])  # [open escalations, all escalations]

        def context(brand: str, m: Mention = m, n: int = counts[0]) -> ScoringContext:
            return window.context(m, brand, n)

        try:
            p = ahead.get(m.external_id)
            if p is None:
                p = analyzer.prepare(m, only)
            if isinstance(p, Failed):
                log.error("source %s: cannot analyse mention %s: %s", m.source, m.external_id, p.error)
                failed.append(quarantined(m, p.error))
                continue
            s = analyzer.complete(m, p, context)
        except Exception as exc:  # one poison mention must not fail its batch forever
            log.exception("source %s: cannot analyse mention %s", m.source, m.external_id)
            failed.append(quarantined(m, failure(exc).error))
            continue
        if s is None:
            no_brand += 1
            continue
        window.add(s)
        if s.decision.escalate:
            s.repeat_contact = counts[1] > 0
            counts[0] += 1
            counts[1] += 1
        out.append(s)
    return Analysed(out, failed, no_brand)


def quarantined(m: Mention, error: str) -> Quarantined:
    """A mention the analysis raised on, as a quarantine row with its full content."""
    payload = json.dumps(dataclasses.asdict(m), ensure_ascii=False, default=str)
    return Quarantined(m.source, payload, error, m.external_id)
