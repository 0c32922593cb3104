"""Escalation latency, fetch → contact centre, through the real service path.

    python bench/latency.py [--n 1000] [--batch 100] [--parallel 4] [--delivery process|thread]
                            [--database-url postgresql+psycopg://...]

A local HTTP receiver on 127.0.0.1 (bench/receiver.py, in its own process so it does not
queue for this process's interpreter lock) stands in for the contact centre; it checks
each request's HMAC signature and records when each Idempotency-Key arrived (and any that
arrive twice). A burst of N synthetic, deterministic mentions (seeded; about half are
negative about the brand and escalate) is written to a JSONL file and read by a real
ReplaySource; `Collector.poll` runs it through the pipeline (one transaction per batch:
mentions + escalations + outbox rows + cursor), while the outbox worker runs as in
`socialear run`: in a child process (`--delivery process`, the default) or as threads of
this one (`--delivery thread`), handed each batch's outbox ids the moment it commits, and
delivering each escalation through the signed webhook sink.

Latency per escalation = time its batch was fetched (the source's `fetch` is wrapped to
stamp every external id it returns) → time the receiver got it. Prints one JSON object:
{"n", "escalations", "p50_ms", "p99_ms", "max_ms", "delivered", "duplicates", ...}.
Targets (issue 14): p99_ms <= 500, delivered == escalations, duplicates == 0.
`p99_fetch_to_commit_ms` and `p99_commit_to_ticket_ms` split the latency into the
pipeline's part (scoring a batch) and the delivery's part.

SQLite (a temporary file) by default; `--database-url` (default $SOCIALEAR_DATABASE_URL)
runs on PostgreSQL, in a schema of its own that is dropped afterwards (bench/scratch_db.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from listener.collector import Collector  # noqa: E402
from listener.escalating import idempotency_key  # noqa: E402
from responders.outbox import OutboxWorker, SinkSet  # noqa: E402
from responders.outbox_process import OutboxProcess  # noqa: E402
from responders.publish import PipelineResponders  # noqa: E402
from socialear.config import RulesConfig, parse_rules_text  # noqa: E402
from storage import models as t  # noqa: E402
from storage.dialect import table  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from receiver import RemoteReceiver  # noqa: E402
from scratch_db import pg_schema  # noqa: E402

SECRET = "bench-webhook-secret"
SOURCE = "burst"
NEGATIVE = [
    "{b} no signal in {p} since Monday, third time this month",
    "{b} charged me twice for the same bill, still waiting on a refund",
    "been on hold with {b} for 45 minutes now, useless",
    "{b} network down again in {p}, can't call anyone",
    "switching away from {b} when my contract ends, done with this awful service",
    "my {b} eSIM activation failed twice, no reply to my email, terrible",
    "great, another {b} outage in {p}, just what I needed",
]
OTHER = [
    "really impressed with {b} support today, sorted in 5 minutes",
    "does {b} roaming work in Spain? planning a trip",
    "{b} 5G speeds in {p} are brilliant lately",
    "thanks {b}, the engineer fixed the broadband on time",
    "{b} store staff in {p} were friendly and helpful",
]
PLACES = ["Leeds", "Bristol", "Cardiff", "Glasgow", "Norwich", "York", "Derby", "Bath"]
# The care rules both delivery benches run (faults.py imports them): the sources block
# and any sink retry settings are the only parts that differ.
CARE_RULES = """
brands:
  - name: Nimbus Mobile
    handles: {{x: NimbusMobile}}
    query: '"nimbus mobile" OR @NimbusMobile OR nimbus'
{sources}categories:
  - {{name: outage, severity: 5, phrases: [no signal, outage, network down]}}
  - {{name: billing, severity: 3, phrases: [charged twice, refund, bill]}}
queues: [urgent, care]
routes:
  - name: outage-urgent
    when: {{brand: own, sentiment: negative, categories: [outage]}}
    escalate: {{queue: urgent, priority: urgent}}
    reply: sorry
  - name: complaint
    when: {{brand: own, sentiment: negative}}
    escalate: {{queue: care, priority: normal}}
    reply: sorry
replies:
  sorry: {{en: "Hi {{{{ author }}}}, sorry about that. DM {{{{ brand_handle }}}} and we'll help."}}
sinks:
  - name: contact-centre
    type: webhook
    options: {{url: "{url}", timeout_s: 5}}
{sink_extra}"""
BURST_SOURCE = """sources:
  - name: burst
    type: replay
    schedule: {{every: 1m}}
    options: {{path: "{feed}", batch_size: {batch}}}
"""


def care_rules(url: str, sources: str = "", sink_extra: str = "") -> str:
    """CARE_RULES with a `sources:` block (none: an import-only configuration)."""
    return CARE_RULES.format(url=url, sources=sources, sink_extra=sink_extra)


def write_feed(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            pool = NEGATIVE if rng.random() < 0.55 else OTHER
            text = rng.choice(pool).format(b=rng.choice(["@NimbusMobile", "Nimbus", "nimbus mobile"]), p=rng.choice(PLACES))
            record = {
                "id": f"burst-{i}", "platform": "x", "text": text,
                "created_at": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "author": {"handle": f"user{rng.randrange(n)}", "name": f"User {i}", "followers": rng.randrange(5000)},
                "conversation_id": f"burst-{i}", "lang": "en",
            }
            out.write(json.dumps(record) + "\n")


def stamp_fetches(collector: Collector, fetched: dict[str, float]) -> None:
    """Wrap the live source's fetch: every mention it returns is stamped when the batch arrived."""
    source = collector.source(SOURCE)
    original = source.fetch

    def fetch(cursor: str | None) -> Any:
        batch = original(cursor)
        now = time.monotonic()  # the receiver (another process) stamps with the same clock
        for mention in batch.mentions:
            fetched.setdefault(idempotency_key(SOURCE, mention.external_id), now)
        return batch

    source.fetch = fetch  # type: ignore[method-assign]


def stamp_commits(collector: Collector, committed: dict[str, float]) -> None:
    """Wrap the pipeline: every mention of a batch is stamped when its transaction committed,
    to split fetch-to-ticket into the pipeline's part and the delivery's part."""
    pipeline = collector.pipeline
    original = pipeline.process

    def process(source: str, batch: Any, cursor_before: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(source, batch, cursor_before, *args, **kwargs)
        now = time.monotonic()
        for mention in batch.mentions:
            committed.setdefault(idempotency_key(source, mention.external_id), now)
        return result

    pipeline.process = process  # type: ignore[method-assign]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run(n: int, batch: int, parallel: int, tmp: Path, delivery: str = "process",
        database_url: str | None = None) -> dict[str, Any]:
    drop = None
    if database_url:
        db_url, drop = pg_schema(database_url, "socialear_latency")
    else:
        db_url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        return _run(n, batch, parallel, tmp, delivery, db_url)
    finally:
        if drop is not None:
            drop()


def _run(n: int, batch: int, parallel: int, tmp: Path, delivery: str, db_url: str) -> dict[str, Any]:
    feed = tmp / "burst.jsonl"
    write_feed(feed, n)
    env = {"SOCIALEAR_WEBHOOK_SECRET": SECRET}
    with RemoteReceiver(SECRET) as receiver:
        rules: RulesConfig = parse_rules_text(care_rules(receiver.url, BURST_SOURCE.format(feed=feed, batch=batch)))
        engine = make_engine(db_url)
        upgrade(engine)
        collector = Collector(engine, lambda: rules, instance_id="bench", env=env,
                              responders=PipelineResponders())
        _ = collector.pipeline.analyzer  # scorer/matcher built before timing, as in a running service
        fetched: dict[str, float] = {}
        stamp_fetches(collector, fetched)
        committed: dict[str, float] = {}
        stamp_commits(collector, committed)
        if delivery == "process":  # as `socialear run` does
            rules_path = tmp / "rules.yaml"
            rules_path.write_text(care_rules(receiver.url, BURST_SOURCE.format(feed=feed, batch=batch)))
            worker: Any = OutboxProcess(db_url, rules_path, "bench", parallel=parallel, env={**os.environ, **env}, idle_s=0.05)
            worker.start()
            if not worker.wait_ready():
                raise SystemExit("the outbox process did not start")
        else:  # the worker as threads of this process (SOCIALEAR_OUTBOX_PROCESS=false)
            worker = OutboxWorker(engine, SinkSet(lambda: rules, env), worker_id="bench", parallel=parallel)
            threading.Thread(target=worker.run_forever, kwargs={"idle_s": 0.05}, name="outbox", daemon=True).start()
        collector.pipeline.outbox_handoff = worker  # committed ids go straight to the worker

        started = time.perf_counter()
        polls = 0
        while True:  # the scheduler would call poll again while the source has more
            outcome = collector.poll(SOURCE)
            polls += 1
            if not outcome.ok:
                raise SystemExit(f"poll failed: {outcome.error}")
            if outcome.result.fetched == 0 or polls > n:
                break
        pipeline_s = time.perf_counter() - started
        with engine.connect() as conn:
            escalations = conn.execute(sa.select(sa.func.count()).select_from(table(t.Escalation))).scalar_one()
        deadline = time.perf_counter() + 120
        while len(receiver.snapshot()["arrived"]) < escalations and time.perf_counter() < deadline:
            time.sleep(0.05)
        wall_s = time.perf_counter() - started
        time.sleep(0.3)  # let any late duplicate show up before counting
        got = receiver.snapshot()
        worker.stop()
        engine.dispose()

    arrived = got["arrived"]
    latencies = sorted((arrived[k] - fetched[k]) * 1000 for k in arrived if k in fetched)
    in_pipeline = sorted((committed[k] - fetched[k]) * 1000 for k in arrived if k in fetched and k in committed)
    in_delivery = sorted((arrived[k] - committed[k]) * 1000 for k in arrived if k in committed)
    return {
        "n": n,
        "escalations": escalations,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else 0.0,
        "p99_fetch_to_commit_ms": round(percentile(in_pipeline, 99), 1),
        "p99_commit_to_ticket_ms": round(percentile(in_delivery, 99), 1),
        "delivered": len(arrived),
        "duplicates": got["duplicates"],
        "bad_signatures": got["bad_signatures"],
        "batch": batch,
        "parallel": parallel,
        "delivery": delivery,
        "database": engine.dialect.name,
        "pipeline_s": round(pipeline_s, 3),
        "wall_s": round(wall_s, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100, help="mentions per fetch (the replay source's batch_size)")
    ap.add_argument("--parallel", type=int, default=4, help="outbox deliveries in parallel (SOCIALEAR_OUTBOX_WORKERS)")
    ap.add_argument("--delivery", choices=("process", "thread"), default="process",
                    help="outbox worker in its own process (as `socialear run`), or as threads of this one")
    ap.add_argument("--database-url", default=os.environ.get("SOCIALEAR_DATABASE_URL"),
                    help="a postgresql+psycopg:// URL (a fresh schema in it); default: a temporary SQLite file")
    args = ap.parse_args()
    if args.database_url and not args.database_url.startswith("postgres"):
        ap.error("--database-url: a postgresql+psycopg:// URL (SQLite is the default, in a temporary file)")
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.n, args.batch, args.parallel, Path(tmp), args.delivery, args.database_url)))


if __name__ == "__main__":
    main()
