"""AppStoreSource against recorded customer-reviews feed pages, served by respx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import respx
from source_helpers import fixture_json, fixture_text

from listener.sources.appstore import AppStoreSource
from socialear.errors import BadCredentials, NotConfigured, RateLimited, RetryableError

APP = "1234567890"


def url(page: int, country: str = "us") -> str:
    return f"https://itunes.apple.com/{country}/rss/customerreviews/page={page}/id={APP}/sortby=mostrecent/json"


def make_source(retry, **options) -> AppStoreSource:
    source = AppStoreSource.from_options("appstore-nimbus", {"app_id": APP, **options})
    source.retry = retry
    return source


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, json=fixture_json("appstore", name))


def review_ids(name: str) -> list[str]:
    entry = fixture_json("appstore", name)["feed"].get("entry", [])
    entries = [entry] if isinstance(entry, dict) else entry
    return [e["id"]["label"] for e in entries if "im:rating" in e]


@respx.mock
def test_reads_pages_until_a_short_page(fast_retry):
    respx.get(url(1)).mock(return_value=ok("reviews_page1"))
    respx.get(url(2)).mock(return_value=ok("reviews_page2"))
    batch = make_source(fast_retry).fetch(None)
    assert len(batch.mentions) == 62
    first = batch.mentions[0]
    assert first.external_id == "11800000000"
    assert first.platform == "appstore" and first.rating == 1.0
    assert first.title == "Crashes on login"
    assert first.text.startswith("Since the last update the Nimbus app crashes")
    assert first.author.handle == "reviewer000" and first.author.external_id == "88100000"
    assert first.created_at == datetime(2024, 11, 13, 7, 5, tzinfo=timezone(timedelta(hours=-7)))
    assert first.extra["version"] == "8.14.0" and first.extra["country"] == "us"
    assert batch.stats["fetched"] == 62
    assert batch.exhausted is True
    stream = json.loads(batch.next_cursor)["streams"][f"us:{APP}"]
    assert stream["ts"] == datetime(2024, 11, 13, 14, 5, tzinfo=UTC).timestamp()
    assert list(stream["seen"]) == ["11800000000"]
    assert respx.calls.last.request.headers["user-agent"].startswith("socialear/")


@respx.mock
def test_empty_feed(fast_retry):
    respx.get(url(1)).mock(return_value=ok("reviews_past_end"))
    batch = make_source(fast_retry).fetch(None)
    assert batch.mentions == [] and batch.quarantined == []
    assert json.loads(batch.next_cursor)["streams"][f"us:{APP}"] == {"ts": None, "seen": {}}


@respx.mock
def test_single_entry_object_and_app_entry(fast_retry):
    respx.get(url(1)).mock(return_value=ok("reviews_single"))
    batch = make_source(fast_retry).fetch(None)
    assert [m.external_id for m in batch.mentions] == review_ids("reviews_single")


@respx.mock
def test_three_polls_fresh_instances(fast_retry):
    respx.get(url(1)).mock(side_effect=[ok("reviews_page1"), ok("reviews_newer_page1"), ok("reviews_newer_page1")])
    respx.get(url(2)).mock(return_value=ok("reviews_page2"))
    first = make_source(fast_retry).fetch(None)
    second = make_source(fast_retry).fetch(first.next_cursor)
    third = make_source(fast_retry).fetch(second.next_cursor)
    assert [m.external_id for m in second.mentions] == review_ids("reviews_newer_page1")[:3]
    assert third.mentions == []
    every = [m.external_id for b in (first, second, third) for m in b.mentions]
    assert len(every) == len(set(every)) == 65
    # Poll 2 and 3 stop on page 1: they reached the watermark.
    assert respx.routes[1].call_count == 1


@respx.mock
def test_malformed_items_quarantined_once(fast_retry):
    respx.get(url(1)).mock(return_value=ok("reviews_malformed_item"))
    batch = make_source(fast_retry).fetch(None)
    assert [m.external_id for m in batch.mentions] == ["11800000000", "11799998267"]
    errors = {q.external_id: q.error for q in batch.quarantined}
    assert set(errors) == {"11799480100", "11799478367"}
    assert "timestamp" in errors["11799480100"]
    assert "im:rating" in errors["11799478367"]
    again = make_source(fast_retry).fetch(batch.next_cursor)
    assert again.mentions == [] and again.quarantined == []


@respx.mock
def test_truncated_body_retried_then_retryable(fast_retry, sleeps):
    route = respx.get(url(1)).mock(
        return_value=httpx.Response(200, text=fixture_text("appstore", "reviews_truncated.json.txt"))
    )
    with pytest.raises(RetryableError, match="malformed"):
        make_source(fast_retry).fetch(None)
    assert route.call_count == 3 and len(sleeps) == 2


@respx.mock
def test_server_error_retried_then_success(fast_retry):
    respx.get(url(1)).mock(side_effect=[httpx.Response(503), ok("reviews_single")])
    batch = make_source(fast_retry).fetch(None)
    assert len(batch.mentions) == 1
    assert batch.stats["retries/server_error"] == 1


@respx.mock
def test_timeout(fast_retry):
    respx.get(url(1)).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(RetryableError, match="timed out after 15s"):
        make_source(fast_retry).fetch(None)


@respx.mock
def test_429_retry_after(fast_retry):
    route = respx.get(url(1)).mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry).fetch(None)
    assert info.value.retry_after == 120 and route.call_count == 1


@respx.mock
def test_403(fast_retry):
    respx.get(url(1)).mock(return_value=httpx.Response(403, text="Forbidden"))
    with pytest.raises(BadCredentials, match="403"):
        make_source(fast_retry).fetch(None)


@respx.mock
def test_several_countries_have_their_own_cursor(fast_retry):
    respx.get(url(1, "us")).mock(return_value=ok("reviews_single"))
    respx.get(url(1, "gb")).mock(return_value=ok("reviews_past_end"))
    batch = make_source(fast_retry, countries=["us", "GB"]).fetch(None)
    assert set(json.loads(batch.next_cursor)["streams"]) == {f"us:{APP}", f"gb:{APP}"}


def test_options_need_an_app_id():
    with pytest.raises(NotConfigured, match="app_id"):
        AppStoreSource.from_options("appstore-nimbus", {})
    with pytest.raises(NotConfigured, match="numeric"):
        AppStoreSource.from_options("appstore-nimbus", {"app_ids": ["nimbus"]})
    with pytest.raises(NotConfigured, match="Extra inputs"):
        AppStoreSource.from_options("appstore-nimbus", {"app_id": APP, "apikey": "x"})


@respx.mock
def test_each_review_gets_its_own_url(fast_retry):
    """Before: every review carried the feed's app-level link."""
    respx.get(url(1)).mock(return_value=ok("reviews_page1"))
    respx.get(url(2)).mock(return_value=ok("reviews_page2"))
    batch = make_source(fast_retry).fetch(None)
    urls = [m.url for m in batch.mentions]
    assert len(set(urls)) == len(urls) == len(batch.mentions)
    first = batch.mentions[0]
    assert first.url == f"https://apps.apple.com/us/app/id{APP}?see-all=reviews#review-{first.external_id}"
    assert first.extra["feed_link"].startswith("https://itunes.apple.com/us/review?id=")


@respx.mock
def test_entry_without_updated_does_not_move_the_watermark_to_now(fast_retry):
    """Before: the undated first entry set the watermark to the poll's wall-clock time, so
    the next poll skipped reviews dated before it."""
    feed = fixture_json("appstore", "reviews_single")
    dated = feed["feed"]["entry"]
    dated = dated if isinstance(dated, list) else [dated]
    undated = json.loads(json.dumps(dated[0]))
    undated["id"]["label"] = "99999999999"
    del undated["updated"]
    feed["feed"]["entry"] = [undated, *dated]
    respx.get(url(1)).mock(return_value=httpx.Response(200, json=feed))
    first = make_source(fast_retry).fetch(None)
    assert [q.external_id for q in first.quarantined] == ["99999999999"]
    stream = json.loads(first.next_cursor)["streams"][f"us:{APP}"]
    newest = max(parse_time_label(e) for e in dated)
    assert stream["ts"] == newest  # the newest dated review, not the wall clock
    assert "99999999999" in stream["seen"]  # remembered: not quarantined again

    # A review dated after the dated ones but long before "now" is still read next poll.
    later = json.loads(json.dumps(dated[0]))
    later["id"]["label"] = "88888888888"
    later["updated"]["label"] = datetime.fromtimestamp(newest + 60, UTC).isoformat()
    feed["feed"]["entry"] = [later, undated, *dated]
    respx.get(url(1)).mock(return_value=httpx.Response(200, json=feed))
    second = make_source(fast_retry).fetch(first.next_cursor)
    assert [m.external_id for m in second.mentions] == ["88888888888"]
    assert second.quarantined == []


def parse_time_label(entry) -> float:
    return datetime.fromisoformat(entry["updated"]["label"]).timestamp()
