"""POST /hooks/discourse: X-Discourse-Event-Signature, post_created / post_edited stored
through the pipeline (kept as a poll keeps them, never twice), post_destroyed purging, and
the source's polling waiting while deliveries come, then checking from the high-water mark
the deliveries advanced. On SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import respx
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web.discourse_hook import make_discourse_router
from console.web.source_hook import signature
from listener.collector import Collector
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from storage import models as t

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "discourse"
FORUM = "https://community.nimbus.example"
SECRET = "d1sc0urse-hook-secret"
ENV = {"DISCOURSE_WEBHOOK_SECRET": SECRET}
RULES = parse_rules_text(json.dumps({
    "brands": [{"name": "Nimbus", "query": "nimbus"}],
    "sources": [{"name": "forum", "type": "discourse", "options": {"base_url": FORUM, "webhook": True}}],
    "queues": ["care"],
    "routes": [{"name": "all", "when": {"brand": "any"}, "escalate": {"queue": "care", "priority": "normal"}}],
}))


def client(engine: Engine, env: dict[str, str] = ENV) -> TestClient:
    app = FastAPI()
    app.include_router(make_discourse_router(engine, lambda: RULES, env))
    return TestClient(app)


def created(**post: object) -> dict:
    data = json.loads((FIXTURES / "webhook_post_created.json").read_text())
    data["post"].update(post)
    return data


def deliver(c: TestClient, data: dict, event: str = "post_created", secret: str = SECRET,
            instance: str = FORUM) -> httpx.Response:
    raw = json.dumps(data).encode()
    return c.post("/hooks/discourse", content=raw, headers={
        "Content-Type": "application/json", "X-Discourse-Instance": instance, "X-Discourse-Event-Type": "post",
        "X-Discourse-Event": event, "X-Discourse-Event-Id": "77", "X-Discourse-Event-Signature": signature(secret, raw)})


def mentions(engine: Engine) -> dict[str, sa.Row]:
    mt = t.Mention.__table__
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(sa.select(mt).where(mt.c.source == "forum"))}


def cursor(engine: Engine) -> dict:
    st = t.SourceState.__table__
    with engine.connect() as conn:
        return json.loads(conn.execute(sa.select(st.c.cursor).where(st.c.source == "forum")).scalar_one())


def test_unsigned_wrongly_signed_or_unconfigured_is_refused(engine: Engine) -> None:
    c = client(engine)
    raw = json.dumps(created()).encode()
    assert c.post("/hooks/discourse", content=raw, headers={"X-Discourse-Event": "post_created"}).status_code == 401
    assert deliver(c, created(), secret="wrong").status_code == 401
    tampered = raw.replace(b"Awful", b"Great")
    assert c.post("/hooks/discourse", content=tampered, headers={
        "X-Discourse-Event-Signature": signature(SECRET, raw)}).status_code == 401
    assert mentions(engine) == {}
    assert client(engine, env={}).post("/hooks/discourse", content=raw).status_code == 503
    bad = b"not json"
    assert c.post("/hooks/discourse", content=bad, headers={
        "X-Discourse-Event-Signature": signature(SECRET, bad)}).status_code == 400


def test_created_post_is_stored_once_edits_too_and_destroyed_purges(engine: Engine) -> None:
    c = client(engine)
    first = deliver(c, created())
    assert first.status_code == 200 and first.json() == {"ok": True, "stored": 1, "purged": 0, "ignored": 0}
    row = mentions(engine)["48230"]
    assert row.text.startswith("Nimbus charged me twice") and row.platform == "discourse"
    assert row.url == f"{FORUM}/t/nimbus-charged-me-twice/9124/1"
    assert cursor(engine)["streams"]["posts"]["since"] == 48230  # the high-water mark moved
    assert deliver(c, created(), event="post_edited").json()["stored"] == 0  # same post: not twice
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.Escalation.__table__)).scalar_one() == 1
    # not for us: no brand, a private message, a whisper, another forum, another event, a ping
    assert deliver(c, created(id=48231, raw="Lovely weather", post_number=2)).json()["ignored"] == 1
    assert deliver(c, created(id=48232, topic_archetype="private_message")).json()["ignored"] == 1
    assert deliver(c, created(id=48233, post_type=4)).json()["ignored"] == 1
    assert deliver(c, created(id=48234), instance="https://other.example").json()["ignored"] == 1
    assert deliver(c, created(id=48235), event="topic_created").json()["ignored"] == 1
    assert deliver(c, {"ping": "OK"}, event="ping").json() == {"ok": True, "stored": 0, "purged": 0, "ignored": 0}
    assert set(mentions(engine)) == {"48230"}
    assert cursor(engine)["streams"]["posts"]["since"] == 48233  # read posts move the mark too
    gone = deliver(c, created(), event="post_destroyed")
    assert gone.json() == {"ok": True, "stored": 0, "purged": 1, "ignored": 0}
    row = mentions(engine)["48230"]
    assert row.text == "" and row.deleted_at is not None


@respx.mock
def test_polling_waits_while_deliveries_come_then_checks_from_the_high_water_mark(engine: Engine, monkeypatch) -> None:
    """While the hook delivers, polls send nothing; after `webhook_silence` without a
    delivery a poll checks the post ids above the one the hook delivered last
    (`/posts/<id>.json`, past a run of hidden ids by leaping), and stores a missed post
    once; a post delivered while the hook is in doubt is not read again by the check."""
    from listener.sources import _common

    now = [datetime(2024, 11, 13, 15, 5, tzinfo=UTC)]
    monkeypatch.setattr(_common, "utcnow", lambda: now[0])  # sources built from here on read it
    c = client(engine)
    assert deliver(c, created()).json()["stored"] == 1
    missed = created(id=48240, raw="Nimbus app crashes on login since the update, awful")["post"]
    board: dict[int, dict] = {}
    asked: list[int] = []

    def by_id(request: httpx.Request) -> httpx.Response:
        post_id = int(request.url.path.removeprefix("/posts/").removesuffix(".json"))
        asked.append(post_id)
        if post_id in board:
            return httpx.Response(200, json=board[post_id])
        return httpx.Response(404, json=json.loads((FIXTURES / "error_404.json").read_text()))

    listing = respx.get(f"{FORUM}/posts.json")
    respx.get(url__regex=rf"^{FORUM}/posts/\d+\.json$").mock(side_effect=by_id)
    collector = Collector(engine, lambda: RULES, env=ENV, responders=PipelineResponders())
    for minutes in (5, 30, 55):  # within the hour of silence the source allows
        now[0] = datetime(2024, 11, 13, 15, 5, tzinfo=UTC) + timedelta(minutes=minutes)
        outcome = collector.poll("forum")
        assert outcome.ok, outcome.error
    assert asked == [] and listing.call_count == 0
    board[48240] = missed  # ids 48231-48239: private messages, deleted posts
    now[0] += timedelta(minutes=10)  # 65 minutes without a delivery: check
    outcome = collector.poll("forum")
    assert outcome.ok, outcome.error
    assert outcome.result.stored == 1 and set(mentions(engine)) == {"48230", "48240"}
    # six misses, then leaps +1, +2, +4 find 48240; the poll's next batch walks the ids
    # below it (holes now: a later id exists) and on, without asking 48240 again
    assert asked == [*range(48231, 48237), 48237, 48238, 48240, *range(48231, 48240), *range(48241, 48247)]
    assert cursor(engine)["streams"]["posts"]["since"] == 48240
    asked.clear()
    now[0] += timedelta(minutes=5)  # checked through: wait again
    assert collector.poll("forum").ok and asked == []
    # The hook is in doubt (it was silent for an hour): a delivery is stored but does not
    # move the high-water mark, so a post it might have missed before it came back is
    # still read ...
    now[0] += timedelta(minutes=5)
    later = created(id=48250, raw="Nimbus refund still missing, awful")["post"]
    assert deliver(c, {"post": later}).json()["stored"] == 1
    state = cursor(engine)
    assert state["streams"]["posts"]["since"] == 48240 and "doubt_since" in state["hook"]
    assert state["streams"]["posts"]["ahead"] == [48250]
    board[48250] = later
    now[0] += timedelta(minutes=55)  # ... by the next check, which skips what the hook delivered
    outcome = collector.poll("forum")
    assert outcome.ok and outcome.result.stored == 0 and 48250 not in asked
    assert asked[:9] == list(range(48241, 48250))
    state = cursor(engine)
    assert state["streams"]["posts"]["since"] == 48250 and "doubt_since" not in state["hook"]
    assert listing.call_count == 0
