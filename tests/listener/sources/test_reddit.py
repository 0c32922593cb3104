"""RedditSource with praw talking to recorded Reddit listings served by `responses`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import prawcore
import pytest
import responses
from responses import matchers
from source_helpers import NIMBUS, fixture_json, fixture_text

from listener.sources.reddit import RedditSource
from socialear.errors import BadCredentials, NotConfigured, PermanentError, RateLimited, RetryableError

ENV = {
    "REDDIT_CLIENT_ID": "client-id",
    "REDDIT_CLIENT_SECRET": "client-secret",
    "REDDIT_USER_AGENT": "linux:socialear-tests:0.1 (by /u/socialear_test)",
}
TOKEN = "https://www.reddit.com/api/v1/access_token"
SEARCH = "https://oauth.reddit.com/r/{sub}/search/"
COMMENTS = "https://oauth.reddit.com/r/{sub}/comments/"


def make_source(retry, **options) -> RedditSource:
    source = RedditSource.from_options("reddit-nimbus", options, env=ENV, brands=[NIMBUS])
    source.retry = retry
    return source


def token(rsps):
    rsps.post(TOKEN, json=fixture_json("reddit", "access_token"))


def names(batch):
    return [m.external_id for m in batch.mentions]


@responses.activate
def test_search_and_comments_matched_locally(fast_retry):
    token(responses)
    responses.get(SEARCH.format(sub="unitedkingdom"), json=fixture_json("reddit", "search_page1"))
    responses.get(COMMENTS.format(sub="unitedkingdom"), json=fixture_json("reddit", "comments_page1"))
    batch = make_source(fast_retry, subreddits=["unitedkingdom"]).fetch(None)
    # "careers" post excluded by the brand query; the curry comment matches no brand.
    assert names(batch) == ["t3_1gqb7xk", "t3_1gqa2mf", "t3_1gq8kq0", "t1_lwx3k2a", "t1_lwx3h00"]
    assert batch.stats["dropped/no_match"] == 2
    post, comment = batch.mentions[0], batch.mentions[3]
    assert post.text == "Nimbus broadband down in Leeds?\n\nNo internet since 9am, their status page says nothing."
    assert post.title == "Nimbus broadband down in Leeds?"
    assert post.engagement == 54 + 31 and post.conversation_id == "t3_1gqb7xk"
    assert post.url.startswith("https://www.reddit.com/r/unitedkingdom/comments/1gqb7xk/")
    assert post.author.handle == "leeds_lad" and post.extra["brands"] == ["Nimbus"]
    assert batch.mentions[1].text == "Nimbus vs Skyline for gaming"  # link post: title only
    assert comment.in_reply_to == "t3_1gqb7xk" and comment.conversation_id == "t3_1gqb7xk"
    assert comment.title == "Nimbus broadband down in Leeds?"
    search_url = responses.calls[1].request.url
    assert "sort=new" in search_url and "restrict_sr=True" in search_url
    assert "q=nimbus+OR+%22nimbus+broadband%22" in search_url
    assert set(json.loads(batch.next_cursor)["streams"]) == {
        "search:unitedkingdom",
        "comments:unitedkingdom",
    }


@responses.activate
def test_three_polls_with_a_capped_poll_miss_nothing(fast_retry):
    """Poll 2 hits `limit` before the watermark; poll 3 continues below `after`."""
    token(responses)
    sub = "unitedkingdom"
    responses.get(SEARCH.format(sub=sub), json=fixture_json("reddit", "search_page1"))
    first = make_source(fast_retry, subreddits=[sub], comments=False, limit=4).fetch(None)
    assert names(first) == ["t3_1gqb7xk", "t3_1gqa2mf", "t3_1gq8kq0"]

    responses.reset()
    token(responses)
    newer = fixture_json("reddit", "search_newer")
    newer["data"]["children"] = [
        *newer["data"]["children"][:1],
        {
            "kind": "t3",
            "data": dict(
                newer["data"]["children"][0]["data"],
                id="1gqc5bb",
                name="t3_1gqc5bb",
                created_utc=1731508000.0,
                title="Nimbus refund took 2 weeks",
            ),
        },
    ]
    newer["data"]["after"] = "t3_1gqc5bb"
    responses.get(
        SEARCH.format(sub=sub), json=newer, match=[matchers.query_param_matcher({"limit": "2"}, strict_match=False)]
    )
    second = make_source(fast_retry, subreddits=[sub], comments=False, limit=2, search_lookback=0).fetch(
        first.next_cursor
    )
    assert names(second) == ["t3_1gqd0aa", "t3_1gqc5bb"]
    state = json.loads(second.next_cursor)["streams"][f"search:{sub}"]
    assert state["resume"]["after"] == "t3_1gqc5bb" and second.exhausted is False

    responses.reset()
    token(responses)
    gap = {
        "kind": "Listing",
        "data": {
            "after": None,
            "dist": 2,
            "modhash": "",
            "geo_filter": "",
            "before": None,
            "children": [
                {
                    "kind": "t3",
                    "data": dict(
                        newer["data"]["children"][0]["data"],
                        id="1gqb9aa",
                        name="t3_1gqb9aa",
                        created_utc=1731505000.0,
                        title="Nimbus engineers on strike?",
                    ),
                },
                *fixture_json("reddit", "search_page1")["data"]["children"][:1],
            ],
        },
    }
    responses.get(
        SEARCH.format(sub=sub),
        json=gap,
        match=[matchers.query_param_matcher({"after": "t3_1gqc5bb"}, strict_match=False)],
    )
    third = make_source(fast_retry, subreddits=[sub], comments=False, limit=2, search_lookback=0).fetch(
        second.next_cursor
    )
    assert names(third) == ["t3_1gqb9aa"]
    state = json.loads(third.next_cursor)["streams"][f"search:{sub}"]
    assert "resume" not in state and state["ts"] == 1731510300.0 and third.exhausted

    every = names(first) + names(second) + names(third)
    assert len(every) == len(set(every)) == 6


@responses.activate
@pytest.mark.parametrize(
    "change",
    [
        {"author": "[deleted]", "selftext": "[deleted]"},  # deleted by its author
        {"author": "[deleted]", "selftext": "[removed]"},  # removed, then the account went
        {"selftext": "[removed]"},  # removed by the moderators
        {"author": "[deleted]"},  # the account is gone, the text is left
    ],
)
def test_deleted_or_removed_items_are_not_stored(fast_retry, change):
    """Before: stored as a mention by a user called "[deleted]"."""
    token(responses)
    page = fixture_json("reddit", "search_page1")
    page["data"]["children"][0]["data"].update(change)
    responses.get(SEARCH.format(sub="all"), json=page)
    batch = make_source(fast_retry, comments=False).fetch(None)
    assert "t3_1gqb7xk" not in names(batch)
    assert all(m.author.handle not in ("[deleted]", "None") for m in batch.mentions)
    assert batch.stats["dropped/deleted"] == 1 and batch.quarantined == []


@responses.activate
def test_deleted_comment_is_not_stored(fast_retry):
    token(responses)
    page = fixture_json("reddit", "comments_page1")
    first = page["data"]["children"][0]["data"]
    first.update({"author": "[deleted]", "body": "[deleted]"})
    responses.get(COMMENTS.format(sub="all"), json=page)
    batch = make_source(fast_retry, search=False).fetch(None)
    assert first["name"] not in names(batch)
    assert batch.stats["dropped/deleted"] == 1


@responses.activate
def test_rate_limit_headers_become_batch_rate_limit(fast_retry, monkeypatch):
    monkeypatch.setattr(prawcore.rate_limit.time, "sleep", lambda s: None)
    token(responses)
    responses.get(
        SEARCH.format(sub="all"),
        json=fixture_json("reddit", "empty"),
        headers={"x-ratelimit-remaining": "95.0", "x-ratelimit-used": "5", "x-ratelimit-reset": "300"},
    )
    source = make_source(fast_retry, comments=False)
    before = datetime.now(UTC)
    batch = source.fetch(None)
    assert batch.rate_limit.remaining == 95 and batch.rate_limit.limit == 100
    # Before: reset_at was always None (prawcore 4's limits carry no reset).
    assert batch.rate_limit.reset_at is not None
    assert before + timedelta(seconds=295) <= batch.rate_limit.reset_at <= datetime.now(UTC) + timedelta(seconds=301)


@responses.activate
def test_token_endpoint_429_is_a_rate_limit(fast_retry, sleeps):
    """Before: PermanentError "Reddit rejected ... (429)", the source marked broken."""
    responses.post(TOKEN, json=fixture_json("reddit", "token_429"), status=429)
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry, comments=False).fetch(None)
    assert not isinstance(info.value, PermanentError)
    assert info.value.retry_after == 60.0  # no Retry-After: the default wait
    assert sleeps == []
    assert sum(1 for c in responses.calls if "access_token" in c.request.url) == 1


@responses.activate
def test_api_429_html_page_with_only_retry_after(fast_retry, sleeps):
    token(responses)
    responses.get(
        SEARCH.format(sub="all"),
        body=fixture_text("reddit", "error_429.html"),
        status=429,
        content_type="text/html; charset=UTF-8",
        headers={"retry-after": "3"},
    )
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry, comments=False).fetch(None)
    assert info.value.retry_after == 3.0 and sleeps == []


@responses.activate
@pytest.mark.parametrize("body", [b"", b'{"message": "Internal Server Error", "error": 500}'])
def test_real_5xx_bodies_are_retried(fast_retry, sleeps, body):
    token(responses)
    responses.get(SEARCH.format(sub="all"), body=body, status=500)
    with pytest.raises(RetryableError, match="server error 500"):
        make_source(fast_retry, comments=False).fetch(None)
    assert len(sleeps) == 2


@responses.activate
def test_403_private_subreddit(fast_retry):
    token(responses)
    responses.get(SEARCH.format(sub="secret"), json=fixture_json("reddit", "error_403"), status=403)
    with pytest.raises(BadCredentials, match="403: Reddit refused r/secret search"):
        make_source(fast_retry, subreddits=["secret"], comments=False).fetch(None)


@responses.activate
def test_missing_subreddit_is_permanent(fast_retry):
    token(responses)
    responses.get(SEARCH.format(sub="nosuchsub"), json={"message": "Not Found", "error": 404}, status=404)
    with pytest.raises(PermanentError, match="r/nosuchsub"):
        make_source(fast_retry, subreddits=["nosuchsub"], comments=False).fetch(None)


def test_user_agent_must_be_descriptive():
    env = dict(ENV, REDDIT_USER_AGENT="python-requests")
    with pytest.raises(NotConfigured, match="REDDIT_USER_AGENT must describe"):
        RedditSource.from_options("reddit-nimbus", {}, env=env, brands=[NIMBUS])


@pytest.mark.parametrize("missing", ["REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT"])
def test_each_env_var_is_named(missing):
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(NotConfigured, match=f"{missing} is not set"):
        RedditSource.from_options("reddit-nimbus", {}, env=env, brands=[NIMBUS])
