"""An approved reply posted as the Facebook Page through the outbox (responders.publishers.
facebook), at the reply target the source records: under the comment, or under its
top-level comment for a reply; never twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from responders.outbox import OutboxWorker, SinkSet
from responders.publish import Publishers, ReplyPublisher
from socialear.config import RulesConfig, parse_rules_text
from storage import models as t

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facebook"
GRAPH = "https://graph.facebook.com/v21.0"
PAGE = "104417785386524"
TOP = "122104219876543210_1029384756"
REPLY = "122104219876543210_1029384811"
OURS = "122104219876543210_1029390000"
ENV = {"FACEBOOK_PAGE_ACCESS_TOKEN": "EAAB-page-token"}
TEXT = "Sorry Priya, the Leeds exchange work is done. Still down? DM us your account number."
RULES = f"""
brands:
  - name: Nimbus
    query: nimbus
sources:
  - {{name: fb-page, type: facebook, publish_replies: true, options: {{page_id: "{PAGE}"}}}}
queues: [care]
"""


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def rules() -> RulesConfig:
    return parse_rules_text(RULES)


def seed(engine: Engine, external_id: str) -> int:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        mention = conn.execute(t.Mention.__table__.insert().returning(t.Mention.__table__.c.id).values(
            source="fb-page", platform="facebook", external_id=external_id, text="Upgrades that break it every week",
            created_at=now, fetched_at=now, brand="Nimbus", brands=["Nimbus"], categories=[], scoring={},
            conversation_id=f"{PAGE}_122104219876543210")).scalar_one()
        return int(conn.execute(t.Escalation.__table__.insert().returning(t.Escalation.__table__.c.id).values(
            mention_id=mention, idempotency_key=f"sk-fb-{external_id}", route="complaint", queue="care",
            priority="high", priority_rank=3, status="open", created_at=now, updated_at=now,
            suggested_reply="Sorry", tags=[], decision={})).scalar_one())


def make(engine: Engine, rules: RulesConfig, clock: Clock) -> tuple[ReplyPublisher, OutboxWorker]:
    publishers = Publishers(lambda: rules, ENV)
    worker = OutboxWorker(engine, SinkSet(lambda: rules, ENV), worker_id="w", parallel=1, publishers=publishers,
                          clock=clock, rng=lambda: 0.0)
    return ReplyPublisher(engine, lambda: rules, publishers=publishers), worker


def reply_id(engine: Engine, esc: int) -> str | None:
    et = t.Escalation.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(et.c.reply_external_id).where(et.c.id == esc)).scalar_one()


@respx.mock
def test_a_reply_to_a_reply_goes_under_its_top_level_comment(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine, REPLY)
    publisher, worker = make(engine, rules, Clock())
    publisher.publish(esc, TEXT, "alice")
    respx.get(f"{GRAPH}/{REPLY}").mock(return_value=httpx.Response(200, json={"id": REPLY, "parent": {"id": TOP}}))
    post = respx.post(f"{GRAPH}/{TOP}/comments").mock(return_value=httpx.Response(200, json={"id": OURS}))
    assert worker.drain().sent == 1
    worker.close()
    request = post.calls[0].request
    assert parse_qs(request.content.decode()) == {"message": [TEXT]}
    assert request.headers["Authorization"] == "Bearer EAAB-page-token"
    assert reply_id(engine, esc) == OURS


@respx.mock
def test_a_top_level_comment_is_answered_under_itself(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine, TOP)
    publisher, worker = make(engine, rules, Clock())
    publisher.publish(esc, TEXT, "alice")
    respx.get(f"{GRAPH}/{TOP}").mock(return_value=httpx.Response(200, json={"id": TOP}))
    post = respx.post(f"{GRAPH}/{TOP}/comments").mock(return_value=httpx.Response(200, json={"id": OURS}))
    assert worker.drain().sent == 1
    worker.close()
    assert post.call_count == 1 and reply_id(engine, esc) == OURS


@respx.mock
def test_a_retry_after_a_timeout_finds_the_reply_instead_of_posting_twice(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine, TOP)
    clock = Clock()
    publisher, worker = make(engine, rules, clock)
    publisher.publish(esc, TEXT, "alice")
    respx.get(f"{GRAPH}/{TOP}").mock(return_value=httpx.Response(200, json={"id": TOP}))
    post = respx.post(f"{GRAPH}/{TOP}/comments").mock(side_effect=httpx.ReadTimeout("read timed out"))
    assert worker.run_once().retried == 1
    worker.close()
    # Facebook had posted it: the retry reads the comments first and finds ours.
    respx.get(f"{GRAPH}/me").mock(return_value=httpx.Response(200, json={"id": PAGE}))
    listing = respx.get(f"{GRAPH}/{TOP}/comments").mock(return_value=httpx.Response(200, json={"data": [
        {"id": OURS, "message": TEXT, "from": {"id": PAGE}},
        {"id": "122104219876543210_1029380001", "message": TEXT, "from": {"id": "5512093847561122"}},
    ]}))
    clock.offset += timedelta(minutes=5)
    _, worker2 = make(engine, rules, clock)
    assert worker2.drain().sent == 1
    worker2.close()
    assert post.call_count == 1 and listing.call_count == 1
    assert reply_id(engine, esc) == OURS


@respx.mock
def test_a_deleted_comment_is_dead_not_retried(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine, TOP)
    publisher, worker = make(engine, rules, Clock())
    publisher.publish(esc, TEXT, "alice")
    gone = json.loads((FIXTURES / "error_100_33_gone.json").read_text())
    respx.get(f"{GRAPH}/{TOP}").mock(return_value=httpx.Response(400, json=gone))
    assert worker.drain().dead == 1
    worker.close()
    assert reply_id(engine, esc) is None
