"""YouTube: comments on the brand's channel, and videos that mention the brand, through
the YouTube Data API v3 with an API key.

Two streams:

* `comments`: `commentThreads.list?part=snippet,replies&allThreadsRelatedToChannelId=
  <channel>&order=time&maxResults=1..100` (1 quota unit a page): every comment thread on the
  channel's videos, newest first, with the replies the thread resource carries. Every
  comment is kept (it is on your channel); replies become mentions answering the
  top-level comment. A reply added later to a thread already read is not seen (reading
  each thread's replies would cost a unit per thread per poll).
* `search`: `search.list?part=snippet&type=video&order=date&q=<brand terms>&
  publishedAfter=<watermark>` (100 units a call): videos published since the last poll
  that mention a brand, matched locally on title and description.

Payload shapes (recorded in tests/fixtures/youtube/, from the python-youtube SDK's
captured API responses): a thread is `{"kind": "youtube#commentThread", "id", "snippet":
{"channelId", "videoId", "topLevelComment": {"id", "snippet": {"authorDisplayName",
"authorChannelUrl", "authorChannelId": {"value"}, "textOriginal", "textDisplay",
"likeCount", "publishedAt", "updatedAt"}}, "totalReplyCount"}, "replies": {"comments":
[comment...]}}`; a list has `nextPageToken`. A search result is `{"id": {"kind":
"youtube#video", "videoId"}, "snippet": {"publishedAt", "channelId", "channelTitle",
"title", "description"}}`. Errors: `{"error": {"code", "message", "errors": [{"domain",
"reason", "message"}], "status"}}`.

Quota: the Data API grants a project 10,000 units a day, reset at midnight Pacific
time. `max_units_per_day` (default 10,000) caps this source's spend and
`search_units_per_day` (default 2,000: twenty searches) caps the searches within it;
the cursor counts the units spent on the current Pacific day, so restarts and replicas
share the count. A read that would overshoot is not made; with nothing left the source
raises RateLimited until midnight Pacific. `Batch.rate_limit` reports the units left.

Errors (the boundary): `quotaExceeded` and `rateLimitExceeded` -> RateLimited until
midnight Pacific (the quota's reset); `userRateLimitExceeded` -> RateLimited for
Retry-After or 60 s; `keyInvalid` / `API_KEY_INVALID` (400) and 401/403 (API not
enabled, key restricted) -> BadCredentials naming YOUTUBE_API_KEY; 404 (no such
channel) -> PermanentError; 5xx, timeouts, network errors and bad bodies -> retried
(3 attempts), then RetryableError. The key travels in the `X-Goog-Api-Key` header, never
in the URL, so it does not end up in logs.

Cursor (JSON): `{"v": 1, "quota": {"day": "YYYY-MM-DD" (Pacific), "used", "search"},
"streams": {"comments": {"ts", "seen", "etag"?, "rate"?, "read_at"?, "resume"?},
"search": {"ts", "seen"}}}`; see `Watermark`. A comments read stopped by `max_pages`
before reaching the watermark stores `resume = {"page_token", "pending", "size", "new",
"started", "etag"?}` and continues there at the next fetch.

Reads: search.list takes `publishedAfter` (the second after the newest video read), so
a search returns only videos not read before. commentThreads cannot be asked for
"newer than": a read goes from the newest thread down to the first one already read
(order=time is strict), so a read that finds n new threads returns at least n + 1, the
one it stops at. To keep that one a small share, a caught-up channel is read only when
its learnt rate (new threads a second, from the last reads) expects `comments_per_read`
new threads, or `max_delay` after the last read (`_due`; the latency it trades), and
each page's `maxResults` is sized to the threads still expected above the watermark
(`_page_size`), so the page that meets the watermark seldom returns more than that one.
A read first asks for the newest thread alone with `If-None-Match: <etag>` (the Data
API's ETags; 304 Not Modified carries no thread). A simulated day (bench/platform_day.py)
reads each thread about 1.05 times with the defaults (10 threads, 30 minutes); 1 + (reads
a day / threads a day) is the floor. Known limit: a thread made visible late with the
same second as the newest thread read, and listed below it, is not seen.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from listener.sources import _http
from listener.sources._common import (
    BrandMatcher,
    PlatformSource,
    RetryPolicy,
    Sweep,
    TransientError,
    Watermark,
    bump,
    call_with_retries,
    dump_cursor,
    load_cursor,
    parse_time,
    require_env,
    safely,
    sole_brand,
    validate_options,
)
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined, RateLimit
from socialear.errors import BadCredentials, NotConfigured, PermanentError, RateLimited

API = "https://www.googleapis.com/youtube/v3"
PACIFIC = ZoneInfo("America/Los_Angeles")
COST = {"commentThreads": 1, "search": 100}  # quota units per call
DAILY_QUOTA = 10_000
QUOTA_REASONS = {"quotaExceeded", "rateLimitExceeded", "dailyLimitExceeded"}
KEY_REASONS = {"keyInvalid", "API_KEY_INVALID", "keyExpired", "ipRefererBlocked", "accessNotConfigured", "forbidden"}


def next_pacific_midnight(now: datetime) -> datetime:
    """When the Data API's daily quota resets: the next midnight in Los Angeles."""
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)
    return midnight.astimezone(UTC)


def pacific_day(now: datetime) -> str:
    return now.astimezone(PACIFIC).date().isoformat()


def _reasons(response: httpx.Response) -> tuple[set[str], str]:
    """The `errors[].reason`s (and details' reasons) and the message of a Google error body."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return set(), ""
    if not isinstance(error, dict):
        return set(), str(error)
    reasons = {str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)}
    reasons |= {str(d.get("reason")) for d in error.get("details") or [] if isinstance(d, dict) and d.get("reason")}
    return reasons, str(error.get("message") or "")


class YouTubeSource(PlatformSource):
    """Comments on one YouTube channel, and new videos that mention a brand."""

    type: ClassVar[str] = "youtube"
    platform: ClassVar[str] = "youtube"
    description: ClassVar[str] = (
        "YouTube Data API v3: comment threads on the brand's channel and videos mentioning a "
        "brand (search), within the daily quota (10,000 units, a search costs 100)."
    )
    needs: ClassVar[tuple[str, ...]] = ("YOUTUBE_API_KEY",)
    expected_update_period: ClassVar[float | None] = 7 * 86_400.0

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        channel_id: str | None = Field(None, pattern=r"^UC[A-Za-z0-9_-]{22}$")
        comments: bool = True
        search: bool = True
        brands: list[str] | None = None  # only these brands (default: every brand)
        query: str | None = None  # an extra boolean query for search
        brand: str | None = None  # recorded in Mention.extra["brand"] for channel comments
        max_units_per_day: int = Field(DAILY_QUOTA, ge=1, le=10_000_000)
        search_units_per_day: int = Field(2_000, ge=0, le=10_000_000)
        max_pages: int = Field(5, ge=1, le=100)  # comment pages per poll
        # commentThreads has no "since": every read that finds new threads also reads the
        # one it stops at. So the channel is read when about `comments_per_read` new
        # threads are expected (its rate, learnt from earlier reads), and at the latest
        # `max_delay` seconds after the last read (0: every poll). See `_due`.
        comments_per_read: int = Field(10, ge=1, le=100)
        max_delay: float = Field(1800.0, ge=0, le=86_400)
        region_code: str | None = Field(None, pattern=r"^[A-Z]{2}$")
        relevance_language: str | None = None
        timeout: float = Field(15.0, gt=0, le=120)

        @model_validator(mode="after")
        def _streams(self) -> YouTubeSource.Options:
            if self.comments and not self.channel_id:
                raise ValueError("set channel_id (UC...) to read the channel's comments, or comments: false")
            if not (self.comments or self.search):
                raise ValueError("nothing to read: set comments: true or search: true")
            return self

    options: YouTubeSource.Options

    def __init__(
        self,
        name: str,
        client: httpx.Client,
        key: str,
        matcher: BrandMatcher,
        options: YouTubeSource.Options,
    ):
        super().__init__(name, options)
        self.client = client
        self.key = key
        self.matcher = matcher

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> YouTubeSource:
        opts = validate_options(cls, name, options)
        matcher = BrandMatcher.for_source("youtube", name, brands, opts.brands, opts.query)
        if opts.search and not matcher:
            raise NotConfigured(f"youtube source '{name}': search is on but there are no brand queries")
        opts.brand = sole_brand(opts.brand, brands)
        key = require_env(env, cls.needs, cls.type, name)["YOUTUBE_API_KEY"]
        if client is None:
            client = httpx.Client(headers={"Accept": "application/json"})
        return cls(name, client, key, matcher, opts)

    # ------------------------------------------------------------------ fetch

    def fetch(self, cursor: str | None) -> Batch:
        """Read new channel comments and new brand videos, within today's quota."""
        now = self.clock()
        state = load_cursor(cursor, self.type, self.name)
        stored_quota = state.get("quota")
        quota: dict[str, Any] = stored_quota if isinstance(stored_quota, dict) else {}
        if quota.get("day") != pacific_day(now):
            quota = {"day": pacific_day(now), "used": 0, "search": 0}
        state["quota"] = quota
        if self._left(quota) < COST["commentThreads"]:
            raise self._spent(now)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stats: dict[str, int] = {}
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        exhausted = True
        if self.options.comments:
            entry = streams.get("comments") or {}
            exhausted &= self._comments(entry, quota, stats, mentions, quarantined)
            streams["comments"] = entry
        if self.options.search:
            entry = streams.get("search") or {}
            self._search(entry, quota, stats, mentions, quarantined, now)
            streams["search"] = entry
        state["v"] = 1
        bump(stats, "fetched", len(mentions))
        if quarantined:
            bump(stats, "quarantined", len(quarantined))
        return Batch(
            mentions=mentions,
            next_cursor=dump_cursor(state),
            rate_limit=RateLimit(
                remaining=self._left(quota),
                limit=self.options.max_units_per_day,
                reset_at=next_pacific_midnight(now),
            ),
            quarantined=quarantined,
            exhausted=exhausted,
            stats=stats,
        )

    def _left(self, quota: Mapping[str, Any]) -> int:
        return max(self.options.max_units_per_day - int(quota.get("used") or 0), 0)

    def _spent(self, now: datetime) -> RateLimited:
        reset = next_pacific_midnight(now)
        return RateLimited(
            f"YouTube quota budget of {self.options.max_units_per_day} units spent for "
            f"{pacific_day(now)} (Pacific); resets at midnight Pacific",
            retry_after=max((reset - now).total_seconds(), 1.0),
        )

    def _due(self, entry: Mapping[str, Any], now: float, stats: dict[str, int]) -> bool:
        """Whether a caught-up channel is worth reading now: when its rate (new threads a
        second, learnt from earlier reads) says about `comments_per_read` new threads are
        waiting, or `max_delay` passed since the last read. commentThreads cannot be asked
        for "newer than", so a read that finds n new threads returns at least n + 1 (it
        must see one thread it read before to know it is through); waiting for about
        `comments_per_read` of them keeps that one extra thread to a small share, at the
        price of that much latency (at most `max_delay`)."""
        read_at = entry.get("read_at")
        if read_at is None or self.options.max_delay == 0:
            return True
        elapsed = now - float(read_at)
        expected = float(entry.get("rate") or 0.0) * elapsed
        if expected >= self.options.comments_per_read or elapsed >= self.options.max_delay:
            return True
        bump(stats, "comments/not_due")
        return False

    def _comments(
        self,
        entry: dict[str, Any],
        quota: dict[str, Any],
        stats: dict[str, int],
        mentions: list[Mention],
        quarantined: list[Quarantined],
    ) -> bool:
        mark = Watermark.from_json(entry)
        resume = entry.get("resume") if isinstance(entry.get("resume"), dict) else None
        token = resume.get("page_token") if resume else None
        now = self.clock().timestamp()
        caught_up = not token and mark.ts is not None
        if caught_up and not self._due(entry, now, stats):
            return True
        rate = float(entry.get("rate") or 0.0)
        read_at = _float(entry.get("read_at"))
        sweep = Sweep(self.name, mark, stats, stop_at_seen=True)
        ended = False
        # commentThreads has no "since": every read goes from the newest thread down to the
        # first one already read (order=time is strict, so nothing new lies below it).
        # Caught up, a read first asks for the newest thread alone, conditionally
        # (If-None-Match with the ETag of the last such answer): 304 when nothing changed,
        # and no thread is read. Then each page is sized to the new threads still expected
        # above the watermark (`_page_size`), so the page that reaches the first thread
        # already read seldom returns more than that one: a unit a page either way.
        probe = caught_up
        size = 1 if probe else 100
        if token and resume:  # carry on where the page cap stopped, at the size reached
            size = max(1, min(100, int(resume.get("size") or 100)))
        etag = entry.get("etag") if probe else None
        new_etag: str | None = None
        for page in range(self.options.max_pages):
            if self._left(quota) < COST["commentThreads"]:
                bump(stats, "quota/comments_skipped")
                break
            params: dict[str, Any] = {
                "part": "snippet,replies",
                "allThreadsRelatedToChannelId": self.options.channel_id,
                "order": "time",
                "maxResults": size,
                "textFormat": "plainText",
            }
            if token:
                params["pageToken"] = token
            body = self._get("commentThreads", params, quota, stats, etag=etag if page == 0 else None)
            if body is None:  # 304: the newest thread is the one read last time
                bump(stats, "not_modified")
                ended = True
                new_etag = etag
                break
            if probe and page == 0 and isinstance(body.get("etag"), str):
                new_etag = body["etag"]
            items = body.get("items")
            if not isinstance(items, list):
                raise TransientError("YouTube commentThreads answer has no items list", "malformed_body")
            for thread in items:
                top = safely(lambda t: t["snippet"]["topLevelComment"], thread)
                sweep.offer(
                    thread,
                    safely(lambda t: str(t["id"]), thread),
                    safely(lambda c: parse_time(c["snippet"]["publishedAt"]).timestamp(), top),
                    self._thread,
                )
                if sweep.done:
                    break
            token = body.get("nextPageToken")
            if sweep.done or not token:
                ended = True
                break
            size = _page_size(sweep.read, mark.ts, rate) if mark.ts is not None else 100
        read_all = ended or sweep.reached
        # A read cut by max_pages goes on from its page token (next fetch); what it found
        # so far, the ETag of its probe and its start are kept for when it ends.
        found = len(sweep.read) + int((resume or {}).get("new") or 0)
        new_etag = new_etag or (resume or {}).get("etag")
        started = _float((resume or {}).get("started")) or now
        if resume:
            merged = Watermark.from_json(resume.get("pending")).advanced(sweep.read)
            entry.clear()
            if read_all:
                entry.update(Watermark(merged.ts, merged.seen).to_json())
            else:
                entry.update(mark.to_json())
                entry["resume"] = {"page_token": token, "pending": merged.to_json(), "size": size}
        elif read_all or mark.ts is None:
            entry.clear()
            entry.update(sweep.advanced().to_json())
        else:
            entry.clear()
            entry.update(mark.to_json())
            entry["resume"] = {"page_token": token, "pending": sweep.advanced().to_json(), "size": size}
            bump(stats, "gap/page_limit")
        known = {m.external_id for m in mentions}
        if "resume" in entry:  # the rate is learnt when the read ends
            entry["resume"].update({"new": found, "started": started, **({"etag": new_etag} if new_etag else {})})
            entry.update({k: v for k, v in (("read_at", read_at), ("rate", rate)) if v is not None})
        else:
            if new_etag:
                entry["etag"] = new_etag
            entry.update(_learn_rate(rate, read_at, found, started))
        for thread in sweep.mentions:  # _thread gives the comment and its replies
            for mention in thread:
                if mention.external_id not in known:
                    known.add(mention.external_id)
                    mentions.append(mention)
        quarantined.extend(sweep.quarantined)
        return "resume" not in entry

    def _search(
        self,
        entry: dict[str, Any],
        quota: dict[str, Any],
        stats: dict[str, int],
        mentions: list[Mention],
        quarantined: list[Quarantined],
        now: datetime,
    ) -> None:
        cost = COST["search"]
        if self._left(quota) < cost or int(quota.get("search") or 0) + cost > self.options.search_units_per_day:
            bump(stats, "quota/search_skipped")
            return
        # Spread the day's searches evenly rather than spending them on the first polls.
        spacing = 86_400 / max(self.options.search_units_per_day // cost, 1)
        last = quota.get("last_search")
        if last is not None and now.timestamp() - float(last) < spacing:
            bump(stats, "quota/search_not_due")
            return
        quota["last_search"] = now.timestamp()
        mark = Watermark.from_json(entry)
        params: dict[str, Any] = {
            "part": "snippet",
            "type": "video",
            "order": "date",
            "maxResults": 50,
            "q": "|".join(_youtube_term(t) for t in self.matcher.terms()),
        }
        if mark.ts is not None:
            # inclusive, in whole seconds: from the second after the newest video read
            after = datetime.fromtimestamp(int(mark.ts) + 1, UTC)
            params["publishedAfter"] = after.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.options.region_code:
            params["regionCode"] = self.options.region_code
        if self.options.relevance_language:
            params["relevanceLanguage"] = self.options.relevance_language
        body = self._get("search", params, quota, stats)
        quota["search"] = int(quota.get("search") or 0) + cost
        items = body.get("items")
        if not isinstance(items, list):
            raise TransientError("YouTube search answer has no items list", "malformed_body")
        sweep = Sweep(self.name, mark, stats)
        for item in items:
            sweep.offer(
                item,
                safely(lambda i: "video:" + str(i["id"]["videoId"]), item),
                safely(lambda i: parse_time(i["snippet"]["publishedAt"]).timestamp(), item),
                self._video,
            )
        entry.clear()
        entry.update(sweep.advanced().to_json())
        kept = [m for m in sweep.mentions if m is not None]
        if len(kept) < len(sweep.mentions):
            bump(stats, "dropped/no_match", len(sweep.mentions) - len(kept))
        known = {m.external_id for m in mentions}
        mentions.extend(m for m in kept if m.external_id not in known)
        quarantined.extend(sweep.quarantined)

    # ------------------------------------------------------------------ items

    def _thread(self, thread: Mapping[str, Any]) -> list[Mention]:
        snippet = thread["snippet"]
        top = self._comment(snippet["topLevelComment"], snippet.get("videoId"), thread_id=str(thread["id"]))
        top.engagement += int(snippet.get("totalReplyCount") or 0)
        out = [top]
        for reply in (thread.get("replies") or {}).get("comments") or []:
            out.append(self._comment(reply, snippet.get("videoId"), thread_id=str(thread["id"]), parent=top))
        return out

    def _comment(
        self,
        comment: Mapping[str, Any],
        video_id: str | None,
        thread_id: str,
        parent: Mention | None = None,
    ) -> Mention:
        snip = comment["snippet"]
        text = snip.get("textOriginal")
        if not isinstance(text, str):
            text = snip["textDisplay"]
            if not isinstance(text, str):
                raise TypeError("comment has no text")
        comment_id = str(comment["id"])
        video_id = snip.get("videoId") or video_id
        channel = (snip.get("authorChannelId") or {}).get("value")
        display = snip["authorDisplayName"]
        if not isinstance(display, str) or not display:
            raise ValueError("comment has no author")
        url = f"https://www.youtube.com/watch?v={video_id}&lc={comment_id}" if video_id else None
        extra: dict[str, Any] = {"video_id": video_id, "thread_id": thread_id, "kind": "comment"}
        if self.options.brand:
            extra["brand"] = self.options.brand
            extra["brands"] = [self.options.brand]
        return Mention(
            source=self.name,
            platform="youtube",
            external_id=comment_id,
            text=text,
            created_at=parse_time(snip["publishedAt"]),
            author=Author(
                platform="youtube",
                handle=display.removeprefix("@"),
                name=display,
                external_id=channel,
            ),
            url=url,
            in_reply_to=parent.external_id if parent else (f"video:{video_id}" if video_id else None),
            in_reply_to_user=parent.author.external_id if parent else None,
            conversation_id=thread_id,
            engagement=int(snip.get("likeCount") or 0),
            extra=extra,
        )

    def _video(self, item: Mapping[str, Any]) -> Mention | None:
        """A Mention for a video whose title or description names a brand, else None."""
        video_id = str(item["id"]["videoId"])
        snip = item["snippet"]
        title = snip["title"]
        if not isinstance(title, str):
            raise TypeError("video title is not a string")
        description = snip.get("description") or ""
        title, description = html.unescape(title), html.unescape(description)  # search escapes both
        text = f"{title}\n\n{description}" if description else title
        matched = self.matcher.matches(text)
        if not matched:
            return None
        channel = str(snip.get("channelId") or "")
        return Mention(
            source=self.name,
            platform="youtube",
            external_id=f"video:{video_id}",
            text=text,
            title=title,
            created_at=parse_time(snip["publishedAt"]),
            author=Author(
                platform="youtube",
                handle=str(snip.get("channelTitle") or channel),
                name=snip.get("channelTitle"),
                external_id=channel or None,
            ),
            url=f"https://www.youtube.com/watch?v={video_id}",
            conversation_id=f"video:{video_id}",
            extra={"video_id": video_id, "kind": "video", "brands": matched},
        )

    # ------------------------------------------------------------------ HTTP

    def _get(
        self,
        resource: str,
        params: Mapping[str, Any],
        quota: dict[str, Any],
        stats: dict[str, int],
        etag: str | None = None,
    ) -> Any:
        """One Data API call; its units are charged to `quota` whatever the answer. With
        `etag`, a conditional request: None when the API answers 304 Not Modified."""
        url = f"{API}/{resource}"

        def classify(response: httpx.Response) -> Exception | None:
            status = response.status_code
            if status < 400:
                return None
            reasons, message = _reasons(response)
            now = self.clock()
            if reasons & QUOTA_REASONS:
                reset = next_pacific_midnight(now)
                quota["used"] = max(int(quota.get("used") or 0), self.options.max_units_per_day)
                reason = min(reasons & QUOTA_REASONS)
                return RateLimited(
                    f"YouTube {reason} ({status}): {message}; resets at midnight Pacific",
                    retry_after=max((reset - now).total_seconds(), 1.0),
                )
            if "userRateLimitExceeded" in reasons or status == 429:
                wait = _http.retry_after_from(response.headers, now)
                return RateLimited(f"YouTube rate limit ({status}); retry in {wait:.0f}s", retry_after=wait)
            if reasons & KEY_REASONS or status in (401, 403):
                return BadCredentials(
                    f"YOUTUBE_API_KEY was rejected ({status} {', '.join(sorted(reasons)) or 'forbidden'}): {message}"
                )
            if status == 404:
                return PermanentError(f"YouTube has no such {resource} target ({status}): {message}")
            return None

        def get() -> Any:
            quota["used"] = int(quota.get("used") or 0) + COST[resource]
            response = _http.request(
                self.client,
                "GET",
                url,
                label="YouTube",
                params=params,
                headers={"X-Goog-Api-Key": self.key, **({"If-None-Match": etag} if etag else {})},
                timeout=self.options.timeout,
                policy=RetryPolicy(attempts=1),
                stats=stats,
                clock=self.clock,
                classify=classify,
            )
            if response.status_code == 304:
                return None
            try:
                body = response.json()
            except ValueError as exc:
                raise TransientError(
                    f"YouTube returned a malformed body for {resource}: {exc}", "malformed_body"
                ) from exc
            if not isinstance(body, dict):
                raise TransientError(f"YouTube returned a non-object body for {resource}", "malformed_body")
            return body

        return call_with_retries(get, self.retry, stats)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _learn_rate(rate: float, read_at: float | None, new: int, now: float) -> dict[str, float]:
    """The channel's rate of new threads (a second) after a read that found `new` threads
    since the read at `read_at`: half the old estimate, half this read's (an average over
    the last few reads that follows a burst within a read or two)."""
    if read_at is not None and now > read_at:
        observed = new / (now - read_at)
        rate = observed if rate <= 0 else (rate + observed) / 2
    return {"read_at": now, "rate": rate}


PRIOR = 3.0  # threads' worth of weight the learnt rate has against a read's own density


def _page_size(read: Sequence[tuple[str, float]], mark_ts: float, rate: float) -> int:
    """The next page's maxResults, from the new threads still expected between the oldest
    thread read so far and the watermark. Their number is about Poisson with mean
    `expected`; asking for its lower 2 % (mean - 2 sd, at least 1, at most 100) makes a
    page that runs past the watermark rare: under-asking costs a unit for one more page,
    over-asking returns threads already read (the page that reaches the watermark returns
    everything below it on that page). The density is this read's own (threads over its
    span of time) weighed with the learnt rate, which counts for PRIOR threads, and at
    most the learnt rate."""
    if not read:
        return 1
    newest, oldest = read[0][1], read[-1][1]
    gaps, span = len(read) - 1, max(newest - oldest, 0.0)
    if rate > 0:  # the learnt rate as a prior worth PRIOR threads (a gamma posterior mean)
        density = (gaps + PRIOR) / (span + PRIOR / rate)
    else:
        density = gaps / span if span > 0 else 0.0
    # Never more than the learnt rate (without one, than the read's threads over the whole
    # time since the watermark): a burst at the top of the read, or a quiet stretch just
    # above the watermark, would otherwise be carried into the unread stretch and over-ask;
    # under-asking only costs another page.
    density = min(density, rate if rate > 0 else len(read) / max(newest - mark_ts, 1.0))
    expected = density * max(oldest - mark_ts, 0.0)
    return max(1, min(100, int(expected - 2 * math.sqrt(expected))))


def _youtube_term(term: str) -> str:
    """A query term in YouTube's search syntax (`|` is OR): no @/# prefix, no wildcard."""
    term = term.strip()
    if term.startswith('"'):
        return term
    term = term.lstrip("@#").rstrip("*")
    return f'"{term}"' if " " in term else term
