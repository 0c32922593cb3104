"""Free-text search (FTS5 / tsvector, migration 0003) and the denormalised escalation fields.

Runs on SQLite and, with $SOCIALEAR_TEST_POSTGRES_URL, on PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.collector import Collector
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from storage import queue as queries
from storage import repo
from storage.engine import session_scope
from storage.migrate import downgrade, schema_diff, upgrade
from storage.models import Escalation, Mention
from storage.queue import QueueFilters, TextQuery
from tests.console.conftest import add_escalation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _ids(engine: Engine, q: str, **filters: str) -> set[int]:
    with session_scope(engine) as s:
        page = queries.queue_page(s, QueueFilters.from_params({"q": q, **filters}), "alice")
        return {r["id"] for r in page.rows}


def _total(engine: Engine, q: str, **filters: str) -> tuple[int, bool]:
    with session_scope(engine) as s:
        return queries.queue_total(s, QueueFilters.from_params({"q": q, **filters}), "alice")


def _sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _fts_integrity(engine: Engine) -> None:
    """FTS5 compares its index with the mention table and raises if they disagree."""
    if _sqlite(engine):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO mention_fts (mention_fts, rank) VALUES ('integrity-check', 1)")


def test_words_match_whole_words_of_text_and_title(db: Engine) -> None:
    leeds = add_escalation(db, "No signal in Leeds since Monday, router blinking")
    bristol = add_escalation(db, "Charged twice in Bristol; refund please")
    add_escalation(db, "resolved in Leeds too", status="resolved")
    with session_scope(db) as s:  # a review: the words of its title count too
        m = s.get(Mention, s.get(Escalation, bristol).mention_id)  # type: ignore[union-attr]
        m.title = "Awful roaming charges"  # type: ignore[union-attr]
    assert _ids(db, "leeds") == {leeds}
    assert _ids(db, "LEEDS") == {leeds}  # case does not matter
    assert _ids(db, "lee") == set()  # whole words, not prefixes
    assert _ids(db, "leeds router") == {leeds}  # every word must appear...
    assert _ids(db, "leeds refund") == set()  # ...in the same mention
    assert _ids(db, "roaming") == {bristol}  # the title
    assert _ids(db, "charged-twice!") == {bristol}  # punctuation is not syntax
    assert _ids(db, '"leeds"* (:&|! ^') == {leeds}  # nor are FTS/tsquery operators
    assert _ids(db, "leeds", status="all") == {leeds, leeds + 2}
    assert _ids(db, "zanzibar") == set()
    assert _total(db, "leeds") == (1, False)
    assert _total(db, "zanzibar") == (0, False)
    _fts_integrity(db)


def test_handle_terms_match_the_author(db: Engine) -> None:
    mine = add_escalation(db, "still no signal", handle="Grumpy_Gus")
    add_escalation(db, "still no signal", handle="someone_else")
    assert _ids(db, "@grumpy_gus") == {mine}
    assert _ids(db, "@Grumpy_Gus signal") == {mine}
    assert _ids(db, "@grumpy_gus refund") == set()
    assert _ids(db, "@nobody_at_all") == set()


def test_search_combines_with_the_other_filters(db: Engine) -> None:
    a = add_escalation(db, "router dead in Leeds", queue="billing", source="reddit",
                       platform="reddit", categories=["billing"], brand="Stratus",
                       priority="high")
    b = add_escalation(db, "router dead in Leeds")
    assert _ids(db, "router") == {a, b}
    assert _ids(db, "router", queue="billing") == {a}
    assert _ids(db, "router", source="reddit") == {a}
    assert _ids(db, "router", brand="Stratus") == {a}
    assert _ids(db, "router", category="billing") == {a}
    assert _ids(db, "router", priority="normal") == {b}


def test_common_words_walk_the_queue_and_agree(db: Engine, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    """Past SEARCH_DRIVE_CAP matches, SQLite walks the queue checking each escalation
    against the index; the answer and the count must be the same as from the index."""
    want = {add_escalation(db, f"router number {i} broken") for i in range(4)}
    add_escalation(db, "nothing to see")
    assert _ids(db, "router") == want
    assert _total(db, "router") == (4, False)
    monkeypatch.setattr(queries, "SEARCH_DRIVE_CAP", 2)
    with session_scope(db) as s:
        plan = queries.search_plan(s, TextQuery.parse("router"))
        assert plan.hits is None
        assert (plan.count_hits is not None) == _sqlite(db)
    assert _ids(db, "router") == want
    assert _total(db, "router") == (4, False)
    monkeypatch.setattr(queries, "SEARCH_COUNT_SCAN", 2)  # counting stops early: "N+"
    if _sqlite(db):
        n, capped = _total(db, "router")
        assert capped and n <= 4


def test_purging_a_mention_removes_it_from_the_index(db: Engine) -> None:
    esc_id = add_escalation(db, "my account 55501234 in Leeds was hacked")
    assert _ids(db, "55501234") == {esc_id}
    with session_scope(db) as s:
        mention_id = s.get(Escalation, esc_id).mention_id  # type: ignore[union-attr]
        assert repo.purge_mention_content(s, mention_id, "deleted on the platform")
    assert _ids(db, "55501234") == set()
    assert _ids(db, "leeds") == set()
    with db.connect() as conn:
        if _sqlite(db):
            left = conn.exec_driver_sql(
                "SELECT rowid FROM mention_fts WHERE mention_fts MATCH '55501234'").all()
        else:
            left = conn.execute(sa.text(
                "SELECT id FROM mention WHERE to_tsvector('simple', coalesce(title, '') || ' '"
                " || text) @@ to_tsquery('simple', '55501234')")).all()
        assert left == []
    _fts_integrity(db)


def test_deleting_and_editing_mentions_keeps_the_index_in_step(db: Engine) -> None:
    with session_scope(db) as s:
        m = Mention(source="x-main", platform="x", external_id="lonely", text="orphan words")
        s.add(m)
        s.flush()
        m.text = "changed words"
        s.flush()
        s.delete(m)
    _fts_integrity(db)
    with db.connect() as conn:
        if _sqlite(db):
            for word in ("orphan", "changed"):
                assert conn.exec_driver_sql(
                    f"SELECT count(*) FROM mention_fts WHERE mention_fts MATCH '{word}'"
                ).scalar_one() == 0


def test_escalations_get_the_mention_fields(db: Engine) -> None:
    """Written without them (as fixtures and imports do), the trigger copies them."""
    esc_id = add_escalation(db, "billing mess", brand="Stratus", source="reddit",
                            platform="reddit", categories=["billing", "outage"])
    with session_scope(db) as s:
        esc = s.get(Escalation, esc_id)
        assert esc is not None
        assert (esc.brand, esc.source, esc.platform, esc.categories) == (
            "Stratus", "reddit", "reddit", ["billing", "outage"])


def test_the_pipeline_sets_the_fields_and_the_index(engine: Engine, tmp_path: Path) -> None:
    text = (FIXTURES / "rules" / "pipeline.yaml").read_text()
    rules = parse_rules_text(text.replace("{feed}", str(FIXTURES / "pipeline" / "feed.jsonl"))
                             .replace("{sink}", str(tmp_path / "o.jsonl")))
    assert Collector(engine, lambda: rules, responders=PipelineResponders()).poll("feed").ok
    e, m = Escalation.__table__, Mention.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.c.brand, e.c.source, e.c.platform, e.c.categories, m.c.brand,
                      m.c.source, m.c.platform, m.c.categories, m.c.text)
            .select_from(e.join(m, m.c.id == e.c.mention_id))).all()
    assert rows
    for r in rows:
        assert tuple(r[:4]) == tuple(r[4:8])
        assert r[1] is not None
    word = max(re.findall(r"[a-z]{5,}", rows[0].text.lower()), key=len)
    with session_scope(engine) as s:
        found = queries.queue_page(s, QueueFilters(q=word, status="all"), "x")
    assert found.rows
    _fts_integrity(engine)


def test_migration_backfills_fields_and_index(db_url: str) -> None:
    """Rows written before 0003 get the copies and are searchable after the upgrade."""
    from storage.engine import make_engine

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO mention (id, source, platform, external_id, text, title,"
                " created_at, fetched_at, brand, brands, competitor, engagement, is_repost,"
                " urgency, categories, scoring) VALUES (7, 'reddit', 'reddit', 'old-1',"
                " 'ancient complaint from Leeds', 'Old title', :t, :t, 'Nimbus', '[]',"
                " false, 0, false, 0, :cats, '{}')"),
                {"t": "2026-01-01 00:00:00", "cats": '["outage"]'})
            conn.execute(sa.text(
                "INSERT INTO escalation (mention_id, idempotency_key, route, queue,"
                " priority, priority_rank, status, created_at, updated_at, tags, alert,"
                " decision) VALUES (7, 'k-old', 'r', 'care', 'normal', 2, 'open', :t, :t,"
                " '[]', false, '{}')"), {"t": "2026-01-01 00:00:00"})
        upgrade(engine)
        assert schema_diff(engine) == []
        with session_scope(engine) as s:
            esc = s.execute(sa.select(Escalation)).scalar_one()
            assert (esc.brand, esc.source, esc.platform, esc.categories) == (
                "Nimbus", "reddit", "reddit", ["outage"])
            assert queries.queue_page(s, QueueFilters(q="ancient leeds"), "x").rows
            assert queries.queue_page(s, QueueFilters(q="old title"), "x").rows
        _fts_integrity(engine)
        assert downgrade(engine, "0002") == "0002"
        names = set(sa.inspect(engine).get_table_names())
        assert "mention_fts" not in names
        assert "brand" not in {c["name"] for c in sa.inspect(engine).get_columns("escalation")}
        upgrade(engine)
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_text_query_parsing() -> None:
    q = TextQuery.parse('  Leeds "router" @Gus_1 charged-twice NEAR( * ')
    assert q.words == ("leeds", "router", "charged", "twice", "near")
    assert q.handles == ("gus_1",)
    assert q.fts5() == '"leeds" "router" "charged" "twice" "near"'
    assert q.tsquery() == "leeds & router & charged & twice & near"
    assert not TextQuery.parse("!!! ***")
