"""Deletion checkers against recorded X tweet-lookup and Reddit /api/info payloads."""

from __future__ import annotations

import praw
import pytest
import requests
import responses
import tweepy
from responses import matchers
from source_helpers import fixture_json

from listener.deletions import RedditDeletionChecker, XDeletionChecker
from socialear.errors import BadCredentials, RateLimited, RetryableError

LOOKUP = "https://api.twitter.com/2/tweets"


def x_checker(retry) -> XDeletionChecker:
    client = tweepy.Client(bearer_token="t", return_type=requests.Response)
    return XDeletionChecker(client, retry=retry)


@responses.activate
def test_x_absent_or_not_found_is_gone(fast_retry):
    responses.get(LOOKUP, json=fixture_json("x", "tweets_lookup"))
    ids = ["1856723001882461189", "1856722871034769420", "1856716650105700352"]
    assert x_checker(fast_retry).gone(ids) == {"1856722871034769420", "1856716650105700352"}
    assert "ids=1856723001882461189%2C1856722871034769420%2C1856716650105700352" in (responses.calls[0].request.url)


@responses.activate
def test_x_batches_of_100(fast_retry):
    ids = [str(1856000000000000000 + i) for i in range(250)]
    for chunk in (ids[:100], ids[100:200], ids[200:]):
        responses.get(
            LOOKUP,
            json={"data": [{"id": i, "text": "t", "edit_history_tweet_ids": [i]} for i in chunk[1:]]},
            match=[matchers.query_param_matcher({"ids": ",".join(chunk)}, strict_match=False)],
        )
    assert x_checker(fast_retry).gone(ids + ids[:5]) == {ids[0], ids[100], ids[200]}
    assert len(responses.calls) == 3


@responses.activate
def test_x_failures_never_report_gone(fast_retry):
    responses.get(LOOKUP, json=fixture_json("x", "error_503"), status=503)
    with pytest.raises(RetryableError):
        x_checker(fast_retry).gone(["1"])
    responses.reset()
    responses.get(LOOKUP, json=fixture_json("x", "error_429"), status=429, headers={"x-rate-limit-reset": "9999999999"})
    with pytest.raises(RateLimited):
        x_checker(fast_retry).gone(["1"])
    responses.reset()
    responses.get(LOOKUP, json=fixture_json("x", "error_401"), status=401)
    with pytest.raises(BadCredentials, match="X_BEARER_TOKEN"):
        x_checker(fast_retry).gone(["1"])


def reddit() -> praw.Reddit:
    return praw.Reddit(
        client_id="id",
        client_secret="secret",
        user_agent="linux:socialear-tests:0.1 (by /u/socialear_test)",
        check_for_updates=False,
        check_for_async=False,
    )


@responses.activate
def test_reddit_deleted_removed_and_missing_are_gone(fast_retry):
    responses.post("https://www.reddit.com/api/v1/access_token", json=fixture_json("reddit", "access_token"))
    responses.get("https://oauth.reddit.com/api/info/", json=fixture_json("reddit", "info"))
    names = ["t3_1gqb7xk", "t3_1gqa2mf", "t1_lwx3k2a", "t1_lwx3h00", "t3_1gq0000"]
    gone = RedditDeletionChecker(reddit(), retry=fast_retry).gone(names)
    assert gone == {"t3_1gqa2mf", "t1_lwx3k2a", "t3_1gq0000"}
    assert "id=t3_1gqb7xk%2Ct3_1gqa2mf" in responses.calls[1].request.url


@responses.activate
def test_reddit_error_raises(fast_retry):
    responses.post("https://www.reddit.com/api/v1/access_token", json=fixture_json("reddit", "access_token"))
    responses.get("https://oauth.reddit.com/api/info/", body="oops", status=502)
    with pytest.raises(RetryableError):
        RedditDeletionChecker(reddit(), retry=fast_retry).gone(["t3_1"])
