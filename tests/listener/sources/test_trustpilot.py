"""TrustpilotSource against recorded Business Units API review pages (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from source_helpers import fixture_json

from listener.sources.trustpilot import TrustpilotSource
from socialear.errors import BadCredentials, NotConfigured

BU = "4bdf2f6a00006400050c2d1e"
URL = f"https://api.trustpilot.com/v1/business-units/{BU}/reviews"
ENV = {"TRUSTPILOT_API_KEY": "tp-secret-key"}


def make_source(retry, **options) -> TrustpilotSource:
    source = TrustpilotSource.from_options(
        "trustpilot-nimbus", {"business_unit_id": BU, "per_page": 3, **options}, env=ENV
    )
    source.retry = retry
    return source


def page(name: str) -> httpx.Response:
    return httpx.Response(
        200, json=fixture_json("trustpilot", name), headers={"X-RateLimit-Remaining": "833", "X-RateLimit-Limit": "833"}
    )


def ids(batch):
    return [m.external_id for m in batch.mentions]


@respx.mock
def test_pages_until_no_next_link(fast_retry):
    route = respx.get(URL).mock(side_effect=[page("reviews_page1"), page("reviews_page2")])
    batch = make_source(fast_retry).fetch(None)
    assert len(batch.mentions) == 5
    first = batch.mentions[0]
    assert first.external_id == "6734c9e2f1a0b3c7d2e81f01" and first.rating == 1.0
    assert first.title == "Three weeks without broadband"
    assert first.author.handle == "Priya S" and first.author.external_id == "5f1c0a9e2b3d4e0012ab34cd"
    assert first.url == "https://www.trustpilot.com/reviews/6734c9e2f1a0b3c7d2e81f01"
    assert first.engagement == 7 and first.lang == "en"
    assert batch.mentions[1].extra["company_replied"] is True
    request = route.calls[0].request
    assert request.headers["apikey"] == "tp-secret-key"
    assert "tp-secret-key" not in str(request.url)  # the key never lands in a URL
    assert request.url.params["orderBy"] == "createdat.desc"
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2"]
    assert batch.rate_limit.remaining == 833


@respx.mock
def test_three_polls_fresh_instances(fast_retry):
    respx.get(URL).mock(
        side_effect=[
            page("reviews_page1"),
            page("reviews_page2"),  # poll 1
            page("reviews_newer_page1"),  # poll 2: two new, then the watermark review...
            page("reviews_page2"),  # ...so one more page, which is past it
            page("reviews_newer_page1"),  # poll 3: nothing new
            page("reviews_page2"),
        ]
    )
    first = make_source(fast_retry).fetch(None)
    second = make_source(fast_retry).fetch(first.next_cursor)
    third = make_source(fast_retry).fetch(second.next_cursor)
    assert ids(second) == ["6734e0a1dd34ef56f067a106", "6734d9f0ee45f067a178b207"]
    assert third.mentions == []
    every = ids(first) + ids(second) + ids(third)
    assert len(every) == len(set(every)) == 7
    assert json.loads(third.next_cursor)["seen"] == {"6734e0a1dd34ef56f067a106": 1731511249.0}


@respx.mock
def test_malformed_items(fast_retry):
    respx.get(URL).mock(return_value=page("reviews_malformed_item"))
    batch = make_source(fast_retry).fetch(None)
    assert ids(batch) == ["6734c9e2f1a0b3c7d2e81f01", "67348a10bb12cd34de45ef04"]
    assert {q.external_id for q in batch.quarantined} == {"6734b81ad3c24e0a9b1c7faa", "67349f77aa01bc22cd33deaa"}


@respx.mock
@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "TRUSTPILOT_API_KEY was rejected (401): check the key"),
        (403, f"403: the Trustpilot API key has no access to business unit {BU}'s reviews"),
    ],
)
def test_credentials(fast_retry, status, message):
    respx.get(URL).mock(return_value=httpx.Response(status, json=fixture_json("trustpilot", f"error_{status}")))
    with pytest.raises(BadCredentials) as info:
        make_source(fast_retry).fetch(None)
    assert str(info.value) == message


def test_business_unit_required():
    with pytest.raises(NotConfigured, match="business_unit_id"):
        TrustpilotSource.from_options("trustpilot-nimbus", {}, env=ENV)


@respx.mock
def test_author_name_from_consumer_name(fast_retry):
    """Before: only consumer.displayName was read; event payloads carry consumer.name."""
    body = fixture_json("trustpilot", "reviews_page2")
    for review in body["reviews"]:
        consumer = review["consumer"]
        consumer["name"] = consumer.pop("displayName")
    respx.get(URL).mock(return_value=httpx.Response(200, json=body))
    batch = make_source(fast_retry, max_pages=1).fetch(None)
    expected = [r["consumer"]["name"] for r in body["reviews"]]
    assert [m.author.handle for m in batch.mentions] == expected
    assert all(m.author.handle and m.author.name == m.author.handle for m in batch.mentions)
