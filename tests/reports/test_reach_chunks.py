"""Top authors and posts by reach do not depend on how the authors are walked: chunks of
25, 50, 100 (storage.report_queries) find what one chunk of every author finds, for a
long period and for short ones where the most followed authors are mostly quiet."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from console.backfill import backfill
from socialear.config import load_rules
from storage import models as t
from storage import report_queries as rq
from storage.dialect import table

ROOT = Path(__file__).resolve().parents[2]


def test_reach_chunks_find_what_one_walk_finds(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_rules(ROOT / "rules.yaml")
    backfill(engine, rules, ROOT / "samples" / "mentions.jsonl", "import", 50, Console(file=io.StringIO()))
    brands = [b.name for b in rules.brands]
    mt = table(t.Mention)
    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(mt.c.created_at), sa.func.max(mt.c.created_at))).one()
        periods = [(lo, hi + timedelta(seconds=1)), (hi - timedelta(days=2), hi), (hi - timedelta(hours=9), hi)]
        chunked = [rq.top_by_reach(conn, brands, a, b) for a, b in periods]
        monkeypatch.setattr(rq, "FIRST_AUTHOR_CHUNK", 100_000)
        monkeypatch.setattr(rq, "AUTHOR_CHUNK", 100_000)
        whole = [rq.top_by_reach(conn, brands, a, b) for a, b in periods]
    assert chunked == whole
    assert any(people for result in whole for _posts, people in result.values())
