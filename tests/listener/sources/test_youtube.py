"""YouTubeSource against Data API v3 payloads (shapes from the python-youtube SDK's captured
responses), served by respx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import respx
from source_helpers import NIMBUS, fixture_json

from listener.sources.youtube import YouTubeSource, next_pacific_midnight
from socialear.errors import BadCredentials, NotConfigured, PermanentError, RateLimited

CHANNEL = "UCnimbus0000000000000001"
THREADS = "https://www.googleapis.com/youtube/v3/commentThreads"
SEARCH = "https://www.googleapis.com/youtube/v3/search"
ENV = {"YOUTUBE_API_KEY": "yt-secret"}
NOW = datetime(2024, 11, 13, 15, 0, tzinfo=UTC)  # 07:00 in Los Angeles (PST, UTC-8)


def make_source(retry, now=NOW, **options) -> YouTubeSource:
    source = YouTubeSource.from_options("youtube-nimbus", {"channel_id": CHANNEL, **options}, env=ENV, brands=[NIMBUS])
    source.retry = retry
    source.clock = lambda: now
    return source


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, json=fixture_json("youtube", name))


def ids(batch):
    return [m.external_id for m in batch.mentions]


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(str(call.request.url)).query)


@respx.mock
def test_channel_comments_and_replies(fast_retry):
    route = respx.get(THREADS).mock(return_value=ok("comment_threads_page1"))
    batch = make_source(fast_retry, search=False).fetch(None)
    assert ids(batch) == [
        "UgyUBI0HsgL9emxcZpR4AaABAg",
        "UgyUBI0HsgL9emxcZpR4AaABAg.9xYz1kQ2rL_9xYz5mN0pQa",
        "Ugzi3lkqDPfIOirGFLh4AaABAg",
        "UgwSRpgkjCe6OHHe3IJ4AaABAg",
    ]
    top, reply = batch.mentions[:2]
    assert top.text.startswith("Your broadband has been down in Leeds")
    assert top.author.handle == "leedslad" and top.author.external_id == "UCTWlvHQQXUs-4IVfdnGOUbw"
    assert top.url == "https://www.youtube.com/watch?v=Xq3dN8kT2mA&lc=UgyUBI0HsgL9emxcZpR4AaABAg"
    assert top.in_reply_to == "video:Xq3dN8kT2mA" and top.engagement == 3 + 1
    assert reply.in_reply_to == top.external_id and reply.conversation_id == top.external_id
    assert reply.text == "Sorry Sam, we're on it. Can you DM us your account number?"  # textOriginal, unescaped
    params = query(route.calls[0])
    assert params["allThreadsRelatedToChannelId"] == [CHANNEL] and params["order"] == ["time"]
    assert "key" not in params  # the key travels in a header
    assert route.calls[0].request.headers["X-Goog-Api-Key"] == "yt-secret"
    assert batch.rate_limit.remaining == 10_000 - 1 and batch.rate_limit.limit == 10_000
    assert batch.rate_limit.reset_at == datetime(2024, 11, 14, 8, 0, tzinfo=UTC)  # midnight PST
    assert json.loads(batch.next_cursor)["quota"] == {"day": "2024-11-13", "search": 0, "used": 1}


@respx.mock
def test_pages_with_page_token_then_nothing_twice(fast_retry):
    route = respx.get(THREADS).mock(side_effect=[ok("comment_threads_paged_1"), ok("comment_threads_paged_2")])
    first = make_source(fast_retry, search=False).fetch(None)
    assert len(first.mentions) == 4
    assert query(route.calls[1])["pageToken"] == [fixture_json("youtube", "comment_threads_paged_1")["nextPageToken"]]
    respx.get(THREADS).mock(return_value=ok("comment_threads_page1"))
    again = make_source(fast_retry, search=False).fetch(first.next_cursor)
    assert again.mentions == []


@respx.mock
def test_page_cap_resumes_from_the_page_token(fast_retry):
    respx.get(THREADS).mock(return_value=ok("comment_threads_empty"))
    start = make_source(fast_retry, search=False).fetch(None)  # an empty channel: no watermark yet
    older = fixture_json("youtube", "comment_threads_page1")
    older["items"] = [older["items"][2]]
    seed = make_source(fast_retry, search=False)
    respx.get(THREADS).mock(return_value=httpx.Response(200, json=older))
    base = seed.fetch(start.next_cursor)  # watermark at the oldest thread
    assert ids(base) == ["UgwSRpgkjCe6OHHe3IJ4AaABAg"]
    respx.get(THREADS).mock(side_effect=[ok("comment_threads_paged_1"), ok("comment_threads_paged_2")])
    capped = make_source(fast_retry, search=False, max_pages=1, max_delay=0).fetch(base.next_cursor)
    assert not capped.exhausted and capped.stats["gap/page_limit"] == 1
    assert json.loads(capped.next_cursor)["streams"]["comments"]["resume"]["page_token"]
    rest = make_source(fast_retry, search=False, max_pages=1, max_delay=0).fetch(capped.next_cursor)
    assert rest.exhausted and rest.mentions == []  # page 2 holds only the thread read before
    every = ids(base) + ids(capped) + ids(rest)
    assert len(every) == len(set(every)) == 4


@respx.mock
def test_search_finds_brand_videos_within_the_search_budget(fast_retry):
    respx.get(THREADS).mock(return_value=ok("comment_threads_empty"))
    search = respx.get(SEARCH).mock(return_value=ok("search_videos"))
    batch = make_source(fast_retry, search_units_per_day=100).fetch(None)
    # the cloud timelapse says "nimbus" only with "careers": the brand query excludes it
    assert ids(batch) == ["video:gQ_1zX-F_No", "video:i2hewkFijuY"]
    video = batch.mentions[0]
    assert video.title == "I SWITCHED FROM NIMBUS & HERE'S WHY"
    assert video.url == "https://www.youtube.com/watch?v=gQ_1zX-F_No"
    params = query(search.calls[0])
    assert params["type"] == ["video"] and params["order"] == ["date"]
    assert params["q"] == ['nimbus|"nimbus broadband"']
    quota = json.loads(batch.next_cursor)["quota"]
    assert quota == {"day": "2024-11-13", "search": 100, "used": 101, "last_search": NOW.timestamp()}
    # The search budget (100 units: one search) is spent: the next poll does not search.
    again = make_source(fast_retry, search_units_per_day=100).fetch(batch.next_cursor)
    assert search.call_count == 1 and again.stats["quota/search_skipped"] == 1
    # Next Pacific day: the count starts over, and publishedAfter is the newest video read.
    tomorrow = datetime(2024, 11, 14, 8, 0, 1, tzinfo=UTC)
    make_source(fast_retry, now=tomorrow, search_units_per_day=100).fetch(again.next_cursor)
    assert search.call_count == 2
    assert query(search.calls[1])["publishedAfter"] == ["2024-11-13T12:00:11Z"]  # the second after


@respx.mock
def test_daily_budget_spent_is_rate_limited_until_midnight_pacific(fast_retry):
    route = respx.get(THREADS).mock(return_value=ok("comment_threads_empty"))
    first = make_source(fast_retry, search=False, max_units_per_day=1).fetch(None)
    assert first.rate_limit.remaining == 0
    with pytest.raises(RateLimited, match="resets at midnight Pacific") as info:
        make_source(fast_retry, search=False, max_units_per_day=1).fetch(first.next_cursor)
    assert route.call_count == 1  # nothing sent once the budget is spent
    assert info.value.retry_after == (next_pacific_midnight(NOW) - NOW).total_seconds() == 17 * 3600


@respx.mock
@pytest.mark.parametrize("fixture", ["error_403_quota_exceeded", "error_403_rate_limit_exceeded"])
def test_quota_errors_wait_for_midnight_pacific(fast_retry, sleeps, fixture):
    route = respx.get(THREADS).mock(return_value=httpx.Response(403, json=fixture_json("youtube", fixture)))
    summer = datetime(2024, 7, 1, 20, 0, tzinfo=UTC)  # 13:00 PDT (UTC-7)
    with pytest.raises(RateLimited) as info:
        make_source(fast_retry, now=summer, search=False).fetch(None)
    assert info.value.retry_after == 11 * 3600  # to 00:00 PDT = 07:00 UTC
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_invalid_key_is_bad_credentials(fast_retry, sleeps):
    respx.get(THREADS).mock(return_value=httpx.Response(400, json=fixture_json("youtube", "error_400_key_invalid")))
    with pytest.raises(BadCredentials, match=r"YOUTUBE_API_KEY was rejected \(400 API_KEY_INVALID"):
        make_source(fast_retry, search=False).fetch(None)
    assert sleeps == []


@respx.mock
def test_unknown_channel_is_permanent(fast_retry):
    respx.get(THREADS).mock(
        return_value=httpx.Response(404, json=fixture_json("youtube", "error_404_channel_not_found"))
    )
    with pytest.raises(PermanentError, match="cannot be found"):
        make_source(fast_retry, search=False).fetch(None)


def test_comments_need_a_channel():
    with pytest.raises(NotConfigured, match="set channel_id"):
        YouTubeSource.from_options("y", {}, env=ENV, brands=[NIMBUS])


def test_missing_key_names_the_variable():
    with pytest.raises(NotConfigured, match="youtube source 'y': YOUTUBE_API_KEY is not set"):
        YouTubeSource.from_options("y", {"channel_id": CHANNEL}, env={}, brands=[NIMBUS])


@respx.mock
def test_searches_are_spread_over_the_day(fast_retry):
    respx.get(THREADS).mock(return_value=ok("comment_threads_empty"))
    search = respx.get(SEARCH).mock(return_value=ok("search_videos"))
    first = make_source(fast_retry, search_units_per_day=400).fetch(None)  # four searches: one per 6 h
    hour_later = make_source(fast_retry, now=NOW + timedelta(hours=1), search_units_per_day=400).fetch(first.next_cursor)
    assert search.call_count == 1 and hour_later.stats["quota/search_not_due"] == 1
    make_source(fast_retry, now=NOW + timedelta(hours=6), search_units_per_day=400).fetch(hour_later.next_cursor)
    assert search.call_count == 2


class ThreadServer:
    """commentThreads newest first with offset page tokens and an ETag per answer, 304 on a
    matching If-None-Match, like the Data API; counts the threads it returns."""

    def __init__(self, threads):
        self.threads = list(threads)
        self.returned: list[str] = []
        self.sizes: list[int] = []
        self.not_modified = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        q = {k: v[0] for k, v in parse_qs(urlparse(str(request.url)).query).items()}
        start, size = int(q.get("pageToken", "0")), int(q["maxResults"])
        page = self.threads[start:start + size]
        etag = '"' + "-".join(t["id"] for t in page) + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return httpx.Response(304, headers={"ETag": etag})
        self.sizes.append(size)
        self.returned += [t["id"] for t in page]
        body = {"kind": "youtube#commentThreadListResponse", "etag": etag, "items": page}
        if start + size < len(self.threads):
            body["nextPageToken"] = str(start + size)
        return httpx.Response(200, json=body, headers={"ETag": etag})


@respx.mock
def test_a_caught_up_poll_reads_only_new_threads_plus_the_one_it_stops_at(fast_retry):
    """The high-water mark: a poll with nothing new is a conditional request answered 304
    (no thread read); a poll with new threads reads them and stops at the first thread
    already read, however many older threads the channel has."""
    threads = fixture_json("youtube", "comment_threads_page1")["items"]  # three, newest first
    older = [{**threads[2], "id": f"UgOld{n:020d}"} for n in range(40)]
    for n, thread in enumerate(older):  # forty older threads, a minute apart
        top = thread["snippet"]["topLevelComment"]
        stamp = (datetime(2024, 11, 1, tzinfo=UTC) - timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        thread["snippet"] = {**thread["snippet"], "topLevelComment": {
            **top, "id": thread["id"], "snippet": {**top["snippet"], "publishedAt": stamp}}}
    server = ThreadServer(older)
    respx.get(THREADS).mock(side_effect=server)
    first = make_source(fast_retry, search=False, max_delay=0).fetch(None)
    assert len(first.mentions) == 40
    server.returned.clear()
    learn = make_source(fast_retry, search=False, max_delay=0).fetch(first.next_cursor)  # the newest thread, for its ETag
    assert learn.mentions == [] and server.returned == [older[0]["id"]] and server.sizes[-1] == 1
    server.returned.clear()
    idle = make_source(fast_retry, search=False, max_delay=0).fetch(learn.next_cursor)
    assert idle.mentions == [] and server.not_modified == 1 and server.returned == []
    assert idle.stats["not_modified"] == 1 and idle.rate_limit.remaining == 10_000 - 3  # still a unit
    server.threads = [threads[1], threads[2], *older]  # two new threads on top
    busy = make_source(fast_retry, search=False, max_delay=0).fetch(idle.next_cursor)
    assert [m.external_id for m in busy.mentions if "." not in m.external_id] == [threads[1]["id"], threads[2]["id"]]
    assert server.returned == [threads[1]["id"], threads[2]["id"], older[0]["id"]]  # new ones + one overlap
    assert server.sizes[-3:] == [1, 1, 1]
    server.returned.clear()
    again = make_source(fast_retry, search=False, max_delay=0).fetch(busy.next_cursor)
    assert again.mentions == [] and server.returned == [] and server.not_modified == 2


def threads_a_minute_apart(n: int, newest: datetime, prefix: str) -> list[dict]:
    base = fixture_json("youtube", "comment_threads_page1")["items"][2]
    out = []
    for k in range(n):
        top = base["snippet"]["topLevelComment"]
        stamp = (newest - timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append({**base, "id": f"{prefix}{k:020d}", "snippet": {**base["snippet"], "topLevelComment": {
            **top, "id": f"{prefix}{k:020d}", "snippet": {**top["snippet"], "publishedAt": stamp}}}})
    return out


@respx.mock
def test_the_channel_is_read_when_about_comments_per_read_threads_are_expected(fast_retry):
    """A read that finds n new threads returns n + 1 (the one it stops at), so a caught-up
    channel is read when its learnt rate expects `comments_per_read` new threads, or after
    `max_delay`; in between a poll sends nothing."""
    old = threads_a_minute_apart(5, NOW, "UgOld")
    server = ThreadServer(old)
    respx.get(THREADS).mock(side_effect=server)
    first = make_source(fast_retry, search=False).fetch(None)
    assert len(first.mentions) == 5
    # 20 new threads, one a minute, over the next 20 minutes
    server.threads = threads_a_minute_apart(20, NOW + timedelta(minutes=20), "UgNew") + old
    early = make_source(fast_retry, now=NOW + timedelta(minutes=20), search=False).fetch(first.next_cursor)
    assert early.mentions == [] and early.stats["comments/not_due"] == 1  # no rate learnt yet: max_delay
    later = NOW + timedelta(minutes=30)
    read = make_source(fast_retry, now=later, search=False, max_pages=50).fetch(early.next_cursor)
    assert len(read.mentions) == 20 and len(server.returned) == 5 + 20 + 1  # the new ones and one more
    entry = json.loads(read.next_cursor)["streams"]["comments"]
    assert entry["rate"] == pytest.approx(20 / 1800) and entry["read_at"] == later.timestamp()
    # at 20 threads in 30 minutes, 10 are expected after 15 minutes
    calls = len(server.returned)
    quiet = make_source(fast_retry, now=later + timedelta(minutes=10), search=False).fetch(read.next_cursor)
    assert quiet.stats["comments/not_due"] == 1 and len(server.returned) == calls
    due = make_source(fast_retry, now=later + timedelta(minutes=15), search=False).fetch(read.next_cursor)
    assert "comments/not_due" not in due.stats and server.not_modified == 1  # nothing new after all


@respx.mock
def test_pages_are_sized_to_the_threads_expected_above_the_watermark(fast_retry):
    """Forty new threads a minute apart, in a steady stream since the watermark: pages grow
    with the density the read sees and shrink as it nears the watermark, so the read
    returns the forty and only the one thread it stops at (the page that reaches it ends
    there). (A quiet stretch just above the watermark can make the last page return a
    few more: the sizing assumes the threads spread evenly.)"""
    old = threads_a_minute_apart(3, NOW - timedelta(minutes=81), "UgOld")
    server = ThreadServer(old)
    respx.get(THREADS).mock(side_effect=server)
    first = make_source(fast_retry, now=NOW - timedelta(minutes=81), search=False).fetch(None)
    server.threads = threads_a_minute_apart(40, NOW - timedelta(minutes=41), "UgMid") + old
    learnt = make_source(fast_retry, now=NOW - timedelta(minutes=40), search=False, max_pages=50).fetch(
        first.next_cursor)
    assert json.loads(learnt.next_cursor)["streams"]["comments"]["rate"] == pytest.approx(40 / (41 * 60))
    server.returned.clear()
    server.sizes.clear()
    server.threads = threads_a_minute_apart(40, NOW, "UgNew") + server.threads
    batch = make_source(fast_retry, search=False, max_delay=0, max_pages=50).fetch(learnt.next_cursor)
    assert len(batch.mentions) == 40
    assert server.returned == [t["id"] for t in server.threads[:41]]  # the forty, then one already read
    assert max(server.sizes) > 5 and len(server.sizes) < 20, server.sizes  # not a thread a page throughout
