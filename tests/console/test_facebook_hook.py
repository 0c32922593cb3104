"""GET/POST /hooks/facebook: the subscription challenge, X-Hub-Signature-256, new comments
and visitor posts stored through the pipeline (then not stored twice by the poll), and
`verb: remove` purging the mention. On SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import respx
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web.facebook_hook import make_facebook_router, signature
from listener.collector import Collector
from responders.publish import PipelineResponders
from socialear.config import parse_rules_text
from storage import models as t

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facebook"
PAGE = "104417785386524"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ENV = {"FACEBOOK_APP_SECRET": SECRET, "FACEBOOK_VERIFY_TOKEN": "verify-me", "FACEBOOK_PAGE_ACCESS_TOKEN": "EAAB-token"}
RULES = parse_rules_text(
    json.dumps(
        {
            "brands": [{"name": "Nimbus", "query": "nimbus"}],
            "sources": [{"name": "fb-page", "type": "facebook", "options": {"page_id": PAGE}}],
            "queues": ["care"],
            "routes": [{"name": "all", "when": {"brand": "any"}, "escalate": {"queue": "care", "priority": "normal"}}],
        }
    )
)


def client(engine: Engine, env: dict[str, str] = ENV) -> TestClient:
    app = FastAPI()
    app.include_router(make_facebook_router(engine, lambda: RULES, env))
    return TestClient(app)


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def post(c: TestClient, raw: bytes, secret: str = SECRET) -> httpx.Response:
    return c.post(
        "/hooks/facebook",
        content=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature(secret, raw)},
    )


def mentions(engine: Engine) -> dict[str, sa.Row]:
    mt = t.Mention.__table__
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(sa.select(mt).where(mt.c.source == "fb-page"))}


def test_subscription_challenge(engine: Engine) -> None:
    c = client(engine)
    ok = c.get(
        "/hooks/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = c.get("/hooks/facebook", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403
    off = client(engine, env={}).get("/hooks/facebook", params={"hub.mode": "subscribe"})
    assert off.status_code == 503 and "FACEBOOK_VERIFY_TOKEN" in off.json()["detail"]


def test_unsigned_or_wrongly_signed_is_refused_and_nothing_stored(engine: Engine) -> None:
    c = client(engine)
    raw = body("webhook_comment_add.json")
    assert c.post("/hooks/facebook", content=raw).status_code == 401
    assert post(c, raw, secret="another-secret").status_code == 401
    tampered = raw.replace(b"Fix it please", b"Fixed, thanks")
    assert (
        c.post("/hooks/facebook", content=tampered, headers={"X-Hub-Signature-256": signature(SECRET, raw)}).status_code
        == 401
    )
    assert mentions(engine) == {}
    assert post(c, b"not json").status_code == 400


def test_comment_and_reply_stored_with_reply_targets_then_removed(engine: Engine) -> None:
    c = client(engine)
    first = post(c, body("webhook_comment_add.json"))
    assert first.status_code == 200 and first.json() == {"ok": True, "stored": 1, "purged": 0, "ignored": 0}
    assert post(c, body("webhook_reply_add.json")).json()["stored"] == 1
    assert post(c, body("webhook_page_own_comment.json")).json() == {"ok": True, "stored": 0, "purged": 0, "ignored": 1}
    rows = mentions(engine)
    top, reply = rows["122104219876543210_1029399999"], rows["122104219876543210_1029400001"]
    assert top.text == "Still down after the maintenance. Fix it please!"
    assert top.platform == "facebook" and top.in_reply_to == f"{PAGE}_122104219876543210"
    assert reply.in_reply_to == top.external_id and reply.conversation_id == f"{PAGE}_122104219876543210"
    et = t.Escalation.__table__
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(et)).scalar_one() == 2
    # The same delivery again (Meta retries): nothing stored twice.
    assert post(c, body("webhook_comment_add.json")).json()["stored"] == 0
    removed = post(c, body("webhook_comment_remove.json"))
    assert removed.json() == {"ok": True, "stored": 0, "purged": 1, "ignored": 0}
    gone = mentions(engine)["122104219876543210_1029399999"]
    assert gone.text == "" and gone.deleted_at is not None


def test_visitor_post_and_mention(engine: Engine) -> None:
    c = client(engine)
    assert post(c, body("webhook_visitor_post.json")).json()["stored"] == 1
    assert post(c, body("webhook_mention.json")).json()["stored"] == 1
    rows = mentions(engine)
    assert rows[f"{PAGE}_122107777788889999"].text.startswith("Is there an outage in Leeds?")
    assert rows["9930118274650012_771122334499"].text == "@Nimbus Mobile your app logs me out every hour"


def test_a_page_nobody_listens_to_is_acknowledged(engine: Engine) -> None:
    raw = body("webhook_comment_add.json").replace(PAGE.encode(), b"999999999999999")
    assert post(client(engine), raw).json() == {"ok": True, "stored": 0, "purged": 0, "ignored": 1}


@respx.mock
def test_the_poll_does_not_store_a_webhook_item_twice(engine: Engine) -> None:
    """The webhook stored the visitor's post; the fallback poll reads it too: one row."""
    c = client(engine)
    raw = json.loads(body("webhook_visitor_post.json"))
    value = raw["entry"][0]["changes"][0]["value"]
    feed = json.loads((FIXTURES / "feed_page1.json").read_text())
    value["post_id"] = feed["data"][0]["id"]
    value["message"] = feed["data"][0]["message"]
    as_bytes = json.dumps(raw).encode()
    assert post(c, as_bytes).json()["stored"] == 1
    graph = "https://graph.facebook.com/v21.0"
    respx.get(f"{graph}/{PAGE}/feed").mock(return_value=httpx.Response(200, json=feed))
    respx.get(url__regex=rf"^{graph}/{PAGE}_\d+/comments").mock(return_value=httpx.Response(200, json={"data": []}))
    respx.get(f"{graph}/{PAGE}/tagged").mock(return_value=httpx.Response(200, json={"data": []}))
    respx.get(url__regex=rf"^{graph}/\?ids=").mock(side_effect=lambda request: httpx.Response(200, json={
        i: {"updated_time": "2024-11-13T14:02:11+0000", "id": i} for i in str(request.url.params["ids"]).split(",")
    }))
    outcome = Collector(engine, lambda: RULES, env=ENV, responders=PipelineResponders()).poll("fb-page")
    assert outcome.ok, outcome.error
    assert outcome.result.stored == 0 and len(mentions(engine)) == 1


def test_the_collector_hands_its_stop_signal_to_the_sources_waits(engine: Engine) -> None:
    """A source's in-fetch waits (retry backoff, pacing) end on shutdown: the collector
    gives every source it builds its own `stopping` event."""
    collector = Collector(engine, lambda: RULES, env=ENV, responders=PipelineResponders())
    source = collector.source("fb-page")
    assert source.retry.stopping is collector.stopping  # type: ignore[attr-defined]
    collector.stopping.set()
    assert source.retry.pause(60.0) is False  # type: ignore[attr-defined]
