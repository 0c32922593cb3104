"""Facebook Pages: comments and visitor posts on the brand's Page, and posts that mention
or tag the Page, through the Graph API with a Page access token.

Streams, each newest first with cursor paging (`paging.next`):

* `feed`: `GET /{page}/feed?since=<newest read>` — the Page's posts and visitors' posts.
  A visitor's post is a mention; every post (the Page's own too) is remembered for
  `comment_window_days` so its comments are read.
* `comments`: `GET /{post}/comments?filter=stream&order=reverse_chronological&since=...`
  for each remembered post whose `updated_time` moved since the last pass (Graph moves
  it on every new comment; one `GET /?ids=<50 posts>&fields=updated_time` checks them)
  — every comment and reply, except the Page's own.
* `tagged`: `GET /{page}/tagged?since=...` — posts that tag or @mention the Page.

The Page webhook (`POST /hooks/facebook`, console.web.facebook_hook) is the fast path:
it stores a comment or visitor post seconds after it is written and purges one that is
removed (`verb: remove`). Polling is the fallback: what the webhook stored is
de-duplicated on (source, external_id) when the poll reads it again.

Reply target: Facebook threads comments two levels deep; an answer to a reply goes under
its top-level comment. `Mention.extra["reply_target"]` is the object whose `/comments`
edge a Page reply is posted to: the comment itself for a top-level comment, its parent
for a reply, the post for a visitor post or a tag. `in_reply_to` is the parent comment
or the post.

Payload shapes (Graph API reference; recorded in tests/fixtures/facebook/ with where each
came from): a list is `{"data": [...], "paging": {"cursors": {"before", "after"},
"next"}}`; a post `{id: "<page>_<post>", message, created_time: "2024-11-13T14:02:11+0000",
from: {id, name}, permalink_url}`; a comment `{id: "<post>_<comment>", message,
created_time, from, parent: {id}, permalink_url, like_count, comment_count}`. Comments
by people who have not granted the app access arrive without `from`; they are kept with
an anonymous author.

Throttling: every answer carries `X-App-Usage` (`{"call_count", "total_cputime",
"total_time"}`, percent of the app's hourly allowance) and, for Page tokens,
`X-Business-Use-Case-Usage` (`{"<id>": [{"type": "pages", "call_count", ...,
"estimated_time_to_regain_access": <minutes>}]}`). When any figure reaches `throttle_at`
(default 95 %) the poll stops there, keeps what it read, and the source sleeps until
access is regained (the estimate, else `throttle_wait`): Batch.rate_limit has remaining
0 and the reset, and the cursor's `not_before` makes the next fetch raise RateLimited
without calling. Error codes 4 (app limit), 17 (user limit), 32 (Page limit), 613
(calls per hour) and 80001 (Page business-use-case limit) are RateLimited the same way.

Other errors: code 190 (token invalid or expired) -> BadCredentials naming
FACEBOOK_PAGE_ACCESS_TOKEN; 10 and 200-299 (missing permission) -> BadCredentials naming
the permission; 100 with subcode 33 on a post's comments (the post is gone) -> the post
is forgotten; other 4xx -> PermanentError with Facebook's message; codes 1/2, 5xx,
timeouts and an unreadable body -> retried (3 attempts), then RetryableError.

Cursor (JSON): `{"v": 1, "streams": {"feed"|"comments"|"tagged": {"ts", "seen"}},
"posts": {post_id: created epoch}, "updated": {post_id: updated_time epoch read},
"not_before": epoch}`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import httpx
from pydantic import BaseModel, ConfigDict, Field

from listener.sources import _http
from listener.sources._common import (
    PlatformSource,
    RetryPolicy,
    TransientError,
    Watermark,
    bump,
    call_with_retries,
    dump_cursor,
    load_cursor,
    parse_time,
    quarantine,
    require_env,
    safely,
    sole_brand,
    validate_options,
)
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined, RateLimit
from platforms.facebook import ENV, GRAPH, SECRET_ENV, THROTTLE_CODES, appsecret_proof, usage_from_headers
from socialear.errors import BadCredentials, NotConfigured, PermanentError, RateLimited

BATCH_IDS = 50  # Graph's limit of ids in one `?ids=` lookup
POST_FIELDS = "id,message,created_time,from{id,name},permalink_url"
COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,like_count,comment_count"


class Throttled(RateLimited):
    """Graph API usage at or over the limit; carries what the headers said."""

    def __init__(self, message: str, retry_after: float, usage: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.usage = usage


class FacebookSource(PlatformSource):
    """Comments, visitor posts and mentions on one Facebook Page."""

    type: ClassVar[str] = "facebook"
    platform: ClassVar[str] = "facebook"
    description: ClassVar[str] = (
        "Facebook Page comments, visitor posts and posts tagging the Page, through the Graph "
        "API with a Page access token (the Page webhook /hooks/facebook is the fast path)."
    )
    needs: ClassVar[tuple[str, ...]] = ENV
    expected_update_period: ClassVar[float | None] = 2 * 86_400.0

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        page_id: str = Field(pattern=r"^\d+$")
        graph_version: str = Field("v21.0", pattern=r"^v\d+\.\d+$")
        comments: bool = True
        visitor_posts: bool = True
        mentions: bool = True  # posts that tag or @mention the Page
        brand: str | None = None  # recorded in Mention.extra["brand"]
        comment_window_days: float = Field(7.0, gt=0, le=90)  # how long a post's comments are read
        max_pages: int = Field(5, ge=1, le=100)  # per request chain per poll
        page_size: int = Field(100, ge=1, le=100)
        throttle_at: float = Field(95.0, gt=0, le=100)  # percent of any usage header
        throttle_wait: float = Field(900.0, ge=1, le=86_400)  # seconds, when no estimate is given
        timeout: float = Field(15.0, gt=0, le=120)

    options: FacebookSource.Options

    def __init__(
        self,
        name: str,
        client: httpx.Client,
        token: str,
        options: FacebookSource.Options,
        app_secret: str | None = None,
    ):
        super().__init__(name, options)
        self.client = client
        self.token = token
        self.app_secret = app_secret

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> FacebookSource:
        import os

        opts = validate_options(cls, name, options)
        if not (opts.comments or opts.visitor_posts or opts.mentions):
            raise NotConfigured(
                f"facebook source '{name}': nothing to read (comments, visitor_posts, mentions all off)"
            )
        opts.brand = sole_brand(opts.brand, brands)
        token = require_env(env, ENV, cls.type, name)["FACEBOOK_PAGE_ACCESS_TOKEN"]
        secret = ((os.environ if env is None else env).get(SECRET_ENV) or "").strip() or None
        if client is None:
            client = httpx.Client(headers={"Accept": "application/json"})
        return cls(name, client, token, opts, secret)

    # ------------------------------------------------------------------ fetch

    def fetch(self, cursor: str | None) -> Batch:
        """Read new visitor posts, comments and tags since the cursor, stopping early when
        the Graph API's usage headers say the app is near its limit."""
        now = self.clock()
        state = load_cursor(cursor, self.type, self.name)
        not_before = state.get("not_before")
        if not_before and float(not_before) > now.timestamp():
            wait = float(not_before) - now.timestamp()
            raise RateLimited(f"Facebook usage limit: waiting {wait:.0f}s to regain access", retry_after=wait)
        state.pop("not_before", None)
        streams: dict[str, Any] = state.setdefault("streams", {})
        posts: dict[str, float] = {str(k): float(v) for k, v in (state.get("posts") or {}).items()}
        updated: dict[str, float] = {str(k): float(v) for k, v in (state.get("updated") or {}).items()}
        run = _Run(now)
        rate_limit: RateLimit | None = None
        try:
            self._feed(streams, posts, run)
            if self.options.comments:
                self._comments(streams, posts, updated, run)
            if self.options.mentions:
                self._tagged(streams, run)
        except RateLimited as exc:
            if not run.requests_ok:
                raise  # nothing read: the collector waits for the reset
            wait = exc.retry_after or self.options.throttle_wait
            state["not_before"] = now.timestamp() + wait
            bump(run.stats, "partial/rate_limited")
            rate_limit = RateLimit(remaining=0, reset_at=now + timedelta(seconds=wait))
        floor = now.timestamp() - self.options.comment_window_days * 86_400
        state["posts"] = {k: v for k, v in posts.items() if v >= floor}
        state["updated"] = {k: v for k, v in updated.items() if k in state["posts"]}
        state["v"] = 1
        if rate_limit is None and run.usage is not None:
            rate_limit = RateLimit(remaining=max(int(100 - run.usage), 0), limit=100)
        bump(run.stats, "fetched", len(run.mentions))
        if run.quarantined:
            bump(run.stats, "quarantined", len(run.quarantined))
        return Batch(
            mentions=run.mentions,
            next_cursor=dump_cursor(state),
            rate_limit=rate_limit,
            quarantined=run.quarantined,
            exhausted="not_before" not in state and not run.capped,
            stats=run.stats,
        )

    def _feed(self, streams: dict[str, Any], posts: dict[str, float], run: _Run) -> None:
        """The Page's feed: a visitor's post is a mention; every post (the Page's own too)
        is remembered so its comments are read."""

        def keep(raw: dict[str, Any], post_id: str, ts: float) -> None:
            posts[post_id] = ts
            author = (raw.get("from") or {}).get("id")
            if author == self.options.page_id or not self.options.visitor_posts:
                return  # the Page's own post: its comments are what we want
            run.take(raw, lambda r: self._post(r, "visitor_post"), self.name)

        self._post_edge(streams, "feed", run, "post", keep)

    def _comments(self, streams: dict[str, Any], posts: dict[str, float], updated: dict[str, float], run: _Run) -> None:
        """New comments on the remembered posts. Only posts whose `updated_time` moved since
        the last pass are asked (Graph moves it when the post is edited or commented on),
        found with one `?ids=` request per 50 posts instead of one request per post."""
        mark = Watermark.from_json(streams.get("comments"))
        since = self._since(mark, run)
        read: list[tuple[str, float]] = []
        complete = False
        capped = run.capped
        # A comment written after this instant on a post judged unchanged is read next
        # time: the watermark never passes it (see the end of this method).
        checked_at = run.now.timestamp() - 1
        try:
            changed = self._changed(posts, updated, run)
            for post_id in sorted(changed, key=lambda k: posts[k], reverse=True):
                try:
                    for raw in self._list(f"{post_id}/comments", COMMENT_FIELDS, since, run, comments=True):
                        comment_id = safely(lambda r: str(r["id"]), raw)
                        ts = safely(lambda r: parse_time(r["created_time"]).timestamp(), raw)
                        if comment_id is None or ts is None:
                            run.quarantine(self.name, raw, "comment has no id or created_time")
                            continue
                        if not mark.is_new(comment_id, ts) or comment_id in run.ids:
                            bump(run.stats, "dropped/seen")
                            continue
                        read.append((comment_id, ts))
                        if (raw.get("from") or {}).get("id") == self.options.page_id:
                            bump(run.stats, "dropped/own_reply")
                            continue
                        run.take(raw, functools.partial(self._comment, post_id=post_id), self.name)
                except _PostGone:
                    posts.pop(post_id, None)
                    updated.pop(post_id, None)
                    bump(run.stats, "dropped/post_gone")
                    continue
                new_time = changed.get(post_id)
                if new_time is not None:
                    updated[post_id] = new_time
            complete = run.capped == capped
        finally:
            after = _after(mark, read, complete)
            if complete and after.ts is not None and after.ts > checked_at:
                newer = {k: v for k, v in after.seen.items() if v >= checked_at}
                after = Watermark(max(checked_at, mark.ts or checked_at), newer, after.lookback, after.cap)
            streams["comments"] = after.to_json()

    def _changed(self, posts: dict[str, float], updated: dict[str, float], run: _Run) -> dict[str, float | None]:
        """Posts whose comments need reading, with their new `updated_time` (None: unknown,
        read anyway). A post never checked, or one a batch lookup could not answer for,
        is read."""
        out: dict[str, float | None] = {}
        ids = sorted(posts, key=lambda k: posts[k], reverse=True)
        for start in range(0, len(ids), BATCH_IDS):
            chunk = ids[start : start + BATCH_IDS]
            try:
                body = self._get(
                    f"{GRAPH}/{self.options.graph_version}/", {"ids": ",".join(chunk), "fields": "updated_time"}, run
                )
            except BadCredentials:
                raise
            except PermanentError:
                # one id in the batch is gone (code 100): ask each post itself
                out.update(dict.fromkeys(chunk))
                continue
            for post_id in chunk:
                item = body.get(post_id)
                stamp = (
                    safely(lambda i: parse_time(i["updated_time"]).timestamp(), item)
                    if isinstance(item, dict)
                    else None
                )
                if stamp is None or post_id not in updated or stamp > updated[post_id]:
                    out[post_id] = stamp
                else:
                    bump(run.stats, "skipped/post_unchanged")
        return out

    def _tagged(self, streams: dict[str, Any], run: _Run) -> None:
        """Posts that tag or @mention the Page: each a mention."""
        self._post_edge(
            streams, "tagged", run, "tagged post",
            lambda raw, _id, _ts: run.take(raw, lambda r: self._post(r, "mention"), self.name))

    def _post_edge(
        self,
        streams: dict[str, Any],
        edge: str,
        run: _Run,
        what: str,
        keep: Callable[[dict[str, Any], str, float], None],
    ) -> None:
        """Read one of the Page's post edges (`feed`, `tagged`) since its watermark
        (`streams[edge]`), handing each new post to `keep`. The watermark moves only
        when the pass was complete (see `_after`)."""
        mark = Watermark.from_json(streams.get(edge))
        since = self._since(mark, run)
        read: list[tuple[str, float]] = []
        complete = False
        capped = run.capped
        try:
            for raw in self._list(f"{self.options.page_id}/{edge}", POST_FIELDS, since, run):
                post_id = safely(lambda r: str(r["id"]), raw)
                ts = safely(lambda r: parse_time(r["created_time"]).timestamp(), raw)
                if post_id is None or ts is None:
                    run.quarantine(self.name, raw, f"{what} has no id or created_time")
                    continue
                if not mark.is_new(post_id, ts) or post_id in run.ids:
                    bump(run.stats, "dropped/seen")
                    continue
                read.append((post_id, ts))
                keep(raw, post_id, ts)
            complete = run.capped == capped
        finally:
            streams[edge] = _after(mark, read, complete).to_json()

    def _since(self, mark: Watermark, run: _Run) -> float:
        """Graph's `since` is the start of the range, inclusive, in whole seconds: ask from
        the second after the newest item read, so it is not read again every poll. An item
        written in that same second after the poll read it would be missed; the webhook
        covers that sub-second window. A first poll starts `comment_window_days` back."""
        if mark.ts is not None:
            return float(int(mark.ts) + 1)
        return run.now.timestamp() - self.options.comment_window_days * 86_400

    # ------------------------------------------------------------------ items

    def _author(self, raw: Mapping[str, Any]) -> Author:
        person = raw.get("from")
        if isinstance(person, Mapping) and person.get("id"):
            return Author(
                platform="facebook",
                handle=str(person.get("name") or person["id"]),
                name=person.get("name"),
                external_id=str(person["id"]),
            )
        # Graph hides the author of a comment by someone who has not used the app.
        return Author(platform="facebook", handle="facebook user")

    def _post(self, raw: Mapping[str, Any], kind: str) -> Mention:
        post_id = str(raw["id"])
        message = raw.get("message")
        if not isinstance(message, str) or not message.strip():
            raise ValueError(f"{kind} has no message text")
        return self._mention(
            external_id=post_id,
            text=message,
            created_at=parse_time(raw["created_time"]),
            author=self._author(raw),
            url=raw.get("permalink_url") or f"https://www.facebook.com/{post_id}",
            kind=kind,
            reply_target=post_id,
            in_reply_to=None,
            conversation_id=post_id,
        )

    def _comment(self, raw: Mapping[str, Any], post_id: str) -> Mention:
        comment_id = str(raw["id"])
        message = raw.get("message")
        if not isinstance(message, str):
            raise TypeError("comment message is not a string")
        parent = (raw.get("parent") or {}).get("id")
        return self._mention(
            external_id=comment_id,
            text=message,
            created_at=parse_time(raw["created_time"]),
            author=self._author(raw),
            url=raw.get("permalink_url") or f"https://www.facebook.com/{comment_id}",
            kind="reply" if parent else "comment",
            reply_target=str(parent) if parent else comment_id,
            in_reply_to=str(parent) if parent else post_id,
            conversation_id=post_id,
            engagement=int(raw.get("like_count") or 0) + int(raw.get("comment_count") or 0),
        )

    def _mention(self, *, kind: str, reply_target: str, engagement: int = 0, **fields: Any) -> Mention:
        extra: dict[str, Any] = {"kind": kind, "reply_target": reply_target, "page_id": self.options.page_id}
        if self.options.brand:
            extra["brand"] = self.options.brand
            extra["brands"] = [self.options.brand]
        return Mention(source=self.name, platform="facebook", engagement=engagement, extra=extra, **fields)

    def mention_from_webhook(self, value: Mapping[str, Any]) -> Mention | None:
        """A Mention from a Page webhook `feed` change (comment or visitor post), or None
        when it is the Page's own or carries no text (a like, a photo without caption)."""
        sender = value.get("from") or {}
        if str(sender.get("id") or "") == self.options.page_id:
            return None
        message = value.get("message")
        if not isinstance(message, str) or not message.strip():
            return None
        created = value.get("created_time")
        raw = {
            "id": value.get("comment_id") or value.get("post_id"),
            "message": message,
            "created_time": created if created is not None else self.clock().timestamp(),
            "from": sender,
            "permalink_url": value.get("permalink_url") or (value.get("post") or {}).get("permalink_url"),
        }
        if value.get("item") == "comment":
            parent = value.get("parent_id")
            post_id = str(value.get("post_id") or "")
            if parent and parent != post_id:
                raw["parent"] = {"id": parent}
            return self._comment(raw, post_id)
        return self._post(raw, "visitor_post")

    # ------------------------------------------------------------------ HTTP

    def _list(
        self, edge: str, fields: str, since: float, run: _Run, comments: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Items of one edge, newest first, following `paging.next` up to max_pages."""
        params: dict[str, Any] = {"fields": fields, "limit": self.options.page_size, "since": int(since)}
        if comments:
            params.update({"filter": "stream", "order": "reverse_chronological"})
        url = f"{GRAPH}/{self.options.graph_version}/{edge}"
        for _ in range(self.options.max_pages):
            body = self._get(url, params, run, comments=comments)
            data = body.get("data")
            if not isinstance(data, list):
                raise TransientError(f"Facebook {edge} answer has no data list", "malformed_body")
            for item in data:
                yield item if isinstance(item, dict) else {"_raw": item}
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            nxt = (body.get("paging") or {}).get("next")
            if not data or not nxt or not after:
                return
            params = {**params, "after": after}
            params.update(
                {k: v[0] for k, v in parse_qs(urlparse(nxt).query).items() if k in ("until", "__paging_token")}
            )
        bump(run.stats, "gap/page_limit")
        run.capped += 1  # older items unread: the stream must not move its watermark

    def _get(self, url: str, params: Mapping[str, Any], run: _Run, comments: bool = False) -> dict[str, Any]:
        if run.throttled is not None:
            raise run.throttled

        def classify(response: httpx.Response) -> Exception | None:
            usage, regain = usage_from_headers(response.headers)
            run.usage = usage if run.usage is None else max(run.usage, usage)
            if regain:
                run.regain = max(run.regain or 0.0, regain)
            if response.status_code < 400:
                return None
            try:
                error = response.json().get("error") or {}
            except (ValueError, AttributeError):
                error = {}
            if not isinstance(error, dict):
                error = {}
            code = error.get("code")
            subcode = error.get("error_subcode")
            message = str(error.get("message") or response.text[:200])
            if code in THROTTLE_CODES or code == 368:
                wait = regain * 60 if regain else self.options.throttle_wait
                return Throttled(f"Facebook rate limit (code {code}): {message}", wait, usage)
            if code == 190:
                return BadCredentials(
                    f"FACEBOOK_PAGE_ACCESS_TOKEN was rejected (code 190/{subcode or '-'}, HTTP "
                    f"{response.status_code}): {message}; generate a new long-lived Page token"
                )
            if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
                return BadCredentials(
                    f"FACEBOOK_PAGE_ACCESS_TOKEN lacks a permission (code {code}, HTTP {response.status_code}): "
                    f"{message}; the token needs pages_read_engagement and pages_read_user_content"
                )
            if comments and code == 100 and subcode == 33:
                return _PostGone(message)
            if code in (1, 2) or (error.get("is_transient") and response.status_code < 500):
                return TransientError(f"Facebook transient error (code {code}): {message}", "server_error")
            if response.status_code in (401, 403):
                return BadCredentials(f"FACEBOOK_PAGE_ACCESS_TOKEN was refused ({response.status_code}): {message}")
            if response.status_code < 500:
                return PermanentError(f"Facebook rejected the request ({response.status_code}, code {code}): {message}")
            return None

        query = dict(params)
        if self.app_secret:
            query["appsecret_proof"] = appsecret_proof(self.token, self.app_secret)

        def get() -> dict[str, Any]:
            response = _http.request(
                self.client,
                "GET",
                url,
                label="Facebook",
                params=query,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.options.timeout,
                policy=RetryPolicy(attempts=1),
                stats=run.stats,
                clock=self.clock,
                classify=classify,
            )
            try:
                body = response.json()
            except ValueError as exc:
                raise TransientError(f"Facebook returned a malformed body: {exc}", "malformed_body") from exc
            if not isinstance(body, dict):
                raise TransientError("Facebook returned a non-object body", "malformed_body")
            return body

        body = call_with_retries(get, self.retry, run.stats)
        run.requests_ok += 1
        if run.usage is not None and run.usage >= self.options.throttle_at:
            wait = run.regain * 60 if run.regain else self.options.throttle_wait
            # Read this answer, then stop: the next request would push the app over.
            run.throttled = Throttled(f"Facebook usage at {run.usage:.0f}%: pausing", wait, run.usage)
        return body


def _after(mark: Watermark, read: list[tuple[str, float]], complete: bool) -> Watermark:
    """The stream's watermark after a poll. Only a complete pass may move it forward: a
    pass cut short (throttled, an outage) may have left older items unread, possibly on
    another post, so it keeps its time and just remembers what it read."""
    if complete:
        return mark.advanced(read)
    return Watermark(mark.ts, {**mark.seen, **dict(read)}, mark.lookback, mark.cap)


class _PostGone(PermanentError):
    """The post whose comments were asked for no longer exists (code 100, subcode 33)."""


class _Run:
    """What one fetch has gathered: mentions, quarantined items, usage, throttle state."""

    def __init__(self, now: datetime):
        self.now = now
        self.mentions: list[Mention] = []
        self.quarantined: list[Quarantined] = []
        self.ids: set[str] = set()
        self.stats: dict[str, int] = {}
        self.usage: float | None = None
        self.throttled: Throttled | None = None
        self.regain: float | None = None  # minutes, from X-Business-Use-Case-Usage
        self.requests_ok = 0
        self.capped = 0  # request chains stopped by max_pages

    def quarantine(self, source: str, raw: Any, error: str) -> None:
        self.quarantined.append(quarantine(source, raw, error, raw.get("id") if isinstance(raw, dict) else None))

    def take(self, raw: Mapping[str, Any], normalise: Callable[[Mapping[str, Any]], Mention], source: str) -> None:
        try:
            mention = normalise(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.quarantined.append(quarantine(source, raw, exc, raw.get("id")))
            return
        if mention.external_id not in self.ids:
            self.ids.add(mention.external_id)
            self.mentions.append(mention)
