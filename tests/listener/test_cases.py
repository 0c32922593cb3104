"""Cases through the real pipeline and outbox worker, on SQLite and PostgreSQL: an
author's follow-ups join their case (one queue item, urgency raised when warranted), a
recently resolved case re-opens, and the contact centre gets ONE ticket per case with the
follow-ups as comments, through a sink outage and a restart."""

# ruff: noqa: E501
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener import cases
from listener.pipeline import Pipeline
from listener.types import Author, Batch, Mention
from responders.outbox import OutboxWorker, SinkSet
from socialear.config import RulesConfig, parse_rules_text
from storage import models as t
from tests.listener.conftest import pipeline_rules_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zendesk"
ZD = "https://nimbus.zendesk.com/api/v2"
ENV = {"ZENDESK_EMAIL": "bot@nimbus.example", "ZENDESK_API_TOKEN": "tok"}
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def zendesk_rules(tmp_path: Path) -> RulesConfig:
    text = pipeline_rules_text(tmp_path / "feed.jsonl", tmp_path / "sink.jsonl")
    text = text.split("sinks:")[0] + "sinks:\n  - name: zd\n    type: zendesk\n    options: {subdomain: nimbus}\n"
    return parse_rules_text(text)


def post(ext: str, text: str, minutes: int, handle: str = "ben_t", **kw: str) -> Mention:
    return Mention(source="feed", platform="x", external_id=ext, text=text,
                   created_at=T0 + timedelta(minutes=minutes),
                   author=Author(platform="x", handle=handle, followers=40), **kw)


def ingest(engine: Engine, rules: RulesConfig, *mentions: Mention) -> None:
    result = Pipeline(engine, lambda: rules).process("feed", Batch(list(mentions), next_cursor=None), None)
    assert not result.errors if hasattr(result, "errors") else True


def escalations(engine: Engine) -> list[sa.Row]:
    et, mt = t.Escalation.__table__, t.Mention.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(et, mt.c.external_id).select_from(et.join(mt, mt.c.id == et.c.mention_id))
                            .order_by(et.c.id)).all()


def case_rows(engine: Engine) -> list[sa.Row]:
    ct = t.CareCase.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(ct).order_by(ct.c.id)).all()


def value(x: object) -> str:
    return str(getattr(x, "value", x))


def test_follow_ups_join_the_case_and_raise_it(engine: Engine, tmp_path: Path) -> None:
    rules = zendesk_rules(tmp_path)
    ingest(engine, rules, post("b1", "Nimbus charged twice this month, awful.", 0))
    ingest(engine, rules,
           post("b2", "Still no refund from Nimbus, charged twice. Terrible.", 30),  # same author, later
           post("b3", "@NimbusMobile and now no signal at all, network down, awful", 40, in_reply_to="b1",
                conversation_id="b1"),  # in the thread, and worse: an outage
           post("c1", "Nimbus charged twice, awful service", 41, handle="someone_else"))
    rows = {r.external_id: r for r in escalations(engine)}
    assert set(rows) == {"b1", "b2", "b3", "c1"}
    cs = case_rows(engine)
    assert len(cs) == 2  # ben's three posts, and someone else's own
    ben = next(c for c in cs if c.head_escalation_id == rows["b1"].id)
    assert ben.size == 3 and value(ben.status) == "open"
    assert {rows[k].case_id for k in ("b1", "b2", "b3")} == {ben.id} and rows["c1"].case_id != ben.id
    # one queue item per case: the follow-ups are closed into the head ...
    assert value(rows["b1"].status) == "open"
    for k in ("b2", "b3"):
        assert value(rows[k].status) == "resolved" and rows[k].label is None
        assert rows[k].follow_up_of == rows["b1"].id  # shown as a follow-up of the head
        assert rows[k].resolution == f"Follow-up in case {ben.id}: handled with escalation #{rows['b1'].id}"
    # ... and the head is raised to the outage follow-up's priority, urgency and SLA
    assert value(rows["b3"].priority) == "urgent"
    assert value(rows["b1"].priority) == "urgent" and rows["b1"].priority_rank == 4
    assert rows["b1"].urgency == max(r.urgency for k, r in rows.items() if k != "c1")
    assert rows["b1"].sla_due == rows["b3"].sla_due
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        joined = conn.execute(sa.select(at.c.details).where(at.c.action == "case.joined")).scalars().all()
    assert len(joined) == 2 and any((d["raised"] or {}).get("priority") == "urgent" for d in joined), joined


def test_a_new_post_reopens_a_recently_resolved_case_but_not_an_old_one(engine: Engine, tmp_path: Path) -> None:
    rules = zendesk_rules(tmp_path)
    ingest(engine, rules, post("b1", "Nimbus charged twice this month, awful.", 0))
    first = escalations(engine)[0]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(t.Escalation.__table__.update().values(status="resolved", resolved_at=now))
        cases.sync_status(conn, first.id, now)
    assert value(case_rows(engine)[0].status) == "resolved"
    ingest(engine, rules, post("b2", "Nimbus charged twice AGAIN, awful.", 60))
    (case,) = case_rows(engine)
    b2 = escalations(engine)[1]
    assert value(case.status) == "open" and case.size == 2 and case.head_escalation_id == b2.id
    assert value(b2.status) == "open" and b2.case_id == case.id  # the new post is the queue item
    # a case resolved longer ago than REOPEN_WINDOW stays closed: a new matter, a new case
    with engine.begin() as conn:
        conn.execute(t.Escalation.__table__.update().values(status="resolved", resolved_at=now))
        cases.sync_status(conn, b2.id, now)
        conn.execute(t.CareCase.__table__.update().values(resolved_at=T0 + timedelta(hours=2)))
    late = (cases.REOPEN_WINDOW + timedelta(hours=3)).total_seconds() // 60
    ingest(engine, rules, post("b3", "Nimbus charged twice, awful.", int(late)))
    assert len(case_rows(engine)) == 2


@pytest.mark.parametrize("outage", ["after_the_ticket", "before_the_ticket"])
def test_three_posts_make_one_zendesk_ticket_and_two_comments_through_an_outage_and_a_restart(
        engine: Engine, tmp_path: Path, outage: str) -> None:
    rules = zendesk_rules(tmp_path)
    created = json.loads((FIXTURES / "ticket_created.json").read_text())
    ticket_id = created["ticket"]["id"]
    creates: list[dict] = []
    updates: list[dict] = []
    comments: list[dict] = []
    down = {"on": False}

    def create(request: httpx.Request) -> httpx.Response:
        if down["on"]:
            return httpx.Response(503)
        creates.append(json.loads(request.content)["ticket"])
        return httpx.Response(201, json=created)

    def update(request: httpx.Request) -> httpx.Response:
        if down["on"]:
            return httpx.Response(503)
        body = json.loads(request.content)["ticket"]
        updates.append(body)
        comments.append({"id": 900 + len(comments), "type": "Comment", "public": False, "body": body["comment"]["body"]})
        if len(updates) == 1:  # the first comment lands, then the answer is lost
            raise httpx.ReadTimeout("updated, then the response timed out", request=request)
        return httpx.Response(200, json=created)

    def list_comments(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"comments": comments, "next_page": None, "previous_page": None, "count": len(comments)})

    def search(request: httpx.Request) -> httpx.Response:
        key = request.url.params["external_id"]
        if any(c["external_id"] == key for c in creates):
            return httpx.Response(200, json=json.loads((FIXTURES / "tickets_by_external_id.json").read_text()))
        return httpx.Response(200, json=json.loads((FIXTURES / "tickets_empty.json").read_text()))

    def worker() -> OutboxWorker:
        sinks = SinkSet(lambda: rules, ENV, clients={"zd": httpx.Client()})
        return OutboxWorker(engine, sinks, worker_id="cases", clock=clock, rng=lambda: 1.0)

    offset = {"s": 0.0}

    def clock() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=offset["s"])

    with respx.mock:
        respx.post(f"{ZD}/tickets.json").mock(side_effect=create)
        respx.get(f"{ZD}/tickets.json").mock(side_effect=search)
        respx.put(f"{ZD}/tickets/{ticket_id}.json").mock(side_effect=update)
        respx.get(f"{ZD}/tickets/{ticket_id}/comments.json").mock(side_effect=list_comments)
        if outage == "before_the_ticket":  # the follow-ups wait for the case's ticket
            down["on"] = True
        ingest(engine, rules, post("b1", "Nimbus charged twice this month, awful.", 0))
        w = worker()
        if outage == "after_the_ticket":
            assert w.drain().sent == 1 and len(creates) == 1
        else:
            assert w.run_once().retried == 1 and not creates
        down["on"] = True  # the sink is down; two follow-ups arrive
        ingest(engine, rules, post("b2", "Still no refund from Nimbus, charged twice. Terrible.", 30),
               post("b3", "Nimbus, charged twice and still nothing, awful", 35, in_reply_to="b1"))
        if outage == "after_the_ticket":
            assert w.run_once().retried == 2
        else:  # not even tried: they wait (no attempt spent) until the case has its ticket
            offset["s"] += 600
            assert w.run_once().retried == 1 and not updates
        w.close()
        down["on"] = False
        offset["s"] += 600
        w = worker()  # a restart: nothing but the database carries over
        w.drain()
        offset["s"] += 600
        w.drain()
        w.close()
        offset["s"] += 600
        w = worker()
        w.drain()
        w.close()

    assert len(creates) == 1  # exactly one ticket for the case ...
    assert len(comments) == 2 and len(updates) == 2  # ... and each follow-up once, as a comment
    assert all(set(u) == {"comment", "additional_tags"} and u["comment"]["public"] is False for u in updates)
    keys = [r.idempotency_key for r in escalations(engine)]
    assert sorted(c["body"].rsplit("socialear-key: ", 1)[1] for c in comments) == sorted(keys[1:])
    ot = t.OutboxItem.__table__
    with engine.connect() as conn:
        states = conn.execute(sa.select(ot.c.state, ot.c.external_ref).order_by(ot.c.id)).all()
    assert [(value(s), r) for s, r in states] == [("sent", str(ticket_id))] * 3
    assert {r.external_ref for r in escalations(engine)} == {str(ticket_id)}


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL schema: replicas share a database only on PostgreSQL (SQLite
    deployments are one process)."""
    import os

    if not os.environ.get("SOCIALEAR_TEST_POSTGRES_URL"):
        pytest.skip("needs SOCIALEAR_TEST_POSTGRES_URL: replicas run on PostgreSQL only")
    return str(request.getfixturevalue("_pg_schema"))


def test_two_replicas_grouping_the_same_customer_at_once_open_one_case(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas (two engines, two threads, two real transactions) each store a post of
    the same customer, one from X and one from Facebook (two author rows, linked in the
    directory); replica B places its post while A's new case is still uncommitted.
    Without the lock B cannot see A's case and opens a second one. (The same author row
    on both replicas is serialised by the pipeline's author update already.)"""
    import threading

    from sqlmodel import Session

    from storage.customers import Identity, link
    from storage.engine import make_engine
    from storage.migrate import upgrade

    engine = make_engine(pg_url)
    upgrade(engine)
    with Session(engine) as s:
        link(s, "test", "C-1", segment="gold", identities=[Identity("x", "ben_t"), Identity("facebook", "ben.t")])
        s.commit()
    rules = zendesk_rules(tmp_path)
    other = make_engine(pg_url)
    a_grouped, b_done = threading.Event(), threading.Event()
    original = cases.group_new

    def interleaved(conn: sa.Connection, ids: list[int], now: datetime) -> dict[int, int]:
        if threading.current_thread().name == "replica-a":
            out = original(conn, ids, now)
            a_grouped.set()
            b_done.wait(timeout=2.0)  # hold A's transaction open while B groups
            return out
        assert a_grouped.wait(timeout=30)
        try:
            return original(conn, ids, now)
        finally:
            b_done.set()

    monkeypatch.setattr(cases, "group_new", interleaved)
    errors: list[BaseException] = []

    def replica(eng: Engine, mention: Mention) -> None:
        try:
            Pipeline(eng, lambda: rules).process(mention.source, Batch([mention], next_cursor=None), None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=replica, name="replica-a",
                         args=(engine, post("r1", "Nimbus charged twice this month, awful.", 0))),
        threading.Thread(target=replica, name="replica-b",
                         args=(other, Mention(source="page", platform="facebook", external_id="r2",
                                              text="Nimbus still charging me twice, awful.", created_at=T0,
                                              author=Author(platform="facebook", handle="ben.t")))),
    ]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
    finally:
        other.dispose()
    assert not errors, errors
    try:
        check_one_case(engine)
    finally:
        engine.dispose()


def check_one_case(engine: Engine) -> None:
    rows = {r.external_id: r for r in escalations(engine)}
    assert set(rows) == {"r1", "r2"}
    (case,) = case_rows(engine)  # one case, not one per replica
    assert case.size == 2 and {r.case_id for r in rows.values()} == {case.id}
    assert sorted(value(r.status) for r in rows.values()) == ["open", "resolved"]  # one queue item
