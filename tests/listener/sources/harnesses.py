"""One harness per registered platform source, so the contract tests can drive them all.

A harness builds its source with an injected client and serves a named scenario from
recorded payloads (tests/fixtures/<platform>/): success, empty, rate_limited,
server_error, timeout, bad_credentials, malformed_item, malformed_body. A new source in
the registry fails `test_every_source_has_a_harness` until it gets one here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import requests
import responses
import respx
import tweepy
from source_helpers import NIMBUS, fixture_json, fixture_text

from listener.sources._common import RetryPolicy

SCENARIOS = (
    "success",
    "empty",
    "rate_limited",
    "server_error",
    "timeout",
    "bad_credentials",
    "malformed_item",
    "malformed_body",
)


class Harness:
    type: str
    name: str
    options: dict[str, Any] = {}
    env: dict[str, str] = {}

    def build(self, retry: RetryPolicy) -> Any:
        from listener.sources import build_source

        source = build_source(
            self.name,
            self.type,
            self.options,
            env=self.env,
            client=self.client(),
            brands=[NIMBUS],
        )
        source.retry = retry
        return source

    def client(self) -> Any:
        return None

    @contextlib.contextmanager
    def serve(self, scenario: str) -> Iterator[Callable[[], int]]:
        raise NotImplementedError


# ------------------------------------------------------------------------------ X


class XHarness(Harness):
    type = "x"
    name = "x-nimbus"
    env = {"X_BEARER_TOKEN": "test-token"}
    URL = "https://api.twitter.com/2/tweets/search/recent"

    def client(self) -> Any:
        return tweepy.Client(bearer_token="test-token", return_type=requests.Response)

    @contextlib.contextmanager
    def serve(self, scenario: str) -> Iterator[Callable[[], int]]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            get = self.URL
            if scenario == "success":
                mock.get(get, json=fixture_json("x", "search_newer"))
            elif scenario == "empty":
                mock.get(get, json=fixture_json("x", "search_empty"))
            elif scenario == "rate_limited":
                reset = str(int(datetime.now(UTC).timestamp()) + 900)
                mock.get(
                    get,
                    json=fixture_json("x", "error_429"),
                    status=429,
                    headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
                )
            elif scenario == "server_error":
                mock.get(get, json=fixture_json("x", "error_503"), status=503)
            elif scenario == "timeout":
                mock.get(get, body=requests.exceptions.ReadTimeout("read timed out"))
            elif scenario == "bad_credentials":
                mock.get(get, json=fixture_json("x", "error_401"), status=401)
            elif scenario == "malformed_item":
                mock.get(get, json=fixture_json("x", "search_malformed_item"))
            elif scenario == "malformed_body":
                mock.get(get, body=fixture_text("x", "search_truncated.json.txt"))
            yield lambda: len(mock.calls)


# ------------------------------------------------------------------------------ Reddit


class RedditHarness(Harness):
    type = "reddit"
    name = "reddit-nimbus"
    options = {"subreddits": ["all"], "comments": False}
    env = {
        "REDDIT_CLIENT_ID": "client-id",
        "REDDIT_CLIENT_SECRET": "client-secret",
        "REDDIT_USER_AGENT": "linux:socialear-tests:0.1 (by /u/socialear_test)",
    }
    TOKEN = "https://www.reddit.com/api/v1/access_token"
    SEARCH = "https://oauth.reddit.com/r/all/search/"

    @contextlib.contextmanager
    def serve(self, scenario: str) -> Iterator[Callable[[], int]]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            if scenario == "bad_credentials":
                mock.post(self.TOKEN, json=fixture_json("reddit", "error_401"), status=401)
            else:
                mock.post(self.TOKEN, json=fixture_json("reddit", "access_token"))
            get = self.SEARCH
            if scenario == "success":
                mock.get(get, json=fixture_json("reddit", "search_page1"))
            elif scenario == "empty":
                mock.get(get, json=fixture_json("reddit", "empty"))
            elif scenario == "rate_limited":
                # Real Reddit 429s: an HTML page and only a retry-after header.
                mock.get(
                    get,
                    body=fixture_text("reddit", "error_429.html"),
                    status=429,
                    content_type="text/html; charset=UTF-8",
                    headers={"retry-after": "3"},
                )
            elif scenario == "server_error":
                # Real 5xx bodies are empty or {"message", "error"}.
                mock.get(get, json=fixture_json("reddit", "error_500"), status=500)
            elif scenario == "timeout":
                mock.get(get, body=requests.exceptions.ReadTimeout("read timed out"))
            elif scenario == "malformed_item":
                mock.get(get, json=fixture_json("reddit", "search_malformed_item"))
            elif scenario == "malformed_body":
                mock.get(get, body='{"kind": "Listing", "data": {"children": [', status=200)
            yield lambda: sum(1 for c in mock.calls if "oauth.reddit.com" in c.request.url)

    def build(self, retry: RetryPolicy) -> Any:
        # Build inside serve(): praw fetches its token lazily, on the first request.
        return super().build(retry)


# ------------------------------------------------------------------------------ httpx


class HttpxHarness(Harness):
    """Sources on httpx: one URL pattern, scenarios as responses."""

    platform: str
    url: str
    ok: str
    empty: str
    malformed_item: str
    truncated: str
    json_body = True
    unauthorized_status = 401

    def body(self, name: str) -> httpx.Response:
        if self.json_body:
            return httpx.Response(200, json=fixture_json(self.platform, name))
        return httpx.Response(
            200,
            content=fixture_text(self.platform, name).encode(),
            headers={"content-type": "application/rss+xml"},
        )

    def rate_limited(self) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "90"})

    def server_error(self) -> httpx.Response:
        return httpx.Response(503, text="Service Unavailable")

    def unauthorized(self) -> httpx.Response:
        return httpx.Response(self.unauthorized_status, json={"message": "Unauthorized"})

    def route(self, mock: Any, scenario: str, route: Any) -> Any:
        """The route whose calls are counted (a source may call other URLs too)."""
        return route

    @contextlib.contextmanager
    def serve(self, scenario: str) -> Iterator[Callable[[], int]]:
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(url__regex=self.url)
            effects: dict[str, Any] = {
                "success": lambda: self.body(self.ok),
                "empty": lambda: self.body(self.empty),
                "rate_limited": self.rate_limited,
                "server_error": self.server_error,
                "timeout": lambda: httpx.ReadTimeout("timed out"),
                "bad_credentials": self.unauthorized,
                "malformed_item": lambda: self.body(self.malformed_item),
                "malformed_body": lambda: httpx.Response(200, text=fixture_text(self.platform, self.truncated)),
            }
            make = effects[scenario]
            route = self.route(mock, scenario, route)

            def respond(request: httpx.Request) -> httpx.Response:
                result = make()
                if isinstance(result, Exception):
                    raise result
                return result

            route.mock(side_effect=respond)
            yield lambda: route.call_count


class AppStoreHarness(HttpxHarness):
    type = "appstore"
    platform = "appstore"
    name = "appstore-nimbus"
    options = {"app_id": "1234567890", "max_pages": 1}
    url = r"^https://itunes\.apple\.com/us/rss/customerreviews/"
    ok = "reviews_single"
    empty = "reviews_past_end"
    malformed_item = "reviews_malformed_item"
    truncated = "reviews_truncated.json.txt"
    unauthorized_status = 403  # keyless feed: Apple refusing this host


class TrustpilotHarness(HttpxHarness):
    type = "trustpilot"
    platform = "trustpilot"
    name = "trustpilot-nimbus"
    options = {"business_unit_id": "4bdf2f6a00006400050c2d1e", "per_page": 3, "max_pages": 1}
    env = {"TRUSTPILOT_API_KEY": "tp-key"}
    url = r"^https://api\.trustpilot\.com/v1/business-units/4bdf2f6a00006400050c2d1e/reviews"
    ok = "reviews_page2"
    empty = "reviews_empty"
    malformed_item = "reviews_malformed_item"
    truncated = "reviews_truncated.json.txt"


class RssHarness(HttpxHarness):
    type = "rss"
    platform = "rss"
    name = "rss-community"
    options = {"url": "https://community.example.org/latest.rss"}
    url = r"^https://community\.example\.org/latest\.rss$"
    ok = "feed_rss2.xml"
    empty = "feed_empty.xml"
    malformed_item = "feed_malformed_item.xml"
    truncated = "feed_truncated.xml"
    json_body = False


class DiscourseHarness(HttpxHarness):
    type = "discourse"
    platform = "discourse"
    name = "discourse-community"
    options = {"base_url": "https://community.nimbus.example"}
    url = r"^https://community\.nimbus\.example/posts\.json"
    ok = "posts_latest"
    empty = "posts_empty"
    malformed_item = "posts_malformed_item"
    truncated = "posts_truncated.json.txt"
    unauthorized_status = 403

    def rate_limited(self) -> httpx.Response:
        # Discourse's 429: Retry-After plus {"error_type": "rate_limit", "extras": {"wait_seconds"}}.
        return httpx.Response(429, headers={"Retry-After": "10"}, json=fixture_json("discourse", "error_429"))

    def server_error(self) -> httpx.Response:
        return httpx.Response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>")

    def unauthorized(self) -> httpx.Response:
        return httpx.Response(403, json=fixture_json("discourse", "error_403"))

    def route(self, mock: Any, scenario: str, route: Any) -> Any:
        # After the first page the source walks the ids above it (/posts/<id>.json); this
        # forum has nothing newer: Discourse's 404 for an id not written yet.
        mock.get(url__regex=r"^https://community\.nimbus\.example/posts/\d+\.json").mock(
            return_value=httpx.Response(404, json=fixture_json("discourse", "error_404")))
        return route


class YouTubeHarness(HttpxHarness):
    type = "youtube"
    platform = "youtube"
    name = "youtube-nimbus"
    options = {"channel_id": "UCnimbus0000000000000001", "search": False}
    env = {"YOUTUBE_API_KEY": "yt-key"}
    url = r"^https://www\.googleapis\.com/youtube/v3/commentThreads"
    ok = "comment_threads_page1"
    empty = "comment_threads_empty"
    malformed_item = "comment_threads_malformed_item"
    truncated = "comment_threads_truncated.json.txt"

    def rate_limited(self) -> httpx.Response:
        # The Data API throttles with 403 and reason quotaExceeded, no Retry-After.
        return httpx.Response(403, json=fixture_json("youtube", "error_403_quota_exceeded"))

    def server_error(self) -> httpx.Response:
        return httpx.Response(503, json=fixture_json("youtube", "error_503_backend"))

    def unauthorized(self) -> httpx.Response:
        return httpx.Response(403, json=fixture_json("youtube", "error_403_access_not_configured"))


class FacebookHarness(Harness):
    """The Page's feed, each post's comments and the Page's tagged posts, as the Graph API
    answers them; throttling is Graph's error code 4 with the X-App-Usage header, bad
    credentials its code 190 (an expired token, HTTP 400)."""

    type = "facebook"
    name = "facebook-nimbus"
    PAGE = "104417785386524"
    options = {"page_id": PAGE}
    env = {"FACEBOOK_PAGE_ACCESS_TOKEN": "EAAB-page-token"}
    GRAPH = "https://graph.facebook.com/v21.0"
    credential_codes = ("code 190",)

    @contextlib.contextmanager
    def serve(self, scenario: str) -> Iterator[Callable[[], int]]:
        def ok(name: str) -> httpx.Response:
            return httpx.Response(200, json=fixture_json("facebook", name), headers=self.usage(12))

        feed: dict[str, Callable[[], Any]] = {
            "success": lambda: ok("feed_page1"),
            "empty": lambda: ok("feed_empty"),
            "rate_limited": lambda: httpx.Response(
                403, json=fixture_json("facebook", "error_4_app_limit"), headers=self.usage(100)
            ),
            "server_error": lambda: httpx.Response(500, json=fixture_json("facebook", "error_1_unknown")),
            "timeout": lambda: httpx.ReadTimeout("timed out"),
            "bad_credentials": lambda: httpx.Response(
                400,
                json=fixture_json("facebook", "error_190_expired"),
                headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" "Error validating access token"'},
            ),
            "malformed_item": lambda: ok("feed_malformed_item"),
            "malformed_body": lambda: httpx.Response(200, text=fixture_text("facebook", "feed_truncated.json.txt")),
        }

        def respond(make: Callable[[], Any]) -> Callable[[httpx.Request], httpx.Response]:
            def side_effect(request: httpx.Request) -> httpx.Response:
                result = make()
                if isinstance(result, Exception):
                    raise result
                return result

            return side_effect

        success = scenario == "success"
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(f"{self.GRAPH}/{self.PAGE}/feed").mock(side_effect=respond(feed[scenario]))
            mock.get(f"{self.GRAPH}/{self.PAGE}_122104219876543210/comments").mock(
                side_effect=respond(lambda: ok("comments_own_post" if success else "comments_empty"))
            )
            mock.get(url__regex=rf"^{self.GRAPH}/{self.PAGE}_\d+/comments").mock(
                side_effect=respond(lambda: ok("comments_visitor_post" if success else "comments_empty"))
            )
            mock.get(url__regex=rf"^{self.GRAPH}/\?ids=").mock(side_effect=self.updated_times)
            mock.get(f"{self.GRAPH}/{self.PAGE}/tagged").mock(
                side_effect=respond(lambda: ok("tagged" if success else "tagged_empty"))
            )
            yield lambda: route.call_count

    @staticmethod
    def updated_times(request: httpx.Request) -> httpx.Response:
        """Graph's multiple-id read `GET /?ids=a,b&fields=updated_time`."""
        from urllib.parse import parse_qs, urlparse

        ids = parse_qs(urlparse(str(request.url)).query)["ids"][0].split(",")
        return httpx.Response(200, json={i: {"updated_time": "2024-11-13T16:59:00+0000", "id": i} for i in ids})

    @staticmethod
    def usage(percent: int) -> dict[str, str]:
        return {"X-App-Usage": json.dumps({"call_count": percent, "total_cputime": 1, "total_time": 1})}


# ------------------------------------------------------------------------------ Google Play


class FakeToken:
    def __init__(self, token: str | None):
        self.token = token


class FakeReviews:
    """Stands in for google_play_scraper.reviews: pages of recorded review dicts."""

    def __init__(self, pages: list[list[dict[str, Any]]] | None = None, error: Any = None):
        self.pages = pages or [[]]
        self.error = error
        self.calls: list[dict[str, Any]] = []

    @classmethod
    def from_fixture(cls, name: str) -> FakeReviews:
        return cls(pages=fixture_json("googleplay", name)["pages"])

    def __call__(self, app_id: str, **kwargs: Any) -> tuple[list[dict[str, Any]], FakeToken]:
        self.calls.append({"app_id": app_id, **kwargs})
        if self.error is not None:
            error = self.error() if callable(self.error) else self.error
            raise error
        token = kwargs.get("continuation_token")
        index = int(token.token) if token is not None else 0
        page = [self._restore(r) for r in self.pages[index]]
        nxt = str(index + 1) if index + 1 < len(self.pages) else None
        return page, FakeToken(nxt)

    @staticmethod
    def _restore(review: dict[str, Any]) -> dict[str, Any]:
        review = dict(review)
        if isinstance(review.get("at"), str):
            review["at"] = datetime.fromisoformat(review["at"])  # naive, as the library
        return review


class GooglePlayHarness(Harness):
    type = "googleplay"
    name = "googleplay-nimbus"
    options = {"app_id": "com.nimbus.myaccount", "timeout": 0.5}

    def __init__(self) -> None:
        self.fake = FakeReviews()

    def client(self) -> Any:
        return self.fake

    @contextlib.contextmanager
    def serve(self, scenario: str) -> Iterator[Callable[[], int]]:
        import threading

        from google_play_scraper.exceptions import ExtraHTTPError

        release = threading.Event()
        fake = {
            "success": lambda: FakeReviews.from_fixture("reviews_pages"),
            "empty": lambda: FakeReviews.from_fixture("reviews_empty"),
            "rate_limited": lambda: FakeReviews(error=ExtraHTTPError("App not found. Status code 429 returned.")),
            "server_error": lambda: FakeReviews(error=ExtraHTTPError("App not found. Status code 503 returned.")),
            "timeout": lambda: FakeReviews(error=lambda: (release.wait(5), TimeoutError())[1]),
            "bad_credentials": lambda: FakeReviews(error=ExtraHTTPError("App not found. Status code 403 returned.")),
            "malformed_item": lambda: FakeReviews.from_fixture("reviews_malformed_item"),
            "malformed_body": lambda: _BrokenResult(),
        }[scenario]()
        self.fake = fake
        try:
            yield lambda: len(self.fake.calls)
        finally:
            release.set()


class _BrokenResult(FakeReviews):
    """Returns something that is not a (list, token) pair."""

    def __call__(self, app_id: str, **kwargs: Any) -> Any:  # type: ignore[override]
        self.calls.append({"app_id": app_id, **kwargs})
        return "<html>unexpected</html>"


HARNESSES: dict[str, Callable[[], Harness]] = {
    "x": XHarness,
    "reddit": RedditHarness,
    "appstore": AppStoreHarness,
    "trustpilot": TrustpilotHarness,
    "rss": RssHarness,
    "googleplay": GooglePlayHarness,
    "discourse": DiscourseHarness,
    "youtube": YouTubeHarness,
    "facebook": FacebookHarness,
}
