"""What an operator's tooling reads: /healthz liveness per part, /metrics per source and
per outbox state, job instrumentation, and the console URL taken from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from console.web import create_app
from socialear.config import load_rules
from socialear.metrics import JOB_RUNS, Liveness, instrument_job, register_process_metrics
from storage.engine import session_scope
from storage.models import OutboxItem, SourceState
from storage.types import utcnow
from tests.console.conftest import add_escalation, make_rules

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_liveness_reports_each_part_and_goes_stale() -> None:
    clock = FakeClock()
    board = Liveness(clock)
    alive = {"outbox": True}
    board.watch("scheduler", 60)
    board.watch("outbox", 60, lambda: alive["outbox"])
    assert board.report()["scheduler"]["alive"] is False  # never beaten yet
    board.beat("scheduler")
    board.beat("outbox")
    clock.now += 30
    report = board.report()
    assert report["scheduler"] == {"alive": True, "last_beat_s": 30.0, "max_age_s": 60, "thread": True}
    assert report["outbox"]["alive"] is True
    clock.now += 31
    assert board.report()["scheduler"]["alive"] is False  # 61 s without a beat
    board.beat("scheduler")
    board.beat("outbox")
    alive["outbox"] = False  # the thread died, however recent its last beat
    assert board.report()["outbox"] == {"alive": False, "last_beat_s": 0.0, "max_age_s": 60, "thread": False}


def test_healthz_is_503_when_a_part_stops_beating(db) -> None:
    clock = FakeClock()
    board = Liveness(clock)
    board.watch("scheduler", 60)
    board.watch("outbox", 60)
    board.beat("scheduler")
    board.beat("outbox")
    app = create_app(db, make_rules, liveness=board)
    with TestClient(app) as c:
        r = c.get("/healthz")
        assert r.status_code == 200
        assert r.json()["components"]["outbox"]["alive"] is True
        clock.now += 90
        board.beat("scheduler")
        r = c.get("/healthz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "error" and body["db"] == "ok"
        assert body["components"]["scheduler"]["alive"] is True
        assert body["components"]["outbox"] == {"alive": False, "last_beat_s": 90.0, "max_age_s": 60,
                                                "thread": True}


def test_metrics_export_sources_and_outbox_ages(db) -> None:
    esc_id = add_escalation(db)
    now = utcnow()
    with session_scope(db) as s:
        s.add(SourceState(source="x-main", fetched_total=120, quarantined_total=2, rate_limit_remaining=55,
                          budget_used=300, healthy=False, last_success=now - timedelta(minutes=5),
                          stats={"stored": 100, "escalated": 7, "dropped/duplicate": 13, "retries/429": 3}))
        s.add(OutboxItem(escalation_id=esc_id, sink="hook", kind="escalation", state="retry",
                         idempotency_key="k1", created_at=now - timedelta(minutes=10)))
        s.add(OutboxItem(escalation_id=esc_id, sink="hook", kind="alert", state="sent",
                         idempotency_key="k2", created_at=now - timedelta(hours=3)))
    with TestClient(create_app(db, make_rules)) as c:
        text = c.get("/metrics").text
    assert 'socialear_source_events_total{event="fetched",source="x-main"} 120.0' in text
    assert 'socialear_source_events_total{event="dropped/duplicate",source="x-main"} 13.0' in text
    assert 'socialear_source_events_total{event="retries/429",source="x-main"} 3.0' in text
    assert 'socialear_source_events_total{event="quarantined",source="x-main"} 2.0' in text
    assert 'socialear_source_rate_limit_remaining{source="x-main"} 55.0' in text
    assert 'socialear_source_budget_used{source="x-main"} 300.0' in text
    assert 'socialear_outbox_items{sink="hook",state="retry"} 1.0' in text
    assert 'socialear_outbox_items{sink="hook",state="sent"} 1.0' in text
    ages = [line for line in text.splitlines() if line.startswith("socialear_outbox_oldest_age_seconds{")]
    assert len(ages) == 1 and 'state="retry"' in ages[0]  # a sent row has no waiting age
    assert 590 <= float(ages[0].rsplit(" ", 1)[1]) <= 700
    assert "socialear_pipeline_batch_seconds" in text
    assert "socialear_job_runs_total" in text or "# TYPE socialear_job_runs counter" in text


def test_instrumented_job_counts_runs_and_failures() -> None:
    registry = CollectorRegistry()
    register_process_metrics(registry)
    before_ok = JOB_RUNS.labels("digest-test", "ok")._value.get()
    before_err = JOB_RUNS.labels("digest-test", "error")._value.get()
    calls = []
    job = instrument_job("digest-test", lambda: calls.append(1))
    job()
    job()

    def boom() -> None:
        raise RuntimeError("smtp down")

    with pytest.raises(RuntimeError):
        instrument_job("digest-test", boom)()
    assert calls == [1, 1]
    assert JOB_RUNS.labels("digest-test", "ok")._value.get() == before_ok + 2
    assert JOB_RUNS.labels("digest-test", "error")._value.get() == before_err + 1
    text = generate_latest(registry).decode()
    assert 'socialear_job_last_success_timestamp_seconds{job="digest-test"}' in text


def test_console_url_from_environment_overrides_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCIALEAR_CONSOLE_URL", raising=False)
    assert load_rules(ROOT / "rules.yaml").console_url != "https://care.example.net"
    monkeypatch.setenv("SOCIALEAR_CONSOLE_URL", "https://care.example.net")
    assert load_rules(ROOT / "rules.yaml").console_url == "https://care.example.net"
