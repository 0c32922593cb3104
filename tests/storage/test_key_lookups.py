"""The pipeline's per-batch look-ups by unique key (storage.dialect.select_by_key): the
same rows on both databases, and on PostgreSQL one index probe per value whatever the
table's statistics say (a never-analyzed table is what a new database, a source added
since the last ANALYZE, or a server with autovacuum off give the planner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage import ingest
from storage import models as t
from storage.bulk import insert_rows
from storage.dialect import table

NOW = datetime(2026, 12, 1, tzinfo=UTC)
STORED = 3000


def _fill(conn: Any) -> None:
    at = table(t.Author)
    insert_rows(conn, at, [{"id": i + 1, "platform": "x", "handle": f"h{i}", "followers": i, "verified": False,
                            "first_seen": NOW, "last_seen": NOW} for i in range(STORED)])
    insert_rows(conn, table(t.Mention), [
        {"source": "feed", "platform": "x", "external_id": f"m{i}", "url": None, "text": f"post {i}", "title": None,
         "lang": "en", "rating": None, "created_at": NOW, "fetched_at": NOW, "author_id": i + 1, "brand": "Nimbus",
         "brands": ["Nimbus"], "competitor": False, "in_reply_to": None, "conversation_id": None, "engagement": 0,
         "is_repost": False, "sentiment_label": "neutral", "sentiment_compound": 0.0, "urgency": 0, "categories": [],
         "scoring": {}, "route": None}
        for i in range(STORED)])


def test_key_lookups_find_exactly_the_stored_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        _fill(conn)
        wanted = [f"m{i}" for i in range(0, 2 * STORED, 7)] + ["m7", "m7", "nope", "o'quote"]  # repeats and misses
        expected = {f"m{i}" for i in range(0, STORED, 7)}
        assert ingest.stored_external_ids(conn, "feed", wanted) == expected
        assert ingest.stored_external_ids(conn, "other", wanted) == set()  # the key is (source, external_id)
        ids = ingest.mention_ids(conn, "feed", wanted)
        assert set(ids) == expected and ids["m7"] == conn.execute(
            sa.text("SELECT id FROM mention WHERE external_id = 'm7'")).scalar_one()
        # an author's escalations, counted per handle; handles without any are left out
        et = table(t.Escalation)
        insert_rows(conn, et, [
            {"id": i + 1, "mention_id": i + 1, "idempotency_key": f"k{i}", "route": "r", "queue": "care",
             "priority": "normal", "priority_rank": 1, "status": "open" if i % 2 else "resolved", "sla_due": NOW,
             "created_at": NOW, "updated_at": NOW, "tags": [], "alert": False, "decision": {}, "brand": "Nimbus",
             "source": "feed", "platform": "x", "categories": [], "urgency": 0}
            for i in (0, 1, 3)])
        keys = [("x", "h0"), ("x", "h1"), ("x", "h2"), ("x", "h3"), ("x", "nobody"), ("y", "h0")]
        assert ingest.escalation_counts(conn, keys) == {("x", "h0"): [0, 1], ("x", "h1"): [1, 1], ("x", "h3"): [1, 1]}


def test_postgresql_probes_the_unique_index_per_value_without_statistics(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite's plans: tests/listener/test_cases.py::test_no_write_path_query_reads_a_whole_table
    statements: list[tuple[str, Any]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    with engine.begin() as conn:
        _fill(conn)  # never analyzed: the planner has no statistics for these rows
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            ingest.stored_external_ids(conn, "feed", [f"m{i}" for i in range(500)])
            ingest.upsert_authors(conn, {}, NOW)  # nothing to look up: no statement
            ingest.mention_ids(conn, "feed", [f"m{i}" for i in range(250, 750)])
            ingest.escalation_counts(conn, [("x", f"h{i}") for i in range(500)])  # authors, then their posts
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        assert len(statements) == 3
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar_one()
            nodes = _nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
            table_name = "author" if "FROM author" in statement else "mention"
            probed = [n for n in nodes if n.get("Relation Name") == table_name]
            assert probed and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in probed), nodes
            # rows read from the table: one probe per value, at most one row each, none filtered away
            assert sum(n["Actual Rows"] * n["Actual Loops"] for n in probed) == 500
            assert not any(n.get("Rows Removed by Filter") for n in nodes)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]
