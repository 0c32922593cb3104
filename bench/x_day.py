"""A simulated day of polling X: is every post read once, and is the rate limit respected?

    python bench/x_day.py [--hours 24] [--tweets 2000] [--poll-every 120] [--restarts 3]

A fake X recent-search API (a `responses` callback) serves a deterministic stream of
tweets published over the simulated day: a daytime-shaped trickle plus an outage burst
(hundreds of posts in a few minutes, so polls page through `next_token`), of which about
half mention the brand and are what the search returns. It honours `since_id`, `until_id`,
`next_token` and `max_results` (10..100) like the real endpoint, returns posts newest
first with `includes.users`, and sends `x-rate-limit-*` headers. Once during the day, a minute
into the burst, it answers 429 for ten minutes (until `x-rate-limit-reset`):
with `--limit-on poll` (default) whichever request comes first, with `--limit-on page` the
first request that continues a poll's pagination (so the poll keeps the page it read and
records the gap in its cursor).

The real XSource (its own tweepy client), Collector and pipeline run on a fresh SQLite
database; a simulated clock drives `storage.types.utcnow`, the collector and the source.
The collector polls every `--poll-every` simulated seconds and is restarted `--restarts`
times (a fresh Collector, source and tweepy client on the same database), one restart
falling inside the rate-limited window (three minutes after it may begin).

Prints one JSON object: simulated_hours, tweets_published, tweets_matching, posts_read
(tweets returned by the API over all calls), unique_stored, reads_per_unique (target
1.00: no post read twice), requests, requests_per_hour, rate_limited_windows,
requests_during_rate_limit (target 0: nothing sent between a 429 and its reset),
missing, duplicates (target 0 each: every matching post stored exactly once), plus
posts_read_twice, paged_requests (with next_token), gap_requests (with until_id), polls,
restarts, poll_errors, seconds (wall clock).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import responses  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import tweepy  # noqa: E402

SEARCH_URL = "https://api.twitter.com/2/tweets/search/recent"
DAY_START = datetime(2026, 3, 10, tzinfo=UTC)
TWEPOCH_MS = 1288834974657  # X's snowflake epoch
WINDOW_S = 15 * 60  # X's rate-limit window
REQUESTS_PER_WINDOW = 450  # app-auth limit of recent search
LIMITED_S = 10 * 60  # how long the one rate-limited window lasts (x-rate-limit-reset)
SOURCE = "x-nimbus"

RULES = """
brands:
  - name: Nimbus
    handles: {x: NimbusHelp}
    query: 'nimbus OR @NimbusHelp'
sources:
  - name: x-nimbus
    type: x
    schedule: {every: 2m}
    options: {page_size: 100, max_results_per_poll: 500}
categories:
  - name: outage
    severity: 5
    phrases: [outage, no signal, down, no service]
queues: [care]
routes:
  - name: complaint
    when: {brand: own, sentiment: negative}
    escalate: {queue: care, priority: normal}
sinks:
  - name: local
    type: jsonl
    options: {path: "{sink}"}
"""

MATCHING = [
    "@NimbusHelp no signal in {p} since this morning",
    "Nimbus broadband down again in {p}, third time this week",
    "on hold with Nimbus for 40 minutes now",
    "really impressed with Nimbus support today, sorted in 5 minutes",
    "is Nimbus down for anyone else in {p}?",
    "thanks @NimbusHelp, the engineer fixed it on time",
    "Nimbus charged me twice this month, still waiting for a refund",
    "switching to Nimbus next month, heard good things",
]
OTHER = [
    "lovely morning for a run in {p}",
    "anyone know a good curry place in {p}?",
    "the train to {p} is late again",
    "new phone who dis",
    "watching the match tonight",
]
PLACES = ["Leeds", "York", "Hull", "Bradford", "Sheffield", "Manchester", "Derby", "Bristol"]


def snowflake(at: datetime, seq: int) -> int:
    ms = int(at.timestamp() * 1000)
    return ((ms - TWEPOCH_MS) << 22) | (seq & 0x3FFFFF)


@dataclass(slots=True)
class Tweet:
    id: int
    at: datetime
    text: str
    author: int
    matching: bool

    def payload(self) -> dict[str, Any]:
        s = str(self.id)
        return {
            "id": s,
            "edit_history_tweet_ids": [s],
            "text": self.text,
            "author_id": str(self.author),
            "created_at": self.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conversation_id": s,
            "lang": "en",
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": self.id % 7, "quote_count": 0},
        }


def user(author: int) -> dict[str, Any]:
    return {
        "id": str(author),
        "name": f"User {author}",
        "username": f"user_{author}",
        "verified": author % 50 == 0,
        "public_metrics": {"followers_count": (author * 37) % 5000, "following_count": 10, "tweet_count": 100},
    }


def make_stream(tweets: int, hours: float, seed: int = 7) -> list[Tweet]:
    """`tweets` posts over `hours`: a daytime-shaped trickle plus an outage burst (15%, at
    least 300 posts but at most half) of four minutes, two thirds into the period, all
    about the brand; about 35% of the trickle mentions the brand."""
    rng = random.Random(seed)
    span = hours * 3600
    burst_at = span * 2 / 3
    times: list[float] = []
    burst = min(tweets // 2, max(300, int(tweets * 0.15)))
    for _ in range(tweets - burst):
        while True:  # more posts in the day than at night
            t = rng.uniform(0, span)
            hour = (t / 3600) % 24
            if rng.random() < (1.0 if 7 <= hour <= 23 else 0.3):
                break
        times.append(t)
    times += [burst_at + rng.uniform(0, 240) for _ in range(burst)]
    times.sort()
    out = []
    for seq, t in enumerate(times):
        at = DAY_START + timedelta(seconds=t)
        in_burst = burst_at <= t <= burst_at + 240
        matching = in_burst or rng.random() < 0.35
        template = rng.choice(MATCHING[:5] if in_burst else MATCHING) if matching else rng.choice(OTHER)
        text = f"{template.format(p=rng.choice(PLACES))} #{seq}"
        out.append(Tweet(snowflake(at, seq), at, text, 1000 + rng.randrange(400), matching))
    return out


class SimClock:
    def __init__(self, start: datetime):
        self.t = start

    def now(self) -> datetime:
        return self.t


@dataclass
class FakeSearch:
    """GET /2/tweets/search/recent over `stream`, as of the simulated clock."""

    stream: list[Tweet]
    clock: SimClock
    limited_from: datetime  # the first request at or after this time gets the 429 ...
    limit_on: str = "page"  # ... "page": the first one that continues a poll (next_token); "poll": any
    requests: int = 0
    posts_read: int = 0
    read_ids: list[int] = field(default_factory=list)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)  # (first 429, reset)
    during_limit: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    _used: dict[int, int] = field(default_factory=dict)  # window index -> requests

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        now = self.clock.now()
        self.requests += 1
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        self.calls.append({"at": now, **params})
        window = int(now.timestamp()) // WINDOW_S
        reset = (window + 1) * WINDOW_S
        for start, end in self.windows:
            if start <= now < end:
                self.during_limit += 1
        if not self.windows and now >= self.limited_from and (self.limit_on == "poll" or "next_token" in params):
            # The app's quota is spent (other clients share it): blocked for LIMITED_S.
            end = datetime.fromtimestamp(int(now.timestamp()) + LIMITED_S, UTC)
            self.windows.append((now, end))
        for start, end in self.windows:
            if start <= now < end:
                return self._error(429, "Too Many Requests", "Too Many Requests", int(end.timestamp()), 0)
        self._used[window] = self._used.get(window, 0) + 1
        remaining = max(REQUESTS_PER_WINDOW - self._used[window], 0)
        problem = self._validate(params)
        if problem:
            return self._error(400, "Invalid Request", problem, reset, remaining)
        body = self._search(params, now)
        return 200, self._headers(reset, remaining), json.dumps(body)

    @staticmethod
    def _validate(params: dict[str, str]) -> str | None:
        query = params.get("query", "")
        if "nimbus" not in query.lower() or "-is:retweet" not in query:
            return f"unexpected query {query!r}"
        try:
            size = int(params.get("max_results", "10"))
        except ValueError:
            return "max_results is not a number"
        if not 10 <= size <= 100:
            return f"The `max_results` query parameter value [{size}] is not between 10 and 100"
        for key in ("since_id", "until_id"):
            if key in params and not params[key].isdigit():
                return f"{key} is not an id"
        token = params.get("next_token")
        if token is not None and not (token.startswith("t") and token[1:].isdigit()):
            return "Invalid next_token"
        return None

    def _search(self, params: dict[str, str], now: datetime) -> dict[str, Any]:
        since = int(params.get("since_id", "0"))
        until = int(params["until_id"]) if "until_id" in params else None
        token = params.get("next_token")
        below = int(token[1:]) if token else None  # the page continues below this id
        size = int(params.get("max_results", "10"))
        hits = [
            tw
            for tw in reversed(self.stream)  # newest first
            if tw.matching
            and tw.at <= now
            and tw.id > since
            and (until is None or tw.id < until)
            and (below is None or tw.id < below)
        ]
        page, rest = hits[:size], hits[size:]
        self.posts_read += len(page)
        self.read_ids.extend(tw.id for tw in page)
        if not page:
            return {"meta": {"result_count": 0}}
        meta: dict[str, Any] = {
            "newest_id": str(page[0].id),
            "oldest_id": str(page[-1].id),
            "result_count": len(page),
        }
        if rest:
            meta["next_token"] = f"t{page[-1].id}"
        users = {tw.author: user(tw.author) for tw in page}
        return {"data": [tw.payload() for tw in page], "includes": {"users": list(users.values())}, "meta": meta}

    @staticmethod
    def _headers(reset: int, remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(REQUESTS_PER_WINDOW),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset),
        }

    def _error(self, status: int, title: str, detail: str, reset: int, remaining: int) -> tuple[int, dict, str]:
        body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
        return status, self._headers(reset, remaining), json.dumps(body)


@contextlib.contextmanager
def simulated_time(clock: SimClock) -> Iterator[None]:
    """Point every `utcnow` the collector, pipeline, storage and X source read at `clock`."""
    targets = [
        "storage.types.utcnow",
        "storage.sources.utcnow",
        "storage.repo.utcnow",
        "storage.audit.utcnow",  # audit rows (storage.audit is their one writer)
        "listener.collector.utcnow",
        "listener.pipeline.utcnow",
        "listener.sources._common.utcnow",  # the X source's clock (PlatformSource)
    ]
    with contextlib.ExitStack() as stack:
        for target in targets:
            stack.enter_context(mock.patch(target, clock.now))
        yield


def simulate(
    *,
    hours: float = 24.0,
    tweets: int = 2000,
    poll_every: float = 120.0,
    restarts: int = 3,
    database_url: str | None = None,
    seed: int = 7,
    limit_on: str = "poll",
) -> dict[str, Any]:
    """Run the simulated day; return the measurements (see the module docstring)."""
    from listener.collector import Collector
    from listener.sources._common import RetryPolicy
    from responders.publish import PipelineResponders
    from socialear.config import parse_rules_text
    from storage import models as t
    from storage.dialect import table
    from storage.engine import make_engine
    from storage.migrate import upgrade

    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if database_url is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            database_url = f"sqlite:///{tmp / 'x_day.db'}"
            sink = tmp / "escalations.jsonl"
        else:
            sink = Path(tempfile.gettempdir()) / "x_day_escalations.jsonl"
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        upgrade(engine)
        rules = parse_rules_text(RULES.replace("{sink}", str(sink)))

        span = hours * 3600
        stream = make_stream(tweets, hours, seed)
        clock = SimClock(DAY_START)
        burst_at = DAY_START + timedelta(seconds=span * 2 / 3)
        # The 429 comes a minute into the burst: mid-pagination or on a poll's first request.
        api = FakeSearch(stream, clock, limited_from=burst_at + timedelta(seconds=60), limit_on=limit_on)
        # Restarts spread over the day; the one nearest the burst moves into the 429 window.
        restart_at = [DAY_START + timedelta(seconds=span * (i + 1) / (restarts + 1)) for i in range(restarts)]
        if restart_at:
            nearest = min(range(len(restart_at)), key=lambda i: abs(restart_at[i] - burst_at))
            restart_at[nearest] = api.limited_from + timedelta(seconds=3 * 60)
            restart_at.sort()
        stack.enter_context(simulated_time(clock))
        rsps = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        rsps.add_callback(responses.GET, SEARCH_URL, callback=api, content_type="application/json")

        def fresh_collector(n: int) -> Collector:
            client = tweepy.Client(bearer_token="sim-token", return_type=requests.Response)
            collector = Collector(
                engine, lambda: rules, instance_id=f"sim-{n}", env={}, clients={SOURCE: client},
                responders=PipelineResponders(),
            )
            collector.source(SOURCE).retry = RetryPolicy(sleep=lambda _s: None)  # type: ignore[attr-defined]
            return collector

        generation = 0
        collector = fresh_collector(generation)
        polls = skipped = errors = 0
        steps = int(span // poll_every)
        for step in range(steps + 1):
            clock.t = DAY_START + timedelta(seconds=step * poll_every)
            while restart_at and clock.t >= restart_at[0]:
                restart_at.pop(0)
                generation += 1
                collector = fresh_collector(generation)
            outcome = collector.poll(SOURCE)
            polls += 1
            skipped += bool(outcome.skipped)
            errors += bool(outcome.error)

        mt = table(t.Mention)
        with engine.connect() as conn:
            stored_ids = [int(i) for i in conn.execute(sa.select(mt.c.external_id).where(mt.c.source == SOURCE)).scalars()]

    end = DAY_START + timedelta(seconds=steps * poll_every)
    expected = {tw.id for tw in stream if tw.matching and tw.at <= end}
    unique = len(set(stored_ids))
    sim_hours = steps * poll_every / 3600
    return {
        "simulated_hours": round(sim_hours, 2),
        "tweets_published": len(stream),
        "tweets_matching": len(expected),
        "posts_read": api.posts_read,
        "unique_stored": unique,
        "reads_per_unique": round(api.posts_read / unique, 4) if unique else None,
        "posts_read_twice": len(api.read_ids) - len(set(api.read_ids)),
        "requests": api.requests,
        "requests_per_hour": round(api.requests / sim_hours, 2) if sim_hours else None,
        "rate_limited_windows": len(api.windows),
        "requests_during_rate_limit": api.during_limit,
        "missing": len(expected - set(stored_ids)),
        "duplicates": len(stored_ids) - unique,
        "unexpected": len(set(stored_ids) - expected),
        "paged_requests": sum(1 for c in api.calls if "next_token" in c),
        "gap_requests": sum(1 for c in api.calls if "until_id" in c),
        "polls": polls,
        "restarts": generation,
        "poll_errors": errors,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--tweets", type=int, default=2000)
    ap.add_argument("--poll-every", type=float, default=120.0, help="simulated seconds between polls")
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--limit-on", choices=["page", "poll"], default="poll",
                    help="the 429 hits a poll's second page (page) or whatever request comes first (poll)")
    args = ap.parse_args()
    result = simulate(
        hours=args.hours, tweets=args.tweets, poll_every=args.poll_every, restarts=args.restarts,
        database_url=args.database_url, seed=args.seed, limit_on=args.limit_on,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
