"""`socialear collect --once --source NAME` for every platform source, in-process through the
real typer app, with fake credentials in the environment and HTTP served from the recorded
payloads in tests/fixtures/<platform>/ (responses for tweepy/praw, respx for httpx, a
stand-in for google-play-scraper's `reviews`). The clients are the ones the sources build
themselves from the environment: nothing is injected. Runs on SQLite and, when configured,
PostgreSQL (the `db_url` fixture); the CLI migrates the empty database itself."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import responses
import respx
import sqlalchemy as sa
from typer.testing import CliRunner

from console.cli import app
from socialear.errors import ConfigError
from storage import models as t
from storage.engine import make_engine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CREDENTIALS = (
    "X_BEARER_TOKEN", "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT", "TRUSTPILOT_API_KEY",
    "FACEBOOK_PAGE_ACCESS_TOKEN", "FACEBOOK_APP_SECRET", "YOUTUBE_API_KEY", "DISCOURSE_API_KEY", "DISCOURSE_API_USERNAME",
)
REDDIT_ENV = {
    "REDDIT_CLIENT_ID": "fake-client-id",
    "REDDIT_CLIENT_SECRET": "fake-client-secret",
    "REDDIT_USER_AGENT": "linux:socialear-tests:0.1 (by /u/socialear_test)",
}

RULES = """
brands:
  - name: Nimbus
    handles: {{x: NimbusHelp, reddit: NimbusHelp}}
    query: '{query}'
sources:
  - name: {name}
    type: {type}
    schedule: {{every: 2m}}
    options: {options}
categories:
  - name: outage
    severity: 5
    phrases: [outage, no service, down, crashes, without broadband]
queues: [care]
routes:  # independent of sentiment scoring: every own-brand mention is escalated
  - name: care
    when: {{brand: own}}
    escalate: {{queue: care, priority: normal}}
sinks:
  - name: local
    type: jsonl
    options: {{path: "{sink}"}}
"""


def fixture_json(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))


def fixture_text(platform: str, name: str) -> str:
    return (FIXTURES / platform / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the platforms


@contextlib.contextmanager
def serve_x(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with responses.RequestsMock() as mock:
        url = "https://api.twitter.com/2/tweets/search/recent"
        mock.get(url, json=fixture_json("x", "search_page1"))  # has a next_token
        mock.get(url, json=fixture_json("x", "search_page2"))
        yield
        assert len(mock.calls) == 2
        assert mock.calls[0].request.headers["Authorization"] == "Bearer fake-x-token"
        assert "next_token=" in (mock.calls[1].request.url or "")


@contextlib.contextmanager
def serve_reddit(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with responses.RequestsMock() as mock:
        mock.post("https://www.reddit.com/api/v1/access_token", json=fixture_json("reddit", "access_token"))
        mock.get("https://oauth.reddit.com/r/all/search/", json=fixture_json("reddit", "search_page1"))
        mock.get("https://oauth.reddit.com/r/all/comments/", json=fixture_json("reddit", "comments_page1"))
        yield
        token = mock.calls[0].request
        assert token.headers["User-Agent"].startswith(REDDIT_ENV["REDDIT_USER_AGENT"])


@contextlib.contextmanager
def serve_appstore(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    pages = {1: "reviews_page1", 2: "reviews_page2"}
    with respx.mock(assert_all_called=True) as mock:

        def feed(request: httpx.Request) -> httpx.Response:
            page = int(re.search(r"/page=(\d+)/", str(request.url)).group(1))  # type: ignore[union-attr]
            return httpx.Response(200, json=fixture_json("appstore", pages.get(page, "reviews_past_end")))

        mock.get(url__regex=r"^https://itunes\.apple\.com/us/rss/customerreviews/page=\d+/id=1234567890/").mock(
            side_effect=feed
        )
        yield


@contextlib.contextmanager
def serve_trustpilot(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(url__regex=r"^https://api\.trustpilot\.com/v1/business-units/4bdf2f6a00006400050c2d1e/reviews")
        route.side_effect = [
            httpx.Response(200, json=fixture_json("trustpilot", "reviews_page1")),
            httpx.Response(200, json=fixture_json("trustpilot", "reviews_page2")),
        ]
        yield
        assert all(call.request.headers["apikey"] == "fake-tp-key" for call in route.calls)
        assert all("fake-tp-key" not in str(call.request.url) for call in route.calls)


@contextlib.contextmanager
def serve_rss(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with respx.mock(assert_all_called=True) as mock:
        mock.get("https://community.example.org/latest.rss").mock(
            return_value=httpx.Response(
                200,
                content=fixture_text("rss", "feed_rss2.xml").encode(),
                headers={"content-type": "application/rss+xml", "etag": '"v1"'},
            )
        )
        yield


@contextlib.contextmanager
def serve_facebook(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    graph, page = "https://graph.facebook.com/v21.0", "104417785386524"
    usage = {"X-App-Usage": '{"call_count": 3, "total_cputime": 1, "total_time": 1}'}
    with respx.mock(assert_all_called=True) as mock:
        feed = mock.get(f"{graph}/{page}/feed").mock(
            return_value=httpx.Response(200, json=fixture_json("facebook", "feed_page1"), headers=usage)
        )
        mock.get(f"{graph}/{page}_122104219876543210/comments").mock(
            return_value=httpx.Response(200, json=fixture_json("facebook", "comments_own_post"), headers=usage)
        )
        mock.get(f"{graph}/{page}_122105111122223333/comments").mock(
            return_value=httpx.Response(200, json=fixture_json("facebook", "comments_visitor_post"), headers=usage)
        )
        mock.get(url__regex=rf"^{graph}/\?ids=").mock(side_effect=lambda request: httpx.Response(200, json={
            i: {"updated_time": "2024-11-13T16:59:00+0000", "id": i}
            for i in str(request.url.params["ids"]).split(",")
        }))
        mock.get(f"{graph}/{page}/tagged").mock(
            return_value=httpx.Response(200, json=fixture_json("facebook", "tagged"), headers=usage)
        )
        yield
        assert feed.calls[0].request.headers["Authorization"] == "Bearer fake-fb-token"


@contextlib.contextmanager
def serve_youtube(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    api = "https://www.googleapis.com/youtube/v3"
    with respx.mock(assert_all_called=True) as mock:
        threads = mock.get(f"{api}/commentThreads").mock(
            return_value=httpx.Response(200, json=fixture_json("youtube", "comment_threads_page1"))
        )
        mock.get(f"{api}/search").mock(return_value=httpx.Response(200, json=fixture_json("youtube", "search_videos")))
        yield
        assert threads.calls[0].request.headers["X-Goog-Api-Key"] == "fake-yt-key"


@contextlib.contextmanager
def serve_discourse(_monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with respx.mock(assert_all_called=True) as mock:
        mock.get("https://community.nimbus.example/posts.json").mock(
            return_value=httpx.Response(200, json=fixture_json("discourse", "posts_latest"))
        )
        yield


class _Token:
    def __init__(self, token: str | None):
        self.token = token


@contextlib.contextmanager
def serve_googleplay(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """google-play-scraper's `reviews`, serving the recorded pages by continuation token."""
    import google_play_scraper

    pages = fixture_json("googleplay", "reviews_pages")["pages"]
    calls: list[dict[str, Any]] = []

    def reviews(app_id: str, **kwargs: Any) -> tuple[list[dict[str, Any]], _Token]:
        calls.append({"app_id": app_id, **kwargs})
        token = kwargs.get("continuation_token")
        index = int(token.token) if token is not None else 0
        page = [{**r, "at": datetime.fromisoformat(r["at"])} for r in pages[index]]  # naive, as the library
        return page, _Token(str(index + 1) if index + 1 < len(pages) else None)

    monkeypatch.setattr(google_play_scraper, "reviews", reviews)
    yield
    assert calls and all(c["app_id"] == "com.nimbus.myaccount" for c in calls)


@dataclass
class Case:
    type: str
    name: str
    serve: Callable[[pytest.MonkeyPatch], contextlib.AbstractContextManager[None]]
    query: str
    fetched: int
    stored: int
    escalated: int
    some_stored: dict[str, str]  # external_id -> a piece of its stored text
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    missing: str | None = None  # the env var named when it is absent
    unconfigured: dict[str, Any] | None = None  # options that make a keyless source "not configured"
    problem: str = ""  # what the "not configured" line names for a keyless source


CASES = [
    Case(
        "x", "x-nimbus", serve_x, '(nimbus OR "nimbus broadband" OR @NimbusHelp) -careers',
        fetched=5, stored=5, escalated=5,
        some_stored={"1856722871034769420": "outage in Leeds since 9am"},
        env={"X_BEARER_TOKEN": "fake-x-token"}, missing="X_BEARER_TOKEN",
    ),
    Case(
        "reddit", "reddit-nimbus", serve_reddit, '(nimbus OR "nimbus broadband") -careers',
        fetched=5, stored=5, escalated=5,
        some_stored={"t3_1gqb7xk": "Nimbus broadband down in Leeds?", "t1_lwx3k2a": "off for 3 hours in LS6"},
        options={"subreddits": ["all"]}, env=REDDIT_ENV, missing="REDDIT_CLIENT_ID",
    ),
    Case(
        "appstore", "appstore-nimbus", serve_appstore,
        "nimbus",  # reviews of the brand's own app need not name it: the source implies the brand
        fetched=62, stored=62, escalated=62,
        some_stored={"11800000000": "crashes every time I try to log in"},
        options={"app_id": "1234567890", "country": "us", "max_pages": 3},
        unconfigured={"country": "us"}, problem="app_id",
    ),
    Case(
        "googleplay", "googleplay-nimbus", serve_googleplay,
        "nimbus",
        fetched=7, stored=7, escalated=7,
        some_stored={"8f1c2d3e-0004-4a5b-9c8d-7e6f5a4b3c04": "Charged twice, no refund yet"},
        options={"app_id": "com.nimbus.myaccount"},
        unconfigured={"lang": "en"}, problem="app_id",
    ),
    Case(
        "trustpilot", "trustpilot-nimbus", serve_trustpilot,
        "nimbus",
        fetched=5, stored=5, escalated=5,
        some_stored={"6734c9e2f1a0b3c7d2e81f01": "keep cancelling the engineer visit"},
        options={"business_unit_id": "4bdf2f6a00006400050c2d1e", "per_page": 3, "max_pages": 2},
        env={"TRUSTPILOT_API_KEY": "fake-tp-key"}, missing="TRUSTPILOT_API_KEY",
    ),
    Case(
        "rss", "rss-community", serve_rss, '(nimbus OR "nimbus broadband") -careers',
        fetched=2, stored=2, escalated=2,
        some_stored={"community.example.org-topic-48213": "the Nimbus status page says nothing"},
        options={"url": "https://community.example.org/latest.rss"},
        unconfigured={"match_brands": True}, problem="url",
    ),
]


CASES += [
    Case(
        "facebook", "facebook-nimbus", serve_facebook, "nimbus",
        fetched=6, stored=6, escalated=6,  # the Page's own post and own reply are not mentions
        some_stored={"104417785386524_122105111122223333": "No broadband since 9am in Leeds"},
        options={"page_id": "104417785386524"},
        env={"FACEBOOK_PAGE_ACCESS_TOKEN": "fake-fb-token"}, missing="FACEBOOK_PAGE_ACCESS_TOKEN",
    ),
    Case(
        "youtube", "youtube-nimbus", serve_youtube, '(nimbus OR "nimbus broadband") -careers',
        fetched=6, stored=6, escalated=6,  # 4 channel comments + 2 videos naming the brand
        some_stored={"UgyUBI0HsgL9emxcZpR4AaABAg": "down in Leeds", "video:gQ_1zX-F_No": "dropped calls on Nimbus"},
        options={"channel_id": "UCnimbus0000000000000001"},
        env={"YOUTUBE_API_KEY": "fake-yt-key"}, missing="YOUTUBE_API_KEY",
    ),
    Case(
        "discourse", "discourse-community", serve_discourse, '(nimbus OR "nimbus broadband") -careers',
        fetched=2, stored=2, escalated=2,
        some_stored={"48213": "Nimbus broadband has been down in Leeds"},
        options={"base_url": "https://community.nimbus.example"},
        unconfigured={"posts": True}, problem="base_url",
    ),
]


def write_rules(tmp_path: Path, case: Case, options: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        RULES.format(
            query=case.query,
            name=case.name,
            type=case.type,
            options=json.dumps(case.options if options is None else options),
            sink=tmp_path / "escalations.jsonl",
        )
    )
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in CREDENTIALS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def collect(rules: Path, db_url: str, source: str) -> Any:
    args = ["collect", "--once", "--source", source, "--rules", str(rules), "--database-url", db_url]
    return CliRunner().invoke(app, args, catch_exceptions=False)


def stored(db_url: str, source: str) -> dict[str, Any]:
    engine = make_engine(db_url)
    try:
        mt = t.Mention.__table__
        with engine.connect() as conn:
            return {r.external_id: r for r in conn.execute(sa.select(mt).where(mt.c.source == source))}
    finally:
        engine.dispose()


def source_state(db_url: str, source: str) -> Any:
    engine = make_engine(db_url)
    try:
        st = t.SourceState.__table__
        with engine.connect() as conn:
            return conn.execute(sa.select(st).where(st.c.source == source)).one_or_none()
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", CASES, ids=[c.type for c in CASES])
def test_collect_once_against_recorded_payloads(case: Case, tmp_path: Path, db_url: str, clean_env) -> None:
    for var, value in case.env.items():
        clean_env.setenv(var, value)
    rules = write_rules(tmp_path, case)

    with case.serve(clean_env):
        result = collect(rules, db_url, case.name)

    assert result.exit_code == 0, result.output
    line = (
        f"{case.name}: fetched {case.fetched}, stored {case.stored}, "
        f"escalated {case.escalated}, quarantined 0"
    )
    assert result.stdout.strip() == line
    rows = stored(db_url, case.name)
    assert len(rows) == case.stored
    assert all(r.platform == case.type and r.text for r in rows.values())
    for external_id, text in case.some_stored.items():
        assert text in rows[external_id].text
    state = source_state(db_url, case.name)
    assert state is not None and state.cursor and state.healthy and state.last_success is not None
    assert state.fetched_total == case.fetched


@pytest.mark.parametrize("case", [c for c in CASES if c.missing], ids=[c.type for c in CASES if c.missing])
def test_missing_credentials_are_reported_not_configured(
    case: Case, tmp_path: Path, db_url: str, clean_env
) -> None:
    for var, value in case.env.items():
        if var != case.missing:
            clean_env.setenv(var, value)
    rules = write_rules(tmp_path, case)

    with responses.RequestsMock(), respx.mock(assert_all_mocked=True):  # any request would fail the test
        result = collect(rules, db_url, case.name)

    assert result.exit_code == 1
    assert result.stdout == ""
    message = " ".join(result.stderr.split())
    assert message == f"{case.name}: not configured: {case.type} source '{case.name}': {case.missing} is not set"
    assert stored(db_url, case.name) == {}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.unconfigured is not None], ids=[c.type for c in CASES if c.unconfigured is not None]
)
def test_keyless_sources_with_incomplete_options_are_refused_at_load(
    case: Case, tmp_path: Path, db_url: str, clean_env
) -> None:
    """Keyless sources have no credentials to miss (the success test runs them with none
    set); what they can miss is their target, which the rules refuse with file:line."""
    rules = write_rules(tmp_path, case, options=case.unconfigured)

    with responses.RequestsMock(), respx.mock(assert_all_mocked=True):
        result = CliRunner().invoke(app, ["collect", "--once", "--source", case.name, "--rules", str(rules),
                                          "--database-url", db_url])

    if case.type == "googleplay":  # validated when the source is built, not by the rules schema
        assert result.exit_code == 1
        message = " ".join(result.stderr.split())
        assert message.startswith(f"{case.name}: not configured: {case.type} source '{case.name}': invalid options")
        assert case.problem in message
        return
    assert isinstance(result.exception, ConfigError), result.output
    [line] = result.exception.errors
    assert line.startswith(f"{rules}:10:") and case.problem in line


def test_reddit_user_agent_without_an_account_is_not_configured(tmp_path: Path, db_url: str, clean_env) -> None:
    case = next(c for c in CASES if c.type == "reddit")
    for var, value in {**REDDIT_ENV, "REDDIT_USER_AGENT": "python-requests"}.items():
        clean_env.setenv(var, value)
    result = collect(write_rules(tmp_path, case), db_url, case.name)
    assert result.exit_code == 1
    assert "REDDIT_USER_AGENT must describe the app and its Reddit account" in " ".join(result.stderr.split())


def test_unknown_source_name_is_one_line(tmp_path: Path, db_url: str, clean_env) -> None:
    case = CASES[0]
    rules = write_rules(tmp_path, case)
    result = CliRunner().invoke(app, ["collect", "--once", "--source", "nope", "--rules", str(rules),
                                      "--database-url", db_url])
    assert result.exit_code != 0
    assert "no source named 'nope'" in str(result.exception) + result.output


def test_private_discourse_without_its_key_is_not_configured(tmp_path: Path, db_url: str, clean_env) -> None:
    case = next(c for c in CASES if c.type == "discourse")
    rules = write_rules(tmp_path, case, options={**case.options, "api_key": True})
    with respx.mock(assert_all_mocked=True):
        result = collect(rules, db_url, case.name)
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert message == f"{case.name}: not configured: discourse source '{case.name}': DISCOURSE_API_KEY is not set"
