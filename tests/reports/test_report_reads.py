"""The report's reads run on a small thread pool (`reports.engine._Reads`) or, without
workers, one after another on one connection: the same report either way, every
connection returned (also when the report fails), and an in-memory SQLite database
(one shared connection) still served. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

import reports.engine as report_engine
from console.backfill import backfill
from reports import EmptyPeriod, build_competitor_report, recent_spikes
from socialear.config import load_rules
from storage import models as t
from storage.dialect import table
from storage.engine import make_engine
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]


def _period(engine: Engine):
    mt = table(t.Mention)
    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(mt.c.created_at), sa.func.max(mt.c.created_at))).one()
    return lo, hi + timedelta(hours=1)


def _reports(engine: Engine, rules, lo, hi) -> list[dict]:
    return [
        build_competitor_report(engine, rules, start=lo, end=hi, now=hi),
        build_competitor_report(engine, rules, start=lo + (hi - lo) / 3, end=hi - (hi - lo) / 5, now=hi,
                                brands=[rules.brands[0].name, rules.brands[1].name]),
        build_competitor_report(engine, rules, start=hi - timedelta(days=2), end=hi, now=hi, interval="hour"),
    ]


def test_threaded_reads_build_the_serial_report(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_rules(ROOT / "rules.yaml")
    backfill(engine, rules, ROOT / "samples" / "mentions.jsonl", "sample", 500, Console(file=io.StringIO()))
    lo, hi = _period(engine)
    name = engine.dialect.name
    monkeypatch.setitem(report_engine.READ_WORKERS, name, 0)
    serial = _reports(engine, rules, lo, hi)
    serial_spikes = recent_spikes(engine, rules, hours=72, now=hi)
    monkeypatch.setitem(report_engine.READ_WORKERS, name, 3)
    threaded = _reports(engine, rules, lo, hi)
    assert threaded == serial
    assert recent_spikes(engine, rules, hours=72, now=hi) == serial_spikes
    assert serial[0]["spikes"] and all(b["terms"] and b["top_posts"] for b in serial[0]["brands"])
    assert engine.pool.checkedout() == 0  # every worker's connection went back to the pool
    with pytest.raises(EmptyPeriod):
        build_competitor_report(engine, rules, start=hi + timedelta(days=30), end=hi + timedelta(days=31), now=hi)
    assert engine.pool.checkedout() == 0


def test_report_on_an_in_memory_sqlite_database(tmp_path: Path) -> None:
    """StaticPool: one connection for every checkout; the reads stay on it, serially."""
    rules = load_rules(ROOT / "rules.yaml")
    memory = make_engine("sqlite://")
    upgrade(memory)
    backfill(memory, rules, ROOT / "samples" / "mentions.jsonl", "sample", 500, Console(file=io.StringIO()))
    on_file = make_engine(f"sqlite:///{tmp_path / 'file.db'}")
    upgrade(on_file)
    backfill(on_file, rules, ROOT / "samples" / "mentions.jsonl", "sample", 500, Console(file=io.StringIO()))
    try:
        lo, hi = _period(memory)
        assert _reports(memory, rules, lo, hi) == _reports(on_file, rules, lo, hi)
    finally:
        memory.dispose()
        on_file.dispose()
