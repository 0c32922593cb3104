"""Report benchmark: the competitor report reads rollups, so it does not grow with mentions.

    python bench/report.py [--n 1000000] [--small-n 10000] [--database-url URL] [--keep DIR]

For each size, a fresh database (SQLite: a temporary file; PostgreSQL: a fresh schema in
the URL's database, dropped afterwards) is built by the production migrations and filled
with N synthetic mentions over 90 days across 3 brands (50/30/20 %): 4 platforms, a daily
rhythm, 35 % negative, categories, engagement, authors (one per 20 mentions), ~5 %
escalations of the own brand, and text drawn from a Zipfian vocabulary of 6,000 words
(real text's long tail; a tiny vocabulary would flatter anything that counts words).
Rows go in with `executemany` in large batches, and the rollups with the very function
the pipeline calls in its transaction (`storage.rollups.add_mentions`); the care rollup
is kept by the database's own triggers as the escalations go in (migration 0011).

Then, in the same run, it times (median of 5, after one warm-up each, the two
measurements interleaved so that both see the same load):
* `report_s`: `build_competitor_report` over the whole 90 days, all brands;
* `scan_s`: `SELECT sum(length(text)) FROM mention`, one pass over the mentions' text
  (the cost of the naive report);
and prints one JSON object: ratio = report_s / scan_s (target <= 0.25) and growth =
report_s / small_n_report_s (target <= 5).

`--keep DIR` keeps each filled database (SQLite: DIR/bench-report-N.db; PostgreSQL: the
schema bench_report_keep_N) and reuses it on the next run when it holds exactly N bench
mentions (the fill is deterministic: same seed, same rows), so repeated measurements
skip the 10+ minute fill at N=1,000,000. A reused database is brought to the current
migration first, so a new migration's back-fill runs on it as it would in production;
`fill_s` is then 0 and `reused` true. After a fill and on reuse the database is
analyzed, and on PostgreSQL vacuumed (`settle`): autovacuum's work on a real server,
which the test server has turned off.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from reports import build_competitor_report
from socialear.config import Brand, Category, RulesConfig
from storage import models as t
from storage import rollups
from storage.dialect import table
from storage.engine import make_engine
from storage.migrate import upgrade

END = datetime(2026, 11, 30, tzinfo=UTC)
DAYS = 90
BATCH = 20_000
BRANDS = (("Nimbus", 0.5), ("Stratus", 0.3), ("Cirrus", 0.2))
PLATFORMS = ("x", "reddit", "trustpilot", "appstore")
CATEGORIES = ("outage", "billing", "cancellation", "waiting", "activation")
SENTIMENTS = (("negative", 0.35), ("neutral", 0.4), ("positive", 0.25))
QUEUES = ("care", "billing", "urgent")


def rules() -> RulesConfig:
    return RulesConfig(
        brands=[Brand(name=b, query=b.lower(), competitor=i > 0) for i, (b, _) in enumerate(BRANDS)],
        categories=[Category(name=c, severity=3, phrases=[c]) for c in CATEGORIES],
        queues=list(QUEUES),
    )


def vocabulary(rng: random.Random, size: int = 6000) -> tuple[list[str], list[float]]:
    consonants, vowels = "bcdfghklmnprstvwz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(1, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    return ordered, [1 / (rank + 1) for rank in range(size)]  # Zipf


def _hour_weights() -> list[float]:
    return [0.25 + math.exp(-(((h - 13) / 4.5) ** 2)) for h in range(24)]


def fill(engine: Any, n: int, seed: int = 7) -> float:
    """N mentions (+ authors, escalations, rollups); returns the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(seed)
    words, weights = vocabulary(rng)
    cum_weights = list(_cumulative(weights))
    hours = _hour_weights()
    at, mt, et = table(t.Author), table(t.Mention), table(t.Escalation)
    n_authors = max(100, n // 20)
    first = END - timedelta(days=DAYS)
    with engine.begin() as conn:
        for i in range(0, n_authors, BATCH):
            conn.execute(at.insert(), [
                {"platform": PLATFORMS[j % 4], "handle": f"user{j}", "name": f"User {j}",
                 "followers": int(rng.lognormvariate(5, 2)), "verified": False,
                 "first_seen": first, "last_seen": first}
                for j in range(i, min(n_authors, i + BATCH))
            ])
        author_ids = list(conn.execute(sa.select(at.c.id)).scalars())
    brand_names = [b for b, _ in BRANDS]
    brand_w = [w for _, w in BRANDS]
    sent_names = [s for s, _ in SENTIMENTS]
    sent_w = [w for _, w in SENTIMENTS]
    done = 0
    while done < n:
        size = min(BATCH, n - done)
        rows = []
        for k in range(size):
            day = rng.randrange(DAYS)
            hour = rng.choices(range(24), hours)[0]
            created = first + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
            brand = rng.choices(brand_names, brand_w)[0]
            sentiment = rng.choices(sent_names, sent_w)[0]
            cats = rng.sample(CATEGORIES, rng.choice((0, 0, 1, 1, 2))) if sentiment != "positive" else []
            text = f"{brand} " + " ".join(rng.choices(words, cum_weights=cum_weights, k=rng.randint(8, 20)))
            rows.append({
                "source": "bench", "platform": PLATFORMS[rng.randrange(4)], "external_id": f"b{done + k}",
                "url": f"https://example.test/{done + k}", "text": text, "created_at": created,
                "fetched_at": created, "author_id": rng.choice(author_ids), "brand": brand, "brands": [brand],
                "competitor": brand != "Nimbus", "engagement": int(rng.expovariate(0.1)),
                "is_repost": False, "sentiment_label": sentiment, "urgency": 0, "categories": cats,
                "scoring": {},
            })
        with engine.begin() as conn:
            conn.execute(mt.insert(), rows)
            rollups.add_mentions(conn, (rollups.as_rollup_row(r) for r in rows))
            # ~5 % of the own brand's negative mentions were escalated
            wanted = [r["external_id"] for r in rows if r["brand"] == "Nimbus" and r["sentiment_label"] == "negative"
                      and rng.random() < 0.15]
            ids = dict(conn.execute(sa.select(mt.c.external_id, mt.c.id).where(
                mt.c.source == "bench", mt.c.external_id.in_(wanted))).all()) if wanted else {}
            by_ext = {r["external_id"]: r for r in rows}
            escalations = []
            for ext, mention_id in ids.items():
                created = by_ext[ext]["created_at"]
                wait = timedelta(minutes=rng.expovariate(1 / 90))
                escalations.append({
                    "mention_id": mention_id, "idempotency_key": f"k{mention_id}", "route": "r",
                    "queue": rng.choice(QUEUES), "priority": "normal", "priority_rank": 2, "status": "resolved",
                    "sla_due": created + timedelta(hours=2), "created_at": created, "updated_at": created,
                    "replied_at": created + wait, "resolved_at": created + wait * 2, "tags": [], "alert": False,
                    "decision": {}, "brand": "Nimbus", "source": "bench", "platform": by_ext[ext]["platform"],
                    "categories": by_ext[ext]["categories"],
                })
            if escalations:
                conn.execute(et.insert(), escalations)
        done += size
    settle(engine)
    return time.perf_counter() - started


def settle(engine: Any) -> None:
    """Statistics for the planner, and on PostgreSQL the dead row versions the fill's
    upserts left in the rollup tables removed (VACUUM ANALYZE): what autovacuum does on
    a real server. The test server runs with autovacuum off, and a never-vacuumed
    `rollup_brand_hour` held 125k dead versions for its 6.5k rows, so reading it was a
    scan of 840 pages instead of ~50. Run after the fill and when a kept database is
    reused (migrated)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _cumulative(weights: list[float]) -> Any:
    total = 0.0
    for w in weights:
        total += w
        yield total


def _median_times(fns: list[Any], repeat: int = 5) -> list[float]:
    """Median seconds of each function, after one warm-up each (both measurements run on
    a warm cache). The runs are interleaved (a, b, a, b, ...), so on a shared, noisy
    machine both see the same load and their ratio is fair."""
    for fn in fns:
        fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return [statistics.median(x) for x in samples]


def measure(engine: Any) -> tuple[float, float]:
    cfg = rules()

    def report() -> None:
        build_competitor_report(engine, cfg, start=END - timedelta(days=DAYS), end=END, now=END)

    def scan() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT sum(length(text)) FROM mention")).scalar()

    report_s, scan_s = _median_times([report, scan])
    return report_s, scan_s


class Database:
    """A database for one size: a fresh temp SQLite file or PostgreSQL schema, dropped
    afterwards; or, with `keep`, a named one that is kept and reused (see --keep)."""

    def __init__(self, base_url: str | None, n: int, keep: str | None = None):
        self.base_url, self.n, self.keep = base_url, n, keep
        self.schema: str | None = None
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        self.postgres = bool(base_url and base_url.startswith("postgresql"))

    def __enter__(self) -> Any:
        if self.postgres and self.base_url:
            self.schema = f"bench_report_keep_{self.n}" if self.keep else f"bench_report_{secrets.token_hex(4)}"
            admin = make_engine(self.base_url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            admin.dispose()
            url = sa.make_url(self.base_url)
            url = url.set(query={**url.query, "options": f"-csearch_path={self.schema}"})
            self.engine = make_engine(url.render_as_string(hide_password=False))
        else:
            if self.keep:
                os.makedirs(self.keep, exist_ok=True)
                path = os.path.join(self.keep, f"bench-report-{self.n}.db")
            else:
                self.tmp = tempfile.TemporaryDirectory(prefix="bench-report-")
                path = os.path.join(self.tmp.name, "bench.db")
            self.engine = make_engine(f"sqlite:///{path}")
        upgrade(self.engine)
        return self.engine

    def filled(self) -> bool:
        """A kept database that already holds this size's N bench mentions."""
        if not self.keep:
            return False
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM mention WHERE source = 'bench'")).scalar() or 0) == self.n

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        if not self.keep:
            self.drop()

    def drop(self) -> None:
        """Remove the database (the engine is disposed first)."""
        self.engine.dispose()
        if self.schema and self.base_url:
            admin = make_engine(self.base_url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            admin.dispose()
        elif self.tmp:
            self.tmp.cleanup()
        elif self.keep:
            path = os.path.join(self.keep, f"bench-report-{self.n}.db")
            for name in (path, path + "-wal", path + "-shm"):
                if os.path.exists(name):
                    os.remove(name)

    def ready(self) -> tuple[Any, float, bool]:
        """(engine, seconds spent filling, whether a kept database was reused)."""
        engine = self.__enter__()
        if self.filled():
            settle(engine)
            return engine, 0.0, True
        if self.keep:  # a kept database with a broken or different fill: start it again
            self.drop()
            engine = self.__enter__()
        return engine, fill(engine, self.n), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--small-n", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="postgresql+psycopg://... (default: SQLite)")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="keep the filled databases (SQLite files in DIR; PostgreSQL schemas) and reuse them")
    args = parser.parse_args()
    small_db = Database(args.database_url, args.small_n, args.keep)
    try:
        engine, fill_small, _ = small_db.ready()
        small_report, small_scan = measure(engine)
    finally:
        small_db.__exit__(None, None, None)
    big_db = Database(args.database_url, args.n, args.keep)
    try:
        engine, fill_big, reused = big_db.ready()
        report_s, scan_s = measure(engine)
    finally:
        big_db.__exit__(None, None, None)
    print(json.dumps({
        "n": args.n,
        "report_s": round(report_s, 4),
        "scan_s": round(scan_s, 4),
        "ratio": round(report_s / scan_s, 3),
        "small_n": args.small_n,
        "small_n_report_s": round(small_report, 4),
        "growth": round(report_s / small_report, 2),
        "small_n_scan_s": round(small_scan, 5),
        "fill_s": round(fill_big + fill_small, 1),
        "reused": reused,
        "database": "postgresql" if args.database_url and args.database_url.startswith("postgresql") else "sqlite",
    }))


if __name__ == "__main__":
    main()
