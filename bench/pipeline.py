"""Pipeline throughput against bare VADER, measured in the same run.

    python bench/pipeline.py --n 100000 [--prefill 1000000] [--rules rules.yaml] [--batch 500]
                             [--database-url postgresql+psycopg://...] [--serial]

Generates N synthetic mentions deterministically (seeded), streams them in batches
through the whole pipeline as `socialear import` runs it (the next batch's history-free
analysis in the prescoring worker process, listener.prescoring; `--serial`: all in
this process): dedupe, brand match, score, route, escalate, one transaction per batch
with its cursor; then times bare
`SentimentIntensityAnalyzer.polarity_scores` on the same texts. Prints one JSON object:
{"n", "pipeline_per_s", "vader_per_s", "ratio", "cpu_ratio", "peak_rss_mb", ...}. Mentions are
generated per batch and never held all at once, so memory stays flat in N.
Targets (issue 2): ratio >= 0.5 at N=100,000; peak_rss_mb <= 300 at N=1,000,000.

`--prefill M` first fills the database with M synthetic mentions (and their authors)
through the real tables with bulk inserts instead of the pipeline: the mention table's
secondary indexes and search triggers are dropped for the load and re-created from their
stored definitions after it (SQLite: the FTS index rebuilt), so the schema, indexes and
search index are those of real ingestion (1,000,000 in about two minutes); it then times
the pipeline on `--n` more, so the figure is ingest speed with that much history.
`cpu_ratio` compares CPU seconds (this process and its prescoring worker) instead of wall
seconds, and `main_cpu_ratio` this process's alone (what bounds the pipeline when the
worker keeps up): on a shared machine the two phases run under different loads, and CPU
time is what each cost (on PostgreSQL it
leaves out the server's own CPU, so there it flatters the pipeline). Issue 14's targets: ratio >= 0.25 at prefill 0 and >= 0.2 at 1,000,000.
`--database-url` runs on PostgreSQL (a fresh schema, dropped afterwards) instead of a
temporary SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: E402

from listener.pipeline import Pipeline  # noqa: E402
from listener.prescoring import Prescorer  # noqa: E402
from listener.types import Author, Batch, Mention  # noqa: E402
from responders.publish import PipelineResponders  # noqa: E402
from socialear import heap  # noqa: E402
from socialear.config import load_rules  # noqa: E402
from storage.dialect import table  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Author as AuthorRow  # noqa: E402
from storage.models import Mention as MentionRow  # noqa: E402

BRANDS = ["Nimbus", "@NimbusMobile", "nimbus mobile", "#NimbusDown", "Arcwave", "@TelvioUK", "Telvio"]
OPENERS = ["", "ugh ", "hey ", "so ", "honestly ", "day 3: ", "PSA: ", "wow "]
BODIES = [
    "{b} no signal in {p} since Monday, third time this month",
    "{b} charged me twice for the same bill, still waiting on a refund",
    "been on hold with {b} for 45 minutes now",
    "{b} network down again in {p}, can't call anyone",
    "really impressed with {b} support today, sorted in 5 minutes",
    "does {b} roaming work in Spain? planning a trip",
    "switching away from {b} when my contract ends, done with this",
    "{b} 5G speeds in {p} are brilliant lately",
    "my {b} eSIM activation failed twice, no reply to my email",
    "thanks {b}, the engineer fixed the broadband on time",
    "{b} app keeps logging me out, annoying",
    "anyone else on {b} having dropped calls in {p}?",
    "lovely clouds over {p} this evening",
    "great, another {b} outage, just what I needed",
    "{b} store staff in {p} were friendly and helpful",
]
PLACES = ["Leeds", "Bristol", "Cardiff", "Glasgow", "Norwich", "York", "Derby", "Bath", "Hull", "Leicester"]
TAILS = ["", " 😡", " 🙃", " !!", " #fail", " :(", " :)", " 👍", " please help", " urgent"]


def texts(n: int, seed: int = 7) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        body = rng.choice(BODIES).format(b=rng.choice(BRANDS), p=rng.choice(PLACES))
        yield f"{rng.choice(OPENERS)}{body}{rng.choice(TAILS)}"


def mentions(n: int, batch: int, seed: int = 7) -> Iterator[list[Mention]]:
    rng = random.Random(seed + 1)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out: list[Mention] = []
    for i, text in enumerate(texts(n, seed)):
        handle = f"user{rng.randrange(n // 3 + 1)}"
        out.append(
            Mention(
                source="bench", platform=rng.choice(["x", "x", "reddit", "appstore"]), external_id=f"b{i}",
                text=text, created_at=start + timedelta(seconds=i),
                author=Author(platform="x", handle=handle, followers=int(rng.paretovariate(1.2) * 50)),
                conversation_id=f"c{i // 7}", engagement=rng.randrange(20),
            )
        )
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


PREFILL_CHUNK = 20_000


def prefill(engine: Engine, m: int, seed: int = 11) -> float:
    """Bulk-insert M mentions (dated before the timed ones) and their authors; seconds taken."""
    if m <= 0:
        return 0.0
    rng = random.Random(seed)
    at = table(AuthorRow)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    step = (datetime(2026, 11, 1, tzinfo=UTC) - start) / m
    n_authors = max(1, m // 3)
    began = time.perf_counter()
    with engine.begin() as conn:
        for lo in range(0, n_authors, PREFILL_CHUNK):
            conn.execute(at.insert(), [
                {"platform": "x", "handle": f"hist{i}", "followers": int(rng.paretovariate(1.2) * 50),
                 "verified": False, "first_seen": start, "last_seen": start}
                for i in range(lo, min(n_authors, lo + PREFILL_CHUNK))
            ])
        first_author = conn.execute(sa.select(sa.func.min(at.c.id))).scalar_one()
    gen = texts(m, seed)
    with _without_secondary_indexes(engine):
        _fill_mentions(engine, m, rng, gen, start, step, first_author, n_authors)
    return time.perf_counter() - began


@contextmanager
def _without_secondary_indexes(engine: Engine) -> Iterator[None]:
    """Drop the mention table's secondary indexes and search triggers, and re-create them
    from their own stored definitions afterwards (SQLite: then rebuild the FTS index).

    A bulk load followed by one sorted index build is several times faster than a million
    random index inserts, and the schema afterwards is byte for byte what migrations made
    (the definitions are read back from the database, not restated here)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            saved = [row[0] for row in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'mention' AND sql IS NOT NULL "
                "AND type IN ('index', 'trigger')")]
            for kind, name in conn.exec_driver_sql(
                    "SELECT type, name FROM sqlite_master WHERE tbl_name = 'mention' AND sql IS NOT NULL "
                    "AND type IN ('index', 'trigger')").all():
                conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
        else:
            rows = conn.exec_driver_sql(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'mention' "
                "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)").all()
            saved = [definition for _, definition in rows]
            for name, _ in rows:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        with engine.begin() as conn:
            for definition in saved:
                conn.exec_driver_sql(definition)
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("INSERT INTO mention_fts (mention_fts) VALUES ('rebuild')")
            else:
                conn.exec_driver_sql("ANALYZE mention")


def _fill_mentions(engine: Engine, m: int, rng: random.Random, gen: Iterator[str], start: datetime,
                   step: timedelta, first_author: int, n_authors: int) -> None:
    mt = table(MentionRow)
    labels = ["negative", "neutral", "positive"]
    for lo in range(0, m, PREFILL_CHUNK):
        rows = []
        for i in range(lo, min(m, lo + PREFILL_CHUNK)):
            label = rng.choice(labels)
            brand = rng.choice(["Nimbus Mobile", "Arcwave", "Telvio"])
            rows.append({
                "source": "history", "platform": rng.choice(["x", "x", "reddit", "appstore"]),
                "external_id": f"h{i}", "text": next(gen), "created_at": start + step * i,
                "fetched_at": start + step * i, "author_id": first_author + rng.randrange(n_authors),
                "brand": brand, "brands": [brand], "competitor": brand != "Nimbus Mobile",
                "conversation_id": f"hc{i // 7}", "engagement": rng.randrange(20), "is_repost": False,
                "sentiment_label": label, "sentiment_compound": {"negative": -0.5, "neutral": 0.0,
                                                                 "positive": 0.5}[label],
                "urgency": rng.randrange(100), "categories": [], "scoring": {},
            })
        with engine.begin() as conn:
            conn.execute(mt.insert(), rows)


def bench_engine(url: str | None, db: Path) -> tuple[Engine, Callable[[], None]]:
    """A migrated engine and how to clean up after it: a SQLite file, or a fresh PG schema."""
    if not url:
        engine = make_engine(f"sqlite:///{db}")
        upgrade(engine)
        return engine, engine.dispose
    schema = f"bench_{secrets.token_hex(4)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    parsed = sa.make_url(url)
    engine = make_engine(parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"}))
    upgrade(engine)

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return engine, cleanup


@dataclass(frozen=True, slots=True)
class Rate:
    """Items per second of wall-clock time, and per second of this process's CPU time.

    On a shared machine the wall rate of two phases measured a minute apart depends on
    what else ran meanwhile; CPU time is what the phase itself cost, so `cpu_ratio` is
    the figure to compare across runs when the load average is high."""

    wall: float
    cpu: float  # this process and its helper
    main_cpu: float  # this process alone (what bounds the pipeline when the helper keeps up)


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux /proc; 0 if none)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(n: int, work: Callable[[], None], helper: int | None = None) -> Rate:
    """`helper`: a worker process whose CPU time counts too (the prescoring worker)."""
    wall, cpu, other = time.perf_counter(), time.process_time(), _process_cpu(helper)
    work()
    main = time.process_time() - cpu
    used = main + _process_cpu(helper) - other
    return Rate(n / (time.perf_counter() - wall), n / max(used, 1e-9), n / max(main, 1e-9))


def run_pipeline(n: int, batch: int, rules_path: Path, engine: Engine, serial: bool = False) -> Rate:
    """The import path: batches stored in order, the next one prepared by the prescoring
    worker meanwhile (`serial`: everything in this process, as before)."""
    rules = load_rules(rules_path)
    src = rules.sources[0].model_copy(update={"name": "bench"})
    rules = rules.model_copy(update={"sources": [src]})
    responders = PipelineResponders()
    pipeline = Pipeline(engine, lambda: rules, responders=responders)
    _ = pipeline.analyzer  # build scorer/matcher before timing, as a running service has
    with Prescorer(rules, responders.render_reply) as prescorer:
        if serial:
            prescorer.close()
        prescorer.warm()  # the worker builds its analyzer before timing, likewise
        heap.settle()  # as `socialear import` and `socialear run` do once started

        def work() -> None:
            cursor = None
            batches = (Batch(chunk, next_cursor=str(i + 1)) for i, chunk in enumerate(mentions(n, batch)))
            for b, prepared in prescorer.ahead("bench", batches):
                pipeline.process("bench", b, cursor, prepared)
                cursor = b.next_cursor

        return _timed(n, work, prescorer.pid)


def run_vader(n: int) -> Rate:
    analyzer = SentimentIntensityAnalyzer()

    def work() -> None:
        for text in texts(n):
            analyzer.polarity_scores(text)

    return _timed(n, work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rules", type=Path, default=ROOT / "rules.yaml")
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temp file)")
    ap.add_argument("--prefill", type=int, default=0, help="mentions stored before timing")
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    ap.add_argument("--serial", action="store_true", help="no prescoring worker: analyse in this process")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        engine, cleanup = bench_engine(args.database_url, db)
        try:
            prefill_s = prefill(engine, args.prefill)
            pipeline_per_s = run_pipeline(args.n, args.batch, args.rules, engine, args.serial)
        finally:
            cleanup()
        vader_per_s = run_vader(args.n)
        db_mb = db.stat().st_size / 2**20 if not args.database_url else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "n": args.n,
        "prefill": args.prefill,
        "prefill_s": round(prefill_s, 1),
        "database": "postgresql" if args.database_url else "sqlite",
        "batch": args.batch,
        "prescoring": "serial" if args.serial else "worker",
        "pipeline_per_s": round(pipeline_per_s.wall, 1),
        "vader_per_s": round(vader_per_s.wall, 1),
        "ratio": round(pipeline_per_s.wall / vader_per_s.wall, 3),
        "pipeline_cpu_per_s": round(pipeline_per_s.cpu, 1),
        "vader_cpu_per_s": round(vader_per_s.cpu, 1),
        "cpu_ratio": round(pipeline_per_s.cpu / vader_per_s.cpu, 3),
        "main_cpu_ratio": round(pipeline_per_s.main_cpu / vader_per_s.cpu, 3),
        "peak_rss_mb": round(peak, 1),
        "db_mb": round(db_mb, 1) if db_mb is not None else None,
    }))


if __name__ == "__main__":
    main()
