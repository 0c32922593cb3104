"""Discourse forums (community and support forums) through Discourse's JSON API.

Three ways in, so a quiet brand forum and a busy general forum can both be read:

* `posts` (default on): every new post. The first poll reads `GET /posts.json` (the
  forum's latest posts newest first, 50 a page, paged down with `before=<post id>`);
  after it the ids above the newest one read are walked, `GET /posts/<id>.json` (see
  Reads). Each post carries `raw` (the author's markdown), so nothing else is fetched. A
  post is kept when a brand's boolean query matches it, or when it is in one of
  `categories` (your own support categories: every post there is for you).
* `search`: `GET /search.json?q=<term> order:latest`, one search per brand term, for a
  forum too busy to read whole. A hit carries only a blurb, so each new hit's post is
  read once with `GET /posts/<id>.json` and matched against the brand query.
* `categories` with `posts: false`: `GET /c/<id>/l/latest.json?order=created`, the
  newest topics of each category, and each new topic's opening post from
  `GET /t/<id>.json`. Every new topic there is kept.

Payload shapes (Discourse API reference, docs.discourse.org; recorded in
tests/fixtures/discourse/ with where each came from): `/posts.json` is
`{"latest_posts": [post...]}`; a post has `id`, `username`, `name`, `created_at`, `raw`,
`cooked` (HTML), `post_number`, `post_type` (1 regular, 2 moderator action, 3 small
action, 4 whisper), `reply_to_post_number`, `reply_count`, `quote_count`, `topic_id`,
`topic_slug`, `topic_title`, `category_id`, `hidden`, `deleted_at`, `user_deleted`.
`/search.json` is `{"posts": [{id, username, created_at, blurb, post_number,
topic_id}], "topics": [...], "grouped_search_result": {"more_full_page_results"}}`.
`/c/<id>/l/latest.json` is `{"topic_list": {"topics": [{id, title, slug, created_at,
category_id}], "more_topics_url"}}`; `/t/<id>.json` has `post_stream.posts[]`.

Cursor (JSON): `{"v": 1, "streams": {"posts": {"since", "gap"?, "ahead"?, "found_at"?,
"leap_at"?}, "search:<term>": {"since"}, "category:<id>": {"since"}}, "hook"?,
"not_before"?}`. Post and topic ids only grow, so `since` is the highest id read. The
first poll reads one page of /posts.json and starts from there (no back-fill of the
forum's history).

Reads: `/posts.json` has no "after" and always answers a page of 50 (Discourse's
LatestPostsQuery: `id < before`, newest first, PAGE_SIZE 50), so paging it every few
minutes reads the same posts again and again, however early it stops at `since` (a
simulated busy day: 9.2 reads a post). So after the first page the source *walks* the
ids above `since`, `GET /posts/<id>.json` (`_walk`): every post is read once, and a
poll with nothing new costs `lookahead` + 1 requests that read nothing. Ids we may not
see (private messages, whispers, private categories: 403; deleted: 404) cost a request
each; the walk makes at most `max_requests` a poll, paced to Discourse's per-address
limits, and a backlog beyond that is read over the next polls (the latency it trades).
A single post carries no `topic_title` or `category_id` (PostSerializer adds them only
to listings): a walked opening post is matched on its slug, and a source with
`categories` pages /posts.json. `walk: false` pages /posts.json too: a poll that hits `max_pages` before reaching
`since` stores `gap = {"before": <lowest id read>, "pending": <highest id read>}` and the
next poll reads the gap first. With `webhook: true` the forum pushes each post once to
`/hooks/discourse` (console.web.discourse_hook), which also moves `since` to it; polling
then only checks, once per `webhook_silence` without a delivery, that nothing was
missed, walking only the ids the hook did not deliver (cursor `hook = {"at",
"checked", "doubt_since"?, "behind"?}`; see `_hook_is_live`). A 429 after some
requests succeeded keeps what was read and waits (`not_before`).

Credentials: none for a public forum. For a private one set `api_key: true` and
DISCOURSE_API_KEY / DISCOURSE_API_USERNAME (sent as the `Api-Key` / `Api-Username`
headers). Errors: `listener.sources._http` (timeouts, 5xx, a bad body retried; 429 ->
RateLimited with Discourse's Retry-After, else `extras.wait_seconds`; 403 ->
BadCredentials saying the forum wants a key or the key lacks access).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from listener.sources import _http
from listener.sources._common import (
    BrandMatcher,
    PlatformSource,
    RetryPolicy,
    TransientError,
    bump,
    call_with_retries,
    dump_cursor,
    load_cursor,
    parse_time,
    payload_id,
    quarantine,
    require_env,
    sole_brand,
    validate_options,
)
from listener.sources.rss import html_to_text
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined, RateLimit
from platforms.http import DEFAULT_RATE_LIMIT_WAIT
from socialear.errors import BadCredentials, NotConfigured, RateLimited

ENV = ("DISCOURSE_API_KEY", "DISCOURSE_API_USERNAME")
PAGE_SIZE = 50  # /posts.json's page
MAX_AHEAD = 5000  # delivered post ids above the contiguous mark kept in the cursor
BURST = 40  # walk requests a poll makes before pacing itself (under Discourse's 50 per 10 s)
LEAPS = 10  # probes past a long run of missing ids: +1, +2, +4, ... +512
REGULAR = 1  # post_type of a member's post; 2-4 are moderator actions and whispers
USER_AGENT = "socialear/0.1 (customer-care listening)"


class DiscourseSource(PlatformSource):
    """Posts on a Discourse forum that mention a brand, or sit in chosen categories."""

    type: ClassVar[str] = "discourse"
    platform: ClassVar[str] = "discourse"
    description: ClassVar[str] = (
        "Discourse forum posts through its JSON API (/posts.json, /search.json, latest topics "
        "per category). No key needed for a public forum."
    )
    needs: ClassVar[tuple[str, ...]] = ()  # only with api_key: true
    expected_update_period: ClassVar[float | None] = 7 * 86_400.0

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        base_url: str = Field(pattern=r"^https?://[^/\s]+(/[^\s]*)?$")  # the forum, e.g. https://community.example.com
        api_key: bool = False  # private forum: send DISCOURSE_API_KEY / DISCOURSE_API_USERNAME
        brands: list[str] | None = None  # only these brands (default: every brand)
        query: str | None = None  # an extra boolean query
        brand: str | None = None  # recorded in Mention.extra["brand"] for category posts
        posts: bool = True  # read every new post (/posts.json)
        search: bool = False  # search each brand term (/search.json)
        categories: list[int] = Field(default_factory=list)  # category ids kept whatever the text
        max_pages: int = Field(5, ge=1, le=50)  # per stream per poll
        # Read new posts one by one by id (/posts/<id>.json) instead of paging /posts.json,
        # which answers 50 posts whatever is new: every post is read once, a quiet poll
        # costs one request and reads nothing (see `_walk`).
        walk: bool = True
        # Walk requests per poll, the first BURST at once, then `requests_per_minute`
        # (Discourse's defaults: 50 per 10 s and 200 a minute per address, 60 a minute for
        # an admin API key): a backlog beyond `max_requests` is read over the next polls.
        max_requests: int = Field(200, ge=1, le=5000)
        requests_per_minute: float = Field(120.0, gt=0, le=6000)
        lookahead: int = Field(5, ge=0, le=50)  # ids probed past a missing one before the walk stops
        hole_check: float = Field(900.0, ge=60, le=7 * 86_400)  # seconds without a new post before probing past a long hole
        timeout: float = Field(15.0, gt=0, le=120)
        # The forum pushes posts to /hooks/discourse (console.web.discourse_hook): polling
        # then only checks, once per `webhook_silence` without a delivery, that the hook
        # still works, and catches up if it does not.
        webhook: bool = False
        webhook_silence: float = Field(3600.0, ge=60, le=7 * 86_400)  # seconds

        @model_validator(mode="after")
        def _something_to_read(self) -> DiscourseSource.Options:
            self.base_url = self.base_url.rstrip("/")
            if not (self.posts or self.search or self.categories):
                raise ValueError("nothing to read: set posts: true, search: true or categories")
            return self

    options: DiscourseSource.Options

    def __init__(
        self,
        name: str,
        client: httpx.Client,
        matcher: BrandMatcher,
        options: DiscourseSource.Options,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(name, options)
        self.client = client
        self.matcher = matcher
        self.headers = dict(headers or {})

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> DiscourseSource:
        opts = validate_options(cls, name, options)
        matcher = BrandMatcher.for_source("discourse", name, brands, opts.brands, opts.query)
        if not matcher and not opts.categories:
            raise NotConfigured(f"discourse source '{name}': no brand queries to match and no categories to read")
        opts.brand = sole_brand(opts.brand, brands)
        headers: dict[str, str] = {}
        if opts.api_key:
            creds = require_env(env, ENV, cls.type, name)
            headers = {"Api-Key": creds["DISCOURSE_API_KEY"], "Api-Username": creds["DISCOURSE_API_USERNAME"]}
        if opts.webhook:  # without it every delivery is refused and the source would only poll hourly
            require_env(env, ("DISCOURSE_WEBHOOK_SECRET",), cls.type, name)
        if client is None:
            client = httpx.Client(headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        return cls(name, client, matcher, opts, headers)

    # ------------------------------------------------------------------ fetch

    def fetch(self, cursor: str | None) -> Batch:
        """Read what is new since the cursor on every configured stream. A 429 after some
        requests succeeded keeps what was read: the cursor's `not_before` (and
        Batch.rate_limit) make the next fetch wait for the forum's Retry-After."""
        now = self.clock()
        state = load_cursor(cursor, self.type, self.name)
        not_before = state.get("not_before")
        if not_before and float(not_before) > now.timestamp():
            wait = float(not_before) - now.timestamp()
            raise RateLimited(f"Discourse rate limit: waiting {wait:.0f}s", retry_after=wait)
        state.pop("not_before", None)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stats: dict[str, int] = {}
        if self.options.webhook and self._hook_is_live(state, stats):
            return Batch(mentions=[], next_cursor=dump_cursor(state), exhausted=True, stats=stats)
        run = _Run()
        exhausted = True
        rate_limit: RateLimit | None = None
        try:
            if self.options.posts:
                exhausted &= self._posts(streams.setdefault("posts", {}), run, stats)
            if self.options.search:
                for term in self.matcher.terms():
                    exhausted &= self._search(term, streams.setdefault(f"search:{term}", {}), run, stats)
            if self.options.categories and not self.options.posts:
                for category in self.options.categories:
                    exhausted &= self._category(category, streams.setdefault(f"category:{category}", {}), run, stats)
        except RateLimited as exc:
            if not run.requests_ok:
                raise  # nothing read: the collector waits for the reset
            wait = max(exc.retry_after or DEFAULT_RATE_LIMIT_WAIT, 1.0)
            state["not_before"] = now.timestamp() + wait
            rate_limit = RateLimit(remaining=0, reset_at=now + timedelta(seconds=wait))
            bump(stats, "partial/rate_limited")
            exhausted = False
        if self.options.webhook:
            self._settle(state, exhausted)
        state["v"] = 1
        bump(stats, "fetched", len(run.mentions))
        if run.quarantined:
            bump(stats, "quarantined", len(run.quarantined))
        return Batch(
            mentions=run.mentions,
            next_cursor=dump_cursor(state),
            rate_limit=rate_limit,
            quarantined=run.quarantined,
            # a walk stopped by its request budget goes on at the next poll, not at once
            exhausted=bool(rate_limit) or exhausted or run.paced,
            stats=stats,
        )

    def _hook_is_live(self, state: dict[str, Any], stats: dict[str, int]) -> bool:
        """With the webhook on: True (skip this poll) while deliveries come. A poll runs as
        a check when `webhook_silence` passed without a delivery or a check; from then on
        the hook is "in doubt" (it may be broken, or the forum quiet): deliveries are still
        stored but no longer move the high-water mark, and a check runs once per
        `webhook_silence`, until a check reads through to the newest post after a
        delivery came in (`_settle`). So a hook that stops loses nothing: the checks read
        from the last post known to be contiguous."""
        now = self.clock().timestamp()
        hook = dict(state.get("hook") or {}) if isinstance(state.get("hook"), dict) else {}
        doubt = hook.get("doubt_since")
        last = float(hook.get("checked") or 0)
        if doubt is None:
            last = max(last, float(hook.get("at") or 0))
        if now - last < self.options.webhook_silence and not hook.get("behind"):
            bump(stats, "webhook/live" if doubt is None else "webhook/in_doubt")
            return True
        hook["checked"] = now
        if doubt is None:
            hook["doubt_since"] = now
        state["hook"] = hook
        bump(stats, "webhook/check")
        return False

    @staticmethod
    def _settle(state: dict[str, Any], caught_up: bool) -> None:
        """After a check: the hook is trusted again when the check read through to the
        newest post and a delivery arrived after the doubt began."""
        hook = state.get("hook") or {}
        doubt = hook.get("doubt_since")
        if caught_up and doubt is not None and float(hook.get("at") or 0) > float(doubt):
            hook.pop("doubt_since", None)
        # a check cut short (the walk's request budget, a 429) goes on at the next poll
        if caught_up:
            hook.pop("behind", None)
        else:
            hook["behind"] = True
        state["hook"] = hook

    @staticmethod
    def after_delivery(cursor: str | None, post_ids: list[int], at: datetime, name: str = "discourse") -> str:
        """The cursor after the webhook delivered `post_ids` at `at`: the delivery time is
        kept (polling waits while deliveries come) and, unless the hook is in doubt, every
        post-id stream's high-water mark moves up to them (the next check starts there).
        In doubt, the delivered ids are remembered (`posts.ahead`) so the check's walk
        skips them: it reads only the posts the hook did not deliver."""
        state = load_cursor(cursor, "discourse", name)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stored = state.get("hook")
        hook: dict[str, Any] = stored if isinstance(stored, dict) else {}
        top = max(post_ids, default=None)
        if top is not None and hook.get("doubt_since") is None:
            for key in ["posts", *[k for k in streams if k.startswith("search:")]]:
                entry = streams.setdefault(key, {})
                since = _int(entry.get("since"))
                if since is None or top > since:
                    entry["since"] = top
        if top is not None:  # the walk's "no new post for hole_check" counts from here
            streams.setdefault("posts", {})["found_at"] = at.timestamp()
        if top is not None and hook.get("doubt_since") is not None:
            entry = streams.setdefault("posts", {})
            since = _int(entry.get("since"))
            ahead = {i for i in (_int(v) for v in entry.get("ahead") or []) if i is not None}
            ahead |= {i for i in post_ids if since is None or i > since}
            entry["ahead"] = sorted(ahead)[-MAX_AHEAD:]
        state["hook"] = {**hook, "at": at.timestamp()}
        state["v"] = 1
        return dump_cursor(state)

    def mention_from_webhook(self, post: Any, stats: dict[str, int]) -> Mention | None:
        """A Mention for a `post_created` / `post_edited` delivery's post when it is for us
        (brand match or category), else None; raises on a malformed post. Private messages
        (`topic_archetype: private_message`) are never kept."""
        if isinstance(post, dict) and post.get("topic_archetype") == "private_message":
            bump(stats, "dropped/private")
            return None
        run = _Run()
        self._keep_post(post, run, stats)
        return run.mentions[0] if run.mentions else None

    def _posts(self, entry: dict[str, Any], run: _Run, stats: dict[str, int]) -> bool:
        """Walk the post ids above `since` (`walk: true`, once a first page of /posts.json
        set `since`), else page /posts.json down to `since` (or through a stored gap).
        True when caught up."""
        # /posts/<id>.json carries no category_id (PostSerializer adds it, and topic_title,
        # only for listings): a source that keeps whole categories pages /posts.json.
        if self.options.walk and not self.options.categories and not entry.get("gap"):
            ahead = [i for i in (_int(v) for v in entry.get("ahead") or []) if i is not None]
            if _int(entry.get("since")) is None and ahead:
                entry["since"] = min(ahead) - 1  # the webhook's first delivery is where we start
            if _int(entry.get("since")) is not None:
                return self._walk(entry, run, stats)

        def page(before: int | None) -> list[Any]:
            body = self._get("/posts.json", {"before": before} if before else None, stats, run=run)
            posts = body.get("latest_posts") if isinstance(body, dict) else None
            if not isinstance(posts, list):
                raise TransientError("Discourse /posts.json has no latest_posts list", "malformed_body")
            return posts

        return self._sweep(entry, page, PAGE_SIZE, lambda raw: self._keep_post(raw, run, stats), run, stats)

    def _walk(self, entry: dict[str, Any], run: _Run, stats: dict[str, int]) -> bool:
        """Read the posts above `since` one by one, `GET /posts/<id>.json`, in id order.

        Post ids only grow and every post gets one, so the new posts are exactly the ids
        above the highest one read: each is read once, and a poll with nothing new costs
        1 + `lookahead` requests and reads nothing. An id that answers 404 (deleted, or
        not used yet) or 403 (a private message, a whisper, a private category) is a
        *miss*: a hole when a higher id exists, else the end of the forum. The walk
        stops after `lookahead` + 1 misses in a row, unless a higher id is known to exist
        (`ahead`: delivered by the webhook, or found by a leap), and `since` moves to the
        highest id below which every id was answered. A run of holes longer than the
        lookahead would hide later posts, so after `hole_check` seconds without a new
        post the walk probes further ahead once (+1, +2, +4, ... +512 past the misses):
        a post found there is read and marks the ids below it as to be walked. At most
        `max_requests` requests a poll, the first BURST at once and then
        `requests_per_minute` (Discourse allows 50 per 10 s and 200 a minute per address):
        a backlog larger than that is read over the next polls (`run.paced`).

        Cursor: `{"since", "ahead"?: [ids read above since], "found_at"?, "leap_at"?}`."""
        since = int(entry["since"])
        ahead = {i for i in (_int(v) for v in entry.get("ahead") or []) if i is not None and i > since}
        now = self.clock().timestamp()
        found_at = float(entry.get("found_at") or now)
        leap_at = float(entry.get("leap_at") or 0)
        requests = misses = 0
        top = since  # every id up to here is answered (read or a hole)
        post_id = since
        caught_up = False
        try:
            while True:
                post_id += 1
                if post_id in ahead:
                    top, misses = post_id, 0
                    continue
                if requests >= self.options.max_requests:
                    run.paced = True
                    bump(stats, "walk/budget_spent")
                    break
                requests += 1
                if not self._pace(requests):  # the service is stopping: keep what was read
                    run.paced = True
                    break
                if self._read_post(post_id, run, stats):
                    top, misses, found_at = post_id, 0, now
                    continue
                misses += 1
                if misses > self.options.lookahead and not any(i > post_id for i in ahead):
                    caught_up = True
                    break
            if caught_up and now - found_at >= self.options.hole_check and now - leap_at >= self.options.hole_check:
                leap_at = now
                for n in range(LEAPS):
                    if requests >= self.options.max_requests:
                        break
                    requests += 1
                    if not self._pace(requests):
                        break
                    probe = post_id + (1 << n)
                    if self._read_post(probe, run, stats):
                        bump(stats, "walk/hole_skipped")
                        ahead.add(probe)
                        found_at = now
                        caught_up = False  # the ids below it are walked by the next fetch
                        break
        finally:
            entry.clear()
            entry["since"] = top
            rest = sorted(i for i in ahead if i > top)
            if rest:
                entry["ahead"] = rest[-MAX_AHEAD:]
            entry["found_at"] = found_at
            if leap_at:
                entry["leap_at"] = leap_at
        return caught_up

    def _pace(self, requests: int) -> bool:
        """Past the first BURST requests of a poll, wait so the walk keeps to
        `requests_per_minute` (through the retry policy, whose sleep tests replace);
        False when the service is stopping."""
        if requests > BURST:
            return self.retry.pause(60.0 / self.options.requests_per_minute)
        return not self.retry.stopping.is_set()

    def _read_post(self, post_id: int, run: _Run, stats: dict[str, int]) -> bool:
        """`GET /posts/<id>.json` and keep the post if it is for us. False when the id
        is a miss (404, 403); True when a post was read (kept, dropped or quarantined)."""
        raw = self._get(f"/posts/{post_id}.json", None, stats, run=run, missing_ok=True)
        if raw is None:
            bump(stats, "walk/miss")
            return False
        bump(stats, "walk/read")
        try:
            self._keep_post(raw, run, stats)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            run.quarantined.append(quarantine(self.name, raw, exc, post_id))
        return True

    def _search(self, term: str, entry: dict[str, Any], run: _Run, stats: dict[str, int]) -> bool:
        def page(before: int | None) -> list[Any]:
            number = 1 + run.search_pages.get(term, 0)
            run.search_pages[term] = number
            params = {"q": f"{term} order:latest", "page": number}
            body = self._get("/search.json", params, stats, run=run)
            posts = body.get("posts", []) if isinstance(body, dict) else None
            if not isinstance(posts, list):
                raise TransientError("Discourse /search.json has no posts list", "malformed_body")
            grouped = body.get("grouped_search_result") or {}
            run.search_more[term] = bool(grouped.get("more_full_page_results"))
            return posts

        def hit(raw: Any) -> None:
            post_id = raw["id"]
            if str(post_id) in run.ids:
                bump(stats, "dropped/duplicate")
                return
            full = self._get(f"/posts/{int(post_id)}.json", None, stats, run=run)
            self._keep_post(full, run, stats)

        return self._sweep(entry, page, None, hit, run, stats, more=lambda: run.search_more.get(term, False))

    def _category(self, category: int, entry: dict[str, Any], run: _Run, stats: dict[str, int]) -> bool:
        def page(before: int | None) -> list[Any]:
            number = run.category_pages.get(category, 0)
            run.category_pages[category] = number + 1
            params: dict[str, Any] = {"order": "created"}
            if number:
                params["page"] = number
            body = self._get(f"/c/{category}/l/latest.json", params, stats, run=run)
            topic_list = body.get("topic_list") if isinstance(body, dict) else None
            topics = topic_list.get("topics") if isinstance(topic_list, dict) else None
            if not isinstance(topics, list):
                raise TransientError(f"Discourse category {category} has no topic_list.topics", "malformed_body")
            run.category_more[category] = bool(isinstance(topic_list, dict) and topic_list.get("more_topics_url"))
            return [t for t in topics if not (isinstance(t, dict) and t.get("pinned"))]

        def topic(raw: Any) -> None:
            body = self._get(f"/t/{int(raw['id'])}.json", None, stats, run=run)
            first = ((body.get("post_stream") or {}).get("posts") or [None])[0]
            if not isinstance(first, dict):
                raise ValueError(f"topic {raw['id']} has no opening post")
            first.setdefault("topic_title", body.get("title"))
            first.setdefault("topic_slug", body.get("slug"))
            first.setdefault("category_id", body.get("category_id", category))
            self._keep_post(first, run, stats, keep_all=True)

        return self._sweep(entry, page, None, topic, run, stats, more=lambda: run.category_more.get(category, False))

    def _sweep(
        self,
        entry: dict[str, Any],
        page: Callable[[int | None], list[Any]],
        full_page: int | None,
        take: Callable[[Any], None],
        run: _Run,
        stats: dict[str, int],
        more: Callable[[], bool] | None = None,
    ) -> bool:
        """Read a newest-first listing of items with growing integer ids down to `since`.

        Updates `entry` ({"since", "gap"}) and returns True when caught up. An item without
        a readable id is quarantined; one that `take` cannot read is quarantined too."""
        since = _int(entry.get("since"))
        gap = entry.get("gap") if isinstance(entry.get("gap"), dict) else None
        before = _int(gap.get("before")) if gap else None
        pending = _int(gap.get("pending")) if gap else None
        newest: int | None = None
        oldest: int | None = None
        complete = False
        for _ in range(self.options.max_pages):
            items = page(before)
            if not items:
                complete = True
                break
            for raw in items:
                item_id = _int(raw.get("id")) if isinstance(raw, dict) else None
                if item_id is None:
                    run.quarantined.append(quarantine(self.name, raw, "item has no integer id", payload_id(raw)))
                    continue
                if since is not None and item_id <= since:
                    complete = True
                    continue
                if before is not None and item_id >= before:
                    bump(stats, "dropped/seen")
                    continue
                newest = item_id if newest is None else max(newest, item_id)
                oldest = item_id if oldest is None else min(oldest, item_id)
                try:
                    take(raw)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    run.quarantined.append(quarantine(self.name, raw, exc, item_id))
            if complete or (since is None and gap is None):
                complete = True  # caught up, or the first poll: start from here, no back-fill
                break
            ended = len(items) < full_page if full_page is not None else not (more and more())
            if ended:
                complete = True
                break
            before = oldest
        top = max((v for v in (since, pending, newest) if v is not None), default=None)
        entry.clear()
        if complete:
            if top is not None:
                entry["since"] = top
            return True
        if since is not None:
            entry["since"] = since
        entry["gap"] = {"before": before if oldest is None else oldest, "pending": top}
        bump(stats, "gap/page_limit")
        return False

    # ------------------------------------------------------------------ items

    def _keep_post(self, raw: Any, run: _Run, stats: dict[str, int], keep_all: bool = False) -> None:
        """Normalise a post and keep it if it is for us; raises on a malformed post."""
        if not isinstance(raw, dict):
            raise TypeError(f"post is a {type(raw).__name__}, not an object")
        post_id = str(int(raw["id"]))
        if post_id in run.ids:
            bump(stats, "dropped/duplicate")
            return
        if raw.get("deleted_at") or raw.get("user_deleted") or raw.get("hidden"):
            bump(stats, "dropped/deleted")
            return
        if int(raw.get("post_type") or REGULAR) != REGULAR:
            bump(stats, "dropped/not_a_post")  # moderator actions, whispers
            return
        mention = self._mention(raw)
        in_category = raw.get("category_id") in self.options.categories
        title = mention.title
        if title is None and mention.extra["post_number"] == 1 and not raw.get("topic_title"):
            # a single post (/posts/<id>.json, the walk) has no topic_title: the slug (the
            # title in ASCII words) stands in for it in the brand match
            title = str(raw.get("topic_slug") or "").replace("-", " ") or None
        matched = self.matcher.matches(mention.text if title is None else f"{title}\n{mention.text}")
        if not (matched or in_category or keep_all):
            bump(stats, "dropped/no_match")
            return
        mention.extra["brands"] = matched or ([self.options.brand] if self.options.brand else [])
        run.ids.add(post_id)
        run.mentions.append(mention)

    def _mention(self, raw: Mapping[str, Any]) -> Mention:
        post_id = str(int(raw["id"]))
        text = raw.get("raw")
        if not isinstance(text, str) or not text.strip():  # topic views carry cooked only
            cooked = raw["cooked"]
            if not isinstance(cooked, str):
                raise TypeError("post has neither raw nor cooked text")
            text = html_to_text(cooked)
        username = raw["username"]
        if not isinstance(username, str) or not username:
            raise ValueError("post has no username")
        topic_id = int(raw["topic_id"])
        number = int(raw.get("post_number") or 1)
        slug = raw.get("topic_slug") or "-"
        reply_to = raw.get("reply_to_post_number")
        extra: dict[str, Any] = {
            "topic_id": topic_id,
            "post_number": number,
            "category_id": raw.get("category_id"),
            "reply_to_post_number": reply_to,
            "forum": self.options.base_url,
        }
        if self.options.brand:
            extra["brand"] = self.options.brand
        return Mention(
            source=self.name,
            platform="discourse",
            external_id=post_id,
            text=text,
            created_at=parse_time(raw["created_at"]),
            author=Author(
                platform="discourse",
                handle=username,
                name=raw.get("name") or None,
                external_id=str(raw["user_id"]) if raw.get("user_id") is not None else None,
            ),
            url=f"{self.options.base_url}/t/{slug}/{topic_id}/{number}",
            title=raw.get("topic_title") if number == 1 else None,
            in_reply_to=f"{topic_id}#{reply_to}" if reply_to else (f"{topic_id}#1" if number > 1 else None),
            conversation_id=str(topic_id),
            engagement=int(raw.get("reply_count") or 0)
            + int(raw.get("quote_count") or 0)
            + int(raw.get("like_count") or 0),
            extra=extra,
        )

    # ------------------------------------------------------------------ HTTP

    def _get(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        stats: dict[str, int],
        run: _Run | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """One GET, retried per `self.retry`. With `missing_ok`, a 404 or a 403 that is
        not about the API key answers None (a post we may not see, or not written yet)."""
        url = self.options.base_url + quote(path, safe="/.")

        def classify(response: httpx.Response) -> Exception | None:
            status = response.status_code
            if status == 429 and "retry-after" not in {k.lower() for k in response.headers}:
                wait = _wait_seconds(response)
                return RateLimited(f"Discourse rate limit reached (429); retry in {wait:.0f}s", retry_after=wait)
            if missing_ok and status in (403, 404, 410):
                if status == 403 and "api username or key is invalid" in response.text.lower():
                    return BadCredentials(self._credential_message(status, response.text[:200]))
                return _Missing(path)
            return None

        def get() -> Any:
            response = _http.request(
                self.client,
                "GET",
                url,
                label=f"Discourse ({self.options.base_url})",
                credential_message=self._credential_message,
                params=params,
                headers=self.headers or None,
                timeout=self.options.timeout,
                policy=RetryPolicy(attempts=1),
                stats=stats,
                clock=self.clock,
                classify=classify,
            )
            try:
                return response.json()
            except ValueError as exc:
                raise TransientError(
                    f"Discourse returned a malformed body for {path}: {exc}", "malformed_body"
                ) from exc

        try:
            body = call_with_retries(get, self.retry, stats)
        except _Missing:
            body = None
        if run is not None:
            run.requests_ok += 1
        return body

    def _credential_message(self, status: int, body: str) -> str:
        if self.options.api_key:
            return (
                f"DISCOURSE_API_KEY/DISCOURSE_API_USERNAME were refused by {self.options.base_url} ({status}): "
                "check the key, its user and its scopes"
            )
        return (
            f"{self.options.base_url} refused anonymous reads ({status}): the forum is private; set "
            "api_key: true and DISCOURSE_API_KEY / DISCOURSE_API_USERNAME"
        )


class _Missing(Exception):
    """A post id that answers 404 or 403 (see `DiscourseSource._walk`)."""


class _Run:
    """What one fetch has gathered so far, across streams."""

    def __init__(self) -> None:
        self.requests_ok = 0  # answered requests (a 429 after some keeps what they read)
        self.paced = False  # the walk spent its request budget: more next poll
        self.mentions: list[Mention] = []
        self.ids: set[str] = set()
        self.search_pages: dict[str, int] = {}
        self.search_more: dict[str, bool] = {}
        self.category_pages: dict[int, int] = {}
        self.category_more: dict[int, bool] = {}
        self.quarantined: list[Quarantined] = []


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _wait_seconds(response: httpx.Response) -> float:
    """Discourse's 429 body: `{"error_type": "rate_limit", "extras": {"wait_seconds": 10}}`."""
    try:
        extras = response.json().get("extras") or {}
        return max(float(extras.get("wait_seconds")), 1.0)  # type: ignore[arg-type]  # None -> TypeError
    except (ValueError, TypeError, AttributeError):
        return DEFAULT_RATE_LIMIT_WAIT
