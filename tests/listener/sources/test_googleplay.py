"""GooglePlaySource with a fake `reviews` callable returning recorded review dicts."""

from __future__ import annotations

import json
import ssl

import pytest
from google_play_scraper.exceptions import NotFoundError
from harnesses import FakeReviews
from source_helpers import fixture_json

from listener.sources.googleplay import GooglePlaySource, _import_reviews
from socialear.errors import NotConfigured, PermanentError

APP = "com.nimbus.myaccount"


def make_source(retry, fake, **options) -> GooglePlaySource:
    source = GooglePlaySource.from_options("googleplay-nimbus", {"app_id": APP, "page_size": 3, **options}, client=fake)
    source.retry = retry
    return source


def ids(batch):
    return [m.external_id for m in batch.mentions]


def test_follows_continuation_tokens(fast_retry):
    fake = FakeReviews.from_fixture("reviews_pages")
    batch = make_source(fast_retry, fake).fetch(None)
    assert len(batch.mentions) == 7 and len(fake.calls) == 3
    first = batch.mentions[0]
    assert first.platform == "googleplay" and first.rating == 1.0
    assert first.created_at.tzinfo is not None
    assert first.author.handle == "Play User 0" and first.lang == "en"
    assert batch.mentions[4].extra["reply"] == "Sorry to hear that, please DM us."
    call = fake.calls[0]
    assert call["app_id"] == APP and call["count"] == 3 and call["continuation_token"] is None
    assert call["sort"].name == "NEWEST"
    assert fake.calls[1]["continuation_token"].token == "1"


def test_three_polls_fresh_instances(fast_retry):
    first = make_source(fast_retry, FakeReviews.from_fixture("reviews_pages")).fetch(None)
    newer = FakeReviews.from_fixture("reviews_newer")
    second = make_source(fast_retry, newer).fetch(first.next_cursor)
    # Page 1 ends on the watermark review itself, so page 2 is read to see past it.
    assert len(newer.calls) == 2
    third = make_source(fast_retry, FakeReviews.from_fixture("reviews_newer")).fetch(second.next_cursor)
    assert len(second.mentions) == 2 and third.mentions == []
    every = ids(first) + ids(second) + ids(third)
    assert len(every) == len(set(every)) == 9
    assert list(json.loads(third.next_cursor)["streams"]) == [f"en-us:{APP}"]


def test_malformed_items(fast_retry):
    batch = make_source(fast_retry, FakeReviews.from_fixture("reviews_malformed_item")).fetch(None)
    assert len(batch.mentions) == 2
    assert {q.external_id for q in batch.quarantined} == {"bad-at-0001", "bad-score-0002"}


def test_unknown_app_is_permanent(fast_retry):
    with pytest.raises(PermanentError, match=r"no app 'com\.nimbus\.myaccount'"):
        make_source(fast_retry, FakeReviews(error=NotFoundError("App not found(404)."))).fetch(None)


def test_app_id_required():
    with pytest.raises(NotConfigured, match="app_id"):
        GooglePlaySource.from_options("googleplay-nimbus", {}, client=FakeReviews())


def test_import_keeps_tls_verification():
    before = ssl._create_default_https_context
    reviews, newest = _import_reviews()
    assert callable(reviews) and newest.name == "NEWEST"
    assert ssl._create_default_https_context is before
    assert fixture_json("googleplay", "reviews_empty")["pages"] == [[]]
