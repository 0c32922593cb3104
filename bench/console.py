"""Console benchmark: queue and escalation pages on a big SQLite database.

    python bench/console.py [--mentions 1000000] [--escalations 50000] [--requests 200]

Builds the database with the production migrations, then fills it with raw `executemany`
in large batches (the ORM would take minutes for a million rows), serves the console with
uvicorn on a free loopback port in a thread, signs in, and times sequential requests with
httpx: the queue unfiltered, the queue with filters (rotating through queue+priority,
brand, category, assignee and free text), the queue searched by free text (common, rare
and absent words, alone and with other filters; the FTS5 index of migration 0003), and
random escalation pages. Prints one JSON
object with p50/p95 (ms) per page. Targets: queue p95 <= 150 ms, escalation p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import uvicorn

from console.web import create_app
from console.web.auth import create_user
from socialear.config import Brand, Category, RulesConfig
from storage.engine import make_engine, session_scope
from storage.migrate import upgrade

BATCH = 50_000
PASSWORD = "bench-password-1"
BRANDS = ["Nimbus", "Nimbus", "Nimbus", "Stratus", "Cirrus"]
SOURCES = [("x-main", "x"), ("reddit", "reddit"), ("trustpilot", "trustpilot")]
QUEUES = ["care", "care", "billing", "social"]
PRIORITIES = [("urgent", 4, 30), ("high", 3, 120), ("normal", 2, 480), ("low", 1, 1440)]
CATEGORIES = ["outage", "billing", "cancellation", "wait_time", "praise", "question"]
WORDS = ("signal outage billing charged twice cancel contract waiting hours support app "
         "broken refund network slow great thanks help please again today since morning "
         "router fibre roaming plan upgrade engineer visit store").split()
# Rare words: each in ~0.2 % of mentions (~2,000 of 1M; ~100 open escalations), the case
# a scan of every active escalation's text was slow for.
PLACES = "leeds bristol cardiff glasgow belfast norwich".split()
# Free-text searches the bench rotates through: common, rare, prefix, two words, no hit.
SEARCHES = ["router", "leeds", "glasgow", "refund leeds", "roaming bristol", "zanzibar"]


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, n_mentions: int, n_escalations: int, seed: int = 7) -> float:
    """Create and fill the database; returns seconds taken."""
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    n_authors = max(1, n_mentions // 10)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous = OFF")
        first = _ts(now - timedelta(days=60))
        cur.executemany(
            "INSERT INTO author (id, platform, handle, name, followers, verified, first_seen,"
            " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((i, SOURCES[i % 3][1], f"user{i}", f"User {i}",
              int(rng.paretovariate(1.2) * 50), int(i % 97 == 0), first, first)
             for i in range(1, n_authors + 1)),
        )
        esc_every = max(1, n_mentions // max(1, n_escalations))
        mention_rows: list[tuple[Any, ...]] = []
        esc_rows: list[tuple[Any, ...]] = []
        decision = json.dumps({
            "route": "complaints", "matched": True, "escalate": True, "queue": "care",
            "priority": "normal", "reply_template": "generic", "tags": ["bench"],
            "alert": False, "repeat_contact": 0,
            "trace": [{"route": f"rule-{k}", "matched": k == 3, "conditions": [
                {"condition": "sentiment", "expected": ["negative"], "actual": "negative",
                 "ok": True},
                {"condition": "urgency", "expected": {"min": 40}, "actual": 55, "ok": True}]}
                for k in range(4)],
            "score": {"sentiment": {"label": "negative", "compound": -0.6,
                                    "reasons": ["outage (-2.0)", "again (-0.5)"]},
                      "categories": ["outage"], "urgency": 55,
                      "urgency_signals": {"negativity": 20, "severity": 15, "reach": 5},
                      "language": "en", "language_supported": True, "question": False},
        })
        n_esc = 0
        for i in range(1, n_mentions + 1):
            source, platform = SOURCES[i % 3]
            created = now - timedelta(seconds=rng.randint(0, 30 * 86_400))
            cats = rng.sample(CATEGORIES, rng.choice((0, 1, 1, 2)))
            label = rng.choice(("negative", "negative", "neutral", "positive"))
            brand = rng.choice(BRANDS)
            text = " ".join(rng.choices(WORDS, k=rng.randint(8, 30)))
            if rng.random() < 0.012:
                text += " in " + rng.choice(PLACES).capitalize()
            urgency = rng.randint(0, 100)
            mention_rows.append((
                i, source, platform, f"e{i}", f"https://example.invalid/{platform}/{i}", text,
                _ts(created), _ts(created), rng.randint(1, n_authors), brand,
                json.dumps([brand]), int(brand != "Nimbus"), rng.randint(0, 50), 0, label,
                round(rng.uniform(-1, 1), 3), urgency, json.dumps(cats), "{}",
            ))
            if i % esc_every == 0 and n_esc < n_escalations:
                n_esc += 1
                prio, rank, sla_min = rng.choice(PRIORITIES)
                esc_created = now - timedelta(minutes=rng.randint(0, 3 * 1440))
                claimed = rng.random() < 0.2
                esc_rows.append((
                    n_esc, i, f"bench-{i}", "complaints", rng.choice(QUEUES), prio, rank,
                    "claimed" if claimed else "open", "bench" if claimed else None,
                    _ts(esc_created + timedelta(minutes=sla_min)), _ts(esc_created),
                    _ts(esc_created), "Sorry to hear that, please DM us.", '["bench"]', 0,
                    decision, brand, source, platform, json.dumps(cats), urgency,
                    # cases (migration 0008): most of one escalation, some of 2-4
                    n_esc if n_esc % 5 else max(1, n_esc - 1),
                ))
            if len(mention_rows) >= BATCH:
                _flush(cur, mention_rows, esc_rows)
        _flush(cur, mention_rows, esc_rows)
        raw.commit()
    finally:
        raw.close()
    with session_scope(engine) as s:
        create_user(s, "bench", PASSWORD, "agent")
    engine.dispose()
    return time.perf_counter() - t0


def _flush(cur: Any, mentions: list[tuple[Any, ...]], escalations: list[tuple[Any, ...]]
           ) -> None:
    cur.executemany(
        "INSERT INTO mention (id, source, platform, external_id, url, text, created_at,"
        " fetched_at, author_id, brand, brands, competitor, engagement, is_repost,"
        " sentiment_label, sentiment_compound, urgency, categories, scoring)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", mentions)
    cur.executemany(
        "INSERT INTO escalation (id, mention_id, idempotency_key, route, queue, priority,"
        " priority_rank, status, assignee, sla_due, created_at, updated_at, suggested_reply,"
        " tags, alert, decision, brand, source, platform, categories, urgency, case_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        escalations)
    # one case per escalation id that some escalation points at (the ones sharing a case
    # count as two posts)
    cur.executemany(
        "INSERT INTO care_case (id, status, author_id, head_escalation_id, size, urgency,"
        " opened_at, updated_at) VALUES (?, 'open', NULL, ?, ?, ?, ?, ?)",
        [(e[0], e[0], 2 if e[0] % 5 == 4 else 1, e[20], e[10], e[10])
         for e in escalations if e[21] == e[0]])
    mentions.clear()
    escalations.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rules() -> RulesConfig:
    return RulesConfig(brands=[Brand(name=b, query=b.lower()) for b in sorted(set(BRANDS))],
                       queues=sorted(set(QUEUES)),
                       categories=[Category(name=c, severity=2) for c in CATEGORIES])


def _pcts(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "n": len(ordered)}


def measure(path: Path, n_requests: int, n_escalations: int, seed: int = 11
            ) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{path}")
    app = create_app(engine, _rules)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = random.Random(seed)
    filters = [{"queue": "billing", "priority": "high"}, {"brand": "Stratus"},
               {"category": "outage"}, {"assignee": "me"}, {"q": "router"},
               {"status": "claimed", "queue": "care"},
               # the agent's other orders (migration 0008), alone and with filters
               {"sort": "sla"}, {"sort": "age"}, {"sort": "sla", "brand": "Stratus"},
               {"sort": "age", "queue": "care"}, {"sort": "urgency"}]
    # Free text alone and with other filters: common, rare, two words, no match.
    searches = [{"q": q} for q in SEARCHES] + [
        {"q": "leeds", "brand": "Stratus"}, {"q": "router", "status": "claimed", "queue": "care"},
        {"q": "refund", "category": "billing"}, {"q": "glasgow", "status": "all"}]
    results: dict[str, list[float]] = {"queue": [], "queue_filtered": [], "queue_search": [],
                                       "escalation": []}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            login = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', login.text)
            r = client.post("/login", data={"username": "bench", "password": PASSWORD,
                                            "csrf": token.group(1) if token else ""})
            if r.status_code != 303:
                raise SystemExit(f"sign-in failed: {r.status_code}")
            for _ in range(5):  # warm-up: connection, templates, SQLite page cache
                client.get("/queue")
                client.get("/escalations/1")
            for i in range(n_requests):
                for name, url, params in (
                    ("queue", "/queue", {"page": str(rng.randint(1, 5))}),
                    ("queue_filtered", "/queue", filters[i % len(filters)]),
                    ("queue_search", "/queue", searches[i % len(searches)]),
                    ("escalation", f"/escalations/{rng.randint(1, n_escalations)}", {}),
                ):
                    t = time.perf_counter()
                    resp = client.get(url, params=params)
                    results[name].append(time.perf_counter() - t)
                    if resp.status_code != 200:
                        raise SystemExit(f"{url} {params}: HTTP {resp.status_code}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    return {name: _pcts(samples) for name, samples in results.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mentions", type=int, default=1_000_000)
    ap.add_argument("--escalations", type=int, default=50_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", type=Path, help="database file to build (default: a temp file)")
    ap.add_argument("--reuse", action="store_true", help="use --db as it is, do not build")
    ap.add_argument("--build-only", action="store_true", help="build --db and stop")
    args = ap.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="socialear-bench-")
        args.db = Path(tmp.name) / "console.db"
    build_s = 0.0
    if not args.reuse:
        args.db.unlink(missing_ok=True)
        build_s = build(args.db, args.mentions, args.escalations)
    if args.build_only:
        print(json.dumps({"db": str(args.db), "build_s": round(build_s, 1)}))
        return
    pages = measure(args.db, args.requests, args.escalations)
    out = {"mentions": args.mentions, "escalations": args.escalations,
           "requests_per_page": args.requests, "build_s": round(build_s, 1), **pages,
           "targets": {"queue_p95_ms": 150, "escalation_p95_ms": 100},
           "ok": pages["queue"]["p95_ms"] <= 150 and pages["queue_filtered"]["p95_ms"] <= 150
           and pages["queue_search"]["p95_ms"] <= 150 and pages["escalation"]["p95_ms"] <= 100}
    print(json.dumps(out))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
