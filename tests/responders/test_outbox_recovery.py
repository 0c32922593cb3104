"""Recovery, driven through the real OutboxWorker with a controllable clock:

* a webhook receiver that is down (503 / connection refused) for the whole first half of
  the test and up for the second half receives every escalation exactly once, none dead;
* a Zendesk API that creates the ticket and then times out: the worker's retry finds the
  ticket by external_id instead of creating a second one.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import respx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from responders.outbox import OutboxWorker, SinkSet
from responders.sinks.webhook import verify_signature
from socialear.config import RulesConfig, parse_rules_text
from storage import models as t

HOOK = "https://care.nimbus.example/socialear/escalations"
ZD = "https://nimbus.zendesk.com/api/v2/tickets.json"
ENV = {"SOCIALEAR_WEBHOOK_SECRET": "whsec-test", "ZENDESK_EMAIL": "bot@nimbus.example", "ZENDESK_API_TOKEN": "tok"}
N = 30


def rules_with(sink: dict) -> RulesConfig:
    return parse_rules_text(json.dumps({"brands": [{"name": "Nimbus", "query": "nimbus"}], "sinks": [sink]}))


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def seed(engine: Engine, sink: str, n: int = N) -> list[str]:
    """n escalations with an outbox row each for `sink`, as the pipeline writes them."""
    now = datetime.now(UTC)
    keys = []
    with engine.begin() as conn:
        for i in range(n):
            author = conn.execute(t.Author.__table__.insert().returning(t.Author.__table__.c.id).values(
                platform="x", handle=f"user{i}", name=f"User {i}", followers=i, verified=False, first_seen=now, last_seen=now)).scalar_one()
            mention = conn.execute(t.Mention.__table__.insert().returning(t.Mention.__table__.c.id).values(
                source="x-main", platform="x", external_id=f"18567{i:05d}", text=f"@NimbusMobile no signal #{i}", created_at=now,
                fetched_at=now, author_id=author, brand="Nimbus", brands=["Nimbus"], categories=["outage"], scoring={})).scalar_one()
            key = f"sk-recovery-{i:03d}"
            priority = ("urgent", 4) if i % 5 == 0 else ("normal", 2)
            esc = conn.execute(t.Escalation.__table__.insert().returning(t.Escalation.__table__.c.id).values(
                mention_id=mention, idempotency_key=key, route="outage", queue="care", priority=priority[0],
                priority_rank=priority[1], status="open", created_at=now, updated_at=now, suggested_reply="Sorry!",
                tags=[], decision={"route": "outage"})).scalar_one()
            conn.execute(t.OutboxItem.__table__.insert().values(
                escalation_id=esc, sink=sink, kind="escalation", state="pending", attempts=0, next_attempt_at=now,
                idempotency_key=key, priority_rank=priority[1], payload={}, created_at=now, updated_at=now))
            keys.append(key)
    return keys


def outbox(engine: Engine) -> list[sa.Row]:
    ot = t.OutboxItem.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(ot).order_by(ot.c.id)).all()


def worker_for(engine: Engine, rules: RulesConfig, clock: Clock, parallel: int = 4) -> OutboxWorker:
    """The production worker; only time (clock) and jitter (rng: always the full delay) are fixed."""
    sinks = SinkSet(lambda: rules, ENV, clients={rules.sinks[0].name: httpx.Client()})
    return OutboxWorker(engine, sinks, worker_id="recovery", parallel=parallel, clock=clock, rng=lambda: 1.0)


def test_a_receiver_down_for_the_first_half_gets_every_escalation_exactly_once(engine: Engine) -> None:
    keys = seed(engine, "hook")
    rules = rules_with({"name": "hook", "type": "webhook", "options": {"url": HOOK}})
    clock = Clock()
    state = {"up": False, "refused": 0}
    received: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            state["refused"] += 1
            if state["refused"] % 2:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(503, text="upstream unavailable")
        assert verify_signature("whsec-test", request.headers["X-Socialear-Timestamp"], request.content,
                                request.headers["X-Socialear-Signature"], now=clock().timestamp())
        body = json.loads(request.content)
        assert request.headers["Idempotency-Key"] == body["escalation"]["idempotency_key"]
        received.append(request.headers["Idempotency-Key"])
        return httpx.Response(202)

    worker = worker_for(engine, rules, clock, parallel=8)
    with respx.mock:
        respx.post(HOOK).mock(side_effect=receiver)
        # First half: down. Rounds keep coming (the service polls); the sink's breaker
        # opens after 3 failures and then one row probes per round, so the outage costs
        # a handful of requests, not one per row per round.
        for _ in range(10):
            worker.run_once()
            clock.advance(10)
        rows = outbox(engine)
        assert received == []
        assert {r.state for r in rows} <= {"pending", "retry"}  # none given up on
        assert 3 <= state["refused"] <= 3 + 10
        assert sum(r.attempts for r in rows) == state["refused"]  # rows handed back unattempted cost nothing

        # Second half: up. Deliver until nothing is due, letting (fake) time pass for backoff.
        state["up"] = True
        for _ in range(40):
            stats = worker.run_once()
            if all(r.state == "sent" for r in outbox(engine)):
                break
            if stats.sent + stats.retried + stats.dead == 0:
                clock.advance(30)
    worker.close()

    counts = Counter(received)
    assert set(counts) == set(keys) and max(counts.values()) == 1
    rows = outbox(engine)
    assert [r.state for r in rows] == ["sent"] * N
    assert all(r.external_ref == r.idempotency_key for r in rows)
    et = t.Escalation.__table__
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(et.c.external_ref.is_(None))).scalar() == 0
    with engine.connect() as conn:  # nothing was given up on at any point
        at = t.AuditEvent.__table__
        assert conn.execute(sa.select(sa.func.count()).where(at.c.action == "outbox.dead")).scalar() == 0


def test_a_lost_response_is_resent_with_the_same_idempotency_key(engine: Engine) -> None:
    """The one duplicate at-least-once allows: the receiver got it, we never heard back. The
    retry carries the same Idempotency-Key, which is what receivers de-duplicate on."""
    [key] = seed(engine, "hook", n=1)
    rules = rules_with({"name": "hook", "type": "webhook", "options": {"url": HOOK}})
    clock = Clock()
    received: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request.headers["Idempotency-Key"])
        if len(received) == 1:
            raise httpx.ReadTimeout("response lost", request=request)
        return httpx.Response(200)

    worker = worker_for(engine, rules, clock)
    with respx.mock:
        respx.post(HOOK).mock(side_effect=receiver)
        assert worker.run_once().retried == 1
        clock.advance(30)
        assert worker.run_once().sent == 1
    worker.close()
    assert received == [key, key]


def test_zendesk_created_then_timed_out_is_found_by_external_id_on_the_workers_retry(engine: Engine) -> None:
    keys = seed(engine, "zd", n=5)
    # open_after 10: all five time out in one round without the breaker holding any back
    rules = rules_with({"name": "zd", "type": "zendesk", "options": {"subdomain": "nimbus"}, "retry": {"open_after": 10}})
    clock = Clock()
    tickets: dict[str, dict] = {}
    creates: list[str] = []

    def create(request: httpx.Request) -> httpx.Response:
        ticket = json.loads(request.content)["ticket"]
        creates.append(ticket["external_id"])
        tickets[ticket["external_id"]] = {"id": 35000 + len(tickets), "external_id": ticket["external_id"], "status": "new"}
        raise httpx.ReadTimeout("created, then the response timed out", request=request)

    def search(request: httpx.Request) -> httpx.Response:
        found = tickets.get(request.url.params["external_id"])
        return httpx.Response(200, json={"tickets": [found] if found else [], "count": int(bool(found))})

    worker = worker_for(engine, rules, clock)
    with respx.mock:
        respx.post(ZD).mock(side_effect=create)
        respx.get(ZD).mock(side_effect=search)
        first = worker.run_once()
        assert first.retried == 5 and len(tickets) == 5
        worker.close()
        clock.advance(120)
        restarted = worker_for(engine, rules, clock)  # e.g. after a restart: attempt 2 looks up first
        assert restarted.drain().sent == 5
        restarted.close()

    assert sorted(creates) == sorted(keys)  # one create per escalation, never a second
    rows = outbox(engine)
    assert all(r.state == "sent" and r.external_ref == str(tickets[r.idempotency_key]["id"]) for r in rows)
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        sent = conn.execute(sa.select(at.c.details).where(at.c.action == "outbox.sent")).scalars().all()
    assert len(sent) == 5 and all(d["created"] is False for d in sent)
