"""Any RSS or Atom feed (news, forums, community boards), fetched with httpx and parsed
by feedparser, entries matched locally against the brands' queries.

Payload shape: whatever feedparser normalises RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 into
(`feed.title`, `entries[]` with `id`, `link`, `title`, `summary`, `author`,
`published_parsed`/`updated_parsed` as UTC struct_time). Recorded feeds:
tests/fixtures/rss/.

Conditional requests: the `ETag` and `Last-Modified` of the last response are sent back
as `If-None-Match` / `If-Modified-Since`; a 304 is an empty batch with the same cursor.

Cursor (JSON): `{"v": 1, "etag": str|null, "modified": str|null, "seen": [entry ids,
newest first]}`. Feeds have no reliable order, so "new" means "id not seen". `seen`
keeps every id still in the feed plus older ones up to `max_seen`, so an entry never
comes back as new while the feed still lists it.

Text: `Mention.text` is the entry's summary (or content) as plain text, since feeds carry
HTML markup rather than the author's words; the HTML is kept in `extra["html"]`. An entry
with no date gets the fetch time and `extra["undated"] = True`.

Errors: see `_http` (timeouts, network errors and 5xx retried 3 times with backoff and
jitter, then RetryableError; 429 -> RateLimited; 401/403 -> BadCredentials). A body
feedparser cannot read and that yields no entries ("bozo") is retried the same way and
then raised as RetryableError naming feedparser's complaint; a bozo feed that still
yields entries is used, counted as `stats["bozo"]`. Rate limit: one request per poll.
"""

from __future__ import annotations

import calendar
import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, ClassVar

import feedparser
import httpx
from pydantic import BaseModel, ConfigDict, Field

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
    payload_id,
    quarantine,
    validate_options,
)
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined
from socialear.errors import NotConfigured

USER_AGENT = "socialear/0.1 (feed reader; +https://github.com/socialear)"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in {"br", "p", "div", "li"}:
            self.parts.append("\n")


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class RssSource(PlatformSource):
    """Entries of one RSS/Atom feed that mention a brand."""

    type: ClassVar[str] = "rss"
    platform: ClassVar[str] = "rss"
    description: ClassVar[str] = (
        "Any RSS/Atom feed (news, forums, community boards): entries matching a brand's "
        "query. Conditional requests with ETag/Last-Modified."
    )
    needs: ClassVar[tuple[str, ...]] = ()
    expected_update_period: ClassVar[float | None] = 7 * 86_400.0  # seconds; see listener.silence

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        url: str = Field(pattern=r"^https?://")
        match_brands: bool = True  # False: every entry is a mention (a brand's own forum)
        brands: list[str] | None = None
        query: str | None = None
        max_seen: int = Field(1000, ge=10, le=100_000)
        timeout: float = Field(20.0, gt=0, le=120)

    options: RssSource.Options

    def __init__(self, name: str, client: httpx.Client, matcher: BrandMatcher | None, options: Options):
        super().__init__(name, options)
        self.client = client
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
    ) -> RssSource:
        opts = validate_options(cls, name, options)
        matcher = None
        if opts.match_brands:
            wanted = set(opts.brands) if opts.brands is not None else None
            chosen = [b for b in brands or [] if wanted is None or b.name in wanted]
            matcher = BrandMatcher(chosen, opts.query)
            if not matcher:
                raise NotConfigured(f"rss source '{name}': no brand queries to match (or set match_brands: false)")
        if client is None:
            client = httpx.Client(headers={"User-Agent": USER_AGENT}, follow_redirects=True)
        return cls(name, client, matcher, opts)

    def fetch(self, cursor: str | None) -> Batch:
        """Read the feed; return entries not seen before that match a brand."""
        state = load_cursor(cursor, self.type, self.name)
        stats: dict[str, int] = {}
        headers: dict[str, str] = {}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("modified"):
            headers["If-Modified-Since"] = state["modified"]

        def get() -> tuple[httpx.Response, Any]:
            response = _http.request(
                self.client,
                "GET",
                self.options.url,
                label=f"Feed {self.options.url}",
                headers=headers,
                timeout=self.options.timeout,
                policy=RetryPolicy(attempts=1),
                stats=stats,
                clock=self.clock,
            )
            if response.status_code == 304:
                return response, None
            parsed = feedparser.parse(
                response.content,
                response_headers={
                    "content-type": response.headers.get("content-type", ""),
                    "content-location": str(response.url),
                },
            )
            if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
                problem = parsed.get("bozo_exception") or "no RSS or Atom document found"
                raise TransientError(
                    f"Feed {self.options.url} is not a readable RSS/Atom feed: {problem}",
                    "malformed_body",
                )
            return response, parsed

        response, parsed = call_with_retries(get, self.retry, stats)
        if parsed is None:
            bump(stats, "not_modified")
            return Batch(mentions=[], next_cursor=cursor, stats=stats)
        if parsed.get("bozo"):
            bump(stats, "bozo")

        seen_before = [str(s) for s in state.get("seen") or []]
        seen_set = set(seen_before)
        current: list[str] = []
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        feed_title = (parsed.get("feed") or {}).get("title")
        for entry in parsed.entries:
            entry_id = str(entry.get("id") or entry.get("link") or payload_id(dict(entry)))
            if entry_id in current:
                continue
            current.append(entry_id)
            if entry_id in seen_set:
                bump(stats, "dropped/seen")
                continue
            try:
                mention = self._mention(entry, entry_id, feed_title)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                quarantined.append(quarantine(self.name, dict(entry), exc, entry_id))
                continue
            if mention is None:
                bump(stats, "dropped/no_match")
                continue
            mentions.append(mention)

        keep = max(self.options.max_seen, len(current))
        older = [s for s in seen_before if s not in set(current)]
        state.update(
            {
                "v": 1,
                "etag": response.headers.get("etag") or state.get("etag"),
                "modified": response.headers.get("last-modified") or state.get("modified"),
                "seen": (current + older)[:keep],
            }
        )
        bump(stats, "fetched", len(mentions))
        if quarantined:
            bump(stats, "quarantined", len(quarantined))
        return Batch(mentions=mentions, next_cursor=dump_cursor(state), quarantined=quarantined, stats=stats)

    def _mention(self, entry: Any, entry_id: str, feed_title: str | None) -> Mention | None:
        title = entry.get("title")
        if title is not None and not isinstance(title, str):
            raise TypeError("entry title is not text")
        markup = ""
        if entry.get("content"):
            markup = entry["content"][0].get("value") or ""
        markup = markup or entry.get("summary") or ""
        if not isinstance(markup, str):
            raise TypeError("entry summary is not text")
        text = html_to_text(markup) if markup else (title or "")
        if not text and not title:
            raise ValueError("entry has neither title nor text")
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        extra: dict[str, Any] = {"feed": feed_title, "html": markup or None}
        if stamp:
            created = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
        else:
            created = self.clock()
            extra["undated"] = True
        if self.matcher is not None:
            matched = self.matcher.matches(f"{title or ''}\n{text}")
            if not matched:
                return None
            extra["brands"] = matched
        author = entry.get("author") or feed_title or ""
        return Mention(
            source=self.name,
            platform="rss",
            external_id=entry_id,
            text=text,
            created_at=created,
            author=Author(platform="rss", handle=str(author), name=entry.get("author")),
            url=entry.get("link"),
            lang=(entry.get("language") or None),
            title=title,
            extra=extra,
        )
