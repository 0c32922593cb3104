"""Reply publishing: refused before sending when it may not go out; otherwise recorded and
queued in one transaction, then posted once by the real outbox worker against recorded
X API v2 / Reddit payloads (tweepy and praw talking to `responses`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from responders.outbox import OutboxWorker, SinkSet
from responders.publish import Publishers, PublishingOff, ReplyPublisher, enqueue_auto_reply
from responders.publishers import same_reply
from responders.replies import ReplyTooLong
from socialear.config import RulesConfig, parse_rules_text
from socialear.errors import PermanentError
from storage import models as t

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
X_API = "https://api.twitter.com/2"
REDDIT_TOKEN = "https://www.reddit.com/api/v1/access_token"
REDDIT_API = "https://oauth.reddit.com"
PARENT = "1856723001882461189"
OUR_ID = "1201570002123456789"
X_ENV = {"X_API_KEY": "ck", "X_API_SECRET": "cs", "X_ACCESS_TOKEN": "at", "X_ACCESS_TOKEN_SECRET": "ats"}
REDDIT_ENV = {
    "REDDIT_CLIENT_ID": "cid", "REDDIT_CLIENT_SECRET": "csecret", "REDDIT_USERNAME": "NimbusHelp",
    "REDDIT_PASSWORD": "pw", "REDDIT_USER_AGENT": "linux:socialear-tests:0.1 (by /u/NimbusHelp)",
}
ENV = {**X_ENV, **REDDIT_ENV}
X_TEXT = "Sorry about the router, Dana. We're on it: https://status.nimbus.example/leeds"
REDDIT_TEXT = "Sorry about the outage in Leeds, we're on it. Status: https://status.nimbus.example"

RULES = """
brands:
  - name: Nimbus Mobile
    handles: {x: NimbusHelp}
    query: 'nimbus'
sources:
  - {name: x-main, type: x, publish_replies: true}
  - {name: x-quiet, type: x}
  - {name: reddit-main, type: reddit, publish_replies: true}
  - {name: sample, type: replay, publish_replies: true, options: {path: samples/mentions.jsonl}}
categories:
  - {name: outage, severity: 5, phrases: [no signal]}
queues: [care]
routes:
  - name: outage-auto
    when: {categories: [outage]}
    escalate: {queue: care, priority: urgent}
    reply: outage
    publish: true
  - name: complaint
    when: {sentiment: negative}
    escalate: {queue: care}
    reply: outage
replies:
  outage: {en: "Sorry {{ author }}"}
"""


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


@pytest.fixture
def rules() -> RulesConfig:
    return parse_rules_text(RULES)


class Clock:
    """Real time plus an offset the test moves forward (so backoff need not be waited out)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    @property
    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def seed(engine: Engine, *, source: str = "x-main", platform: str = "x", external_id: str = PARENT,
         route: str = "complaint", suggested: str = "Sorry Dana", n: int = 0) -> int:
    """One mention + escalation, as the pipeline stores them."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        author = conn.execute(t.Author.__table__.insert().returning(t.Author.__table__.c.id).values(
            platform=platform, handle=f"dana_k{n}", name="Dana K", followers=10, verified=False,
            first_seen=now, last_seen=now)).scalar_one()
        mention = conn.execute(t.Mention.__table__.insert().returning(t.Mention.__table__.c.id).values(
            source=source, platform=platform, external_id=external_id, text="@NimbusHelp my router keeps dropping",
            created_at=now, fetched_at=now, author_id=author, brand="Nimbus Mobile", brands=["Nimbus Mobile"],
            categories=[], scoring={}, conversation_id=external_id)).scalar_one()
        return int(conn.execute(t.Escalation.__table__.insert().returning(t.Escalation.__table__.c.id).values(
            mention_id=mention, idempotency_key=f"sk-test-{source}-{external_id}", route=route, queue="care",
            priority="high", priority_rank=3, status="open", created_at=now, updated_at=now,
            suggested_reply=suggested, tags=[], decision={})).scalar_one())


def escalation(engine: Engine, esc_id: int) -> sa.Row:
    et = t.Escalation.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(et).where(et.c.id == esc_id)).one()


def outbox_rows(engine: Engine) -> list[sa.Row]:
    ot = t.OutboxItem.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(ot).order_by(ot.c.id)).all()


def audit_actions(engine: Engine, esc_id: int) -> list[str]:
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        return list(conn.execute(sa.select(at.c.action).where(at.c.subject_id == str(esc_id)).order_by(at.c.id)).scalars())


def make(engine: Engine, rules: RulesConfig, env: dict[str, str] = ENV, clock: Clock | None = None) -> tuple[ReplyPublisher, OutboxWorker]:
    publishers = Publishers(lambda: rules, env)
    worker = OutboxWorker(engine, SinkSet(lambda: rules, env), worker_id="w", parallel=1, publishers=publishers,
                          clock=clock or Clock(), rng=lambda: 0.0)
    return ReplyPublisher(engine, lambda: rules, publishers=publishers), worker


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# -- refused before anything is sent or stored ---------------------------------------------


def test_publishing_off_for_the_source_is_refused_with_the_setting_to_change(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine, source="x-quiet")
    publisher, _ = make(engine, rules)
    with pytest.raises(PublishingOff, match="publishing is off for source 'x-quiet': set publish_replies: true"):
        publisher.publish(esc, "Sorry Dana", "alice")
    assert outbox_rows(engine) == []
    assert escalation(engine, esc).reply_text is None


def test_missing_write_credentials_are_named(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine)
    publisher, _ = make(engine, rules, env={"X_API_KEY": "k", "X_BEARER_TOKEN": "read-only"})
    with pytest.raises(PublishingOff, match="X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET not set"):
        publisher.publish(esc, "Sorry Dana", "alice")
    assert outbox_rows(engine) == []


def test_a_source_type_that_cannot_post_is_refused(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine, source="sample")
    publisher, _ = make(engine, rules)
    with pytest.raises(PublishingOff, match="a 'replay' source cannot post; socialear publishes replies on facebook, reddit, x only"):
        publisher.publish(esc, "Sorry", "alice")
    assert outbox_rows(engine) == []


def test_too_long_is_refused_with_the_count(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine)
    publisher, _ = make(engine, rules)
    with pytest.raises(ReplyTooLong, match="reply is 301 characters; X allows 280"):
        publisher.publish(esc, "x" * 301, "alice")
    # X weighs URLs as 23 and emoji as 2: the weighted count is what is refused
    with pytest.raises(ReplyTooLong, match="reply is 282 characters"):
        publisher.publish(esc, "😀" * 141, "alice")
    assert outbox_rows(engine) == []


def test_a_deleted_post_gets_no_reply(engine: Engine, rules: RulesConfig) -> None:
    esc = seed(engine)
    with engine.begin() as conn:
        conn.execute(t.Mention.__table__.update().values(deleted_at=datetime.now(UTC)))
    publisher, _ = make(engine, rules)
    with pytest.raises(PermanentError, match="deleted"):
        publisher.publish(esc, "Sorry", "alice")


# -- X ----------------------------------------------------------------------------------------


def serve_create(rsps: responses.RequestsMock, status: int = 201, body: Any = None, **kw: Any) -> None:
    rsps.post(f"{X_API}/tweets", json=body if body is not None else fixture("x/replies/create_tweet_201.json"), status=status, **kw)


def serve_lookup(rsps: responses.RequestsMock, timeline: str = "user_tweets_with_reply") -> None:
    rsps.get(f"{X_API}/users/me", json=fixture("x/replies/users_me.json"))
    rsps.get(f"{X_API}/users/{OUR_ID}/tweets", json=fixture(f"x/replies/{timeline}.json"))


def calls(rsps: responses.RequestsMock, method: str, url: str) -> list[Any]:
    return [c for c in rsps.calls if c.request.method == method and c.request.url.split("?")[0] == url]


def test_x_reply_is_recorded_queued_and_posted_once(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    publisher, worker = make(engine, rules)
    status = publisher.publish(esc, X_TEXT, "alice")
    assert status.startswith("queued: reply #") and f"on X in reply to {PARENT}" in status

    row = escalation(engine, esc)
    assert (row.reply_text, row.reply_by, row.reply_external_id) == (X_TEXT, "alice", None)
    assert row.replied_at is not None
    [item] = outbox_rows(engine)
    assert (item.kind, item.sink, item.state, item.idempotency_key) == ("reply", "x-main", "pending", "reply-sk-test-x-main-" + PARENT)
    assert item.payload == {"source": "x-main", "platform": "x", "in_reply_to": PARENT, "text": X_TEXT,
                            "actor": "alice", "escalation_id": esc, "conversation_id": PARENT}

    serve_create(rsps)
    stats = worker.drain()
    worker.close()
    assert stats.sent == 1
    [post] = calls(rsps, "POST", f"{X_API}/tweets")
    assert json.loads(post.request.body) == {"text": X_TEXT, "reply": {"in_reply_to_tweet_id": PARENT}}
    assert post.request.headers["Authorization"].startswith("OAuth ")  # user context, not the bearer token
    assert escalation(engine, esc).reply_external_id == "1856731122334455667"
    assert outbox_rows(engine)[0].state == "sent"
    assert audit_actions(engine, esc) == ["reply.queued", "reply.published", "outbox.sent"]


def test_replied_at_is_the_first_response_time_and_only_set_once(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    clock = Clock()
    publisher, worker = make(engine, rules, clock=clock)
    publisher.publish(esc, "First try", "alice")
    first = escalation(engine, esc).replied_at
    rsps.post(f"{X_API}/tweets", json=fixture("x/replies/error_403_reply_restricted.json"), status=403)
    worker.drain()  # dead: X refuses replies to this conversation
    assert outbox_rows(engine)[0].state == "dead"
    assert "Reply to this Tweet is not allowed" in outbox_rows(engine)[0].last_error
    assert audit_actions(engine, esc)[-1] == "reply.failed"

    publisher.publish(esc, "Second try", "bob")  # re-arms the dead row with the new text
    row = escalation(engine, esc)
    assert row.replied_at == first and (row.reply_text, row.reply_by) == ("Second try", "bob")
    [item] = outbox_rows(engine)
    assert (item.state, item.attempts, item.payload["text"]) == ("pending", 0, "Second try")
    worker.close()


def test_one_public_reply_per_escalation(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    publisher, worker = make(engine, rules)
    publisher.publish(esc, X_TEXT, "alice")
    with pytest.raises(PermanentError, match="already queued"):
        publisher.publish(esc, "again", "alice")
    serve_create(rsps)
    worker.drain()
    worker.close()
    with pytest.raises(PermanentError, match="already published \\(1856731122334455667\\)"):
        publisher.publish(esc, "again", "alice")


@pytest.mark.parametrize("failure", ["server_error", "timeout_after_posting"])
def test_x_retry_after_an_ambiguous_failure_finds_the_reply_instead_of_posting_twice(
    engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock, failure: str
) -> None:
    esc = seed(engine)
    clock = Clock()
    publisher, worker = make(engine, rules, clock=clock)
    publisher.publish(esc, X_TEXT, "alice")
    if failure == "server_error":
        serve_create(rsps, status=503, body=fixture("x/replies/error_503.json"))
    else:
        rsps.post(f"{X_API}/tweets", body=requests.ReadTimeout("read timed out"))
    assert worker.run_once().retried == 1
    item = outbox_rows(engine)[0]
    assert item.state == "retry" and "looks for the reply first" in item.last_error
    worker.close()

    # X had posted it. A fresh worker (a restart, another replica) retries: attempt 2 looks first.
    serve_lookup(rsps)
    clock.advance(60)
    _, worker2 = make(engine, rules, clock=clock)
    assert worker2.drain().sent == 1
    worker2.close()
    assert len(calls(rsps, "POST", f"{X_API}/tweets")) == 1
    [timeline] = calls(rsps, "GET", f"{X_API}/users/{OUR_ID}/tweets")
    assert f"since_id={PARENT}" in timeline.request.url
    assert escalation(engine, esc).reply_external_id == "1856731122334455667"


def test_x_retry_posts_when_no_earlier_reply_exists(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    clock = Clock()
    publisher, worker = make(engine, rules, clock=clock)
    publisher.publish(esc, X_TEXT, "alice")
    serve_create(rsps, status=503, body=fixture("x/replies/error_503.json"))
    worker.run_once()
    rsps.replace(responses.POST, f"{X_API}/tweets", json=fixture("x/replies/create_tweet_201.json"), status=201)
    serve_lookup(rsps, "user_tweets_empty")
    clock.advance(60)
    assert worker.drain().sent == 1
    worker.close()
    assert len(calls(rsps, "POST", f"{X_API}/tweets")) == 2  # the first never made it
    assert escalation(engine, esc).reply_external_id == "1856731122334455667"


def test_x_duplicate_content_answer_is_resolved_by_looking_the_reply_up(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    publisher, worker = make(engine, rules)
    publisher.publish(esc, X_TEXT, "alice")
    serve_create(rsps, status=403, body=fixture("x/replies/error_403_duplicate.json"))
    serve_lookup(rsps)
    assert worker.drain().sent == 1
    worker.close()
    assert escalation(engine, esc).reply_external_id == "1856731122334455667"


def test_x_bad_credentials_dead_letter_naming_the_variables(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    publisher, worker = make(engine, rules)
    publisher.publish(esc, X_TEXT, "alice")
    serve_create(rsps, status=401, body=fixture("x/replies/error_401.json"))
    assert worker.drain().dead == 1
    worker.close()
    error = outbox_rows(engine)[0].last_error
    assert error.startswith("bad credentials, fix them then requeue") and "X_API_KEY, X_API_SECRET" in error


def test_x_rate_limit_waits_for_the_reset(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    clock = Clock()
    publisher, worker = make(engine, rules, clock=clock)
    publisher.publish(esc, X_TEXT, "alice")
    reset = int(datetime.now(UTC).timestamp()) + 600
    serve_create(rsps, status=429, body={"title": "Too Many Requests", "status": 429}, headers={"x-rate-limit-reset": str(reset)})
    assert worker.run_once().retried == 1
    worker.close()
    item = outbox_rows(engine)[0]
    wait = (item.next_attempt_at.replace(tzinfo=UTC) - clock.now).total_seconds()
    assert 590 <= wait <= 601


def test_turning_publishing_off_stops_a_queued_reply(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    current = {"rules": rules}
    publishers = Publishers(lambda: current["rules"], ENV)
    ReplyPublisher(engine, lambda: current["rules"], publishers=publishers).publish(esc, X_TEXT, "alice")
    off = rules.model_copy(update={"sources": [s.model_copy(update={"publish_replies": False}) for s in rules.sources]})
    current["rules"] = off
    worker = OutboxWorker(engine, SinkSet(lambda: off, ENV), worker_id="w", publishers=publishers)
    assert worker.drain().dead == 1
    worker.close()
    assert "publishing is off for source 'x-main'" in outbox_rows(engine)[0].last_error
    assert len(rsps.calls) == 0


def test_hostile_reply_text_goes_out_verbatim(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine)
    publisher, worker = make(engine, rules)
    text = "<script>alert(1)</script> \u202eevil\u202c zero\u200bwidth {{ 7*7 }}"
    publisher.publish(esc, text, "alice")
    serve_create(rsps)
    worker.drain()
    worker.close()
    assert json.loads(calls(rsps, "POST", f"{X_API}/tweets")[0].request.body)["text"] == text


# -- Reddit -----------------------------------------------------------------------------------


def serve_reddit_token(rsps: responses.RequestsMock) -> None:
    rsps.post(REDDIT_TOKEN, json=fixture("reddit/replies/access_token_password.json"))


@pytest.mark.parametrize("fullname", ["t3_1gqb7xk", "t1_lwx3k2a"])
def test_reddit_reply_to_a_submission_or_comment(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock, fullname: str) -> None:
    esc = seed(engine, source="reddit-main", platform="reddit", external_id=fullname)
    publisher, worker = make(engine, rules)
    assert "on Reddit in reply to " + fullname in publisher.publish(esc, REDDIT_TEXT, "alice")
    serve_reddit_token(rsps)
    rsps.post(f"{REDDIT_API}/api/comment/", json=fixture("reddit/replies/comment_created.json"))
    assert worker.drain().sent == 1
    worker.close()
    token_call = calls(rsps, "POST", REDDIT_TOKEN)[0]
    assert "grant_type=password" in token_call.request.body and "username=NimbusHelp" in token_call.request.body
    [post] = calls(rsps, "POST", f"{REDDIT_API}/api/comment/")
    assert f"thing_id={fullname}" in post.request.body
    assert escalation(engine, esc).reply_external_id == "t1_lwx9z01"


def test_reddit_retry_after_a_5xx_finds_our_comment(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine, source="reddit-main", platform="reddit", external_id="t3_1gqb7xk")
    clock = Clock()
    publisher, worker = make(engine, rules, clock=clock)
    publisher.publish(esc, REDDIT_TEXT, "alice")
    serve_reddit_token(rsps)
    rsps.post(f"{REDDIT_API}/api/comment/", body="<html>502 Bad Gateway</html>", status=502)
    assert worker.run_once().retried == 1
    rsps.get(f"{REDDIT_API}/user/NimbusHelp/comments", json=fixture("reddit/replies/user_comments_with_reply.json"))
    clock.advance(60)
    assert worker.drain().sent == 1
    worker.close()
    assert len(calls(rsps, "POST", f"{REDDIT_API}/api/comment/")) == 1  # prawcore's own retry is off too
    assert escalation(engine, esc).reply_external_id == "t1_lwx9z01"


def test_reddit_ratelimit_and_locked_thread(engine: Engine, rules: RulesConfig, rsps: responses.RequestsMock) -> None:
    esc = seed(engine, source="reddit-main", platform="reddit", external_id="t3_1gqb7xk")
    clock = Clock()
    publisher, worker = make(engine, rules, clock=clock)
    publisher.publish(esc, REDDIT_TEXT, "alice")
    serve_reddit_token(rsps)
    rsps.post(f"{REDDIT_API}/api/comment/", json=fixture("reddit/replies/error_ratelimit.json"))
    assert worker.run_once().retried == 1
    item = outbox_rows(engine)[0]
    assert (item.next_attempt_at.replace(tzinfo=UTC) - clock.now).total_seconds() == pytest.approx(540, abs=1)
    rsps.replace(responses.POST, f"{REDDIT_API}/api/comment/", json=fixture("reddit/replies/error_thread_locked.json"))
    rsps.get(f"{REDDIT_API}/user/NimbusHelp/comments", json=fixture("reddit/replies/user_comments_empty.json"))
    clock.advance(600)
    assert worker.drain().dead == 1
    worker.close()
    assert "THREAD_LOCKED" in outbox_rows(engine)[0].last_error


# -- automatic replies (route publish: true) ----------------------------------------------------


def test_enqueue_auto_reply_only_for_publish_routes_on_publishing_sources(engine: Engine, rules: RulesConfig) -> None:
    auto = seed(engine, route="outage-auto", suggested="Sorry Dana, we're on it", n=1)
    manual = seed(engine, route="complaint", external_id="1856719043551756801", n=2)
    quiet = seed(engine, source="x-quiet", route="outage-auto", external_id="1856716650105700352", n=3)
    with engine.begin() as conn:  # as the pipeline would, inside its batch transaction
        queued = enqueue_auto_reply(conn, rules, auto, env=ENV)
        assert enqueue_auto_reply(conn, rules, manual, env=ENV) is None
        assert enqueue_auto_reply(conn, rules, quiet, env=ENV) is None
    [item] = outbox_rows(engine)
    assert item.id == queued and item.escalation_id == auto and item.payload["text"] == "Sorry Dana, we're on it"
    assert escalation(engine, auto).reply_by == "system:auto-reply"
    assert audit_actions(engine, manual) == []
    assert audit_actions(engine, quiet) == ["reply.auto_skipped"]
    with engine.begin() as conn:
        assert enqueue_auto_reply(conn, rules, seed(engine, route="outage-auto", external_id="1", n=4), env={}) is None


def test_same_reply_sees_through_what_platforms_do_to_text() -> None:
    assert same_reply(X_TEXT, "@dana_k @NimbusHelp Sorry about the router, Dana. We're on it: https://t.co/Qm3xYz0Abc")
    assert same_reply("Thanks & sorry", "Thanks &amp; sorry")
    assert not same_reply("Sorry Dana", "Sorry Sam")
