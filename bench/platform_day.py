"""A simulated day of polling Facebook, YouTube or Discourse: is every item read once, and
is nothing sent while the platform has us throttled?

    python bench/platform_day.py --platform facebook|youtube|discourse [--hours 24]
        [--poll-every 300] [--restarts 3] [--seed 7] [--webhook] [--option KEY=JSON ...]

In the style of bench/x_day.py: a fake platform API (a respx side effect) serves a
deterministic day of items on a simulated clock, a daytime-shaped trickle plus an outage
burst two thirds in, and answers like the real API (paging, `since`/`before`/
`publishedAfter`, usage headers, quota). Once during the day, a minute into the burst,
the platform throttles us the way it really does:

* facebook: one answer carries `X-App-Usage` at 96 % and `X-Business-Use-Case-Usage`
  with `estimated_time_to_regain_access: 10`; for those ten minutes every request gets
  error code 32 (Page request limit).
* youtube: `403 quotaExceeded`, which lasts until midnight Pacific (the day runs past
  it); every request before then is answered `quotaExceeded` again.
* discourse: `429` with `Retry-After: 600` and Discourse's rate-limit body.

The forum answers `/posts.json` (50 newest public posts below `before`) and
`/posts/<id>.json` (one post; 403 or 404 for an id anonymous readers may not see: a
tenth of the ids, shared with private messages and deleted posts).

The real source, Collector and pipeline run on a fresh SQLite database; the collector
polls every `--poll-every` simulated seconds and is restarted `--restarts` times (fresh
Collector, source and HTTP client), one restart inside the throttled window.

Prints one JSON object: platform, simulated_hours, items_published, expected (the items
that should become mentions), items_read (items the API returned over all calls; for
Facebook this includes the Page's own posts and replies, read to find comments, reported
apart as own_items_read), unique_items_read, reads_per_unique (items read / unique items
read; target 1.00: nothing read twice), reads_per_unique_mention (mention-eligible items
read / unique mentions stored; target 1.00), unique_stored, missing, duplicates,
unexpected (target 0 each), requests, requests_per_hour, throttle_windows,
requests_during_throttle (target 0), quota_units (YouTube), polls, restarts,
poll_errors, seconds (wall clock).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
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

import httpx  # noqa: E402
import respx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

DAY_START = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # midnight Pacific (PDT): YouTube's quota day
THROTTLE_S = 10 * 60
PAGE = "104417785386524"
CHANNEL = "UCnimbus0000000000000001"
FORUM = "https://community.nimbus.example"

MATCHING = [
    "no signal from Nimbus in {p} since this morning",
    "Nimbus broadband down again in {p}, third time this week",
    "on hold with Nimbus for 40 minutes now",
    "really impressed with Nimbus support today",
    "is Nimbus down for anyone else in {p}?",
]
OTHER = ["lovely morning for a run in {p}", "anyone know a good curry place in {p}?", "watching the match tonight"]
PLACES = ["Leeds", "York", "Hull", "Bradford", "Sheffield", "Manchester"]


@dataclass(slots=True)
class Item:
    id: str
    at: datetime
    kind: (
        str  # facebook: page_post | visitor_post | comment | own_reply | tag; youtube: thread | video; discourse: post
    )
    text: str
    eligible: bool  # becomes a mention
    parent: str | None = None  # facebook: the post a comment is on


def times(rng: random.Random, n: int, span: float, burst: int) -> list[float]:
    """`n` instants over `span` seconds, more by day than by night, `burst` of them in four
    minutes two thirds in."""
    out = []
    for _ in range(n - burst):
        while True:
            t = rng.uniform(0, span)
            if rng.random() < (1.0 if 7 <= (t / 3600) % 24 <= 23 else 0.3):
                break
        out.append(t)
    at = span * 2 / 3
    out += [at + rng.uniform(0, 240) for _ in range(burst)]
    return sorted(out)


def text(rng: random.Random, matching: bool, seq: int) -> str:
    template = rng.choice(MATCHING if matching else OTHER)
    return f"{template.format(p=rng.choice(PLACES))} #{seq}"


class SimClock:
    def __init__(self, start: datetime):
        self.t = start

    def now(self) -> datetime:
        return self.t


@dataclass
class Fake:
    """Common bookkeeping of a fake platform API."""

    items: list[Item]
    clock: SimClock
    throttle_from: datetime
    requests: int = 0
    read: list[str] = field(default_factory=list)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    during: int = 0

    def visible(self, kinds: tuple[str, ...]) -> list[Item]:
        now = self.clock.now()
        return [i for i in self.items if i.kind in kinds and i.at <= now]

    def begin(self) -> tuple[datetime, bool]:
        """Count a request; True when it falls in a throttle window (answer with the error)."""
        now = self.clock.now()
        self.requests += 1
        inside = any(start <= now < end for start, end in self.windows)
        self.during += inside
        return now, inside

    def open_window(self, now: datetime, until: datetime) -> None:
        self.windows.append((now, until))

    def due(self, now: datetime) -> bool:
        return not self.windows and now >= self.throttle_from


# ----------------------------------------------------------------------------- Facebook


def facebook_items(rng: random.Random, span: float) -> list[Item]:
    items: list[Item] = []
    posts: list[Item] = []
    for n, t in enumerate(times(rng, 8, span, 0)):
        post = Item(f"{PAGE}_{9000 + n}", DAY_START + timedelta(seconds=t), "page_post", f"Nimbus update #{n}", False)
        posts.append(post)
    # one post published before the day so early comments have somewhere to go
    posts.insert(0, Item(f"{PAGE}_8999", DAY_START - timedelta(hours=3), "page_post", "Nimbus update #-1", False))
    items += posts
    for seq, t in enumerate(times(rng, 900, span, 250), start=1):
        at = DAY_START + timedelta(seconds=t)
        roll = rng.random()
        candidates = [p for p in posts if p.at <= at]
        if roll < 0.08:
            items.append(Item(f"{PAGE}_{20000 + seq}", at, "visitor_post", text(rng, True, seq), True))
        elif roll < 0.12:
            items.append(Item(f"7000{seq}_{seq}", at, "tag", text(rng, True, seq), True))
        else:
            post = rng.choice(candidates[-4:])
            own = rng.random() < 0.07
            kind = "own_reply" if own else "comment"
            items.append(
                Item(
                    f"{post.id.split('_')[1]}_{50000 + seq}",
                    at,
                    kind,
                    text(rng, rng.random() < 0.6, seq),
                    not own,
                    parent=post.id,
                )
            )
    # visitor posts get comments too
    visitors = [i for i in items if i.kind == "visitor_post"]
    for n, v in enumerate(visitors[::3]):
        at = v.at + timedelta(minutes=5 + n % 20)
        items.append(Item(f"{v.id.split('_')[1]}_{80000 + n}", at, "comment", text(rng, True, 90000 + n), True, v.id))
    return sorted(items, key=lambda i: i.at)


class FakeGraph(Fake):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        now, inside = self.begin()
        if inside:
            return self.error(now)
        if self.due(now):
            self.open_window(now, now + timedelta(seconds=THROTTLE_S))
            return self.respond(request, now, usage=96, regain=THROTTLE_S // 60)
        return self.respond(request, now)

    def error(self, now: datetime) -> httpx.Response:
        end = self.windows[-1][1]
        minutes = max(int((end - now).total_seconds() // 60) + 1, 1)
        body = {
            "error": {
                "message": "(#32) Page request limit reached",
                "type": "OAuthException",
                "is_transient": True,
                "code": 32,
                "fbtrace_id": "AsimFbTrace",
            }
        }
        return httpx.Response(400, json=body, headers=self.headers(100, minutes))

    @staticmethod
    def headers(usage: int, regain: int = 0) -> dict[str, str]:
        return {
            "X-App-Usage": json.dumps({"call_count": usage, "total_cputime": usage // 2, "total_time": usage // 2}),
            "X-Business-Use-Case-Usage": json.dumps(
                {
                    PAGE: [
                        {
                            "type": "pages",
                            "call_count": usage,
                            "total_cputime": 1,
                            "total_time": 1,
                            "estimated_time_to_regain_access": regain,
                        }
                    ]
                }
            ),
        }

    def respond(self, request: httpx.Request, now: datetime, usage: int = 20, regain: int = 0) -> httpx.Response:
        url = urlparse(str(request.url))
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        edge = url.path.rsplit("/", 2)
        if "ids" in q:  # GET /?ids=a,b&fields=updated_time: moved by every new comment
            answer = {}
            for post_id in q["ids"].split(","):
                latest = max([i.at for i in self.items if i.id == post_id and i.at <= now]
                             + [i.at for i in self.items if i.parent == post_id and i.at <= now])
                answer[post_id] = {"id": post_id, "updated_time": latest.strftime("%Y-%m-%dT%H:%M:%S+0000")}
            return httpx.Response(200, json=answer, headers=self.headers(usage, regain))
        since = int(q.get("since", "0"))
        limit = int(q.get("limit", "25"))
        after = q.get("after")
        if edge[-1] == "feed":
            pool = self.visible(("page_post", "visitor_post"))
        elif edge[-1] == "tagged":
            pool = self.visible(("tag",))
        else:
            pool = [i for i in self.visible(("comment", "own_reply")) if i.parent == edge[-2]]
        pool = [i for i in reversed(pool) if i.at.timestamp() >= since]  # newest first, since inclusive
        if after:
            index = next((n for n, i in enumerate(pool) if i.id == after), -1)
            pool = pool[index + 1 :]
        page, rest = pool[:limit], pool[limit:]
        self.read += [i.id for i in page]
        data = [self.payload(i) for i in page]
        body: dict[str, Any] = {"data": data}
        if page:
            body["paging"] = {"cursors": {"before": page[0].id, "after": page[-1].id}}
            if rest:
                body["paging"]["next"] = f"https://graph.facebook.com{url.path}?after={page[-1].id}&limit={limit}"
        return httpx.Response(200, json=body, headers=self.headers(usage, regain))

    @staticmethod
    def payload(i: Item) -> dict[str, Any]:
        who = (
            {"id": PAGE, "name": "Nimbus Mobile"}
            if i.kind in ("page_post", "own_reply")
            else {"id": str(abs(hash(i.id)) % 10**15), "name": f"Person {i.id[-4:]}"}
        )
        return {
            "id": i.id,
            "message": i.text,
            "created_time": i.at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "from": who,
            "permalink_url": f"https://www.facebook.com/{i.id}",
        }


# ----------------------------------------------------------------------------- YouTube


def youtube_items(rng: random.Random, span: float) -> list[Item]:
    items = []
    for seq, t in enumerate(times(rng, 700, span, 200)):
        items.append(
            Item(f"Ug{seq:08d}", DAY_START + timedelta(seconds=t), "thread", text(rng, rng.random() < 0.5, seq), True)
        )
    for seq, t in enumerate(times(rng, 40, span, 6)):
        matching = rng.random() < 0.75
        items.append(Item(f"v{seq:09d}", DAY_START + timedelta(seconds=t), "video", text(rng, matching, seq), matching))
    return sorted(items, key=lambda i: i.at)


class FakeYouTube(Fake):
    units: int = 0
    not_modified: int = 0  # 304 answers (no items read)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now, inside = self.begin()
        url = urlparse(str(request.url))
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        resource = url.path.rsplit("/", 1)[-1]
        self.units += 100 if resource == "search" else 1
        if not inside and self.due(now):
            from listener.sources.youtube import next_pacific_midnight

            self.open_window(now, next_pacific_midnight(now))
            inside = True  # this request finds the quota spent; it is not "during" the window
        if inside:
            message = "The request cannot be completed because you have exceeded your quota."
            body = {
                "error": {
                    "code": 403,
                    "message": message,
                    "errors": [{"message": message, "domain": "youtube.quota", "reason": "quotaExceeded"}],
                }
            }
            return httpx.Response(403, json=body)
        if resource == "search":
            after = q.get("publishedAfter")
            floor = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
            pool = [i for i in reversed(self.visible(("video",))) if floor is None or i.at >= floor][:50]
            self.read += [i.id for i in pool]
            return httpx.Response(
                200,
                json={
                    "kind": "youtube#searchListResponse",
                    "items": [
                        {
                            "kind": "youtube#searchResult",
                            "id": {"kind": "youtube#video", "videoId": i.id},
                            "snippet": {
                                "publishedAt": i.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "channelId": "UCother0000000000000000x",
                                "title": i.text,
                                "description": "",
                                "channelTitle": "Someone",
                            },
                        }
                        for i in pool
                    ],
                },
            )
        pool = list(reversed(self.visible(("thread",))))
        start = int(q.get("pageToken", "0"))
        size = int(q.get("maxResults", "20"))
        page = pool[start : start + size]
        # Like the Data API, a list answer carries an ETag (in the body and the header) that
        # changes with its content; a request whose If-None-Match equals it gets 304 Not
        # Modified and no items. Such a call is still charged its unit here (whether Google
        # charges a 304 is not documented; this errs on the costly side).
        etag = '"' + hashlib.sha256(repr([(i.id, i.text) for i in page]).encode()).hexdigest()[:27] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return httpx.Response(304, headers={"ETag": etag})
        self.read += [i.id for i in page]
        body: dict[str, Any] = {
            "kind": "youtube#commentThreadListResponse",
            "etag": etag,
            "items": [self.thread(i) for i in page],
        }
        if start + size < len(pool):
            body["nextPageToken"] = str(start + size)
        return httpx.Response(200, json=body, headers={"ETag": etag})

    @staticmethod
    def thread(i: Item) -> dict[str, Any]:
        snippet = {
            "authorDisplayName": f"@viewer{i.id[-4:]}",
            "authorChannelId": {"value": f"UCviewer{i.id}"},
            "textOriginal": i.text,
            "textDisplay": i.text,
            "likeCount": 0,
            "videoId": "Xq3dN8kT2mA",
            "publishedAt": i.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updatedAt": i.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return {
            "kind": "youtube#commentThread",
            "id": i.id,
            "snippet": {
                "channelId": CHANNEL,
                "videoId": "Xq3dN8kT2mA",
                "totalReplyCount": 0,
                "topLevelComment": {"kind": "youtube#comment", "id": i.id, "snippet": snippet},
            },
        }


# ----------------------------------------------------------------------------- Discourse


HOLE_RATE = 0.1  # chance, before each public post, of one more id we may not see


def discourse_items(rng: random.Random, span: float) -> list[Item]:
    """Public posts, their ids with holes: a real forum's post ids are shared with private
    messages, whispers, private categories and deleted posts, which anonymous readers get
    403 or 404 for. Before each public post come k such ids, P(k >= n) = HOLE_RATE ** n
    (drawn from a second generator, so the public posts are the same with or without)."""
    holes = random.Random("discourse holes")
    out = []
    post_id = 100000
    for seq, t in enumerate(times(rng, 1500, span, 300)):
        matching = rng.random() < 0.45
        while holes.random() < HOLE_RATE:
            out.append(Item(str(post_id), DAY_START + timedelta(seconds=t), "hole", "", False))
            post_id += 1
        out.append(Item(str(post_id), DAY_START + timedelta(seconds=t), "post", text(rng, matching, seq), matching))
        post_id += 1
    return out


class FakeDiscourse(Fake):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        now, inside = self.begin()
        if not inside and self.due(now):
            self.open_window(now, now + timedelta(seconds=THROTTLE_S))
            inside = True  # this request is the one throttled; it is not "during" the window
        if inside:
            wait = int((self.windows[-1][1] - now).total_seconds())
            body = {
                "errors": [
                    f"You’ve performed this action too many times. Please wait {wait} seconds before trying again."
                ],
                "error_type": "rate_limit",
                "extras": {"wait_seconds": wait, "time_left": f"{wait} seconds"},
            }
            return httpx.Response(429, json=body, headers={"Retry-After": str(wait)})
        url = urlparse(str(request.url))
        if url.path.startswith("/posts/"):  # GET /posts/<id>.json: one post, 403 or 404 for a hole
            return self.one(int(url.path.removeprefix("/posts/").removesuffix(".json")), now)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        before = int(q["before"]) if "before" in q else None
        pool = [i for i in reversed(self.visible(("post",))) if before is None or int(i.id) < before][:50]
        self.read += [i.id for i in pool]
        return httpx.Response(200, json={"latest_posts": [self.post(i) for i in pool]})

    def one(self, post_id: int, now: datetime) -> httpx.Response:
        by_id = self.__dict__.setdefault("_by_id", {i.id: i for i in self.items})
        item = by_id.get(str(post_id))
        item = item if item is not None and item.at <= now else None
        if item is not None and item.kind == "post":
            self.read.append(item.id)
            # PostsController#show renders PostSerializer without add_title: no topic_title,
            # topic_html_title or category_id (those only listings carry)
            single = {k: v for k, v in self.post(item).items() if k not in ("topic_title", "category_id")}
            return httpx.Response(200, json=single)
        if item is not None and post_id % 2:  # a private message or a private category's post
            body = {"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}
            return httpx.Response(403, json=body)
        # deleted, or not written yet
        body = {"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}
        return httpx.Response(404, json=body)

    @staticmethod
    def post(i: Item) -> dict[str, Any]:
        topic = 9000 + int(i.id) % 97
        return {
            "id": int(i.id),
            "username": f"member{int(i.id) % 311}",
            "name": "Member",
            "created_at": i.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "raw": i.text,
            "cooked": f"<p>{i.text}</p>",
            "post_number": 2,
            "post_type": 1,
            "reply_to_post_number": None,
            "reply_count": 0,
            "quote_count": 0,
            "topic_id": topic,
            "topic_slug": f"topic-{topic}",
            "topic_title": f"Topic {topic}",
            "category_id": 5,
            "user_id": int(i.id) % 311,
            "hidden": False,
            "deleted_at": None,
            "user_deleted": False,
        }


# ----------------------------------------------------------------------------- the day

class Pusher:
    """Discourse's outgoing webhook, for `--webhook`: every post is pushed to the real
    `/hooks/discourse` route (signed, through the ASGI app) at the first poll step at or
    after it was written, in order. A pushed post counts as one item read (`fake.read`),
    exactly like a post an API call returned. For two hours a third into the day the
    deliveries are lost (the console unreachable; Discourse's redelivery is not counted
    on): the source's hourly checks must find those posts by polling."""

    def __init__(self, engine: Any, rules: Any, env: dict[str, str], fake: Fake, span: float) -> None:
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        from console.web.discourse_hook import make_discourse_router
        from console.web.source_hook import signature

        app = FastAPI()
        app.include_router(make_discourse_router(engine, lambda: rules, env))
        self.client = TestClient(app)
        self.sign = lambda raw: signature(env["DISCOURSE_WEBHOOK_SECRET"], raw)
        self.fake = fake
        self.queue = sorted((i for i in fake.items if i.kind == "post"), key=lambda i: i.at)
        self.outage = (DAY_START + timedelta(seconds=span / 3), DAY_START + timedelta(seconds=span / 3 + 7200))
        self.pushed = self.lost = 0

    def push_until(self, now: datetime) -> None:
        while self.queue and self.queue[0].at <= now:
            item = self.queue.pop(0)
            if self.outage[0] <= item.at < self.outage[1]:
                self.lost += 1
                continue
            raw = json.dumps({"post": {**FakeDiscourse.post(item), "topic_archetype": "regular"}}).encode()
            answer = self.client.post("/hooks/discourse", content=raw, headers={
                "Content-Type": "application/json", "X-Discourse-Instance": FORUM,
                "X-Discourse-Event-Type": "post", "X-Discourse-Event": "post_created",
                "X-Discourse-Event-Signature": self.sign(raw)})
            if answer.status_code != 200:
                raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text}")
            self.fake.read.append(item.id)
            self.pushed += 1


PLATFORMS: dict[str, dict[str, Any]] = {
    "facebook": {
        "source": "facebook-nimbus",
        "items": facebook_items,
        "fake": FakeGraph,
        "options": {"page_id": PAGE},
        "env": {"FACEBOOK_PAGE_ACCESS_TOKEN": "sim-token"},
        "url": r"^https://graph\.facebook\.com/",
    },
    "youtube": {
        "source": "youtube-nimbus",
        "items": youtube_items,
        "fake": FakeYouTube,
        "options": {"channel_id": CHANNEL, "search_units_per_day": 2000},
        "env": {"YOUTUBE_API_KEY": "sim-key"},
        "url": r"^https://www\.googleapis\.com/youtube/v3/",
    },
    "discourse": {
        "source": "discourse-community",
        "items": discourse_items,
        "fake": FakeDiscourse,
        "options": {"base_url": FORUM},
        "env": {},
        "url": r"^https://community\.nimbus\.example/",
    },
}

RULES = """
brands:
  - name: Nimbus
    query: 'nimbus'
sources:
  - name: {source}
    type: {platform}
    schedule: {{every: 5m}}
    options: {options}
queues: [care]
routes:
  - name: complaint
    when: {{brand: own, sentiment: negative}}
    escalate: {{queue: care, priority: normal}}
sinks:
  - name: local
    type: jsonl
    options: {{path: "{sink}"}}
"""


@contextlib.contextmanager
def simulated_time(clock: SimClock, platform: str) -> Iterator[None]:
    """Point every `utcnow` the collector, pipeline, storage and the source read at `clock`."""
    targets = [
        "storage.types.utcnow",
        "storage.sources.utcnow",
        "storage.repo.utcnow",
        "storage.audit.utcnow",  # audit rows (storage.audit is their one writer)
        "listener.collector.utcnow",
        "listener.pipeline.utcnow",
        "listener.sources._common.utcnow",
        "listener.sources._http.utcnow",
    ]
    module = importlib.import_module(f"listener.sources.{platform}")
    if hasattr(module, "utcnow"):  # a source reading the time itself (most take PlatformSource.clock)
        targets.append(f"listener.sources.{platform}.utcnow")
    with contextlib.ExitStack() as stack:
        for target in targets:
            stack.enter_context(mock.patch(target, clock.now))
        yield


def simulate(
    platform: str,
    *,
    hours: float = 24.0,
    poll_every: float = 300.0,
    restarts: int = 3,
    seed: int = 7,
    database_url: str | None = None,
    webhook: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the simulated day for `platform`; return the measurements (module docstring).
    `options` are added to the source's options (e.g. YouTube's comments_per_read)."""
    from listener.collector import Collector
    from listener.sources._common import RetryPolicy
    from responders.publish import PipelineResponders
    from socialear.config import parse_rules_text
    from storage import models as t
    from storage.dialect import table
    from storage.engine import make_engine
    from storage.migrate import upgrade

    spec = PLATFORMS[platform]
    if webhook:
        if platform != "discourse":
            raise ValueError("--webhook is simulated for discourse only")
        spec = {**spec, "options": {**spec["options"], "webhook": True},
                "env": {**spec["env"], "DISCOURSE_WEBHOOK_SECRET": "sim-secret"}}
    if options:
        spec = {**spec, "options": {**spec["options"], **options}}
    source = spec["source"]
    started = time.perf_counter()
    span = hours * 3600
    items: list[Item] = spec["items"](random.Random(seed), span)
    clock = SimClock(DAY_START)
    burst_at = DAY_START + timedelta(seconds=span * 2 / 3)
    fake: Fake = spec["fake"](items, clock, throttle_from=burst_at + timedelta(seconds=60))
    # Poll half an hour past the day; YouTube's quota window lasts until midnight Pacific,
    # so there keep polling an hour past that.
    tail = 1800.0
    if platform == "youtube":
        from listener.sources.youtube import next_pacific_midnight

        reset = (next_pacific_midnight(fake.throttle_from) - DAY_START).total_seconds()
        tail = max(tail, reset + 3600 - span)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database_url = database_url or f"sqlite:///{tmp / 'day.db'}"
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        upgrade(engine)
        rules = parse_rules_text(
            RULES.format(
                source=source, platform=platform, options=json.dumps(spec["options"]), sink=tmp / "escalations.jsonl"
            )
        )
        stack.enter_context(simulated_time(clock, platform))
        router = stack.enter_context(respx.mock(assert_all_called=False))
        router.route(url__regex=spec["url"]).mock(side_effect=fake)
        restart_at = [DAY_START + timedelta(seconds=span * (i + 1) / (restarts + 1)) for i in range(restarts)]
        if restart_at:
            nearest = min(range(len(restart_at)), key=lambda i: abs(restart_at[i] - burst_at))
            restart_at[nearest] = fake.throttle_from + timedelta(seconds=3 * 60)
            restart_at.sort()

        def fresh(n: int) -> Collector:
            collector = Collector(engine, lambda: rules, instance_id=f"sim-{n}", env=spec["env"],
                                  responders=PipelineResponders())
            collector.source(source).retry = RetryPolicy(sleep=lambda _s: None)  # type: ignore[attr-defined]
            return collector

        generation = 0
        collector = fresh(generation)
        polls = errors = 0
        hook = Pusher(engine, rules, spec["env"], fake, span) if webhook else None
        steps = int((span + tail) // poll_every)
        for step in range(steps + 1):
            clock.t = DAY_START + timedelta(seconds=step * poll_every)
            while restart_at and clock.t >= restart_at[0]:
                restart_at.pop(0)
                generation += 1
                collector = fresh(generation)
            if hook is not None:
                hook.push_until(clock.t)
            outcome = collector.poll(source)
            polls += 1
            errors += bool(outcome.error)
        mt = table(t.Mention)
        with engine.connect() as conn:
            stored = list(conn.execute(sa.select(mt.c.external_id).where(mt.c.source == source)).scalars())
    end = clock.t
    expected = {i.id if i.kind != "video" else f"video:{i.id}" for i in items if i.eligible and i.at <= end}
    eligible_ids = {i.id for i in items if i.eligible}
    unique = set(stored)
    eligible_reads = [r for r in fake.read if r in eligible_ids]
    sim_hours = (end - DAY_START).total_seconds() / 3600
    result = {
        "platform": platform,
        "simulated_hours": round(sim_hours, 2),
        "items_published": sum(i.kind != "hole" for i in items),
        "expected": len(expected),
        "items_read": len(fake.read),
        "unique_items_read": len(set(fake.read)),
        "reads_per_unique": round(len(fake.read) / len(set(fake.read)), 4) if fake.read else None,
        "reads_per_unique_mention": round(len(eligible_reads) / len(unique), 4) if unique else None,
        "unique_stored": len(unique),
        "missing": len(expected - unique),
        "duplicates": len(stored) - len(unique),
        "unexpected": len(unique - expected),
        "requests": fake.requests,
        "requests_per_hour": round(fake.requests / sim_hours, 2) if sim_hours else None,
        "throttle_windows": len(fake.windows),
        "requests_during_throttle": fake.during,
        "polls": polls,
        "restarts": generation,
        "poll_errors": errors,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if platform == "facebook":
        result["own_items_read"] = len(fake.read) - len(eligible_reads)
    if platform == "youtube":
        result["quota_units"] = fake.units  # type: ignore[attr-defined]
        result["not_modified"] = fake.not_modified  # type: ignore[attr-defined]
    if platform == "discourse":
        result["non_matching_read"] = len(fake.read) - len(eligible_reads)
        result["hidden_ids"] = sum(i.kind == "hole" for i in items)  # 403/404 to us: no item read
    if hook is not None:
        result["webhook_pushed"] = hook.pushed
        result["webhook_lost"] = hook.lost
        result["polled_reads"] = len(fake.read) - hook.pushed
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--platform", choices=sorted(PLATFORMS), required=True)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--poll-every", type=float, default=300.0, help="simulated seconds between polls")
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    ap.add_argument("--webhook", action="store_true", help="discourse: posts pushed to /hooks/discourse, polling as the check")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=JSON",
                    help="a source option, e.g. --option comments_per_read=20 --option max_delay=3600")
    args = ap.parse_args()
    extra = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    print(
        json.dumps(
            simulate(
                args.platform,
                hours=args.hours,
                poll_every=args.poll_every,
                restarts=args.restarts,
                seed=args.seed,
                database_url=args.database_url,
                webhook=args.webhook,
                options=extra,
            )
        )
    )


if __name__ == "__main__":
    main()
