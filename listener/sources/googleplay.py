"""Google Play reviews, through google-play-scraper's `reviews(...)` (injected).

`reviews(app_id, lang=, country=, sort=Sort.NEWEST, count=, continuation_token=)` returns
`(list_of_review_dicts, continuation_token)`. Each dict (google_play_scraper
`ElementSpecs.Review`, recorded in tests/fixtures/googleplay/) has `reviewId`,
`userName`, `userImage`, `content`, `score` (1-5), `thumbsUpCount`,
`reviewCreatedVersion`, `at` (naive datetime, UTC), `replyContent`, `repliedAt`,
`appVersion`. The function does its own HTTP (urllib); tests inject a fake returning
recorded dicts.

Cursor (JSON): `{"v": 1, "streams": {"<lang>-<country>:<app_id>": {"ts": epoch of the
newest `at` read, "seen": {reviewId: epoch}}}}`. Within a poll the continuation token is
followed (newest first) until a review at or before the watermark, or `max_pages`.

Errors: the library raises `NotFoundError` (404: wrong app id -> PermanentError) and
`ExtraHTTPError("... Status code N returned.")` (429 -> RateLimited, 5xx -> retried);
urllib/socket errors and timeouts are retried (3 attempts, backoff with jitter) then
RetryableError. Caveat: the stock `reviews` swallows errors from its inner page request
and returns what it has (often `[]`), so an outage can look like "no new reviews"; the
cursor then simply does not move, and nothing is lost.

Timeouts: urllib is called without a timeout by the library, so each call runs in a
worker thread and is abandoned after `timeout` seconds (RetryableError "timed out").

Rate limit: Google publishes none; the library itself backs off on PlayGatewayError.
Importing google_play_scraper replaces urllib's default HTTPS context with an unverified
one for the whole process; `_import_reviews` restores the verified default right after.
"""

from __future__ import annotations

import functools
import re
import socket
import threading
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from listener.sources._common import (
    PlatformSource,
    Sweep,
    TransientError,
    Watermark,
    bump,
    call_with_retries,
    dump_cursor,
    load_cursor,
    options_error,
    parse_time,
    safely,
    sole_brand,
    validate_options,
)
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined
from socialear.errors import BadCredentials, PermanentError, RateLimited

DEFAULT_RATE_LIMIT_WAIT = 300.0
_STATUS_RE = re.compile(r"[Ss]tatus code (\d{3})")


def _import_reviews() -> tuple[Callable[..., Any], Any]:
    """Import google_play_scraper without letting it switch off TLS verification."""
    import ssl

    original = ssl._create_default_https_context
    try:
        from google_play_scraper import Sort, reviews
    finally:
        ssl._create_default_https_context = original
    return reviews, Sort.NEWEST


def _at(review: Mapping[str, Any]) -> datetime:
    value = review["at"]
    if isinstance(value, datetime):
        # The library builds naive datetimes from epoch seconds in UTC.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(value)


class GooglePlaySource(PlatformSource):
    """Reviews of one or more Android apps on Google Play, per language and country."""

    type: ClassVar[str] = "googleplay"
    platform: ClassVar[str] = "googleplay"
    description: ClassVar[str] = (
        "Google Play reviews (google-play-scraper, newest first) per app, language and country. No key needed."
    )
    needs: ClassVar[tuple[str, ...]] = ()
    expected_update_period: ClassVar[float | None] = 14 * 86_400.0  # seconds; see listener.silence

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        app_id: str | None = Field(None, pattern=r"^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$")
        app_ids: list[str] = Field(default_factory=list)
        lang: str = Field("en", pattern=r"^[a-z]{2}$")
        country: str = Field("us", pattern=r"^[a-z]{2}$")
        brand: str | None = None
        page_size: int = Field(100, ge=1, le=200)
        max_pages: int = Field(5, ge=1, le=50)
        timeout: float = Field(30.0, gt=0, le=300)

    options: GooglePlaySource.Options

    def __init__(
        self,
        name: str,
        reviews: Callable[..., Any],
        sort: Any,
        options: GooglePlaySource.Options,
    ):
        super().__init__(name, options)
        self.reviews = reviews
        self.sort = sort
        self.app_ids = list(dict.fromkeys(([options.app_id] if options.app_id else []) + options.app_ids))

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> GooglePlaySource:
        """`client` is a `reviews`-compatible callable; default: google_play_scraper's."""
        opts = validate_options(cls, name, options)
        if not opts.app_id and not opts.app_ids:
            raise options_error(cls.type, name, ValueError("set app_id (e.g. com.nimbus.app)"))
        opts.brand = sole_brand(opts.brand, brands)
        if client is None:
            client, sort = _import_reviews()
        else:
            sort = _newest_sort()
        return cls(name, client, sort, opts)

    def fetch(self, cursor: str | None) -> Batch:
        """Read reviews newer than the cursor for every app."""
        state = load_cursor(cursor, self.type, self.name)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stats: dict[str, int] = {}
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        for app_id in self.app_ids:
            key = f"{self.options.lang}-{self.options.country}:{app_id}"
            sweep = Sweep(self.name, Watermark.from_json(streams.get(key)), stats)
            self._sweep(sweep, app_id, stats)
            streams[key] = sweep.advanced().to_json()
            mentions.extend(sweep.mentions)
            quarantined.extend(sweep.quarantined)
        state["v"] = 1
        bump(stats, "fetched", len(mentions))
        if quarantined:
            bump(stats, "quarantined", len(quarantined))
        return Batch(mentions=mentions, next_cursor=dump_cursor(state), quarantined=quarantined, stats=stats)

    def _sweep(self, sweep: Sweep, app_id: str, stats: dict[str, int]) -> None:
        token = None
        for _ in range(self.options.max_pages):
            page, token = self._page(app_id, token, stats)
            for review in page:
                sweep.offer(
                    review,
                    safely(lambda r: str(r["reviewId"]), review),
                    safely(lambda r: _at(r).timestamp(), review),
                    functools.partial(self._mention, app_id=app_id),
                )
            if sweep.done or not page or token is None or getattr(token, "token", "") is None:
                return
        if sweep.mark.ts is not None:
            bump(stats, "gap/page_limit")

    def _page(self, app_id: str, token: Any, stats: dict[str, int]) -> tuple[list[Any], Any]:
        kwargs: dict[str, Any] = {
            "lang": self.options.lang,
            "country": self.options.country,
            "sort": self.sort,
            "count": self.options.page_size,
            "continuation_token": token,
        }

        def once() -> tuple[list[Any], Any]:
            # A fresh daemon thread per call: a hung urllib call must not block the next
            # one, nor the interpreter's exit.
            outcome: dict[str, Any] = {}

            def run() -> None:
                try:
                    outcome["result"] = self.reviews(app_id, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    outcome["error"] = exc

            worker = threading.Thread(target=run, name=f"googleplay-{app_id}", daemon=True)
            worker.start()
            worker.join(self.options.timeout)
            if worker.is_alive():
                raise TransientError(f"Google Play timed out after {self.options.timeout:g}s ({app_id})", "timeout")
            if "error" in outcome:
                error = outcome["error"]
                raise self._map_error(error, app_id) from error
            result: Any = outcome.get("result")
            try:
                page, next_token = result
                page = list(page)
            except (TypeError, ValueError) as exc:
                raise TransientError(
                    f"Google Play returned a malformed result for {app_id}: {exc}",
                    "malformed_body",
                ) from exc
            return page, next_token

        return call_with_retries(once, self.retry, stats)

    @staticmethod
    def _map_error(exc: Exception, app_id: str) -> Exception:
        name = type(exc).__name__
        if name == "NotFoundError":
            return PermanentError(f"Google Play has no app {app_id!r} (404): check app_id")
        status: int | None = None
        if isinstance(exc, urllib.error.HTTPError):
            status = exc.code
        else:
            found = _STATUS_RE.search(str(exc))
            status = int(found.group(1)) if found else None
        if status == 429:
            return RateLimited(
                f"Google Play rate limit reached (429) for {app_id}",
                retry_after=DEFAULT_RATE_LIMIT_WAIT,
            )
        if status in (401, 403):
            return BadCredentials(f"{status}: Google Play refused access to {app_id}'s reviews from this host")
        if status is not None and status >= 500:
            return TransientError(f"Google Play server error {status} ({app_id})", "server_error")
        if isinstance(exc, TimeoutError | socket.timeout):
            return TransientError(f"Google Play timed out ({app_id}): {exc}", "timeout")
        if isinstance(exc, urllib.error.URLError | ConnectionError | OSError):
            return TransientError(f"Google Play network error ({app_id}): {exc}", "network")
        if status is not None:
            return PermanentError(f"Google Play refused the request ({status}) for {app_id}")
        return exc

    def _mention(self, review: Mapping[str, Any], app_id: str) -> Mention:
        review_id = str(review["reviewId"])
        text = review["content"]
        if not isinstance(text, str):
            raise TypeError("content is not a string")
        score = float(review["score"])
        if not 1 <= score <= 5:
            raise ValueError(f"score {score} is not 1-5")
        extra: dict[str, Any] = {
            "app_id": app_id,
            "country": self.options.country,
            "version": review.get("reviewCreatedVersion") or review.get("appVersion"),
            "reply": review.get("replyContent"),
        }
        if self.options.brand:
            extra["brand"] = self.options.brand
        return Mention(
            source=self.name,
            platform="googleplay",
            external_id=review_id,
            text=text,
            created_at=_at(review),
            author=Author(platform="googleplay", handle=str(review.get("userName") or "")),
            url=(f"https://play.google.com/store/apps/details?id={app_id}&reviewId={review_id}"),
            lang=self.options.lang,
            rating=score,
            engagement=int(review.get("thumbsUpCount") or 0),
            extra=extra,
        )


def _newest_sort() -> Any:
    """Sort.NEWEST for an injected `reviews`; the library is imported safely for it."""
    try:
        return _import_reviews()[1]
    except ImportError:  # a fake `reviews` in a trimmed environment
        return 2
