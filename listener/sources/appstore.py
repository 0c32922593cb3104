"""Apple App Store customer reviews, from Apple's public RSS feed in its JSON form.

Endpoint (no key): `https://itunes.apple.com/{country}/rss/customerreviews/page={n}/
id={app_id}/sortby=mostrecent/json`, pages 1-10 of up to 50 reviews: Apple exposes the
newest 500 reviews per app and country, no more.

Payload shape (recorded in tests/fixtures/appstore/; the same shape is decoded by many
public clients): `{"feed": {"author": ..., "entry": [...], "link": [...], "id": ...}}`.
Each entry holds `author.name.label`, `author.uri.label` (".../reviews/id<user id>"),
`im:rating.label` ("1".."5"), `im:version.label`, `title.label`, `content.label`,
`id.label` (the review id), `updated.label` (ISO 8601 with offset), `im:voteSum`,
`im:voteCount`, `link.attributes.href`. Older feeds start page 1 with an app-metadata
entry (`im:name`, no `im:rating`); it is skipped. A feed with a single review has
`entry` as an object rather than a list; a page past the end has no `entry` at all.

Cursor (JSON): `{"v": 1, "streams": {"<country>:<app_id>": {"ts": epoch, "seen":
{review_id: epoch}}}}`, the newest `updated` read and the ids read at that instant.
Each poll reads pages newest-first until it meets a review at or before the watermark.

Errors: see `listener.sources._http` (timeouts, network errors, 5xx and an unparseable
body are retried, 3 attempts with backoff and jitter, then RetryableError; 429 ->
RateLimited with Retry-After; 403 -> BadCredentials, which for this keyless feed means
Apple is refusing this host). Rate limit: Apple publishes none for the feed; polls read
at most `max_pages` pages per app and country, and one 429 stops the fetch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from listener.sources import _http
from listener.sources._common import (
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
    safely,
    sole_brand,
    validate_options,
)
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined

FEED_URL = "https://itunes.apple.com/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"
PAGE_SIZE = 50
USER_AGENT = "socialear/0.1 (+https://github.com/socialear; customer-care listening)"


def review_url(country: str, app_id: str, review_id: str) -> str:
    """The review's own address. The feed's `link` is the app's (identical on every
    review), and Apple publishes no page per review: this is the app's reviews page in
    that storefront, keyed by the review id, so each review links somewhere distinct."""
    return f"https://apps.apple.com/{country}/app/id{app_id}?see-all=reviews#review-{review_id}"


def _label(entry: Mapping[str, Any], key: str) -> Any:
    value = entry[key]
    return value["label"] if isinstance(value, Mapping) else value


class AppStoreSource(PlatformSource):
    """Reviews of one or more iOS apps, per storefront country, newest first."""

    type: ClassVar[str] = "appstore"
    platform: ClassVar[str] = "appstore"
    description: ClassVar[str] = (
        "Apple App Store reviews from the public customer-reviews feed (newest 500 per app and country). No key needed."
    )
    needs: ClassVar[tuple[str, ...]] = ()
    expected_update_period: ClassVar[float | None] = 14 * 86_400.0  # seconds; see listener.silence

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        app_id: str | None = Field(None, pattern=r"^\d+$")
        app_ids: list[str] = Field(default_factory=list)
        country: str | None = Field(None, pattern=r"^[a-z]{2}$")
        countries: list[str] = Field(default_factory=list)
        brand: str | None = None  # recorded in Mention.extra["brand"]
        max_pages: int = Field(10, ge=1, le=10)
        timeout: float = Field(15.0, gt=0, le=120)

        @model_validator(mode="after")
        def _merge(self) -> AppStoreSource.Options:
            ids = ([self.app_id] if self.app_id else []) + list(self.app_ids)
            if not ids:
                raise ValueError("set app_id (or app_ids): the numeric id in the App Store URL")
            for app in ids:
                if not app.isdigit():
                    raise ValueError(f"app id {app!r} must be the numeric id (…/id<digits>)")
            countries = ([self.country] if self.country else []) + [c.lower() for c in self.countries]
            self.app_ids = list(dict.fromkeys(ids))
            self.countries = list(dict.fromkeys(countries or ["us"]))
            return self

    options: AppStoreSource.Options

    def __init__(self, name: str, client: httpx.Client, options: AppStoreSource.Options):
        super().__init__(name, options)
        self.client = client

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> AppStoreSource:
        opts = validate_options(cls, name, options)
        opts.brand = sole_brand(opts.brand, brands)
        if client is None:
            client = httpx.Client(headers={"User-Agent": USER_AGENT}, follow_redirects=True)
        return cls(name, client, opts)

    def fetch(self, cursor: str | None) -> Batch:
        """Read reviews newer than the cursor for every app and country."""
        state = load_cursor(cursor, self.type, self.name)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stats: dict[str, int] = {}
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        for app_id in self.options.app_ids:
            for country in self.options.countries:
                key = f"{country}:{app_id}"
                sweep = Sweep(self.name, Watermark.from_json(streams.get(key)), stats)
                self._sweep(sweep, app_id, country, stats)
                streams[key] = sweep.advanced().to_json()
                mentions.extend(sweep.mentions)
                quarantined.extend(sweep.quarantined)
        state["v"] = 1
        bump(stats, "fetched", len(mentions))
        if quarantined:
            bump(stats, "quarantined", len(quarantined))
        return Batch(
            mentions=mentions,
            next_cursor=dump_cursor(state),
            quarantined=quarantined,
            stats=stats,
        )

    def _sweep(self, sweep: Sweep, app_id: str, country: str, stats: dict[str, int]) -> None:
        for page in range(1, self.options.max_pages + 1):
            entries = self._page(app_id, country, page, stats)
            reviews = [e for e in entries if not self._is_app_entry(e)]
            for entry in reviews:
                sweep.offer(
                    entry,
                    safely(lambda e: str(_label(e, "id")), entry),
                    safely(lambda e: parse_time(_label(e, "updated")).timestamp(), entry),
                    functools.partial(self._mention, app_id=app_id, country=country),
                )
            if sweep.done or len(entries) < PAGE_SIZE:
                return
        if not sweep.done and sweep.mark.ts is not None:
            bump(stats, "gap/page_limit")  # more new reviews than Apple's feed exposes

    @staticmethod
    def _is_app_entry(entry: Any) -> bool:
        return isinstance(entry, Mapping) and "im:name" in entry and "im:rating" not in entry

    def _page(self, app_id: str, country: str, page: int, stats: dict[str, int]) -> list[Any]:
        url = FEED_URL.format(country=country, page=page, app_id=app_id)

        def get() -> list[Any]:
            response = _http.request(
                self.client,
                "GET",
                url,
                label="App Store",
                timeout=self.options.timeout,
                policy=RetryPolicy(attempts=1),
                stats=stats,
                clock=self.clock,
            )
            try:
                body = response.json()
                feed = body["feed"]
            except (ValueError, KeyError, TypeError) as exc:
                raise TransientError(
                    f"App Store feed for {country}/{app_id} page {page} is malformed: {exc}",
                    "malformed_body",
                ) from exc
            entries = feed.get("entry", []) if isinstance(feed, Mapping) else []
            return [entries] if isinstance(entries, Mapping) else list(entries or [])

        return call_with_retries(get, self.retry, stats)

    def _mention(self, entry: Mapping[str, Any], app_id: str, country: str) -> Mention:
        review_id = str(_label(entry, "id"))
        author = entry["author"]
        uri = str(_label(author, "uri")) if "uri" in author else ""
        rating = float(_label(entry, "im:rating"))
        if not 1 <= rating <= 5:
            raise ValueError(f"im:rating {rating} is not 1-5")
        text = _label(entry, "content")
        if not isinstance(text, str):
            raise TypeError("content.label is not a string")
        link = entry.get("link") or {}
        feed_link = (link.get("attributes") or {}).get("href") if isinstance(link, Mapping) else None
        extra: dict[str, Any] = {
            "app_id": app_id,
            "country": country,
            "version": _label(entry, "im:version") if "im:version" in entry else None,
            "vote_sum": int(_label(entry, "im:voteSum")) if "im:voteSum" in entry else 0,
            "vote_count": int(_label(entry, "im:voteCount")) if "im:voteCount" in entry else 0,
            "feed_link": feed_link,
        }
        if self.options.brand:
            extra["brand"] = self.options.brand
        return Mention(
            source=self.name,
            platform="appstore",
            external_id=review_id,
            text=text,
            created_at=parse_time(_label(entry, "updated")),
            author=Author(
                platform="appstore",
                handle=str(_label(author, "name")),
                external_id=uri.rsplit("/id", 1)[-1] if "/id" in uri else None,
            ),
            url=review_url(country, app_id, review_id),
            rating=rating,
            title=_label(entry, "title") if "title" in entry else None,
            engagement=extra["vote_sum"],
            extra=extra,
        )
