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
from storage.migrate import downgrade, upgrade

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
    assert len(stored["mention_terms"]) > 100  # the negative posts' terms, one row each

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
    assert len(after["mention_terms"]) == len(stored["mention_terms"]) - 7  # a purged post's terms go

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


def _when(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))




def _assert_care_exact(engine: Engine) -> set:
    """Every level of the care rollup (day, 7-day, 28-day blocks) equals a recount; the
    day level is returned."""
    with engine.connect() as conn:
        for level in range(len(rollups.CARE_LEVELS)):
            stored = rollups.care_snapshot(conn, level)
            assert stored == rollups.care_recount(conn, level), f"rollup_care_span level {level} differs from a recount"
        return rollups.care_snapshot(conn, 0)


def _care_groups(rows: list) -> dict:
    """(queue, categories, status, bucket) -> [n, met, breached], parts added up."""
    out: dict = {}
    for queue, cats, status, bucket, n, met, breached in rows:
        cell = out.setdefault((queue, cats, status, bucket), [0, 0, 0])
        for i, x in enumerate((n, met, breached)):
            cell[i] += x
    return out


def test_care_rollup_stays_exact_through_every_escalation_write(engine: Engine) -> None:
    """`rollup_care_span` is kept by triggers: replies, resolutions, re-opens, queue and
    category changes, deletions and inserts without a response all leave it equal to a
    recount; and the report's care read (rollup for whole days, rows for the ends and
    the backlog) equals grouping every escalation directly."""
    from datetime import UTC, datetime, timedelta

    from storage import report_queries as rq

    _import(engine, SAMPLE)
    et = table(t.Escalation)
    with engine.connect() as conn:
        ids = conn.execute(sa.select(et.c.id, et.c.created_at).where(
            et.c.replied_at.is_(None), et.c.resolved_at.is_(None)).order_by(et.c.id)).all()
    assert len(ids) >= 8, "the sample leaves escalations unanswered"
    answered = sum(r[6] for r in _assert_care_exact(engine))  # the sample's resolved ones
    (a, ca), (b, cb), (c, cc), (d, _), (e, _) = ids[:5]
    writes = [
        sa.update(et).where(et.c.id == a).values(replied_at=ca + timedelta(minutes=20)),
        sa.update(et).where(et.c.id == b).values(status="resolved", resolved_at=cb + timedelta(hours=5)),
        sa.update(et).where(et.c.id == c).values(replied_at=cc + timedelta(seconds=3), status="claimed"),
        sa.update(et).where(et.c.id == a).values(queue="billing-escalations"),  # moves its key
        sa.update(et).where(et.c.id == b).values(status="open", resolved_at=None),  # re-opened: uncounted
        sa.update(et).where(et.c.id == c).values(categories=["outage", "billing"]),
        sa.update(et).where(et.c.id.in_([d, e])).values(resolved_at=sa.func.coalesce(et.c.sla_due, et.c.created_at),
                                                         status="resolved"),
        sa.update(et).values(updated_at=datetime(2026, 12, 1, tzinfo=UTC)),  # a column it does not watch
        sa.delete(et).where(et.c.id == d),
    ]
    for stmt in writes:
        with engine.begin() as conn:
            conn.execute(stmt)
        _assert_care_exact(engine)
    stored = _assert_care_exact(engine)
    assert sum(r[6] for r in stored) == answered + 3  # a, c and e answered; b re-opened; d deleted
    with engine.connect() as conn:
        # the triggers number a new (queue, categories, status) once and draw no number
        # for one they know: on PostgreSQL a bare ON CONFLICT DO NOTHING burns a sequence
        # value per escalation write, and a later group's cell (id x 256) would overflow
        groups, top = conn.execute(sa.text("SELECT count(*), max(id) FROM care_group")).one()
        assert groups >= 3 and top == groups

    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(et.c.created_at), sa.func.max(et.c.created_at))).one()
        brands = [b for (b,) in conn.execute(sa.select(et.c.brand).distinct()) if b]
        # periods cut anywhere: within a day, across weeks, over 28-day blocks and not
        periods = [(min(x for _, x in ids).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5),
                    max(x for _, x in ids) + timedelta(days=2, hours=7)),
                   (lo - timedelta(days=40, hours=3), hi + timedelta(days=31)),
                   (lo + timedelta(hours=2), lo + timedelta(hours=20)),
                   (lo + timedelta(days=3, hours=5), hi - timedelta(days=2, hours=1))]
        for first, last in periods:
            now = last + timedelta(days=1)
            combined = rq.care_histogram(conn, brands, first, last, now)
            direct = [(q, tuple(json.loads(cats)), str(s), int(bk), n, m, br)
                      for q, cats, s, bk, n, m, br in rq._care_raw(conn, brands, first, last, now)]
            assert _care_groups(combined) == _care_groups(direct), (first, last)
        first, last = periods[0]
        combined = rq.care_histogram(conn, brands, first, last, last + timedelta(days=1))
    assert sum(1 for r in combined if r[3] >= 0) >= 1 and any(r[3] == -1 for r in combined)


def test_care_blocks_cover_any_range_of_days_once() -> None:
    """A range of days is read as whole 28-day and 7-day blocks and single days that
    cover it exactly once, at most 5 ranges."""
    import random

    rng = random.Random(4)
    for _ in range(2000):
        a = rng.randrange(20_000, 21_000)
        b = a + rng.choice((0, 1, 6, 7, 13, 27, 28, 29, 55, 56, 90, 365, rng.randrange(400)))
        parts = rollups.care_blocks(a, b)
        days = [d for level, x, y in parts for blk in range(x, y)
                for d in range(blk * rollups.CARE_LEVELS[level], (blk + 1) * rollups.CARE_LEVELS[level])]
        assert sorted(days) == list(range(a, b)) and len(parts) <= 5, (a, b, parts)


def test_care_backlog_is_read_from_its_partial_index(engine: Engine) -> None:
    """The report's read of the unanswered escalations (`_care_raw(unanswered_only=True)`)
    goes through `ix_escalation_backlog_care`, which holds only unanswered ones, on both
    databases (PostgreSQL with sequential scans off: its planner scans a table this small
    anyway; the point is that the query's predicate matches the partial index's), and
    returns exactly the unanswered escalations of the period."""
    from datetime import UTC, datetime

    from storage import report_queries as rq

    _import(engine, SAMPLE)
    et = table(t.Escalation)
    start, end, now = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    with engine.connect() as conn:
        brands = [b for (b,) in conn.execute(sa.select(et.c.brand).distinct()) if b]
        unanswered = conn.execute(sa.select(sa.func.count()).select_from(et).where(
            et.c.replied_at.is_(None), et.c.resolved_at.is_(None), et.c.brand.in_(brands))).scalar()
        rows = rq._care_raw(conn, brands, start, end, now, unanswered_only=True)
        assert unanswered and sum(r[4] for r in rows) == unanswered
        assert {r[3] for r in rows} == {-1}  # no response: no bucket
        seen: list[tuple[str, object]] = []

        def keep(_conn, _cursor, statement, parameters, *_args) -> None:
            seen.append((statement, parameters))

        sa.event.listen(conn, "before_cursor_execute", keep)
        rq._care_raw(conn, brands, start, end, now, unanswered_only=True)
        sa.event.remove(conn, "before_cursor_execute", keep)
        statement, parameters = seen[-1]
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            conn.exec_driver_sql("SET enable_seqscan = on")
    assert "ix_escalation_backlog_care" in plan, plan


def test_day_twins_answer_any_hour_range_like_the_hourly_rollups(engine: Engine) -> None:
    """A range read as whole days (day tables) plus its end hours (hourly tables) sums to
    what the hourly rollups alone give, for ranges cut anywhere: inside one day, across
    midnights, aligned and not."""
    _import(engine, SAMPLE)
    ht, ct = table(rollups.RollupHour), table(rollups.RollupCategory)
    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(ht.c.hour), sa.func.max(ht.c.hour))).one()
        brands = [b for (b,) in conn.execute(sa.select(ht.c.brand).distinct())]
        ranges = [(lo, hi + 1), (lo - lo % 24, hi - hi % 24), (lo + 5, lo + 17), (lo + 13, hi - 30),
                  (lo + 24 * 3, lo + 24 * 9), (hi - 40, hi + 100)]
        for a, b in ranges:
            platforms = {(r[0], r[1]): list(r[2:]) for r in rollups.platform_totals(conn, a, b, brands)}
            expected = {(r[0], r[1]): [int(x) for x in r[2:]] for r in conn.execute(
                sa.select(ht.c.brand, ht.c.platform, *(sa.func.sum(ht.c[c]) for c in rollups._COUNTS))
                .where(ht.c.hour >= a, ht.c.hour < b).group_by(ht.c.brand, ht.c.platform))}
            assert platforms == expected, (a, b)
            cats = {(r[0], r[1]): (r[2], r[3]) for r in rollups.category_totals(conn, a, b, brands)}
            expected_cats = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in conn.execute(
                sa.select(ct.c.brand, ct.c.category, sa.func.sum(ct.c.mentions), sa.func.sum(ct.c.negative))
                .where(ct.c.hour >= a, ct.c.hour < b).group_by(ct.c.brand, ct.c.category))}
            assert cats == expected_cats, (a, b)
        assert any(rollups.split_hours(a, b)[1] for a, b in ranges)  # the day tables were read


def test_migration_0011_backfills_the_day_twins_and_the_care_rollup(db_url: str) -> None:
    """A database at 0009 with mentions and answered escalations gets exact twins and an
    exact care rollup from the upgrade (to head: 0013 rebuilds it as `rollup_care_span`)."""
    from datetime import timedelta

    from tests.reports.report_data import add_escalation

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0009")
        posts = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()][:200]
        rows = [{
            "source": "old", "platform": p["platform"], "external_id": f"old-{i}", "text": p["text"],
            "created_at": _when(p["created_at"]), "fetched_at": _when(p["created_at"]),
            "brand": ["Nimbus Mobile", "Arcwave", "Telvio", None][i % 4], "brands": [], "competitor": i % 4 in (1, 2),
            "engagement": i % 9, "is_repost": False, "sentiment_label": ["negative", "positive", "neutral"][i % 3],
            "urgency": 0, "categories": [["outage"], ["billing", "outage"], []][i % 5 % 3], "scoring": {},
        } for i, p in enumerate(posts)]
        mt = table(t.Mention)
        with engine.begin() as conn:
            conn.execute(mt.insert(), rows)
            rollups.rebuild(conn, only=("rollup_hour", "rollup_category"))  # as 0004 left them
            ids = conn.execute(sa.select(mt.c.id, mt.c.created_at).order_by(mt.c.id).limit(9)).all()
        for k, (mention_id, created) in enumerate(ids):
            add_escalation(engine, mention_id, created=created, sla_due=created + timedelta(hours=1),
                           replied=created + timedelta(minutes=7 * k) if k % 3 else None,
                           resolved=created + timedelta(hours=k) if k % 2 else None,
                           categories=[["outage"], [], ["billing", "outage"]][k % 3], queue=["care", "billing"][k % 2])
        upgrade(engine)
        stored = _assert_exact(engine)
        assert stored["rollup_day"] and stored["rollup_brand_hour"] and stored["rollup_day_category"]
        care = _assert_care_exact(engine)
        assert sum(r[6] for r in care) == 7  # 9 escalations, 2 with neither reply nor resolution
    finally:
        engine.dispose()


def test_retention_keeps_rollups_and_terms_exact(engine: Engine) -> None:
    """Retention purges old posts' text through the same purge: their counts and their
    stored terms go with it, the rest stays equal to a recount."""
    from listener.retention import apply_retention
    from socialear.config import parse_rules_text

    _import(engine, SAMPLE)
    before = _assert_exact(engine)
    mt = table(t.Mention)
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(mt.c.created_at))).scalar_one()
        oldest = conn.execute(sa.select(sa.func.min(mt.c.created_at))).scalar_one()
    keep_days = max(1, (newest - oldest).days // 2)
    purged = apply_retention(engine, parse_rules_text(f"brands: [{{name: N, query: n}}]\nretention: {{default: {keep_days}}}\n"),
                             now=newest, batch=50)
    assert purged["default"] > 0
    after = _assert_exact(engine)
    assert 0 < len(after["mention_terms"]) < len(before["mention_terms"])
    assert sum(r[3] for r in after["rollup_hour"]) == sum(r[3] for r in before["rollup_hour"]) - purged["default"]


def test_migration_0013_backfills_mention_terms(db_url: str) -> None:
    """A database at 0012 with mentions (negative or not, purged, without a brand) gets an
    exact `mention_terms` from the upgrade, in place of the partial index it replaces;
    the downgrade puts the index back."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0012")
        posts = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()][:150]
        rows = [{
            "source": "old", "platform": p["platform"], "external_id": f"old-{i}", "text": p["text"],
            "created_at": _when(p["created_at"]), "fetched_at": _when(p["created_at"]),
            "brand": ["Nimbus Mobile", "Arcwave", "Telvio", None][i % 4], "brands": [], "competitor": i % 4 in (1, 2),
            "engagement": i % 9, "is_repost": False, "sentiment_label": ["negative", "positive", "neutral"][i % 3],
            "urgency": 0, "categories": [], "scoring": {},
            "deleted_at": _when(p["created_at"]) if i % 7 == 0 else None,
        } for i, p in enumerate(posts)]
        with engine.begin() as conn:
            conn.execute(table(t.Mention).insert(), rows)
            rollups.rebuild(conn, only=rollups.COUNT_TABLES)  # as 0004 and 0011 left them
        upgrade(engine)
        stored = _assert_exact(engine)
        wanted = [r for r in rows if r["sentiment_label"] == "negative" and r["brand"] and not r["deleted_at"]]
        assert len(stored["mention_terms"]) == len(wanted) > 20
        assert all(row[3] for row in stored["mention_terms"])  # the sample's texts all have terms
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("mention")}
        assert "ix_mention_negative_brand_created_at" not in indexes
        downgrade(engine, "0012")
        assert "mention_terms" not in sa.inspect(engine).get_table_names()
        assert "ix_mention_negative_brand_created_at" in {ix["name"] for ix in sa.inspect(engine).get_indexes("mention")}
    finally:
        engine.dispose()
