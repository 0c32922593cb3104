"""FacebookSource against Graph API payloads (shapes from the Graph API reference), served
by respx: comments, visitor posts, tags, cursor paging, the usage headers and error codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import respx
from source_helpers import NIMBUS, fixture_json

from listener.sources.facebook import FacebookSource, appsecret_proof, usage_from_headers
from socialear.errors import BadCredentials, NotConfigured, RateLimited

PAGE = "104417785386524"
OWN = f"{PAGE}_122104219876543210"
VISITOR = f"{PAGE}_122105111122223333"
GRAPH = "https://graph.facebook.com/v21.0"
ENV = {"FACEBOOK_PAGE_ACCESS_TOKEN": "EAAB-page-token"}
NOW = datetime(2024, 11, 13, 17, 0, tzinfo=UTC)


def make_source(retry, env=ENV, now=NOW, **options) -> FacebookSource:
    source = FacebookSource.from_options("facebook-nimbus", {"page_id": PAGE, **options}, env=env, brands=[NIMBUS])
    source.retry = retry
    source.clock = lambda: now
    return source


def usage(call_count: int, buc_minutes: int | None = None) -> dict[str, str]:
    headers = {"X-App-Usage": json.dumps({"call_count": call_count, "total_cputime": 3, "total_time": 4})}
    if buc_minutes is not None:
        headers["X-Business-Use-Case-Usage"] = json.dumps(
            {
                PAGE: [
                    {
                        "type": "pages",
                        "call_count": call_count,
                        "total_cputime": 2,
                        "total_time": 2,
                        "estimated_time_to_regain_access": buc_minutes,
                    }
                ]
            }
        )
    return headers


def ok(name: str, pct: int = 10, buc: int | None = None) -> httpx.Response:
    return httpx.Response(200, json=fixture_json("facebook", name), headers=usage(pct, buc))


def error(name: str, status: int = 400, pct: int = 10, buc: int | None = None) -> httpx.Response:
    return httpx.Response(status, json=fixture_json("facebook", name), headers=usage(pct, buc))


def updated_times(stamp: str = "2024-11-13T16:59:00+0000"):
    """`GET /?ids=a,b&fields=updated_time` (Graph's multiple-id read): every post last
    updated at `stamp`."""

    def answer(request: httpx.Request) -> httpx.Response:
        ids = parse_qs(urlparse(str(request.url)).query)["ids"][0].split(",")
        return httpx.Response(200, json={i: {"updated_time": stamp, "id": i} for i in ids}, headers=usage(10))

    return answer


def serve(feed=None, own=None, visitor=None, tagged=None, updated=None):
    return {
        "ids": respx.get(url__regex=rf"^{GRAPH}/\?ids=").mock(side_effect=updated or updated_times()),
        "feed": respx.get(f"{GRAPH}/{PAGE}/feed").mock(side_effect=feed or [ok("feed_page1")]),
        "own": respx.get(f"{GRAPH}/{OWN}/comments").mock(side_effect=own or [ok("comments_own_post")]),
        "visitor": respx.get(f"{GRAPH}/{VISITOR}/comments").mock(side_effect=visitor or [ok("comments_visitor_post")]),
        "tagged": respx.get(f"{GRAPH}/{PAGE}/tagged").mock(side_effect=tagged or [ok("tagged")]),
    }


def by_id(batch):
    return {m.external_id: m for m in batch.mentions}


@respx.mock
def test_visitor_posts_comments_and_tags_with_reply_targets(fast_retry):
    routes = serve()
    batch = make_source(fast_retry).fetch(None)
    got = by_id(batch)
    assert set(got) == {
        VISITOR,
        "122104219876543210_1029384756",  # top-level comment on the Page's post
        "122104219876543210_1029384811",  # a reply to it (the Page's own reply is skipped)
        "122104219876543210_1029384999",  # a comment whose author Graph hides
        "122105111122223333_889900112233",  # a comment on the visitor's post
        "9930118274650012_771122334455",  # a post tagging the Page
    }
    assert OWN not in got  # the Page's own post is not a mention
    assert batch.stats["dropped/own_reply"] == 1
    top, reply = got["122104219876543210_1029384756"], got["122104219876543210_1029384811"]
    assert top.extra["reply_target"] == top.external_id and top.in_reply_to == OWN
    assert reply.extra["reply_target"] == top.external_id and reply.in_reply_to == top.external_id
    assert reply.extra["kind"] == "reply" and reply.conversation_id == OWN
    visitor = got[VISITOR]
    assert visitor.extra["reply_target"] == VISITOR and visitor.extra["kind"] == "visitor_post"
    assert visitor.author.external_id == "7385619204816253" and visitor.author.handle == "Sam Leeds"
    assert visitor.created_at == datetime(2024, 11, 13, 14, 2, 11, tzinfo=UTC)
    assert got["9930118274650012_771122334455"].extra["kind"] == "mention"
    assert got["122104219876543210_1029384999"].author.handle == "facebook user"
    assert top.engagement == 4 + 2 and top.url.endswith("comment_id=1029384756")
    request = routes["own"].calls[0].request
    params = parse_qs(urlparse(str(request.url)).query)
    assert params["filter"] == ["stream"] and params["order"] == ["reverse_chronological"]
    assert request.headers["Authorization"] == "Bearer EAAB-page-token"
    assert "access_token" not in params  # the token never goes in the URL
    assert batch.rate_limit.remaining == 90 and batch.exhausted


@respx.mock
def test_second_poll_asks_since_the_newest_read_and_stores_nothing_twice(fast_retry):
    routes = serve(
        feed=[ok("feed_page1"), ok("feed_page1")],
        own=[ok("comments_own_post")] * 2,
        visitor=[ok("comments_visitor_post")] * 2,
        tagged=[ok("tagged")] * 2,
    )
    first = make_source(fast_retry).fetch(None)
    second = make_source(fast_retry).fetch(first.next_cursor)
    assert second.mentions == []
    since = parse_qs(urlparse(str(routes["feed"].calls[1].request.url)).query)["since"]
    assert since == [str(int(datetime(2024, 11, 13, 14, 2, 12, tzinfo=UTC).timestamp()))]  # the second after
    first_since = parse_qs(urlparse(str(routes["feed"].calls[0].request.url)).query)["since"]
    assert first_since == [str(int((NOW - timedelta(days=7)).timestamp()))]  # the comment window


@respx.mock
def test_cursor_paging_follows_paging_next(fast_retry):
    routes = serve(feed=[ok("feed_paged_1"), ok("feed_paged_2")])
    respx.get(url__regex=rf"^{GRAPH}/{PAGE}_122106444455556666/comments").mock(return_value=ok("comments_empty"))
    batch = make_source(fast_retry, comments=False, mentions=False).fetch(None)
    assert [m.external_id for m in batch.mentions] == [f"{PAGE}_122106444455556666", VISITOR]
    second = parse_qs(urlparse(str(routes["feed"].calls[1].request.url)).query)
    assert second["after"] == ["QVFIUmBB"]


@respx.mock
def test_usage_header_near_the_limit_stops_the_poll_and_waits(fast_retry):
    """X-App-Usage at 96% on the first answer: keep it, send nothing more until access is
    regained (the business-use-case header's estimate, 12 minutes)."""
    routes = serve(feed=[ok("feed_page1", pct=96, buc=12)])
    batch = make_source(fast_retry).fetch(None)
    assert [m.external_id for m in batch.mentions] == [VISITOR]
    assert routes["own"].call_count == routes["visitor"].call_count == routes["tagged"].call_count == 0
    assert batch.rate_limit.remaining == 0 and batch.rate_limit.reset_at == NOW + timedelta(minutes=12)
    assert not batch.exhausted
    with pytest.raises(RateLimited, match="waiting 720s"):
        make_source(fast_retry).fetch(batch.next_cursor)
    assert routes["feed"].call_count == 1  # nothing sent during the window
    later = NOW + timedelta(minutes=13)
    serve(feed=[ok("feed_page1")])
    after = make_source(fast_retry, now=later).fetch(batch.next_cursor)
    assert VISITOR not in by_id(after) and "122104219876543210_1029384756" in by_id(after)


@respx.mock
@pytest.mark.parametrize(
    ("fixture", "status", "buc", "wait"),
    [
        ("error_4_app_limit", 403, None, 900.0),
        ("error_17_user_limit", 400, None, 900.0),
        ("error_32_page_limit", 400, 7, 420.0),
        ("error_613_hourly", 400, None, 900.0),
        ("error_80001_page_buc", 400, 25, 1500.0),
    ],
)
def test_throttling_codes_are_rate_limits(fast_retry, sleeps, fixture, status, buc, wait):
    routes = serve(feed=[error(fixture, status, pct=100, buc=buc)])
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry).fetch(None)
    assert info.value.retry_after == wait and routes["feed"].call_count == 1 and sleeps == []


@respx.mock
def test_throttled_mid_poll_keeps_what_was_read_and_misses_nothing(fast_retry):
    """The visitor post's comment (14:20) is read, then code 32 on the Page's post: the
    comments watermark must not pass that post's unread comments (10:15 to 12:01)."""
    serve(own=[error("error_32_page_limit", pct=100, buc=5)])
    first = make_source(fast_retry).fetch(None)
    assert "122105111122223333_889900112233" in by_id(first)
    assert "122104219876543210_1029384756" not in by_id(first)
    state = json.loads(first.next_cursor)
    assert state["streams"]["comments"]["ts"] is None  # not moved past the unread comments
    assert "122105111122223333_889900112233" in state["streams"]["comments"]["seen"]
    with pytest.raises(RateLimited):
        make_source(fast_retry).fetch(first.next_cursor)
    later = NOW + timedelta(minutes=6)
    serve()
    second = make_source(fast_retry, now=later).fetch(first.next_cursor)
    assert "122104219876543210_1029384756" in by_id(second)
    assert not set(by_id(first)) & set(by_id(second))


@respx.mock
def test_expired_token_names_the_variable(fast_retry, sleeps):
    serve(feed=[error("error_190_expired")])
    with pytest.raises(BadCredentials, match=r"FACEBOOK_PAGE_ACCESS_TOKEN was rejected \(code 190/463"):
        make_source(fast_retry).fetch(None)
    assert sleeps == []


@respx.mock
def test_missing_permission_names_it(fast_retry):
    serve(feed=[error("error_10_permission", 403)])
    with pytest.raises(BadCredentials, match="pages_read_engagement"):
        make_source(fast_retry).fetch(None)


@respx.mock
def test_a_deleted_post_is_forgotten_and_the_rest_read(fast_retry):
    serve(own=[error("error_100_33_gone")])
    batch = make_source(fast_retry).fetch(None)
    assert batch.stats["dropped/post_gone"] == 1
    assert "122105111122223333_889900112233" in by_id(batch)
    assert OWN not in json.loads(batch.next_cursor)["posts"]


@respx.mock
def test_app_secret_proof_is_sent_when_the_secret_is_set(fast_retry):
    routes = serve()
    env = {**ENV, "FACEBOOK_APP_SECRET": "s3cret"}
    make_source(fast_retry, env=env).fetch(None)
    params = parse_qs(urlparse(str(routes["feed"].calls[0].request.url)).query)
    assert params["appsecret_proof"] == [appsecret_proof("EAAB-page-token", "s3cret")]


def test_usage_headers_are_read():
    headers = usage(40, 3) | {"X-Page-Usage": json.dumps({"call_count": 77, "total_cputime": 1, "total_time": 1})}
    assert usage_from_headers(headers) == (77.0, 3.0)
    assert usage_from_headers({"X-App-Usage": "not json"}) == (0.0, None)


def test_missing_token_names_the_variable():
    with pytest.raises(NotConfigured, match="facebook source 'f': FACEBOOK_PAGE_ACCESS_TOKEN is not set"):
        FacebookSource.from_options("f", {"page_id": PAGE}, env={}, brands=[NIMBUS])


@respx.mock
def test_only_posts_with_a_new_updated_time_are_asked_for_comments(fast_retry):
    routes = serve(own=[ok("comments_own_post")] * 2, visitor=[ok("comments_visitor_post")] * 2)
    first = make_source(fast_retry).fetch(None)
    assert routes["own"].call_count == routes["visitor"].call_count == 1
    assert routes["ids"].call_count == 1
    later = NOW + timedelta(minutes=5)
    serve(feed=[ok("feed_empty")], tagged=[ok("tagged_empty")], updated=updated_times())
    second = make_source(fast_retry, now=later).fetch(first.next_cursor)
    assert second.stats["skipped/post_unchanged"] == 2 and second.mentions == []
    assert routes["own"].call_count == routes["visitor"].call_count == 1  # not asked again
    serve(feed=[ok("feed_empty")], tagged=[ok("tagged_empty")], own=[ok("comments_empty")],
          visitor=[ok("comments_empty")], updated=updated_times("2024-11-13T17:04:00+0000"))
    make_source(fast_retry, now=later + timedelta(minutes=5)).fetch(second.next_cursor)
    assert routes["own"].call_count == routes["visitor"].call_count == 2  # both moved: both read
