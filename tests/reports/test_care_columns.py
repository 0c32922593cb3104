"""`care_performance` adds the care rollup's cells with numpy (`care_columns`); it is the
row-by-row sum over `care_histogram` it replaced (written out below): the same JSON, key
order included (`by_status` in order of first appearance), for periods with end hours,
whole days, an open backlog (some past due), several queues, statuses and categories."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import timedelta

import numpy as np
from sqlalchemy.engine import Engine

from reports.engine import _CareCell, care_performance
from storage import report_queries as rq
from storage.rollups import hour_start
from tests.reports.report_data import add_escalation, store

FIRST = hour_start(493_776 + 30 * 168)


def _reference(conn, own, start, end, now):
    overall = _CareCell()
    by_queue: dict = defaultdict(_CareCell)
    by_cat: dict = defaultdict(_CareCell)
    status: Counter = Counter()
    combos: dict = {}
    for queue, cats, state, bucket, n, met, breached in rq.care_histogram(conn, own, start, end, now):
        combo = combos.setdefault((queue, cats), [0, 0, 0, [], []])
        combo[0] += n
        combo[1] += met
        combo[2] += breached
        if bucket >= 0:
            combo[3].append(bucket)
            combo[4].append(n)
        status[state] += n
    for (queue, cats), (n, met, breached, buckets, counts) in combos.items():
        hist = np.bincount(np.array(buckets, dtype=np.int64), weights=np.array(counts, dtype=np.float64),
                           minlength=rq.CARE_BUCKETS + 1).astype(np.int64)
        for cell in (overall, by_queue[queue], *(by_cat[c] for c in cats or ("(none)",))):
            cell.add(n, met, breached, hist)
    return {
        "brands": own, **overall.stats(), "by_status": dict(status),
        "by_queue": [{"queue": q, **cell.stats()} for q, cell in sorted(by_queue.items())],
        "by_category": [{"category": c, **cell.stats()}
                        for c, cell in sorted(by_cat.items(), key=lambda kv: (-kv[1].n, kv[0]))],
    }


def test_care_columns_add_up_as_the_rows_did(engine: Engine) -> None:
    rng = random.Random(5)
    n = 120
    created = [FIRST + timedelta(hours=rng.random() * 24 * 9) for _ in range(n)]
    brands = ["Nimbus" if i % 4 else "Stratus" for i in range(n)]
    ids = store(engine, [(b, "x", "negative", 0, [], f"help {i}", c, 1)
                         for i, (b, c) in enumerate(zip(brands, created, strict=True))])
    for i, (mid, c) in enumerate(zip(ids, created, strict=True)):
        secs = rng.uniform(5, 3 * 86400)
        kind = i % 5
        add_escalation(engine, mid, created=c, sla_due=c + timedelta(hours=rng.choice([1, 6, 48])),
                       queue=("care", "urgent", "billing")[i % 3], brand=brands[i],
                       categories=[["outage"], ["billing", "outage"], [], ["activation"]][i % 4],
                       replied=c + timedelta(seconds=secs) if kind in (0, 1, 2) else None,
                       resolved=c + timedelta(seconds=secs * 1.5) if kind in (1, 3) else None)
    periods = [(FIRST + timedelta(hours=3), FIRST + timedelta(days=8, hours=7)),
               (FIRST, FIRST + timedelta(days=9)), (FIRST + timedelta(hours=30), FIRST + timedelta(hours=40)),
               (FIRST + timedelta(days=20), FIRST + timedelta(days=21))]
    with engine.connect() as conn:
        for start, end in periods:
            for now in (end, FIRST + timedelta(days=4)):
                for own in (["Nimbus"], ["Nimbus", "Stratus"]):
                    got = care_performance(conn, own, start, end, now)
                    assert json.dumps(got) == json.dumps(_reference(conn, own, start, end, now)), (start, end, own)
        full = care_performance(conn, ["Nimbus", "Stratus"], FIRST, FIRST + timedelta(days=9), FIRST + timedelta(days=4))
    assert full["escalations"] == n and full["pending"] > 0 and full["breached_sla"] > 0
    assert len(full["by_status"]) == 2 and len(full["by_queue"]) == 3
