"""Garbage-collector settings for a long-running ingest process.

Why: CPython's cyclic collector runs a young-generation pass every 700 net container
allocations, and every so often a full pass over every tracked object. An ingest batch
allocates hundreds of thousands of dicts, lists and tuples (rows, scores, decisions,
unpickled look-ahead results), almost all freed by reference counting, while the heap
holds a few hundred thousand long-lived objects built at start-up (SQLAlchemy's compiled
metadata, the scorer's lexicons, the rules). Measured on bench/pipeline.py: the collector
was about a quarter of the pipeline process's CPU, and unpickling one batch's analysis
took 22 ms with it against 5 ms without.

`settle()` is called once start-up is done: it collects, moves every object alive then
into the permanent generation (`gc.freeze()`, so full passes no longer walk them), and
makes young passes rarer. Reference cycles are still collected, a little later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # container allocations between young passes (CPython's default: 700)


def settle() -> None:
    """After start-up: freeze what was built, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, max(older, 20), max(oldest, 100))
