"""Silent sources (listener.silence): a healthy source that stores nothing for longer than
its expected update period shows "silent" in `socialear sources`, on the console's
Sources page and in /metrics. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.health import source_rows
from listener.pipeline import Pipeline
from listener.silence import expected_period
from listener.types import Author, Batch, Mention
from responders.publish import PipelineResponders
from socialear.config import RulesConfig, SourceConfig
from storage import models as t
from storage.engine import session_scope
from storage.sources import record_health
from storage.types import utcnow


def set_state(engine: Engine, source: str, **fields) -> None:
    with session_scope(engine) as s:
        record_health(s, source, **fields)


def rules_with(*sources: SourceConfig) -> RulesConfig:
    return RulesConfig(brands=[{"name": "Nimbus", "query": "nimbus"}], sources=list(sources))


def status(engine: Engine, rules: RulesConfig, name: str) -> str:
    return next(r["status"] for r in source_rows(engine, rules) if r["name"] == name)


def test_periods_declared_per_type_and_overridable() -> None:
    assert expected_period(SourceConfig(name="a", type="x")) == timedelta(days=1)
    assert expected_period(SourceConfig(name="b", type="youtube")) == timedelta(days=7)
    assert expected_period(SourceConfig(name="c", type="appstore")) == timedelta(days=14)
    assert expected_period(SourceConfig(name="d", type="replay")) is None  # a file ends
    assert expected_period(SourceConfig(name="e", type="rss", expected_update_period="36h")) == timedelta(hours=36)


def test_pipeline_records_when_a_source_last_stored(engine: Engine) -> None:
    rules = rules_with(SourceConfig(name="feed", type="rss", options={"url": "https://e.example/f"}))
    pipeline = Pipeline(engine, lambda: rules, responders=PipelineResponders())
    pipeline.process("feed", Batch(mentions=[], next_cursor="c1"), None)
    st = t.SourceState.__table__
    with engine.connect() as conn:
        row = conn.execute(sa.select(st).where(st.c.source == "feed")).one()
    assert row.listening_since is not None and row.last_stored_at is None
    mention = Mention(source="feed", platform="rss", external_id="1", text="nimbus is down",
                      created_at=datetime.now(UTC), author=Author(platform="rss", handle="someone"))
    pipeline.process("feed", Batch(mentions=[mention], next_cursor="c2"), "c1")
    with engine.connect() as conn:
        row2 = conn.execute(sa.select(st).where(st.c.source == "feed")).one()
    assert row2.last_stored_at is not None and row2.listening_since == row.listening_since


def test_silent_after_the_period_and_not_before(engine: Engine) -> None:
    cfg = SourceConfig(name="feed", type="rss", options={"url": "https://e.example/f"})
    now = utcnow()
    set_state(engine, "feed", healthy=True, last_success=now, listening_since=now - timedelta(days=30),
              last_stored_at=now - timedelta(days=6))
    assert status(engine, rules_with(cfg), "feed") == "ok"
    set_state(engine, "feed", last_stored_at=now - timedelta(days=9))
    assert status(engine, rules_with(cfg), "feed") == "silent: nothing stored for 9d (expected within 7d)"
    override = cfg.model_copy(update={"expected_update_period": "10d"})
    assert status(engine, rules_with(override), "feed") == "ok"


def test_a_source_that_never_stored_is_measured_from_its_first_poll(engine: Engine) -> None:
    cfg = SourceConfig(name="x-main", type="x", options={"query": "nimbus"})
    now = utcnow()
    set_state(engine, "x-main", healthy=True, last_success=now, listening_since=now - timedelta(hours=30))
    assert status(engine, rules_with(cfg), "x-main") == "silent: nothing stored for 30h (expected within 1d)"


def test_a_failing_source_is_unhealthy_not_silent(engine: Engine) -> None:
    cfg = SourceConfig(name="x-main", type="x", options={"query": "nimbus"})
    now = utcnow()
    set_state(engine, "x-main", healthy=False, status_message="X_BEARER_TOKEN was rejected (401)",
              last_success=now - timedelta(days=5), listening_since=now - timedelta(days=9))
    assert status(engine, rules_with(cfg), "x-main").startswith("unhealthy: X_BEARER_TOKEN")


def test_partial_errors_show_in_health(engine: Engine) -> None:
    cfg = SourceConfig(name="x-main", type="x", options={"query": "nimbus"})
    now = utcnow()
    set_state(engine, "x-main", healthy=True, last_success=now, listening_since=now, last_stored_at=now,
              stats={"partial_errors/resource-not-found": 2, "fetched": 40})
    assert status(engine, rules_with(cfg), "x-main") == "ok, 2 partial errors (quarantined)"


def test_console_page_and_metrics_show_silence(db: Engine, rules: RulesConfig, client_for) -> None:
    now = utcnow()
    set_state(db, "x-main", healthy=True, last_success=now, listening_since=now - timedelta(days=3),
              last_stored_at=now - timedelta(days=2))
    set_state(db, "reddit", healthy=True, last_success=now, listening_since=now - timedelta(days=3),
              last_stored_at=now - timedelta(hours=1))
    set_state(db, "job:deletion-check", healthy=True, last_success=now)  # a job's lease row
    page = client_for("lena").http.get("/sources")
    assert page.status_code == 200
    assert "silent: nothing stored for 2d (expected within 1d)" in page.text
    assert "job:deletion-check" not in page.text
    metrics = client_for().http.get("/metrics").text
    assert 'socialear_source_silent{source="x-main",type="x"} 1.0' in metrics
    assert 'socialear_source_silent{source="reddit",type="reddit"} 0.0' in metrics
    assert 'socialear_source_healthy{source="x-main",type="x"} 1.0' in metrics
    line = next(ln for ln in metrics.splitlines() if ln.startswith('socialear_source_seconds_since_stored{source="x-main"'))
    assert 2 * 86_400 - 60 < float(line.split()[-1]) < 2 * 86_400 + 600
