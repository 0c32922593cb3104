"""Care medians and p90 come from response-time buckets 1.1x apart (storage/report_queries.py
RESPONSE_BUCKETS), read from `rollup_care_span` for whole days and from the escalations for the
period's end hours. The documented bound: the estimate lies in the exact quantile's own
bucket, so it is within 10 % of it (for response times of 10 s and more)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from sqlalchemy.engine import Engine

from reports.engine import care_performance
from storage.rollups import hour_start
from tests.reports.report_data import add_escalation, store

FIRST = hour_start(493_776 + 30 * 168)  # a Monday, 00:00 UTC


def _exact(times: list[float], q: float) -> float:
    """The q-quantile as the report ranks it: the first time whose rank reaches q x n."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_care_quantiles_are_within_the_bucket_bound(engine: Engine) -> None:
    rng = random.Random(3)
    n = 160
    created = [FIRST + timedelta(hours=5 + rng.random() * 24 * 6) for _ in range(n)]
    ids = store(engine, [("Nimbus", "x", "negative", 0, [], f"help {i}", c, 1) for i, c in enumerate(created)])
    seconds: dict[str, list[float]] = {"care": [], "urgent": []}
    for i, (mid, c) in enumerate(zip(ids, created, strict=True)):
        secs = math.exp(rng.uniform(math.log(30), math.log(2 * 86400)))  # 30 s .. 2 days, log-uniform
        queue = "urgent" if i % 3 == 0 else "care"
        seconds[queue].append(secs)
        add_escalation(engine, mid, created=c, sla_due=c + timedelta(hours=1), queue=queue,
                       replied=c + timedelta(seconds=secs))
    # The period starts and ends mid-day: its end hours are read from the escalations, its
    # whole days from the rollup.
    start, end = FIRST + timedelta(hours=3), FIRST + timedelta(days=7, hours=7)
    with engine.connect() as conn:
        care = care_performance(conn, ["Nimbus"], start, end, end)
    everything = seconds["care"] + seconds["urgent"]
    groups = [(care, everything)] + [(q, seconds[q["queue"]]) for q in care["by_queue"]]
    assert care["responded"] == n and len(groups) == 3
    worst = 0.0
    for stats, times in groups:
        for key, q in (("first_response_median_s", 0.5), ("first_response_p90_s", 0.9)):
            exact = _exact(times, q)
            worst = max(worst, abs(stats[key] - exact) / exact)
    assert worst < 0.10
