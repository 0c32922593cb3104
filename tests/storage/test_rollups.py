"""Rollups stay equal to a full recount of the stored mentions: after the pipeline stores
batches, after purges (also of the same mention twice), after `rules replay`, and after
migration 0004 back-fills a database that had mentions before it. SQLite and PostgreSQL
(the `engine` fixture)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session

from console.backfill import backfill
from console.replay import replay_report
from socialear.config import RulesConfig, load_rules
from storage import models as t
from storage import repo, rollups
from storage.dialect import table
from storage.engine import make_engine
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "mentions.jsonl"


def _rules() -> RulesConfig:
    return load_rules(ROOT / "rules.yaml")


def _assert_exact(engine: Engine) -> dict[str, set]:
    with engine.connect() as conn:
        stored = rollups.snapshot(conn)
        expected = rollups.as_snapshot(rollups.recount(conn))
    for name in stored:
        assert stored[name] == expected[name], f"{name}: rollup differs from a recount"
    return stored


def _import(engine: Engine, path: Path, source: str = "import", batch: int = 37) -> None:
    backfill(engine, _rules(), path, source, batch, Console(file=io.StringIO()))


def test_rollups_equal_a_recount_after_inserts_purges_and_replay(engine: Engine, tmp_path: Path) -> None:
    _import(engine, SAMPLE)
    stored = _assert_exact(engine)
    assert sum(r[3] for r in stored["rollup_hour"]) > 500  # the sample's mentions, counted
    assert stored["rollup_category"]

    # Purge negative, categorised mentions (they touch both tables), one of them twice.
    mt = table(t.Mention)
    with engine.connect() as conn:
        victims = conn.execute(
            sa.select(mt.c.id).where(mt.c.sentiment_label == "negative").order_by(mt.c.id).limit(7)
        ).scalars().all()
    for mention_id in [*victims, victims[0]]:
        with Session(engine) as session:
            assert repo.purge_mention_content(session, mention_id, "deleted on the platform")
            session.commit()
    after = _assert_exact(engine)
    assert sum(r[3] for r in after["rollup_hour"]) == sum(r[3] for r in stored["rollup_hour"]) - 7

    # A second import of the same file stores nothing new and counts nothing twice.
    _import(engine, SAMPLE, source="import")
    assert _assert_exact(engine) == after

    # The same posts under another source name are new mentions: counted once more each.
    _import(engine, SAMPLE, source="again", batch=100)
    twice = _assert_exact(engine)
    assert sum(r[3] for r in twice["rollup_hour"]) > sum(r[3] for r in after["rollup_hour"])

    # `rules replay` re-scores history without storing: the rollups do not move.
    replay_report(engine, _rules(), _rules(), None)
    assert _assert_exact(engine) == twice


def test_migration_0004_backfills_existing_mentions(db_url: str, tmp_path: Path) -> None:
    """A database with mentions stored before 0004 gets exact rollups from the upgrade."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003")
        posts = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()][:120]
        rows = []
        for i, p in enumerate(posts):
            rows.append({
                "source": "old", "platform": p["platform"], "external_id": f"old-{i}", "text": p["text"],
                "created_at": _when(p["created_at"]),
                "fetched_at": _when(p["created_at"]),
                "brand": ["Nimbus Mobile", "Arcwave", "Telvio", None][i % 4],
                "brands": [], "competitor": i % 4 in (1, 2), "engagement": i % 9, "is_repost": False,
                "sentiment_label": ["negative", "positive", "neutral", None][i % 4 if i % 5 else 0],
                "urgency": 0, "categories": [["outage"], ["billing", "outage"], []][i % 3], "scoring": {},
                "deleted_at": _when(p["created_at"]) if i % 17 == 0 else None,
            })
        with engine.begin() as conn:
            conn.execute(table(t.Mention).insert(), rows)
        upgrade(engine)
        stored = _assert_exact(engine)
        counted = sum(r[3] for r in stored["rollup_hour"])
        assert counted == sum(1 for r in rows if r["deleted_at"] is None)
        assert any(r[1] == "" for r in stored["rollup_hour"])  # no brand: counted under ''
    finally:
        engine.dispose()


def _when(text: str):  # noqa: ANN202
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


