"""A compressed simulated day of polling X (bench/x_day.py): the real XSource, Collector and
pipeline against a fake recent-search API on a simulated clock, with restarts and one
rate-limited window. Every matching post is read once and stored once; nothing is sent
between a 429 and its reset."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_x_day", ROOT / "bench" / "x_day.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


x_day = load_bench()
COMPRESSED = {"hours": 4.0, "tweets": 500, "poll_every": 120.0, "restarts": 3}


def assert_read_once_stored_once(result: dict[str, Any]) -> None:
    assert result["tweets_matching"] > 150
    assert result["unique_stored"] == result["tweets_matching"]
    assert result["missing"] == 0 and result["duplicates"] == 0 and result["unexpected"] == 0
    assert result["posts_read"] == result["unique_stored"] and result["posts_read_twice"] == 0
    assert result["reads_per_unique"] == 1.0
    assert result["restarts"] == 3 and result["rate_limited_windows"] == 1
    assert result["paged_requests"] >= 1  # the burst needed more than one page per poll
    # One request per poll, plus the burst's extra pages: nobody is hammering X.
    polls_per_hour = 3600 / COMPRESSED["poll_every"]
    assert result["requests_per_hour"] <= polls_per_hour + 2


def test_a_day_with_a_429_mid_pagination_and_restarts(db_url: str) -> None:
    result = x_day.simulate(**COMPRESSED, database_url=db_url, limit_on="page")
    assert_read_once_stored_once(result)
    assert result["requests_during_rate_limit"] == 0
    assert result["gap_requests"] >= 1  # the page after the 429 was read later, below until_id


def test_a_restart_inside_the_rate_limited_window_waits_for_the_reset() -> None:
    result = x_day.simulate(**COMPRESSED, limit_on="poll")
    assert_read_once_stored_once(result)
    assert result["requests_during_rate_limit"] == 0


def test_a_day_without_restarts_respects_a_429_on_the_first_request() -> None:
    result = x_day.simulate(**{**COMPRESSED, "restarts": 0}, limit_on="poll")
    assert result["rate_limited_windows"] == 1 and result["requests_during_rate_limit"] == 0
    assert result["missing"] == 0 and result["reads_per_unique"] == 1.0


# --------------------------------------------------------------------------- the fake API itself


class _Req:
    def __init__(self, **params: Any):
        from urllib.parse import urlencode

        self.url = f"{x_day.SEARCH_URL}?{urlencode(params)}"


def fake(limited_in: timedelta = timedelta(days=2)) -> tuple[Any, Any]:
    clock = x_day.SimClock(x_day.DAY_START + timedelta(hours=6))
    stream = x_day.make_stream(300, 6.0)
    return x_day.FakeSearch(stream, clock, limited_from=clock.t + limited_in, limit_on="poll"), clock


def call(api: Any, **params: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, body = api(_Req(query="nimbus -is:retweet", **params))
    return status, headers, json.loads(body)


def test_fake_search_pages_like_the_real_endpoint() -> None:
    api, _ = fake()
    status, headers, first = call(api, max_results=100)
    assert status == 200 and first["meta"]["result_count"] == 100 and "next_token" in first["meta"]
    ids = [int(tw["id"]) for tw in first["data"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert {u["id"] for u in first["includes"]["users"]} == {tw["author_id"] for tw in first["data"]}
    assert headers["x-rate-limit-remaining"] == str(x_day.REQUESTS_PER_WINDOW - 1)
    _, _, second = call(api, max_results=100, next_token=first["meta"]["next_token"])
    assert max(int(tw["id"]) for tw in second["data"]) < min(ids)
    newest = first["meta"]["newest_id"]
    assert call(api, max_results=10, since_id=newest)[2] == {"meta": {"result_count": 0}}
    until = call(api, max_results=10, until_id=first["meta"]["oldest_id"])[2]
    assert max(int(tw["id"]) for tw in until["data"]) < min(ids)
    assert call(api, max_results=5)[0] == 400
    assert call(api, max_results=10, next_token="garbage")[0] == 400


def test_fake_search_answers_429_until_the_reset() -> None:
    api, clock = fake(limited_in=timedelta(0))
    status, headers, body = call(api, max_results=10)
    assert status == 429 and body["title"] == "Too Many Requests"
    reset = int(headers["x-rate-limit-reset"])
    assert headers["x-rate-limit-remaining"] == "0" and reset > clock.t.timestamp()
    clock.t += timedelta(minutes=1)
    assert call(api, max_results=10)[0] == 429 and api.during_limit == 1
    clock.t = x_day.datetime.fromtimestamp(reset, x_day.UTC)
    assert call(api, max_results=10)[0] == 200


def test_bench_prints_the_measurements(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["x_day.py", "--hours", "2", "--tweets", "120", "--restarts", "1"])
    x_day.main()
    result = json.loads(capsys.readouterr().out)
    for key in (
        "simulated_hours", "tweets_published", "posts_read", "unique_stored", "reads_per_unique", "requests",
        "requests_per_hour", "rate_limited_windows", "requests_during_rate_limit",
    ):
        assert key in result
    assert result["simulated_hours"] == 2.0 and result["tweets_published"] == 120


def test_requests_is_what_tweepy_uses() -> None:  # the fake is served through `responses`
    import tweepy

    client = tweepy.Client(bearer_token="t", return_type=requests.Response)
    assert isinstance(client.session, requests.Session)
