"""DiscourseSource against recorded-shape Discourse JSON API pages, served by respx."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import respx
from source_helpers import NIMBUS, fixture_json

from listener.sources._common import RetryPolicy
from listener.sources.discourse import DiscourseSource
from socialear.errors import BadCredentials, NotConfigured, RateLimited

BASE = "https://community.nimbus.example"


def make_source(retry, env=None, **options) -> DiscourseSource:
    source = DiscourseSource.from_options(
        "discourse-community", {"base_url": BASE, **options}, env=env or {}, brands=[NIMBUS]
    )
    source.retry = retry
    return source


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, json=fixture_json("discourse", name))


def ids(batch):
    return [m.external_id for m in batch.mentions]


@respx.mock
def test_latest_posts_matched_and_normalised(fast_retry):
    respx.get(f"{BASE}/posts.json").mock(return_value=ok("posts_latest"))
    batch = make_source(fast_retry).fetch(None)
    # gardening post: no brand; the "pinned" small action: not a member's post
    assert ids(batch) == ["48213", "48210"]
    assert batch.stats["dropped/no_match"] == 1 and batch.stats["dropped/not_a_post"] == 1
    first, reply = batch.mentions
    assert first.text.startswith("Nimbus broadband has been down in Leeds since 9am.")
    assert first.title == "Nimbus broadband down in Leeds?" and first.conversation_id == "9120"
    assert first.url == f"{BASE}/t/nimbus-broadband-down-in-leeds/9120/1"
    assert first.author.handle == "leeds_lad" and first.author.name == "Sam"
    assert first.created_at == datetime(2024, 11, 13, 14, 41, 7, 512000, tzinfo=UTC)
    assert reply.title is None and reply.in_reply_to == "9118#1"
    assert json.loads(batch.next_cursor) == {"streams": {"posts": {"since": 48213}}, "v": 1}


@respx.mock
def test_next_poll_reads_only_newer_posts_and_drops_deleted(fast_retry):
    """`walk: false`: paging /posts.json, which answers its 50 newest whatever is new."""
    route = respx.get(f"{BASE}/posts.json").mock(side_effect=[ok("posts_latest"), ok("posts_newer")])
    first = make_source(fast_retry, walk=False).fetch(None)
    second = make_source(fast_retry, walk=False).fetch(first.next_cursor)
    assert ids(second) == ["48220"]  # 48219 was deleted by its author; older ones were read
    assert second.stats["dropped/deleted"] == 1
    assert route.call_count == 2


class Forum:
    """A forum of `n` posts (ids 1..n) answering /posts.json like Discourse: 50 a page,
    newest first, `before` exclusive."""

    def __init__(self, n: int):
        self.n = n
        self.template = fixture_json("discourse", "posts_latest")["latest_posts"][0]
        self.requests: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlparse(str(request.url)).query)
        self.requests.append(query)
        top = int(query["before"][0]) - 1 if "before" in query else self.n
        posts = []
        for pid in range(top, max(top - 50, 0), -1):
            post = dict(self.template, id=pid, raw=f"Nimbus post {pid}")
            post["created_at"] = (datetime(2024, 11, 1, tzinfo=UTC) + timedelta(minutes=pid)).isoformat()
            posts.append(post)
        return httpx.Response(200, json={"latest_posts": posts})


@respx.mock
def test_page_cap_leaves_a_gap_that_the_next_poll_reads(fast_retry):
    forum = Forum(100)
    respx.get(f"{BASE}/posts.json").mock(side_effect=forum)
    first = make_source(fast_retry, max_pages=2, walk=False).fetch(None)  # first poll: one page, no back-fill
    assert len(first.mentions) == 50
    forum.n = 260  # 160 new posts, more than two pages
    second = make_source(fast_retry, max_pages=2, walk=False).fetch(first.next_cursor)
    assert [int(i) for i in ids(second)] == list(range(260, 160, -1))
    assert not second.exhausted and second.stats["gap/page_limit"] == 1
    gap = json.loads(second.next_cursor)["streams"]["posts"]
    assert gap == {"since": 100, "gap": {"before": 161, "pending": 260}}
    third = make_source(fast_retry, max_pages=2, walk=False).fetch(second.next_cursor)
    assert [int(i) for i in ids(third)] == list(range(160, 100, -1))
    assert third.exhausted
    assert json.loads(third.next_cursor)["streams"]["posts"] == {"since": 260}
    every = ids(first) + ids(second) + ids(third)
    assert len(every) == len(set(every)) == 210


class PostsById:
    """`GET /posts/<id>.json` like Discourse: the post, 403 for one we may not see, 404
    for a deleted id or one not written yet. Records the ids asked."""

    def __init__(self, posts: dict[int, dict], hidden: set[int] = frozenset()):
        self.posts = posts
        self.hidden = hidden
        self.asked: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        post_id = int(request.url.path.removeprefix("/posts/").removesuffix(".json"))
        self.asked.append(post_id)
        if post_id in self.posts:
            return httpx.Response(200, json=self.posts[post_id])
        if post_id in self.hidden:
            return httpx.Response(403, json=fixture_json("discourse", "error_403"))
        return httpx.Response(404, json=fixture_json("discourse", "error_404"))


def single(post: dict) -> dict:
    """A post as /posts/<id>.json renders it: no topic_title, topic_html_title, category_id."""
    return {k: v for k, v in post.items() if k not in ("topic_title", "topic_html_title", "category_id")}


def newer_posts() -> dict[int, dict]:
    return {p["id"]: single(p) for p in fixture_json("discourse", "posts_newer")["latest_posts"] if p["id"] > 48213}


def walk_cursor(since: int, **extra) -> str:
    return json.dumps({"v": 1, "streams": {"posts": {"since": since, **extra}}})


@respx.mock
def test_walk_reads_each_new_post_once_and_a_quiet_poll_reads_none(fast_retry):
    """After the first page, the ids above it are read one by one: no post twice, holes
    (403/404) cost a request and read nothing, /posts.json is not asked again."""
    listing = respx.get(f"{BASE}/posts.json").mock(return_value=ok("posts_latest"))
    forum = PostsById(newer_posts(), hidden={48215, 48217})
    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(side_effect=forum)
    first = make_source(fast_retry).fetch(None)
    second = make_source(fast_retry).fetch(first.next_cursor)
    assert ids(second) == ["48220"]  # 48219 was deleted by its author
    assert second.stats["dropped/deleted"] == 1 and second.stats["walk/read"] == 2
    assert forum.asked == list(range(48214, 48227))  # up to 48220, then six misses (lookahead 5)
    assert json.loads(second.next_cursor)["streams"]["posts"]["since"] == 48220
    assert listing.call_count == 1
    forum.asked.clear()
    third = make_source(fast_retry).fetch(second.next_cursor)  # nothing new
    assert third.mentions == [] and forum.asked == list(range(48221, 48227)) and third.exhausted
    assert third.stats.get("walk/read", 0) == 0


@respx.mock
def test_walk_probes_past_a_run_of_holes_longer_than_the_lookahead(fast_retry):
    """Ten ids nobody may see, then a post: after `hole_check` without a new post the walk
    leaps ahead (+1, +2, +4, +8 ...), reads the post it finds, and the next poll walks the
    ids below it without stopping at the holes. Each post is read once."""
    post = dict(newer_posts()[48220], id=111, raw="Nimbus outage again")
    later = dict(newer_posts()[48220], id=113, raw="Nimbus still down")
    forum = PostsById({111: post, 113: later})
    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(side_effect=forum)
    now = datetime(2024, 11, 13, 16, 0, tzinfo=UTC)
    source = make_source(fast_retry, lookahead=2, hole_check=900)
    source.clock = lambda: now
    quiet = make_source(fast_retry, lookahead=2, hole_check=900)
    quiet.clock = lambda: now
    recent = walk_cursor(100, found_at=now.timestamp() - 60)
    assert quiet.fetch(recent).mentions == [] and forum.asked == [101, 102, 103]  # no leap yet
    forum.asked.clear()
    first = source.fetch(walk_cursor(100, found_at=now.timestamp() - 1000))
    assert ids(first) == ["111"] and first.stats["walk/hole_skipped"] == 1
    assert forum.asked == [101, 102, 103, 104, 105, 107, 111]
    entry = json.loads(first.next_cursor)["streams"]["posts"]
    assert entry["since"] == 100 and entry["ahead"] == [111]
    forum.asked.clear()
    second = source.fetch(first.next_cursor)
    assert ids(second) == ["113"]
    assert forum.asked == [*range(101, 111), 112, 113, 114, 115, 116]  # 111 is not asked again
    assert json.loads(second.next_cursor)["streams"]["posts"]["since"] == 113


@respx.mock
def test_walk_spends_at_most_max_requests_a_poll_and_paces_past_the_burst(fast_retry, sleeps):
    posts = {i: dict(newer_posts()[48220], id=i, raw=f"Nimbus post {i}") for i in range(101, 251)}
    forum = PostsById(posts)
    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(side_effect=forum)
    source = make_source(fast_retry, max_requests=60, requests_per_minute=120)
    first = source.fetch(walk_cursor(100))
    assert [int(i) for i in ids(first)] == list(range(101, 161))
    assert first.exhausted and first.stats["walk/budget_spent"] == 1  # the rest at the next poll
    assert sleeps == [0.5] * 20  # the first 40 at once, then 120 a minute
    second = source.fetch(first.next_cursor)
    assert [int(i) for i in ids(second)] == list(range(161, 221))
    assert len(forum.asked) == len(set(forum.asked)) == 120


@respx.mock
def test_walk_keeps_what_it_read_when_throttled_and_waits(fast_retry):
    forum = PostsById({101: dict(newer_posts()[48220], id=101)})
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "30"}, json=fixture_json("discourse", "error_429"))
        return forum(request)

    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(side_effect=answer)
    now = datetime(2024, 11, 13, 16, 0, tzinfo=UTC)
    source = make_source(fast_retry)
    source.clock = lambda: now
    batch = source.fetch(walk_cursor(100))
    assert ids(batch) == ["101"] and batch.rate_limit is not None and batch.rate_limit.remaining == 0
    assert batch.rate_limit.reset_at == now + timedelta(seconds=30)
    state = json.loads(batch.next_cursor)
    assert state["streams"]["posts"]["since"] == 101 and state["not_before"] == now.timestamp() + 30
    with pytest.raises(RateLimited):
        source.fetch(batch.next_cursor)  # before the reset: nothing is sent
    assert len(calls) == 2


@respx.mock
def test_walk_refuses_a_bad_key_rather_than_taking_it_for_hidden_posts(fast_retry):
    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(
        return_value=httpx.Response(403, json=fixture_json("discourse", "error_403_bad_key")))
    env = {"DISCOURSE_API_KEY": "wrong", "DISCOURSE_API_USERNAME": "system"}
    with pytest.raises(BadCredentials, match="DISCOURSE_API_KEY/DISCOURSE_API_USERNAME were refused"):
        make_source(fast_retry, env=env, api_key=True).fetch(walk_cursor(100))


@respx.mock
def test_walked_opening_post_matches_on_its_slug_and_categories_page_the_listing(fast_retry):
    """/posts/<id>.json has no topic_title: an opening post whose title alone names the
    brand is matched on its slug. A source that keeps whole categories needs category_id,
    which only listings carry, so it pages /posts.json instead of walking."""
    opening = single(dict(fixture_json("discourse", "posts_latest")["latest_posts"][1], id=101, post_number=1,
                          topic_slug="nimbus-outage-in-hull", raw="Anyone else without internet in Hull?"))
    forum = PostsById({101: opening})
    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(side_effect=forum)
    batch = make_source(fast_retry).fetch(walk_cursor(100))
    assert ids(batch) == ["101"] and batch.mentions[0].extra["brands"] == ["Nimbus"]
    listing = respx.get(f"{BASE}/posts.json").mock(return_value=ok("posts_empty"))
    make_source(fast_retry, categories=[5]).fetch(walk_cursor(100))
    assert listing.call_count == 1 and forum.asked == [*range(101, 108)]  # only the first source walked


@respx.mock
def test_search_reads_each_new_hit_once_in_full(fast_retry):
    search = respx.get(f"{BASE}/search.json").mock(return_value=ok("search_nimbus"))
    respx.get(f"{BASE}/posts/48213.json").mock(return_value=ok("post_48213"))
    respx.get(f"{BASE}/posts/48210.json").mock(return_value=ok("post_48210"))
    source = make_source(fast_retry, posts=False, search=True)
    batch = source.fetch(None)
    assert ids(batch) == ["48213", "48210"]
    assert batch.mentions[1].text == fixture_json("discourse", "post_48210")["raw"]  # not the blurb
    terms = {parse_qs(urlparse(str(c.request.url)).query)["q"][0] for c in search.calls}
    assert terms == {"nimbus order:latest", '"nimbus broadband" order:latest'}
    again = make_source(fast_retry, posts=False, search=True).fetch(batch.next_cursor)
    assert again.mentions == []
    assert respx.calls.call_count == len(search.calls) + 2  # each post read once


@respx.mock
def test_category_topics_keep_every_new_topic(fast_retry):
    respx.get(f"{BASE}/c/5/l/latest.json").mock(return_value=ok("category_latest"))
    respx.get(f"{BASE}/t/9120.json").mock(return_value=ok("topic_9120"))
    respx.get(f"{BASE}/t/9118.json").mock(return_value=ok("topic_9118"))
    batch = make_source(fast_retry, posts=False, categories=[5]).fetch(None)
    assert ids(batch) == ["48213", "48190"]  # the pinned "About" topic is skipped
    opening = batch.mentions[1]
    assert opening.text == "Is Nimbus down for anyone else in York? No signal & no data since lunch."
    assert opening.title == "Is Nimbus down?" and opening.url == f"{BASE}/t/is-nimbus-down/9118/1"
    assert json.loads(batch.next_cursor)["streams"] == {"category:5": {"since": 9120}}


def test_api_key_option_needs_the_env():
    with pytest.raises(NotConfigured, match="DISCOURSE_API_KEY is not set"):
        DiscourseSource.from_options("d", {"base_url": BASE, "api_key": True}, env={}, brands=[NIMBUS])


@respx.mock
def test_api_key_is_sent_in_headers_never_the_url(fast_retry):
    route = respx.get(f"{BASE}/posts.json").mock(return_value=ok("posts_empty"))
    env = {"DISCOURSE_API_KEY": "k-123", "DISCOURSE_API_USERNAME": "system"}
    make_source(fast_retry, env=env, api_key=True).fetch(None)
    request = route.calls[0].request
    assert request.headers["Api-Key"] == "k-123" and request.headers["Api-Username"] == "system"
    assert "k-123" not in str(request.url)


@respx.mock
def test_bad_key_names_the_variables(fast_retry):
    respx.get(f"{BASE}/posts.json").mock(
        return_value=httpx.Response(403, json=fixture_json("discourse", "error_403_bad_key"))
    )
    env = {"DISCOURSE_API_KEY": "wrong", "DISCOURSE_API_USERNAME": "system"}
    with pytest.raises(BadCredentials, match="DISCOURSE_API_KEY/DISCOURSE_API_USERNAME were refused"):
        make_source(fast_retry, env=env, api_key=True).fetch(None)


@respx.mock
def test_private_forum_without_key_says_so(fast_retry):
    respx.get(f"{BASE}/posts.json").mock(return_value=httpx.Response(403, json=fixture_json("discourse", "error_403")))
    with pytest.raises(BadCredentials, match="private; set api_key: true"):
        make_source(fast_retry).fetch(None)


@respx.mock
def test_429_without_retry_after_waits_the_bodys_wait_seconds(fast_retry, sleeps):
    route = respx.get(f"{BASE}/posts.json").mock(
        return_value=httpx.Response(429, json=fixture_json("discourse", "error_429"))
    )
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry).fetch(None)
    assert info.value.retry_after == 10.0 and route.call_count == 1 and sleeps == []


def test_nothing_to_read_is_refused():
    with pytest.raises(NotConfigured, match="nothing to read"):
        DiscourseSource.from_options("d", {"base_url": BASE, "posts": False}, brands=[NIMBUS])


def test_webhook_mode_needs_the_webhook_secret():
    """With `webhook: true` and no DISCOURSE_WEBHOOK_SECRET every delivery would be refused
    and the source would only check hourly: refuse the configuration, naming the variable."""
    with pytest.raises(NotConfigured, match="DISCOURSE_WEBHOOK_SECRET"):
        DiscourseSource.from_options("d", {"base_url": BASE, "webhook": True}, env={}, brands=[NIMBUS])
    source = DiscourseSource.from_options(
        "d", {"base_url": BASE, "webhook": True}, env={"DISCOURSE_WEBHOOK_SECRET": "s"}, brands=[NIMBUS])
    assert source.options.webhook and source.options.webhook_silence == 3600


@respx.mock
def test_a_stopping_service_ends_the_paced_walk_with_what_it_read() -> None:
    """SIGTERM during a long paced walk (200 requests at 120 a minute is 80 s) must not
    hold the service up: the wait ends at once and the fetch returns the posts read so
    far, its cursor just past them, so the next start reads on from there."""
    posts = {i: dict(newer_posts()[48220], id=i, raw=f"Nimbus post {i}") for i in range(101, 251)}
    forum = PostsById(posts)
    respx.get(url__regex=rf"^{BASE}/posts/\d+\.json$").mock(side_effect=forum)
    policy = RetryPolicy()  # the real, waiting sleep
    source = make_source(policy, max_requests=200, requests_per_minute=1)  # 60 s a request past the burst
    stopper = threading.Timer(0.3, policy.stopping.set)
    stopper.start()
    started = time.monotonic()
    try:
        batch = source.fetch(walk_cursor(100))
    finally:
        stopper.cancel()
    assert time.monotonic() - started < 5
    assert [int(i) for i in ids(batch)] == list(range(101, 141))  # the burst, read before the wait
    assert batch.exhausted and json.loads(batch.next_cursor)["streams"]["posts"]["since"] == 140
