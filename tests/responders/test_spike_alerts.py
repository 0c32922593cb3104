"""Spike alerts: found by the report engine's detection on real stored data, sent once,
grouped, with their explanation; two replicas (two engines, two threads) on the same
database send each spike exactly once. SQLite, and PostgreSQL with the env var."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from responders.publish import PipelineResponders
from responders.spike_alerts import SpikeAlerter, alert_senders, explain, message
from socialear.config import Brand, Category, RulesConfig, SinkConfig
from storage import rollups
from storage.alert_models import SpikeAlert
from storage.engine import make_engine, session_scope
from storage.models import Mention

NOW = datetime(2026, 11, 26, 11, 20, tzinfo=UTC)  # a Thursday, mid-morning
SPIKE_HOUR = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def rules() -> RulesConfig:
    return RulesConfig(
        brands=[Brand(name="Nimbus", query="nimbus"),
                Brand(name="Stratus", query="stratus", competitor=True)],
        categories=[Category(name="outage", severity=5, phrases=["no signal"])],
        sinks=[SinkConfig(name="alerts", type="alert", options={"urls": ["json://127.0.0.1:9/x"]})],
    )


def seed(engine) -> None:
    """Three weeks of ordinary chatter with a daily rhythm, then Stratus's outage hour."""
    rng = random.Random(7)
    rows = []
    n = 0
    start = SPIKE_HOUR - timedelta(days=21)
    hour = start
    while hour <= NOW:
        for brand, competitor, rate in (("Nimbus", False, 2.0), ("Stratus", True, 1.0)):
            expected = rate if 8 <= hour.hour <= 22 else rate / 5
            k = sum(rng.random() < expected / 4 for _ in range(4))
            if brand == "Stratus" and hour == SPIKE_HOUR:
                k = 40
            for _ in range(k):
                n += 1
                outage = hour == SPIKE_HOUR and brand == "Stratus"
                text = (f"@Stratus no signal at all in town {n}, <b>@channel</b> help" if outage
                        else f"{brand} plan question {n}")
                rows.append(Mention(
                    source="t", platform="x", external_id=f"m{n}", text=text,
                    created_at=hour + timedelta(minutes=rng.randint(0, 59)), brand=brand,
                    brands=[brand], competitor=competitor,
                    sentiment_label="negative" if outage else "neutral",
                    categories=["outage"] if outage else [], url=f"https://x.com/u/status/{n}"))
        hour += timedelta(hours=1)
    with session_scope(engine) as s:
        s.add_all(rows)
    with engine.begin() as conn:
        rollups.rebuild(conn)


class Outbox:
    """A send function that records what it was asked to send (apprise is the seam)."""

    def __init__(self, ok: bool = True):
        self.ok = ok
        self.sent: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, title: str, body: str) -> bool:
        with self.lock:
            if self.ok:
                self.sent.append((title, body))
            return self.ok


def test_a_competitor_outage_is_alerted_once_with_its_explanation(engine) -> None:
    seed(engine)
    out = Outbox()
    alerter = SpikeAlerter(engine, rules, [out], instance_id="a", clock=lambda: NOW)
    keys = alerter.check()
    assert keys and all(k.startswith("Stratus|") for k in keys)
    assert len(out.sent) == 1  # grouped: one message for the volume and negative spikes
    title, body = out.sent[0]
    assert "Stratus" in title and "competitor: an opening for marketing" in body
    assert "outage" in body and "no signal" in body and "https://x.com/u/status/" in body
    assert "<b>" not in body and "@channel" not in body  # defanged: no markup, no pings
    assert alerter.check() == [] and len(out.sent) == 1  # never twice
    later = SpikeAlerter(engine, rules, [out], instance_id="b",
                         clock=lambda: NOW + timedelta(minutes=40))  # a restart, a new poll
    assert later.check() == [] and len(out.sent) == 1


def test_two_replicas_send_each_spike_exactly_once(engine, db_url) -> None:
    seed(engine)
    engines = [make_engine(db_url), make_engine(db_url)]  # two processes' connection pools
    outs = [Outbox(), Outbox()]
    alerters = [SpikeAlerter(e, rules, [o], instance_id=f"replica-{i}", clock=lambda: NOW)
                for i, (e, o) in enumerate(zip(engines, outs, strict=True))]
    barrier = threading.Barrier(2)
    sent: list[list[str]] = [[], []]

    def run(i: int) -> None:
        barrier.wait()
        for _ in range(3):  # several polls finishing on each replica
            sent[i] += alerters[i].check()

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for e in engines:
        e.dispose()
    all_keys = sent[0] + sent[1]
    assert all_keys and len(all_keys) == len(set(all_keys))
    assert sum(len(o.sent) for o in outs) >= 1
    with session_scope(engine) as s:
        rows = s.execute(sa.select(SpikeAlert)).scalars().all()
        assert sorted(r.key for r in rows) == sorted(all_keys)
        assert all(r.sent_at is not None for r in rows)


def test_a_failed_send_is_retried_and_still_sent_once(engine) -> None:
    seed(engine)
    out = Outbox(ok=False)
    alerter = SpikeAlerter(engine, rules, [out], instance_id="a", clock=lambda: NOW)
    assert alerter.check() == [] and out.sent == []
    out.ok = True
    keys = alerter.check()
    assert keys and len(out.sent) == 1
    assert alerter.check() == [] and len(out.sent) == 1


def test_an_orphaned_alert_is_taken_over_by_another_replica(engine) -> None:
    seed(engine)
    dead = SpikeAlerter(engine, rules, [Outbox(ok=False)], instance_id="dead", clock=lambda: NOW)
    dead.check()
    out = Outbox()
    soon = SpikeAlerter(engine, rules, [out], instance_id="b", clock=lambda: NOW + timedelta(minutes=2))
    assert soon.check() == []  # the owner may still send it
    late = SpikeAlerter(engine, rules, [out], instance_id="b", clock=lambda: NOW + timedelta(minutes=15))
    assert late.check() and len(out.sent) == 1


def test_quiet_data_alerts_nothing(engine) -> None:
    seed(engine)
    out = Outbox()
    day_before = SpikeAlerter(engine, rules, [out], instance_id="a",
                              clock=lambda: NOW - timedelta(days=1))
    assert day_before.check() == [] and out.sent == []


def test_explanation_frames_own_brand_as_crisis_and_message_groups() -> None:
    spike = {"brand": "Nimbus", "competitor": False, "kind": "volume",
             "start": "2026-11-26T10:00:00Z", "end": "2026-11-26T12:00:00Z", "mentions": 30,
             "baseline": 3.0, "drivers": [{"category": "billing", "count": 20}],
             "terms": [{"term": "charged twice"}],
             "examples": [{"text": "charged twice @everyone", "url": "javascript:x", "author": "a"}]}
    text = explain(spike)
    assert "own brand: a possible crisis" in text and "(10.0x)" in text
    assert "billing (20)" in text and "charged twice" in text and "javascript:" not in text
    assert "@everyone" not in text
    title, body = message([spike, {**spike, "brand": "Stratus", "competitor": True}])
    assert title == "socialear \u00b7 2 spikes: Nimbus, Stratus" and body.count("spike 26 Nov") == 2


def test_alert_senders_come_from_the_rules_alert_sinks() -> None:
    assert len(alert_senders(rules(), env={})) == 1
    off = rules().model_copy(update={"sinks": []})
    assert alert_senders(off, env={}) == []


def test_the_scheduler_checks_for_spikes_after_a_poll_that_stored_mentions(engine, tmp_path) -> None:
    """The service's wiring: `after_store` runs after a poll that stored something, only then."""
    import json

    from listener.collector import Collector
    from listener.scheduler import SourceScheduler
    from socialear.config import SourceConfig

    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "1", "text": "Stratus no signal again"}) + "\n")
    cfg = rules().model_copy(update={"sources": [SourceConfig(
        name="feed", type="replay", options={"path": str(feed)})]})
    calls: list[int] = []
    scheduler = SourceScheduler(Collector(engine, lambda: cfg, env={}, responders=PipelineResponders()), lambda: cfg,
                                after_store=lambda: calls.append(1))
    scheduler._run("feed")  # one poll: stores the mention
    assert calls == [1]
    scheduler._run("feed")  # nothing new: no check
    assert calls == [1]
