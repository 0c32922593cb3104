"""The whole data path on a real database: replay feed → pipeline → escalations → outbox →
local sink. Runs on SQLite and, when configured, PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener.collector import Collector
from responders.outbox import OutboxWorker, SinkSet
from responders.payloads import build_payload
from responders.publish import PipelineResponders
from socialear.config import RulesConfig
from socialear.trace import compact, expand
from storage import models as t


def poll_all(collector: Collector, name: str = "feed") -> None:
    outcome = collector.poll(name)
    assert outcome.ok, outcome.error


def rows(engine: Engine, table: sa.Table, *cols: sa.ColumnElement) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(*cols).select_from(table)).all()


def test_feed_flows_to_escalations_and_local_sink(engine: Engine, rules: RulesConfig, tmp_path: Path) -> None:
    collector = Collector(engine, lambda: rules, responders=PipelineResponders())
    poll_all(collector)

    mt = t.Mention.__table__
    stored = {
        r.external_id: r for r in rows(engine, mt, mt.c.external_id, mt.c.brand, mt.c.route, mt.c.sentiment_label)
    }
    # p4: about no brand; p7: malformed (quarantined); p8: a repost; the second p2: a duplicate
    assert set(stored) == {"p1", "p2", "p3", "p5", "p6", "p9", "p10", "p11"}
    assert stored["p5"].brand == "Arcwave"
    assert stored["p6"].route == "drop-spam"
    assert stored["p3"].sentiment_label == "positive"

    qt = t.Quarantine.__table__
    quarantined = rows(engine, qt, qt.c.external_id, qt.c.error)
    assert [(q.external_id, "created_at" in q.error) for q in quarantined] == [("p7", True)]
    assert quarantined[0].error.startswith("line 7:")

    et = t.Escalation.__table__
    escalations = {
        r.external_id: r
        for r in rows(
            engine,
            et.join(mt, mt.c.id == et.c.mention_id),
            mt.c.external_id,
            et.c.route,
            et.c.queue,
            et.c.priority,
            et.c.suggested_reply,
            et.c.decision,
            et.c.sla_due,
            et.c.created_at,
        )
    }
    assert escalations["p1"].route == "outage-urgent"
    assert escalations["p1"].queue == "urgent"
    assert str(getattr(escalations["p1"].priority, "value", escalations["p1"].priority)) == "urgent"
    assert "p3" not in escalations and "p5" not in escalations and "p6" not in escalations
    assert escalations["p2"].route == "complaint"
    assert escalations["p1"].suggested_reply.startswith("Hi Amy L, sorry about the signal. DM @NimbusMobile")
    assert (escalations["p1"].sla_due - escalations["p1"].created_at).total_seconds() == 30 * 60

    st = t.SourceState.__table__
    state = rows(engine, st, st.c.cursor, st.c.fetched_total, st.c.quarantined_total, st.c.healthy, st.c.stats)[0]
    assert state.healthy and state.fetched_total == 11 and state.quarantined_total == 1
    assert state.stats["dropped/no_brand"] == 1 and state.stats["dropped/duplicate"] == 1
    assert state.stats["dropped/repost"] == 1

    # Delivery: one line per escalation in the local sink, each with its suggested reply.
    worker = OutboxWorker(engine, SinkSet(lambda: rules), worker_id="w1", parallel=2)
    stats = worker.drain()
    worker.close()
    assert stats.sent == len(escalations) and stats.dead == 0
    lines = [json.loads(ln) for ln in (tmp_path / "escalations.jsonl").read_text().splitlines()]
    assert len(lines) == len(escalations)
    delivered = (
        {ln["escalation"]["mention"]["external_id"]: ln["escalation"] for ln in lines}
        if "escalation" in lines[0]
        else {ln["mention"]["external_id"]: ln for ln in lines}
    )
    assert set(delivered) == set(escalations)
    assert delivered["p1"]["suggested_reply"] == escalations["p1"].suggested_reply

    # Polling again finds nothing new and stores nothing twice.
    poll_all(collector)
    assert len(rows(engine, mt, mt.c.id)) == 8
    assert len(rows(engine, qt, qt.c.id)) == 1


def test_routing_trace_names_the_rule_and_the_signals(engine: Engine, rules: RulesConfig) -> None:
    poll_all(Collector(engine, lambda: rules, responders=PipelineResponders()))
    et, mt = t.Escalation.__table__, t.Mention.__table__
    decision = rows(engine, et.join(mt, mt.c.id == et.c.mention_id), et.c.decision, mt.c.scoring, mt.c.external_id)
    row = next(r for r in decision if r.external_id == "p1")
    d, score, trace = row.decision, row.scoring, expand(row.decision["trace"])
    assert d["route"] == "outage-urgent"
    # stored positionally (socialear.trace), and without a copy of the mention's score
    assert d["trace"] == compact(trace) and "score" not in d
    fired = next(step for step in trace if step["route"] == "outage-urgent")
    assert fired["matched"] is True
    conds = {c["condition"]: c for c in fired["conditions"]}
    assert conds["categories"]["ok"] and "outage" in conds["categories"]["actual"]
    assert conds["sentiment"]["actual"] == "negative"
    # routes before it were evaluated and explained too
    assert trace[0]["route"] == "drop-spam" and trace[0]["matched"] is False
    signals = score["urgency_signals"]
    assert signals and sum(signals.values()) == pytest.approx(score["urgency"], abs=1.0)
    assert "severity" in signals and "negativity" in signals
    assert score["sentiment"]["reasons"]


def test_repeat_contact_carries_the_authors_history(engine: Engine, rules: RulesConfig) -> None:
    poll_all(Collector(engine, lambda: rules, responders=PipelineResponders()))
    et = t.Escalation.__table__
    with engine.connect() as conn:
        payloads = [build_payload(conn, r.id).to_dict() for r in conn.execute(sa.select(et.c.id))]
    p11 = next(p for p in payloads if p["mention"]["external_id"] == "p11")
    assert p11["repeat_contact"] is True
    assert any(
        h["kind"] == "escalation" and h["route"] == "outage-urgent" and h["relative"] == "before"
        for h in p11["history"]
    )
    p1 = next(p for p in payloads if p["mention"]["external_id"] == "p1")
    assert p1["repeat_contact"] is False
    assert [h["relative"] for h in p1["history"]] == ["after"]  # the ticket also shows what came since


def test_a_second_poller_cannot_take_a_held_lease(engine: Engine, rules: RulesConfig) -> None:
    a = Collector(engine, lambda: rules, instance_id="replica-a", responders=PipelineResponders())
    b = Collector(engine, lambda: rules, instance_id="replica-b", responders=PipelineResponders())
    assert a._acquire_lease("feed", __import__("storage.types", fromlist=["utcnow"]).utcnow())
    outcome = b.poll("feed")
    assert outcome.skipped and "lease" in outcome.skipped
    a._release_lease("feed")
    assert b.poll("feed").ok


def test_a_failing_source_does_not_stop_the_others(engine: Engine, tmp_path: Path, rules: RulesConfig) -> None:
    broken = rules.sources[0].model_copy(
        update={"name": "broken", "options": {"path": str(tmp_path / "missing.jsonl")}}
    )
    rules = rules.model_copy(update={"sources": [broken, rules.sources[0]]})
    collector = Collector(engine, lambda: rules, responders=PipelineResponders())
    bad = collector.poll("broken")
    good = collector.poll("feed")
    assert not bad.ok and "missing.jsonl" in (bad.error or "")
    assert good.ok and good.result.stored == 8
    st = t.SourceState.__table__
    health = {r.source: r for r in rows(engine, st, st.c.source, st.c.healthy, st.c.last_error, st.c.error_log)}
    assert health["broken"].healthy is False and "missing.jsonl" in health["broken"].last_error
    assert len(health["broken"].error_log) == 1
    assert health["feed"].healthy is True


def test_half_an_emoji_or_a_nul_does_not_poison_the_batch(engine: Engine, make_rules: Any, tmp_path: Path) -> None:
    """A JSON escape for half an emoji ("\\ud83d" alone) decodes to a lone surrogate that no
    database accepts; it used to fail the whole batch on every poll and mark the source
    unhealthy; so did a NUL ("\\u0000") on PostgreSQL. Now each is stored as U+FFFD (text, author name, extra), a broken line is
    quarantined as received, and the rest of the batch is stored with them. On SQLite and PostgreSQL."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        '{"id": "s1", "platform": "x", "text": "Nimbus no signal again \\ud83d still waiting", '
        '"created_at": "2026-11-20T08:00:00Z", "author": {"handle": "amy_l", "name": "Amy \\udc00 L"}, '
        '"extra": {"note": "\\ud83d"}}\n'
        '{"id": "s2", "platform": "x", "text": "Nimbus charged twice,\\u0000 no reply", "created_at": "2026-11-20T08:01:00Z", '
        '"author": {"handle": "ben_t"}}\n'
        '{"id": "s3", "platform": "x", "text": "Nimbus \\ud83d", "created_at": "last tuesday", "author": {"handle": "cy"}}\n',
        encoding="utf-8",
    )
    rules = make_rules(feed, tmp_path / "escalations.jsonl")
    collector = Collector(engine, lambda: rules, responders=PipelineResponders())
    poll_all(collector)
    mt = t.Mention.__table__
    stored = {r.external_id: r.text for r in rows(engine, mt, mt.c.external_id, mt.c.text)}
    assert stored == {"s1": "Nimbus no signal again \ufffd still waiting", "s2": "Nimbus charged twice,\ufffd no reply"}
    at = t.Author.__table__
    assert "Amy \ufffd L" in {r.name for r in rows(engine, at, at.c.name)}
    qt = t.Quarantine.__table__
    quarantined = rows(engine, qt, qt.c.external_id, qt.c.payload)
    # the quarantined line is kept as received: the escape as text, which any database stores
    assert [q.external_id for q in quarantined] == ["s3"] and "Nimbus \\ud83d" in quarantined[0].payload
    st = t.SourceState.__table__
    state = rows(engine, st, st.c.healthy, st.c.last_error)[0]
    assert state.healthy and state.last_error is None

