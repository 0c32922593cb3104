"""RssSource against recorded RSS 2.0 and Atom feeds (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from source_helpers import NIMBUS, fixture_text

from listener.sources.rss import RssSource, html_to_text
from socialear.errors import NotConfigured

URL = "https://community.example.org/latest.rss"


def make_source(retry, **options) -> RssSource:
    source = RssSource.from_options("rss-community", {"url": URL, **options}, brands=[NIMBUS])
    source.retry = retry
    return source


def feed(name: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        200, content=fixture_text("rss", name).encode(), headers={"content-type": "application/rss+xml", **headers}
    )


def ids(batch):
    return [m.external_id for m in batch.mentions]


@respx.mock
def test_entries_matched_against_brands(fast_retry):
    respx.get(URL).mock(return_value=feed("feed_rss2.xml", etag='W/"abc"'))
    batch = make_source(fast_retry).fetch(None)
    assert ids(batch) == ["community.example.org-topic-48213", "community.example.org-topic-48199"]
    first = batch.mentions[0]
    assert first.title == "Nimbus broadband outage in Leeds - anyone else?"
    assert first.text == "No internet since 9am, the Nimbus status page says nothing.\nCalled twice & got cut off."
    assert "<b>9am</b>" in first.extra["html"]
    assert first.author.handle == "leeds_lad"
    assert first.url == "https://community.example.org/t/nimbus-outage-leeds/48213"
    assert first.created_at.isoformat() == "2024-11-13T13:52:08+00:00"
    assert batch.stats["dropped/no_match"] == 1
    assert json.loads(batch.next_cursor)["etag"] == 'W/"abc"'


@respx.mock
def test_conditional_request_and_304(fast_retry):
    route = respx.get(URL).mock(
        side_effect=[
            feed("feed_rss2.xml", etag='"v1"', **{"last-modified": "Wed, 13 Nov 2024 14:00:00 GMT"}),
            httpx.Response(304),
        ]
    )
    first = make_source(fast_retry).fetch(None)
    second = make_source(fast_retry).fetch(first.next_cursor)
    sent = route.calls[1].request.headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Wed, 13 Nov 2024 14:00:00 GMT"
    assert second.mentions == [] and second.next_cursor == first.next_cursor
    assert second.stats["not_modified"] == 1


@respx.mock
def test_three_polls_fresh_instances(fast_retry):
    respx.get(URL).mock(side_effect=[feed("feed_rss2.xml"), feed("feed_rss2_newer.xml"), feed("feed_rss2_newer.xml")])
    first = make_source(fast_retry).fetch(None)
    second = make_source(fast_retry).fetch(first.next_cursor)
    third = make_source(fast_retry).fetch(second.next_cursor)
    assert ids(second) == ["community.example.org-topic-48305"]
    assert third.mentions == []
    every = ids(first) + ids(second) + ids(third)
    assert len(every) == len(set(every)) == 3


@respx.mock
def test_atom_undated_and_match_all(fast_retry):
    respx.get(URL).mock(return_value=feed("feed_atom.xml"))
    batch = make_source(fast_retry, match_brands=False).fetch(None)
    assert len(batch.mentions) == 2
    assert batch.mentions[0].author.handle == "Jo Reporter"
    assert batch.mentions[0].text == "The regulator said it had received complaints about double charging."
    assert batch.mentions[1].extra["undated"] is True


@respx.mock
def test_seen_ids_are_capped_but_keep_what_the_feed_lists(fast_retry):
    respx.get(URL).mock(return_value=feed("feed_rss2.xml"))
    cursor = json.dumps({"v": 1, "seen": [f"old-{i}" for i in range(50)]})
    batch = make_source(fast_retry, max_seen=10).fetch(cursor)
    seen = json.loads(batch.next_cursor)["seen"]
    assert len(seen) == 10 and seen[:3] == [
        "community.example.org-topic-48213",
        "community.example.org-topic-48210",
        "community.example.org-topic-48199",
    ]


@respx.mock
def test_html_page_instead_of_feed_is_retryable(fast_retry):
    from socialear.errors import RetryableError

    respx.get(URL).mock(
        return_value=httpx.Response(
            200, text=fixture_text("rss", "not_a_feed.html"), headers={"content-type": "text/html"}
        )
    )
    with pytest.raises(RetryableError, match="not a readable RSS/Atom feed"):
        make_source(fast_retry).fetch(None)


def test_html_to_text_keeps_words():
    assert html_to_text("<p>a &amp; b</p><p>c<br>d</p>") == "a & b\nc\nd"


def test_needs_brands_unless_match_all():
    with pytest.raises(NotConfigured, match="no brand queries"):
        RssSource.from_options("rss-community", {"url": URL}, brands=[])
    assert RssSource.from_options("rss-community", {"url": URL, "match_brands": False}, brands=[])
