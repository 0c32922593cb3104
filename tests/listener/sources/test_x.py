"""XSource against recorded X API v2 payloads served to tweepy by `responses`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
import responses
import tweepy
from responses import matchers
from source_helpers import NIMBUS, SKYLINE, fixture_json, fixture_text

from listener.sources._common import RetryPolicy
from listener.sources.x import XSource
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    PermanentError,
    RateLimited,
    RetryableError,
)

SEARCH = "https://api.twitter.com/2/tweets/search/recent"
NOW = datetime(2024, 11, 13, 15, 0, tzinfo=UTC)
RESET = int(NOW.timestamp()) + 600
HEADERS = {
    "x-rate-limit-limit": "450",
    "x-rate-limit-remaining": "447",
    "x-rate-limit-reset": str(RESET),
}


def make_source(retry: RetryPolicy, brands=(NIMBUS,), budget_used: int = 0, **options) -> XSource:
    client = tweepy.Client(bearer_token="test-token", return_type=requests.Response)
    source = XSource.from_options("x-nimbus", options, env={}, client=client, brands=list(brands))
    source.retry = retry
    source.clock = lambda: NOW
    source.budget_used_this_month = budget_used
    return source


def serve(rsps, name, status=200, headers=HEADERS, params=None):
    match = [matchers.query_param_matcher(params, strict_match=False)] if params else []
    rsps.get(SEARCH, json=fixture_json("x", name), status=status, headers=headers, match=match)


def ids(batch):
    return [m.external_id for m in batch.mentions]


@responses.activate
def test_success_follows_next_token_and_normalises(fast_retry):
    serve(responses, "search_page1")
    serve(
        responses,
        "search_page2",
        params={"next_token": "b26v89c19zqg8o3frr3tkf1xn2ruwjmyj5c8vemdp9bel"},
    )
    source = make_source(fast_retry, lang="en")
    batch = source.fetch(None)

    assert ids(batch) == [
        "1856723001882461189",
        "1856722871034769420",
        "1856721960317681726",
        "1856719043551756801",
        "1856716650105700352",
    ]
    first = batch.mentions[0]
    assert first.platform == "x" and first.source == "x-nimbus"
    assert first.text.startswith("@NimbusHelp my Nimbus router")
    assert first.created_at == datetime(2024, 11, 13, 14, 2, 11, tzinfo=UTC)
    assert first.author.handle == "dana_k" and first.author.followers == 48210
    assert first.author.verified is True and first.author.external_id == "1496230284103553024"
    assert first.engagement == 14 + 9 + 88 + 2
    assert first.url == "https://x.com/dana_k/status/1856723001882461189"
    assert first.extra["brand"] == "Nimbus"
    reply = batch.mentions[1]
    assert reply.in_reply_to == "1856719043551756801"
    assert reply.in_reply_to_user == "783214"
    assert reply.conversation_id == "1856719043551756801"
    assert batch.mentions[2].extra["quoted_id"] == "1856700000000000000"
    assert not any(m.is_repost for m in batch.mentions)

    # The request carried the translated query and every field the normaliser reads.
    sent = responses.calls[0].request
    q = requests.utils.unquote(sent.url)
    assert '(nimbus OR "nimbus broadband") -careers -is:retweet lang:en' in q.replace("+", " ")
    assert "expansions=author_id" in q
    assert "in_reply_to_user_id" in q and "public_metrics" in q and "verified" in q
    assert sent.req_kwargs["timeout"] == 15.0

    assert batch.rate_limit.remaining == 447 and batch.rate_limit.limit == 450
    assert batch.rate_limit.reset_at == datetime.fromtimestamp(RESET, UTC)
    assert batch.budget_used == 5 and batch.exhausted is True
    assert batch.stats["fetched"] == 5
    assert json.loads(batch.next_cursor)["streams"]["Nimbus"] == {"since_id": "1856723001882461189"}


@responses.activate
def test_empty_result_keeps_cursor(fast_retry):
    serve(responses, "search_empty", params={"since_id": "1856723001882461189"})
    source = make_source(fast_retry)
    cursor = json.dumps({"v": 1, "streams": {"Nimbus": {"since_id": "1856723001882461189"}}})
    batch = source.fetch(cursor)
    assert batch.mentions == [] and batch.quarantined == []
    assert json.loads(batch.next_cursor)["streams"]["Nimbus"]["since_id"] == "1856723001882461189"
    assert batch.budget_used == 0


@responses.activate
def test_bare_since_id_cursor_is_accepted(fast_retry):
    serve(responses, "search_newer", params={"since_id": "1856723001882461189"})
    batch = make_source(fast_retry).fetch("1856723001882461189")
    assert ids(batch) == ["1856731208437481550", "1856729977098846515"]


@responses.activate
def test_three_polls_fresh_instances_miss_nothing_and_repeat_nothing(fast_retry):
    """Poll 2 is cut short by the per-poll cap; poll 3 reads the gap before moving on."""
    serve(responses, "search_newer")  # poll 1: no cursor
    first = make_source(fast_retry, max_results_per_poll=10).fetch(None)

    since = "1856731208437481550"
    responses.reset()
    # More posts than the cap allows: 3 read, a next_token says more, cap leaves < 10.
    serve(responses, "search_capped", params={"since_id": since})
    second = make_source(fast_retry, max_results_per_poll=12).fetch(first.next_cursor)
    state = json.loads(second.next_cursor)["streams"]["Nimbus"]
    assert state == {
        "since_id": since,
        "until_id": "1856742310381834541",
        "pending": "1856745002265178112",
    }
    assert second.exhausted is False

    responses.reset()
    serve(
        responses,
        "search_gap",
        params={"since_id": since, "until_id": "1856742310381834541"},
    )
    third = make_source(fast_retry, max_results_per_poll=12).fetch(second.next_cursor)
    assert json.loads(third.next_cursor)["streams"]["Nimbus"] == {"since_id": "1856745002265178112"}
    assert third.exhausted is True

    responses.reset()
    serve(responses, "search_empty", params={"since_id": "1856745002265178112"})
    fourth = make_source(fast_retry).fetch(third.next_cursor)

    every = ids(first) + ids(second) + ids(third) + ids(fourth)
    assert len(every) == len(set(every)) == 7
    expected = {
        t["id"] for name in ("search_newer", "search_capped", "search_gap") for t in fixture_json("x", name)["data"]
    }
    assert set(every) == expected


@responses.activate
def test_two_brands_two_cursors_one_cap(fast_retry):
    serve(
        responses,
        "search_newer",
        params={"query": '(nimbus OR "nimbus broadband") -careers -is:retweet'},
    )
    serve(responses, "search_empty", params={"query": "skyline -is:retweet"})
    source = make_source(fast_retry, brands=(NIMBUS, SKYLINE), max_results_per_poll=40)
    batch = source.fetch(None)
    streams = json.loads(batch.next_cursor)["streams"]
    assert set(streams) == {"Nimbus", "Skyline"}
    assert streams["Nimbus"]["since_id"] == "1856731208437481550"
    assert "since_id" not in streams["Skyline"]
    # 40 shared by two streams: the first may take half, the second what is left.
    assert "max_results=20" in responses.calls[0].request.url
    assert "max_results=38" in responses.calls[1].request.url


@responses.activate
def test_rate_limited_reads_reset_header(fast_retry):
    responses.get(
        SEARCH,
        json=fixture_json("x", "error_429"),
        status=429,
        headers={
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(RESET),
        },
    )
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry).fetch(None)
    assert info.value.retry_after == pytest.approx(600)
    assert len(responses.calls) == 1  # never retried in a loop
    assert fast_retry.sleep == [] or list(fast_retry.sleep) == []


@responses.activate
def test_rate_limited_after_a_page_keeps_the_page_and_waits(fast_retry):
    serve(responses, "search_capped", params={"since_id": "1856731208437481550"})
    responses.get(
        SEARCH,
        json=fixture_json("x", "error_429"),
        status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(RESET)},
        match=[
            matchers.query_param_matcher(
                {"next_token": "b26v89c19zqg8o3frr3tkf1xn2rv0hbd8khugk2zcu0ql"}, strict_match=False
            )
        ],
    )
    source = make_source(fast_retry)
    batch = source.fetch(json.dumps({"v": 1, "streams": {"Nimbus": {"since_id": "1856731208437481550"}}}))
    assert len(batch.mentions) == 3 and batch.exhausted is False
    assert batch.stats["partial/RateLimited"] == 1
    assert batch.rate_limit.remaining == 0
    state = json.loads(batch.next_cursor)
    assert state["not_before"] == NOW.timestamp() + 600
    assert state["streams"]["Nimbus"]["until_id"] == "1856742310381834541"

    calls = len(responses.calls)
    with pytest.raises(RateLimited) as info:  # the next poll waits without calling X
        make_source(fast_retry).fetch(batch.next_cursor)
    assert info.value.retry_after == pytest.approx(600)
    assert len(responses.calls) == calls


@responses.activate
def test_server_error_is_retried_then_raised(fast_retry, sleeps):
    for _ in range(3):
        responses.get(SEARCH, json=fixture_json("x", "error_503"), status=503)
    with pytest.raises(RetryableError) as info:
        make_source(fast_retry).fetch(None)
    assert not isinstance(info.value, RateLimited)
    assert "503" in str(info.value)
    assert len(responses.calls) == 3 and len(sleeps) == 2
    assert 0 < sleeps[0] <= sleeps[1] + 1  # exponential with jitter


@responses.activate
def test_server_error_then_success(fast_retry, sleeps):
    responses.get(SEARCH, json=fixture_json("x", "error_503"), status=503)
    serve(responses, "search_newer")
    batch = make_source(fast_retry).fetch(None)
    assert len(batch.mentions) == 2
    assert batch.stats["retries/server_error"] == 1 and len(sleeps) == 1


@responses.activate
def test_timeout_is_retryable(fast_retry):
    for _ in range(3):
        responses.get(SEARCH, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError, match="timed out"):
        make_source(fast_retry).fetch(None)
    assert len(responses.calls) == 3


@responses.activate
def test_truncated_body_is_retryable(fast_retry):
    for _ in range(3):
        responses.get(SEARCH, body=fixture_text("x", "search_truncated.json.txt"), headers=HEADERS)
    with pytest.raises(RetryableError, match="malformed body"):
        make_source(fast_retry).fetch(None)


@responses.activate
def test_malformed_items_are_quarantined_rest_kept(fast_retry):
    serve(responses, "search_malformed_item")
    batch = make_source(fast_retry).fetch(None)
    assert ids(batch) == ["1856750000000000001", "1856747000000000004"]
    assert batch.mentions[1].author.handle == "999"  # author missing from includes
    assert [q.external_id for q in batch.quarantined] == [
        "1856749000000000002",
        "1856748000000000003",
    ]
    assert "last tuesday" in batch.quarantined[0].error
    assert "text" in batch.quarantined[1].error
    assert json.loads(batch.quarantined[0].payload)["created_at"] == "last tuesday"
    assert batch.budget_used == 4  # X charges for every post returned
    assert json.loads(batch.next_cursor)["streams"]["Nimbus"]["since_id"] == "1856750000000000001"


@responses.activate
def test_401_names_the_token(fast_retry):
    responses.get(SEARCH, json=fixture_json("x", "error_401"), status=401)
    with pytest.raises(BadCredentials, match=r"X_BEARER_TOKEN was rejected \(401\): check the token"):
        make_source(fast_retry).fetch(None)
    assert len(responses.calls) == 1


@responses.activate
def test_403_names_the_access_level(fast_retry):
    responses.get(SEARCH, json=fixture_json("x", "error_403"), status=403)
    with pytest.raises(BadCredentials, match="403: your X app lacks access to recent search"):
        make_source(fast_retry).fetch(None)


@responses.activate
def test_400_invalid_query_is_permanent(fast_retry):
    responses.get(
        SEARCH,
        json={
            "errors": [
                {
                    "parameters": {"query": ["x"]},
                    "message": "There were errors processing your request",
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status=400,
    )
    with pytest.raises(PermanentError, match="parameters to your request was invalid"):
        make_source(fast_retry).fetch(None)


@responses.activate
def test_budget_caps_max_results(fast_retry):
    serve(responses, "search_newer")
    source = make_source(fast_retry, max_posts_per_month=10_000, budget_used=9_985)
    batch = source.fetch(None)
    assert "max_results=15" in responses.calls[0].request.url
    assert batch.budget_used == 2


def test_budget_spent_waits_for_next_month(fast_retry):
    source = make_source(fast_retry, max_posts_per_month=10_000, budget_used=10_000)
    source.clock = lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with pytest.raises(RateLimited, match="X read budget 10000/10000 posts spent for 2026-11") as info:
        source.fetch(None)
    assert (
        info.value.retry_after
        == (datetime(2026, 12, 1, tzinfo=UTC) - datetime(2026, 11, 20, 12, tzinfo=UTC)).total_seconds()
    )


def test_budget_spent_in_december_waits_for_january(fast_retry):
    source = make_source(fast_retry, max_posts_per_month=100, budget_used=95)
    source.clock = lambda: datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    with pytest.raises(RateLimited, match="95/100 posts spent for 2026-12") as info:
        source.fetch(None)
    assert info.value.retry_after == 3600


def test_from_options_without_token_is_not_configured():
    with pytest.raises(NotConfigured, match="x source 'x-nimbus': X_BEARER_TOKEN is not set"):
        XSource.from_options("x-nimbus", {}, env={}, brands=[NIMBUS])


def test_from_options_builds_a_non_sleeping_client():
    source = XSource.from_options("x-nimbus", {}, env={"X_BEARER_TOKEN": "abc"}, brands=[NIMBUS])
    assert isinstance(source.client, tweepy.Client)
    assert source.client.return_type is requests.Response
    assert source.client.wait_on_rate_limit is False


def test_from_options_rejects_unknown_option():
    with pytest.raises(NotConfigured, match="max_results_per_pol"):
        XSource.from_options("x-nimbus", {"max_results_per_pol": 5}, env={"X_BEARER_TOKEN": "a"}, brands=[NIMBUS])


def test_from_options_rejects_query_x_cannot_search():
    from source_helpers import Brand

    with pytest.raises(NotConfigured, match="wildcard"):
        XSource.from_options("x-nimbus", {}, env={"X_BEARER_TOKEN": "a"}, brands=[Brand("Nimbus", "nimb*")])


def test_from_options_without_brands_is_not_configured():
    with pytest.raises(NotConfigured, match="no brand queries"):
        XSource.from_options("x-nimbus", {}, env={"X_BEARER_TOKEN": "a"}, brands=[])


@responses.activate
def test_default_tweepy_return_type_is_understood(fast_retry):
    serve(responses, "search_newer")
    client = tweepy.Client(bearer_token="test-token")  # returns tweepy.Response tuples
    source = XSource.from_options("x-nimbus", {}, env={}, client=client, brands=[NIMBUS])
    source.retry = fast_retry
    batch = source.fetch(None)
    assert ids(batch) == ["1856731208437481550", "1856729977098846515"]
    assert batch.mentions[0].author.handle == "mo_travels"
    assert batch.rate_limit is None  # that return type hides the headers


@responses.activate
def test_partial_errors_are_counted_and_quarantined(fast_retry):
    """Before: a top-level errors[] beside data was dropped without a trace."""
    serve(responses, "search_partial_errors")
    batch = make_source(fast_retry).fetch(None)
    assert ids(batch) == ["1856733512875421801", "1856731208437481550"]  # the data is kept
    assert batch.stats["partial_errors/resource-not-found"] == 1
    assert batch.stats["partial_errors/not-authorized-for-resource"] == 1
    assert batch.stats["quarantined"] == 2 == len(batch.quarantined)
    first = batch.quarantined[0]
    assert "Could not find tweet with referenced_tweets.id" in first.error
    assert json.loads(first.payload)["resource_id"] == "1856732001277890560"
    assert first.external_id == "error:resource-not-found:1856732001277890560"


@responses.activate
def test_repost_gets_the_full_text_of_the_original(fast_retry):
    """Before: the repost kept X's truncated "RT @user: ..." text."""
    serve(responses, "search_repost")
    batch = make_source(fast_retry, exclude_retweets=False).fetch(None)
    query = responses.calls[0].request.url
    assert "referenced_tweets.id" in query.replace("%2C", ",").replace("%2E", ".")
    (repost,) = batch.mentions
    original = fixture_json("x", "search_repost")["includes"]["tweets"][0]["text"]
    assert repost.is_repost and repost.text == "RT @dana_k: " + original
    assert "…" not in repost.text and repost.extra["repost_of"] == "1856729977098846515"


@responses.activate
def test_repost_without_its_original_keeps_its_own_text(fast_retry):
    body = fixture_json("x", "search_repost")
    body["includes"].pop("tweets")
    responses.get(SEARCH, json=body, headers=HEADERS)
    (repost,) = make_source(fast_retry, exclude_retweets=False).fetch(None).mentions
    assert repost.text == body["data"][0]["text"]
