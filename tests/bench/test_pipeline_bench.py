"""`bench/pipeline.py --prefill`: the bulk load drops the mention table's secondary
indexes and search triggers for speed, so it must leave the schema exactly as the
migrations made it and the search index complete, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _schema(conn: sa.Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        return sorted(row[0] for row in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'mention' AND sql IS NOT NULL"))
    return sorted(row[0] for row in conn.exec_driver_sql(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'mention' AND schemaname = current_schema()"))


def _found(conn: sa.Connection, word: str) -> int:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO mention_fts (mention_fts) VALUES ('integrity-check')")
        return int(conn.exec_driver_sql("SELECT count(*) FROM mention_fts WHERE mention_fts MATCH ?",
                                        (word,)).scalar_one())
    return int(conn.execute(sa.text(
        "SELECT count(*) FROM mention WHERE to_tsvector('simple', coalesce(title, '') || ' ' || text) "
        "@@ plainto_tsquery('simple', :w)"), {"w": word}).scalar_one())


def _like(conn: sa.Connection, word: str) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM mention WHERE text LIKE :p"), {"p": f"%{word}%"}).scalar_one())


def test_prefill_keeps_the_migrated_schema_and_a_complete_search_index(engine: Engine) -> None:
    bench = _bench()
    with engine.connect() as conn:
        before = _schema(conn)
    bench.prefill(engine, 3_000)
    with engine.connect() as conn:
        assert _schema(conn) == before
        assert conn.exec_driver_sql("SELECT count(*) FROM mention").scalar_one() == 3_000
        refunds = _like(conn, "refund")
        assert refunds > 0 and _found(conn, "refund") == refunds
    # and the pipeline then runs on top of it, the new mentions searchable too
    rate = bench.run_pipeline(600, 200, ROOT / "rules.yaml", engine)
    assert rate.wall > 0 and rate.cpu > 0
    with engine.connect() as conn:
        refunds = _like(conn, "refund")
        assert _found(conn, "refund") == refunds
