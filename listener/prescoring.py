"""Scoring on the second core: the next batch's history-free analysis runs in a worker
process while the pipeline stores the current batch.

    main process:  ... store k-1 │ finish+route+store k     │ finish+route+store k+1 ...
    worker:        ... prepare k │ prepare k+1              │ prepare k+2 ...

Only `Analyzer.prepare` (brand match, language, sentiment, categories, the urgency
signals of the text, and the route as it is without history, which the pipeline reuses
when history changed neither the urgency nor the segment) runs in the worker; what reads history (repeat contact, the pile-on
window, the routing that depends on them) stays in the pipeline's process, in post order,
and every batch is still one transaction. So the results are those of the serial path
(`tests/listener/test_prescoring.py` compares the stored rows).

Failure handling: a worker that dies (killed, out of memory) or fails to start is
logged once and the rest runs in process (`PreparedBatch` None: the pipeline analyses
the batch itself); nothing is lost, a batch is only ever stored by the pipeline. The
worker exits when its parent does (it watches its parent id), so an import killed by
SIGTERM or SIGKILL leaves no child behind; `close()` stops it on the normal paths.

The worker is started with "spawn" (no fork of a process that may hold threads and
locks) and builds its own Analyzer from the pickled rules (the suggested reply's renderer,
`listener.replies.Responders.render_reply`, comes pickled by reference with them), which takes a second or two:
worth it for an import of many batches, not for one.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from listener.analysis import Analyzer, Failed, Prepared, PreparedBatch, Scored, fresh_mentions
from listener.replies import Render, suggested_reply
from listener.types import Batch, Mention
from socialear import heap
from socialear.config import RulesConfig

log = logging.getLogger(__name__)

_analyzer: Analyzer | None = None  # the worker process's own
_render: Render | None = None  # the reply renderer the parent handed over (listener.replies)


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)  # the parent is gone: no one will read our results
        time.sleep(0.2)


def _start(rules: RulesConfig, parent: int, render: Render) -> None:
    """Worker initialiser: build the analyzer once; exit if the parent dies."""
    global _analyzer, _render
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    _analyzer = Analyzer(rules)
    _render = render
    heap.settle()  # the analyzer is built: what follows is per-batch garbage (socialear.heap)


def _prepare(mentions: list[Mention], only: list[str] | None) -> list[Prepared | Failed]:
    """The batch's history-free analysis, with the speculated decisions' replies. Their
    traces are left out (`trace=False`): the pipeline stores an escalation's trace as the
    text encoded here (listener.encoding) and a mention's not at all; the trace's dicts
    were most of what the pipeline's process unpickled (~45 us a mention)."""
    assert _analyzer is not None and _render is not None, "worker not initialised"
    items = _analyzer.prepare_all(mentions, only, speculate=True, trace=False)
    return [_with_reply(_render, _analyzer.rules, m, p) for m, p in zip(mentions, items, strict=True)]


def _with_reply(render: Render, rules: RulesConfig, m: Mention, p: Prepared | Failed) -> Prepared | Failed:
    """The suggested reply of a speculated escalation, rendered here too (it reads the
    decision's template and queue, the brand, the author, the categories and the language,
    none of which history changes); the pipeline renders it itself if rendering fails."""
    if not isinstance(p, Prepared) or p.decision is None or not p.decision.escalate:
        return p
    try:
        reply = suggested_reply(render, rules, Scored(m, p.brands, p.primary, p.competitor, p.pre, p.decision))
    except Exception:  # noqa: BLE001 - the pipeline renders it again, and quarantines or fails as ever
        return p
    return dataclasses.replace(p, reply=reply)


def _ready() -> int:
    return os.getpid()


class Prescorer:
    """One worker process preparing batches ahead of the pipeline (a context manager).

    `ahead(source, batches)` yields each batch with its `PreparedBatch` (or None after a
    worker failure), having handed the next batches to the worker before yielding."""

    def __init__(self, rules: RulesConfig, render: Render) -> None:
        """`render`: the pipeline's reply renderer (`Responders.render_reply`), a module-level
        function so that it pickles by reference and the worker imports it by name."""
        self.rules = rules
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(rules, os.getpid(), render))
        self.pid: int | None = None

    def __enter__(self) -> Prescorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm(self) -> None:
        """Wait until the worker has built its analyzer (a benchmark times the steady state)."""
        if self._pool is not None:
            try:
                self.pid = self._pool.submit(_ready).result()
            except BrokenProcessPool as exc:
                self._broken(exc)

    def close(self) -> None:
        """Stop the worker (and drop any look-ahead not yet used)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _broken(self, exc: BaseException) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:  # said once, however many batches were with the worker
            log.warning("prescoring worker failed (%s: %s); scoring in process from now on",
                        type(exc).__name__, exc)
            pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, source: str, mentions: Sequence[Mention]) -> Future[list[Prepared | Failed]] | None:
        """Hand one batch's fresh mentions to the worker; None when there is no worker."""
        if self._pool is None:
            return None
        src = self.rules.source(source)
        try:
            return self._pool.submit(_prepare, list(mentions), src.brands if src else None)
        except (BrokenProcessPool, RuntimeError) as exc:
            self._broken(exc)
            return None

    def collect(self, mentions: Sequence[Mention], future: Future[list[Prepared | Failed]] | None) -> PreparedBatch | None:
        """The worker's result for `mentions`, or None (the pipeline analyses in process)."""
        if future is None:
            return None
        try:
            items = future.result()
        except BrokenProcessPool as exc:
            self._broken(exc)
            return None
        return PreparedBatch(self.rules, {m.external_id: p for m, p in zip(mentions, items, strict=True)})

    def ahead(self, source: str, batches: Iterable[Batch], depth: int = 2
              ) -> Iterator[tuple[Batch, PreparedBatch | None]]:
        """Each batch with its preparation; the next `depth` batches are with the worker
        meanwhile. Two, not one: with one, a batch whose storing ran long (a WAL
        checkpoint, a page of slow inserts) left the worker idle with nothing queued, and
        the pipeline then waited for the next batch's analysis (about a tenth of an
        import's wall time in bench/pipeline.py); with two the worker keeps working
        through such a batch and the pipeline rarely waits."""
        pending: deque[tuple[Batch, list[Mention], Any]] = deque()
        for batch in batches:
            fresh = fresh_mentions(batch.mentions)
            pending.append((batch, fresh, self.submit(source, fresh)))
            if len(pending) > depth:
                done, mentions, future = pending.popleft()
                yield done, self.collect(mentions, future)
        while pending:
            done, mentions, future = pending.popleft()
            yield done, self.collect(mentions, future)
