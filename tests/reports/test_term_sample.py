"""The distinctive terms' sample read from `mention_terms` (terms computed at ingest) is
the sample the report used to read and tokenise at report time: the first 50 stored
negative posts of each twelfth of the period, by (created_at, id), with the terms of
their text. Checked against that definition written out over the mentions, for several
periods, before and after purges; SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session

from console.backfill import backfill
from socialear.config import load_rules
from socialear.terms import stored_terms
from storage import models as t
from storage import repo
from storage import report_queries as rq
from storage.dialect import table

ROOT = Path(__file__).resolve().parents[2]


def _by_definition(engine: Engine, brand: str, start, end, slices: int = 12, per_slice: int = 50):
    mt = table(t.Mention)
    step = (end - start) / slices
    out = []
    with engine.connect() as conn:
        for i in range(slices):
            a, b = start + step * i, (start + step * (i + 1) if i < slices - 1 else end)
            rows = conn.execute(
                sa.select(mt.c.id, mt.c.text).where(mt.c.brand == brand, mt.c.sentiment_label == "negative",
                                                   mt.c.deleted_at.is_(None), mt.c.created_at >= a,
                                                   mt.c.created_at < b)
                .order_by(mt.c.created_at, mt.c.id).limit(per_slice)).all()
            out.extend((int(i_), stored_terms(text)) for i_, text in rows)
    return sorted(out)


def _sample(engine: Engine, brand: str, start, end, per_slice: int = 50):
    with engine.connect() as conn:
        return sorted(rq.term_sample(conn, brand, start, end, per_slice=per_slice))


def test_term_sample_is_the_tokenised_negative_sample(engine: Engine) -> None:
    rules = load_rules(ROOT / "rules.yaml")
    backfill(engine, rules, ROOT / "samples" / "mentions.jsonl", "import", 50, Console(file=io.StringIO()))
    mt = table(t.Mention)
    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(mt.c.created_at), sa.func.max(mt.c.created_at))).one()
    periods = [(lo, hi + timedelta(seconds=1)), (lo + (hi - lo) / 3, hi - (hi - lo) / 5),
               (hi - timedelta(days=2, hours=7), hi)]
    brands = [b.name for b in rules.brands]

    def check(per_slice: int = 50) -> int:
        seen = 0
        for brand in brands:
            for start, end in periods:
                got = _sample(engine, brand, start, end, per_slice)
                assert got == _by_definition(engine, brand, start, end, per_slice=per_slice), (brand, start, end)
                seen += len(got)
        return seen

    assert check() > 300 and check(per_slice=3) > 50  # slices that are full, and cut short
    with engine.connect() as conn:
        victims = conn.execute(sa.select(mt.c.id).where(mt.c.sentiment_label == "negative")
                               .order_by(mt.c.created_at).limit(20)).scalars().all()
    for mention_id in victims:
        with Session(engine) as session:
            assert repo.purge_mention_content(session, mention_id, "deleted on the platform")
            session.commit()
    assert check(per_slice=3) > 50
