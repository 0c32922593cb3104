"""Discourse forums (community and support forums) through Discourse's JSON API.

Three ways in, so a quiet brand forum and a busy general forum can both be read:

* `posts` (default on): `GET /posts.json`, the forum's latest posts newest first, 50 a
  page, paged down with `before=<post id>`. Each post carries `raw` (the author's
  markdown), so nothing else is fetched. A post is kept when a brand's boolean query
  matches it, or when it is in one of `categories` (your own support categories: every
  post there is for you).
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

Cursor (JSON): `{"v": 1, "streams": {"posts": {"since", "gap"?}, "search:<term>":
{"since"}, "category:<id>": {"since"}}}`. Post and topic ids only grow, so `since` is
the highest id read. A poll that hits `max_pages` before reaching `since` stores
`gap = {"before": <lowest id read>, "pending": <highest id read>}`; the next poll reads
the gap first, then adopts `pending`: nothing skipped, nothing read twice. The first poll
reads one page and starts from there (no back-fill of the forum's history).

Reads: `/posts.json` has no "after" and always answers a page of 50 (Discourse's
LatestPostsQuery: `id < before`, newest first, PAGE_SIZE 50), so a poll every few minutes
reads the same posts again and again, however early it stops at `since`. With
`webhook: true` the forum pushes each post once to `/hooks/discourse`
(console.web.discourse_hook), which also moves `since` to it; polling then only checks,
once per `webhook_silence` without a delivery, that nothing was missed (cursor
`hook = {"at", "checked", "doubt_since"?}`; see `_hook_is_live`).

Credentials: none for a public forum. For a private one set `api_key: true` and
DISCOURSE_API_KEY / DISCOURSE_API_USERNAME (sent as the `Api-Key` / `Api-Username`
headers). Errors: `listener.sources._http` (timeouts, 5xx, a bad body retried; 429 ->
RateLimited with Discourse's Retry-After, else `extras.wait_seconds`; 403 ->
BadCredentials saying the forum wants a key or the key lacks access).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from listener.sources import _http
from listener.sources._common import (
    BrandMatcher,
    BrandSpec,
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
    utcnow,
    validate_options,
)
from listener.sources.rss import html_to_text
from listener.types import Author, Batch, Mention, Quarantined
from socialear.errors import NotConfigured, RateLimited

ENV = ("DISCOURSE_API_KEY", "DISCOURSE_API_USERNAME")
PAGE_SIZE = 50  # /posts.json's page
REGULAR = 1  # post_type of a member's post; 2-4 are moderator actions and whispers
USER_AGENT = "socialear/0.1 (customer-care listening)"


class DiscourseSource:
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

    def __init__(
        self,
        name: str,
        client: httpx.Client,
        matcher: BrandMatcher,
        options: DiscourseSource.Options,
        headers: Mapping[str, str] | None = None,
    ):
        self.name = name
        self.client = client
        self.matcher = matcher
        self.options = options
        self.headers = dict(headers or {})
        self.retry = RetryPolicy()
        self.clock: Callable[[], datetime] = utcnow

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
        """Read what is new since the cursor on every configured stream."""
        state = load_cursor(cursor, self.type, self.name)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stats: dict[str, int] = {}
        if self.options.webhook and self._hook_is_live(state, stats):
            return Batch(mentions=[], next_cursor=dump_cursor(state), exhausted=True, stats=stats)
        run = _Run()
        exhausted = True
        if self.options.posts:
            exhausted &= self._posts(streams.setdefault("posts", {}), run, stats)
        if self.options.search:
            for term in self.matcher.terms():
                exhausted &= self._search(term, streams.setdefault(f"search:{term}", {}), run, stats)
        if self.options.categories and not self.options.posts:
            for category in self.options.categories:
                exhausted &= self._category(category, streams.setdefault(f"category:{category}", {}), run, stats)
        if self.options.webhook:
            self._settle(state, exhausted)
        state["v"] = 1
        bump(stats, "fetched", len(run.mentions))
        if run.quarantined:
            bump(stats, "quarantined", len(run.quarantined))
        return Batch(
            mentions=run.mentions,
            next_cursor=dump_cursor(state),
            quarantined=run.quarantined,
            exhausted=exhausted,
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
        if now - last < self.options.webhook_silence:
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

    @staticmethod
    def after_delivery(cursor: str | None, post_ids: list[int], at: datetime, name: str = "discourse") -> str:
        """The cursor after the webhook delivered `post_ids` at `at`: the delivery time is
        kept (polling waits while deliveries come) and, unless the hook is in doubt, every
        post-id stream's high-water mark moves up to them (the next check starts there)."""
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
        """Page /posts.json down to `since` (or through a stored gap). True when caught up."""

        def page(before: int | None) -> list[Any]:
            body = self._get("/posts.json", {"before": before} if before else None, stats)
            posts = body.get("latest_posts") if isinstance(body, dict) else None
            if not isinstance(posts, list):
                raise TransientError("Discourse /posts.json has no latest_posts list", "malformed_body")
            return posts

        return self._sweep(entry, page, PAGE_SIZE, lambda raw: self._keep_post(raw, run, stats), run, stats)

    def _search(self, term: str, entry: dict[str, Any], run: _Run, stats: dict[str, int]) -> bool:
        def page(before: int | None) -> list[Any]:
            number = 1 + run.search_pages.get(term, 0)
            run.search_pages[term] = number
            params = {"q": f"{term} order:latest", "page": number}
            body = self._get("/search.json", params, stats)
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
            full = self._get(f"/posts/{int(post_id)}.json", None, stats)
            self._keep_post(full, run, stats)

        return self._sweep(entry, page, None, hit, run, stats, more=lambda: run.search_more.get(term, False))

    def _category(self, category: int, entry: dict[str, Any], run: _Run, stats: dict[str, int]) -> bool:
        def page(before: int | None) -> list[Any]:
            number = run.category_pages.get(category, 0)
            run.category_pages[category] = number + 1
            params: dict[str, Any] = {"order": "created"}
            if number:
                params["page"] = number
            body = self._get(f"/c/{category}/l/latest.json", params, stats)
            topic_list = body.get("topic_list") if isinstance(body, dict) else None
            topics = topic_list.get("topics") if isinstance(topic_list, dict) else None
            if not isinstance(topics, list):
                raise TransientError(f"Discourse category {category} has no topic_list.topics", "malformed_body")
            run.category_more[category] = bool(isinstance(topic_list, dict) and topic_list.get("more_topics_url"))
            return [t for t in topics if not (isinstance(t, dict) and t.get("pinned"))]

        def topic(raw: Any) -> None:
            body = self._get(f"/t/{int(raw['id'])}.json", None, stats)
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
            if complete or since is None and gap is None:
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
        matched = self.matcher.matches(mention.text if mention.title is None else f"{mention.title}\n{mention.text}")
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

    def _get(self, path: str, params: Mapping[str, Any] | None, stats: dict[str, int]) -> Any:
        url = self.options.base_url + quote(path, safe="/.")

        def classify(response: httpx.Response) -> Exception | None:
            if response.status_code == 429 and "retry-after" not in {k.lower() for k in response.headers}:
                wait = _wait_seconds(response)
                return RateLimited(f"Discourse rate limit reached (429); retry in {wait:.0f}s", retry_after=wait)
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

        return call_with_retries(get, self.retry, stats)

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


class _Run:
    """What one fetch has gathered so far, across streams."""

    def __init__(self) -> None:
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
        return _http.DEFAULT_RATE_LIMIT_WAIT
