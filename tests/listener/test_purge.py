"""Deletions end to end: recorded X search pages stored by the real Collector and pipeline,
a recorded tweet-lookup response naming some of them deleted, a sweep, and proof that their
content is gone from every table, with an audit record that holds none of it.
Runs on SQLite and, when configured, PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import praw
import pytest
import requests
import responses
import sqlalchemy as sa
import tweepy
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from listener.collector import Collector
from listener.deletions import XDeletionChecker
from listener.purge import ACTION, DeletionSweeper, checker_for, checkers_from
from listener.sources._common import RetryPolicy
from responders.payloads import build_payload
from responders.publish import PipelineResponders
from socialear.config import RulesConfig, parse_rules_text
from storage import ingest, repo
from storage import models as t
from storage.engine import session_scope
from storage.types import utcnow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEARCH = "https://api.twitter.com/2/tweets/search/recent"
LOOKUP = "https://api.twitter.com/2/tweets"
REDDIT_TOKEN = "https://www.reddit.com/api/v1/access_token"
REDDIT_SEARCH = "https://oauth.reddit.com/r/all/search/"
REDDIT_INFO = "https://oauth.reddit.com/api/info/"
DELETED = {"1856722871034769420", "1856716650105700352"}  # as in tests/fixtures/x/tweets_lookup.json

RULES = """
brands:
  - name: Nimbus
    handles: {x: NimbusHelp, reddit: NimbusHelp}
    query: '(nimbus OR "nimbus broadband" OR @NimbusHelp) -careers'
sources:
  - name: x-nimbus
    type: x
    schedule: {every: 2m}
  - name: reddit-nimbus
    type: reddit
    schedule: {every: 2m}
    options: {subreddits: [all], comments: false}
categories:
  - name: outage
    severity: 5
    phrases: [outage, no service, down, dropped]
queues: [urgent, care]
routes:
  - name: outage-urgent
    when: {brand: own, categories: [outage]}
    escalate: {queue: urgent, priority: urgent}
    reply: outage
  - name: everything-else
    when: {brand: own}
    escalate: {queue: care, priority: normal}
    reply: general
replies:
  outage: {en: "Hi {{ author }}, sorry about the outage. DM {{ brand_handle }} your postcode."}
  general: {en: "Hi {{ author }}, thanks for getting in touch. DM {{ brand_handle }} and we'll help."}
sinks:
  - name: local
    type: jsonl
    options: {path: "{sink}"}
"""


def load(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def rules(tmp_path: Path) -> RulesConfig:
    return parse_rules_text(RULES.replace("{sink}", str(tmp_path / "escalations.jsonl")))


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def no_sleep_retry() -> RetryPolicy:
    return RetryPolicy(sleep=lambda _s: None)


def x_collector(engine: Engine, rules: RulesConfig) -> Collector:
    client = tweepy.Client(bearer_token="test-token", return_type=requests.Response)
    return Collector(engine, lambda: rules, env={}, clients={"x-nimbus": client}, responders=PipelineResponders())


def store_x_pages(api: responses.RequestsMock, collector: Collector) -> dict[str, dict[str, Any]]:
    """Poll once through the real pipeline: page 1 (with next_token) then page 2."""
    pages = [load("x", "search_page1"), load("x", "search_page2")]
    for page in pages:
        api.get(SEARCH, json=page)
    outcome = collector.poll("x-nimbus")
    assert outcome.ok, outcome.error
    assert outcome.result.stored == 5
    return {tweet["id"]: tweet for page in pages for tweet in page["data"]}


def serve_lookup(api: responses.RequestsMock, tweets: dict[str, dict[str, Any]], deleted: set[str]) -> list[str]:
    """X's tweet lookup, shaped like tests/fixtures/x/tweets_lookup.json: the requested
    posts that still exist in `data`, the deleted ones as resource-not-found `errors`."""
    recorded_error = load("x", "tweets_lookup")["errors"][0]
    asked: list[str] = []

    def lookup(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        ids = parse_qs(urlparse(request.url).query)["ids"][0].split(",")
        asked.extend(ids)
        body: dict[str, Any] = {"data": [tweets[i] for i in ids if i in tweets and i not in deleted]}
        errors = [
            {**recorded_error, "value": i, "resource_id": i, "detail": f"Could not find tweet with ids: [{i}]."}
            for i in ids
            if i in deleted or i not in tweets
        ]
        if errors:
            body["errors"] = errors
        if not body["data"]:
            del body["data"]
        headers = {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "299", "x-rate-limit-reset": "9999999999"}
        return 200, headers, json.dumps(body)

    api.add_callback(responses.GET, LOOKUP, callback=lookup, content_type="application/json")
    return asked


def freeze_outbox_payloads(engine: Engine, history: bool = False) -> None:
    """Give every outbox row the payload it would deliver (a row "written with a frozen
    payload", which the worker delivers as is), so the purge has copies there to find.
    `history` keeps the author's earlier mentions (their urls) in each payload."""
    ot = t.OutboxItem.__table__
    with engine.begin() as conn:
        for row_id, esc_id in conn.execute(sa.select(ot.c.id, ot.c.escalation_id)).all():
            payload = build_payload(conn, esc_id, "http://console.test").to_dict()
            if not history:
                payload["history"] = []
            plain = json.loads(json.dumps(payload, default=str))
            conn.execute(ot.update().where(ot.c.id == row_id).values(payload=plain))


def everything(engine: Engine) -> str:
    """Every row of every table, as one JSON text."""
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = [dict(r._mapping) for r in conn.execute(sa.select(table))]
    return json.dumps(out, default=str, ensure_ascii=False)


def mention_rows(engine: Engine) -> dict[str, Any]:
    mt = t.Mention.__table__
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(sa.select(mt))}


def audit_events(engine: Engine, action: str) -> list[Any]:
    at = t.AuditEvent.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(at).where(at.c.action == action).order_by(at.c.id)).all()


# --------------------------------------------------------------------------- X, end to end


def test_deleted_posts_are_gone_from_every_table(engine: Engine, rules: RulesConfig, api) -> None:
    collector = x_collector(engine, rules)
    tweets = store_x_pages(api, collector)
    freeze_outbox_payloads(engine)
    for tweet_id in DELETED:  # an earlier, malformed copy of the same post, kept in quarantine
        with engine.begin() as conn:
            ingest.insert_quarantined(conn, [{
                "source": "x-nimbus", "external_id": tweet_id, "payload": json.dumps(tweets[tweet_id]),
                "error": "KeyError: 'created_at'", "at": utcnow(), "resolved": False}])

    secrets: list[str] = []
    for tweet_id in DELETED:
        row = mention_rows(engine)[tweet_id]
        secrets += [tweets[tweet_id]["text"], row.url]
    before = everything(engine)
    for secret in secrets:  # the content is really copied around before the purge
        assert secret in before
    esc_before = {r.mention_id: r for r in _escalations(engine)}
    assert len(esc_before) == 5 and all(r.suggested_reply for r in esc_before.values())

    asked = serve_lookup(api, tweets, DELETED)
    report = DeletionSweeper(engine, checkers_from(collector, rules)).sweep()

    assert report.purged == 2 and report.checked == 5
    assert sorted(asked) == sorted(tweets)  # one lookup of every stored post
    assert len([c for c in api.calls if c.request.url.startswith(LOOKUP + "?")]) == 1
    after = everything(engine)
    for secret in secrets:
        assert secret not in after, after[max(0, after.find(secret) - 300) : after.find(secret) + 100]
    mentions = mention_rows(engine)
    for tweet_id in DELETED:
        m = mentions[tweet_id]
        assert (m.text, m.title, m.url, m.author_id) == ("", None, None, None)
        assert m.deleted_at is not None
    for tweet_id in set(tweets) - DELETED:  # the rest is untouched
        assert mentions[tweet_id].text == tweets[tweet_id]["text"] and mentions[tweet_id].deleted_at is None
        assert tweets[tweet_id]["text"] in after
    for esc in _escalations(engine):
        tweet_id = mentions_by_id(mentions)[esc.mention_id]
        if tweet_id in DELETED:
            assert tweets[tweet_id]["text"] not in json.dumps([esc.decision, esc.suggested_reply])
            assert esc.decision["route"]  # the explanation of the decision survives, without the text
    ot, qt = t.OutboxItem.__table__, t.Quarantine.__table__
    with engine.connect() as conn:
        payloads = conn.execute(sa.select(ot.c.payload)).scalars().all()
        quarantined = conn.execute(sa.select(qt.c.payload)).scalars().all()
    assert payloads and all(p["priority"] for p in payloads)  # the rest of each payload survives
    assert quarantined == ["[deleted]", "[deleted]"]

    purged = audit_events(engine, "mention.purged")
    assert sorted(e.details["external_id"] for e in purged) == sorted(DELETED)
    assert all(e.details["reason"] == "deleted on the platform" and e.details["source"] == "x-nimbus" for e in purged)
    trail = json.dumps([e.details for e in audit_events(engine, "mention.purged") + audit_events(engine, ACTION)])
    for secret in secrets:
        assert secret not in trail
    [checked] = audit_events(engine, ACTION)
    assert checked.subject_id == "x-nimbus" and checked.details["checked"] == 5 and checked.details["purged"] == 2
    # X bills the posts the lookup returned: they count against the monthly read budget.
    with session_scope(engine) as session:
        state = repo.get_state(session, "x-nimbus")
        assert state is not None and state.budget_used == 5 + 3

    # A later re-fetch of a deleted post is still recognised and not stored again.
    with engine.connect() as conn:
        assert ingest.stored_external_ids(conn, "x-nimbus", list(DELETED)) == DELETED


def _escalations(engine: Engine) -> list[Any]:
    et = t.Escalation.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(et)).all()


def mentions_by_id(mentions: dict[str, Any]) -> dict[int, str]:
    return {m.id: external_id for external_id, m in mentions.items()}


def test_deleted_post_is_gone_from_other_escalations_frozen_history(engine: Engine, rules: RulesConfig, api) -> None:
    collector = x_collector(engine, rules)
    tweets = store_x_pages(api, collector)
    freeze_outbox_payloads(engine, history=True)
    urls = [mention_rows(engine)[i].url for i in DELETED]
    serve_lookup(api, tweets, DELETED)
    assert DeletionSweeper(engine, checkers_from(collector, rules)).sweep().purged == 2
    after = everything(engine)
    leaks = {name for name, rows in json.loads(after).items() for u in urls if u in json.dumps(rows)}
    assert not leaks, f"deleted urls still in: {sorted(leaks)}"


@pytest.mark.parametrize("failure", ["server_error", "rate_limited", "bad_credentials"])
def test_failed_lookup_purges_nothing(engine: Engine, rules: RulesConfig, api, failure: str) -> None:
    collector = x_collector(engine, rules)
    tweets = store_x_pages(api, collector)
    before = everything(engine)
    if failure == "server_error":
        api.get(LOOKUP, json=load("x", "error_503"), status=503)
    elif failure == "rate_limited":
        api.get(LOOKUP, json=load("x", "error_429"), status=429, headers={"x-rate-limit-reset": "9999999999"})
    else:
        api.get(LOOKUP, json=load("x", "error_401"), status=401)
    checkers = checkers_from(collector, rules)
    checkers["x-nimbus"].retry = no_sleep_retry()  # type: ignore[attr-defined]

    report = DeletionSweeper(engine, checkers).sweep()

    result = report.sources["x-nimbus"]
    assert report.purged == 0 and result.error
    assert everything(engine) == before  # nothing purged, no position recorded
    assert all(m.deleted_at is None for m in mention_rows(engine).values())
    # The same posts are asked about again on the next sweep, which succeeds.
    api.remove(responses.GET, LOOKUP)
    serve_lookup(api, tweets, DELETED)
    assert DeletionSweeper(engine, checkers).sweep().purged == 2


# --------------------------------------------------------------------------- politeness


class FakeChecker:
    charges_reads = False  # the DeletionChecker protocol: no read budget to charge

    def __init__(self, gone: set[str] | None = None):
        self.gone_ids = gone or set()
        self.calls: list[list[str]] = []

    def gone(self, ids: list[str]) -> set[str]:
        self.calls.append(list(ids))
        return {i for i in ids if i in self.gone_ids}


def seed(engine: Engine, source: str, n: int, fetched_at: datetime) -> list[str]:
    mt = t.Mention.__table__
    ids = [f"{1000 + i}" for i in range(n)]
    with engine.begin() as conn:
        conn.execute(
            mt.insert(),
            [
                {"source": source, "platform": "x", "external_id": i, "text": f"post {i}", "created_at": fetched_at,
                 "fetched_at": fetched_at, "brands": [], "categories": [], "scoring": {}}
                for i in ids
            ],
        )
    return ids


def test_passes_resume_oldest_first_and_wait_between_passes(engine: Engine) -> None:
    now = [utcnow()]
    ids = seed(engine, "x-a", 25, now[0] - timedelta(hours=1))
    seed_old = seed_other(engine)  # too old, already purged, or another source: never asked
    checker = FakeChecker({ids[3], ids[17]})
    sweeper = DeletionSweeper(engine, {"x-a": checker}, batch=10, max_batches=2, every=timedelta(hours=6),
                              clock=lambda: now[0])

    first = sweeper.sweep().sources["x-a"]
    assert checker.calls == [ids[:10], ids[10:20]] and first.purged == 2
    now[0] += timedelta(minutes=15)
    second = sweeper.sweep().sources["x-a"]  # a fresh process would resume the same way
    assert checker.calls[2:] == [ids[20:]] and second.checked == 5
    now[0] += timedelta(minutes=15)
    third = sweeper.sweep().sources["x-a"]
    assert third.skipped and len(checker.calls) == 3  # the pass is done: wait for `every`
    now[0] += timedelta(hours=6)
    DeletionSweeper(engine, {"x-a": checker}, batch=10, max_batches=1, clock=lambda: now[0],
                    every=timedelta(hours=6)).sweep()
    # A new pass from the oldest again, without the purged posts.
    assert checker.calls[3] == [i for i in ids[:11] if i != ids[3]][:10]
    assert not set(seed_old) & {i for call in checker.calls for i in call}


def seed_other(engine: Engine) -> list[str]:
    mt = t.Mention.__table__
    old = utcnow() - timedelta(days=8)
    rows = [
        {"source": "x-a", "platform": "x", "external_id": "old-1", "fetched_at": old},
        {"source": "x-a", "platform": "x", "external_id": "purged-1", "fetched_at": utcnow(), "deleted_at": utcnow()},
        {"source": "x-b", "platform": "x", "external_id": "other-1", "fetched_at": utcnow()},
    ]
    with engine.begin() as conn:
        conn.execute(
            mt.insert(),
            [{"text": "x", "created_at": r["fetched_at"], "brands": [], "categories": [], "scoring": {},
              "deleted_at": None, **r} for r in rows],
        )
    return [r["external_id"] for r in rows]


def test_one_source_failing_does_not_stop_the_others(engine: Engine) -> None:
    ids_a = seed(engine, "x-a", 3, utcnow())

    class Broken:
        def gone(self, ids: list[str]) -> set[str]:
            raise RuntimeError("boom")

    good = FakeChecker({ids_a[0]})
    report = DeletionSweeper(engine, {"x-broken": Broken(), "x-a": good}).sweep()
    assert report.sources["x-a"].purged == 1


def test_seed_with_no_mentions_records_an_empty_pass(engine: Engine) -> None:
    checker = FakeChecker()
    report = DeletionSweeper(engine, {"x-a": checker}).sweep()
    assert checker.calls == [] and report.purged == 0
    assert audit_events(engine, ACTION)[0].details["after_id"] is None


# --------------------------------------------------------------------------- Reddit, and the wiring


def test_reddit_deletions_use_the_sources_praw_client(engine: Engine, rules: RulesConfig, api) -> None:
    reddit = praw.Reddit(
        client_id="id", client_secret="secret", user_agent="linux:socialear-tests:0.1 (by /u/socialear_test)",
        check_for_updates=False, check_for_async=False,
    )
    collector = Collector(engine, lambda: rules, env={}, clients={"reddit-nimbus": reddit}, responders=PipelineResponders())
    api.post(REDDIT_TOKEN, json=load("reddit", "access_token"))
    api.get(REDDIT_SEARCH, json=load("reddit", "search_page1"))
    outcome = collector.poll("reddit-nimbus")
    assert outcome.ok, outcome.error
    stored = mention_rows(engine)
    assert {"t3_1gqb7xk", "t3_1gqa2mf"} <= set(stored)
    title = stored["t3_1gqa2mf"].title
    assert title and title in everything(engine)
    api.get(REDDIT_INFO, json=load("reddit", "info"))  # t3_1gqa2mf: author [deleted]

    checkers = checkers_from(collector, rules)
    assert set(checkers) == {"reddit-nimbus"}  # x-nimbus has no X_BEARER_TOKEN here: not configured
    report = DeletionSweeper(engine, checkers).sweep()

    gone = {"t3_1gqa2mf"} | (set(stored) - {"t3_1gqb7xk", "t3_1gqa2mf", "t1_lwx3k2a", "t1_lwx3h00"})
    assert report.purged == len(gone)
    after = mention_rows(engine)
    assert after["t3_1gqa2mf"].deleted_at is not None and after["t3_1gqa2mf"].title is None
    assert after["t3_1gqb7xk"].deleted_at is None
    assert title not in everything(engine)
    info_calls = [c for c in api.calls if c.request.url.startswith(REDDIT_INFO)]
    assert len(info_calls) == 1


def test_checker_for_shares_the_built_sources_client(rules: RulesConfig, engine: Engine) -> None:
    client = tweepy.Client(bearer_token="t", return_type=requests.Response)
    collector = Collector(engine, lambda: rules, env={}, clients={"x-nimbus": client}, responders=PipelineResponders())
    checker = checker_for(collector.source("x-nimbus"))
    assert isinstance(checker, XDeletionChecker) and checker.client is client


def test_service_schedules_the_deletion_check() -> None:
    from console.service import deletion_check_seconds
    from socialear.errors import UserError

    assert deletion_check_seconds({}) == 15 * 60
    assert deletion_check_seconds({"SOCIALEAR_DELETION_CHECK_EVERY": "1h"}) == 3600
    for bad in ("soon", "10s"):
        with pytest.raises(UserError, match="SOCIALEAR_DELETION_CHECK_EVERY"):
            deletion_check_seconds({"SOCIALEAR_DELETION_CHECK_EVERY": bad})
