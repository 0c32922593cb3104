"""Cases through the real pipeline and outbox worker, on SQLite and PostgreSQL: an
author's follow-ups join their case (one queue item, urgency raised when warranted), a
recently resolved case re-opens, and the contact centre gets ONE ticket per case with the
follow-ups as comments, through a sink outage and a restart."""

from __future__ import annotations

import json
import re
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from listener import cases
from listener.pipeline import Pipeline
from listener.types import Author, Batch, Mention
from responders.outbox import OutboxWorker, SinkSet
from responders.publish import PipelineResponders
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
    result = Pipeline(engine, lambda: rules, responders=PipelineResponders()).process("feed", Batch(list(mentions), next_cursor=None), None)
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
    original = cases.place_pending

    def interleaved(conn: sa.Connection, ids: list[Any], now: datetime) -> dict[int, dict[str, Any]]:
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

    monkeypatch.setattr(cases, "place_pending", interleaved)
    errors: list[BaseException] = []

    def replica(eng: Engine, mention: Mention) -> None:
        try:
            Pipeline(eng, lambda: rules, responders=PipelineResponders()).process(mention.source, Batch([mention], next_cursor=None), None)
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


def _grouping(engine: Engine, run: str) -> dict[str, Any]:
    """Run `run`'s cases and escalations, with ids replaced by post names (comparable across runs)."""
    rows = [r for r in escalations(engine) if r.external_id.startswith(run)]
    name = {r.id: r.external_id.removeprefix(run) for r in rows}
    members: dict[int, list[str]] = {}
    for r in rows:
        members.setdefault(r.case_id, []).append(name[r.id])
    by_case = {c.id: c for c in case_rows(engine)}
    out: dict[str, Any] = {}
    for case_id, posts in members.items():
        c = by_case[case_id]
        out["case " + "+".join(sorted(posts))] = (value(c.status), c.size, c.urgency, name[c.head_escalation_id])
    for r in rows:
        resolution = re.sub(r"#(\d+)", lambda g: "#" + name[int(g[1])], (r.resolution or "")
                            .replace(f"case {r.case_id}:", "case C:"))
        out[name[r.id]] = (value(r.status), value(r.priority), r.urgency, r.sla_due, resolution)
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        audits = conn.execute(sa.select(at.c.action, at.c.subject_id, at.c.details)
                              .where(at.c.action.like("case.%")).order_by(at.c.id)).all()
    out["audits"] = [(a.action, name[int(a.subject_id)], (a.details or {}).get("raised"))
                     for a in audits if int(a.subject_id) in name]
    return out


def test_a_batch_is_grouped_exactly_as_its_posts_one_at_a_time(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-based grouping (one read of the candidates, one write per kind of change) must
    place every post of a batch as placing one post at a time does: a batch's own
    follow-ups join the case its first post started, a reply joins by thread, a post
    re-opens a resolved case and the next one joins the re-opened case (raising its new
    head), a post past CASE_WINDOW starts a new case, and identities the customer
    directory links share one. Two twin runs get identical escalations (same urgency,
    priority and SLA); run "one_" is grouped a post at a time, run "all_" in one call."""
    from sqlmodel import Session

    from storage import customers

    rules = zendesk_rules(tmp_path)
    with Session(engine) as s:
        for run in ("one_", "all_"):  # one customer per run: ann on X and on Reddit
            customers.link(s, "test", f"cust-{run}", segment=None, identities=[
                customers.Identity("x", f"{run}ann"), customers.Identity("reddit", f"{run}ann_r")])
        s.commit()

    def posts(run: str) -> list[Mention]:
        def p(ext: str, text: str, minutes: int, handle: str, platform: str = "x", **kw: str) -> Mention:
            m = post(f"{run}{ext}", text, minutes, f"{run}{handle}", **{k: f"{run}{v}" for k, v in kw.items()})
            return dataclass_replace(m, platform=platform, author=dataclass_replace(m.author, platform=platform))
        return [
            p("a1", "Nimbus charged twice this month, awful.", 0, "ann"),
            p("a2", "@NimbusMobile still no refund, charged twice, terrible", 20, "ann"),
            p("b1", "@NimbusMobile network down, no signal at all, awful", 25, "bob",
              in_reply_to="a1", conversation_id="a1"),
            p("a3", "Nimbus charged twice again, awful.", 30, "ann_r", platform="reddit"),
            p("r1", "Nimbus billing is a mess, charged twice, awful", 60, "rita"),
            p("r2", "@NimbusMobile network down for me too, no signal, urgent!", 90, "rita"),
            p("a4", "Nimbus charged twice, awful.", 60 * 24 * 3, "ann"),
        ]

    et = t.Escalation.__table__
    for run in ("one_", "all_"):  # rita's earlier matter, resolved: her posts re-open it
        ingest(engine, rules, post(f"{run}r0", "Nimbus charged twice, awful service", -600, f"{run}rita"))
        r0 = next(r for r in escalations(engine) if r.external_id == f"{run}r0")
        with engine.begin() as conn:
            conn.execute(et.update().where(et.c.id == r0.id).values(status="resolved", resolved_at=T0))
            cases.sync_status(conn, r0.id, T0)
    with monkeypatch.context() as patched:  # store both runs' escalations, not yet in cases
        patched.setattr(cases, "place_pending", lambda *args: {})
        ingest(engine, rules, *posts("one_"), *posts("all_"))
    rows = {r.external_id: r for r in escalations(engine)}
    with engine.begin() as conn:  # the twins' escalations are alike in everything grouping reads
        for ext, r in rows.items():
            if ext.startswith("all_"):
                twin = rows["one_" + ext.removeprefix("all_")]
                conn.execute(et.update().where(et.c.id == r.id).values(
                    priority=twin.priority, priority_rank=twin.priority_rank, urgency=twin.urgency,
                    sla_due=twin.sla_due))
    ungrouped = [r for r in rows.values() if r.case_id is None]
    by_time = sorted(ungrouped, key=lambda r: (next(m for m in posts("")
                                                    if r.external_id.endswith("_" + m.external_id)).created_at))
    for r in by_time:
        if r.external_id.startswith("one_"):
            with engine.begin() as conn:
                cases.group_new(conn, [r.id], T0)
    with engine.begin() as conn:
        cases.group_new(conn, [r.id for r in ungrouped if r.external_id.startswith("all_")], T0)
    one, batched = _grouping(engine, "one_"), _grouping(engine, "all_")
    assert batched == one
    # and what they agree on is the intended grouping
    assert one["case a1+a2+a3+b1"][:2] == ("open", 4)
    assert one["case r0+r1+r2"][0] == "open" and one["case r0+r1+r2"][3] == "r1"  # r1 re-opened it, r2 joined
    assert one["case a4"][:2] == ("open", 1)
    assert [a[:2] for a in one["audits"]] == [
        ("case.joined", "a1"), ("case.joined", "a1"), ("case.joined", "a1"),
        ("case.reopened", "r1"), ("case.joined", "r1")]


def test_case_grouping_takes_the_same_number_of_statements_for_any_batch_size(
        engine: Engine, tmp_path: Path) -> None:
    """The write path is set-based: a batch of 40 escalations costs the database as many
    statements as a batch of 4 (the per-post look-ups cost about six each)."""
    rules = zendesk_rules(tmp_path)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    def batch(prefix: str, n: int, cursor: str | None) -> int:
        mentions = [post(f"{prefix}{i}", "Nimbus charged twice this month, awful.", i, f"{prefix}user{i}")
                    for i in range(n)]
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            result = Pipeline(engine, lambda: rules, responders=PipelineResponders()).process("feed", Batch(mentions, next_cursor=prefix), cursor)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert result.escalated == n
        return len(statements)

    batch("w", 1, None)  # the source's first batch also creates its cursor row
    small = batch("s", 4, "w")
    large = batch("l", 40, "s")
    assert large == small, (small, large)


def test_no_write_path_query_reads_a_whole_table(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Every look-up a batch makes (dedupe, authors, their escalations, threads, cases)
    uses an index, so ingest does not slow down as history grows. SQLite planned the old
    `(platform, handle) IN (VALUES ...)` as "SCAN author": each batch read every author
    and every mention of theirs (bench/pipeline.py --prefill 1000000: 40 % of the time)."""
    engine = sqlite_engine
    rules = zendesk_rules(tmp_path)
    ingest(engine, rules, post("b1", "Nimbus charged twice this month, awful.", 0))
    selects: list[tuple[str, Any]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        ingest(engine, rules,
               post("b2", "Still no refund from Nimbus, charged twice. Terrible.", 30),
               post("b3", "@NimbusMobile no signal at all, network down", 40, in_reply_to="b1", conversation_id="b1"),
               post("c1", "Nimbus charged twice, awful service", 41, handle="someone_else"))
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    big = ("mention", "author", "escalation", "care_case", "audit_event", "outbox_item")
    with engine.connect() as conn:
        for statement, parameters in selects:
            plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            scans = [step for step in plan if step.startswith("SCAN") and step.split()[1] in big]
            assert not scans, (statement, plan)
