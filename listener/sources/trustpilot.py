"""Trustpilot service reviews of a business unit, through the public Business Units API.

Endpoint: `GET https://api.trustpilot.com/v1/business-units/{businessUnitId}/reviews
?orderBy=createdat.desc&perPage=..&page=..` with the key TRUSTPILOT_API_KEY. The key is
sent in the `apikey` header (Trustpilot accepts header or query string) so it never
appears in a logged URL or an error message.

Payload shape (developers.trustpilot.com, Business Units API "Get a business unit's
reviews"; recorded in tests/fixtures/trustpilot/): `{"reviews": [...], "links": [{"href",
"method", "rel": "next-page"}]}`; a review has `id`, `stars`, `title`, `text`,
`language`, `createdAt`, `updatedAt`, `consumer{id, displayName, displayLocation,
numberOfReviews}`, `companyReply`, `isVerified`, `numberOfLikes`, `links`.

Cursor (JSON): `{"v": 1, "ts": epoch of the newest createdAt read, "seen": {review id:
epoch}}`. Pages are read newest first until a review at or before the watermark.

Errors (see `_http`): 401 -> BadCredentials "TRUSTPILOT_API_KEY was rejected (401)",
403 -> BadCredentials naming the business unit, 429 -> RateLimited (Retry-After /
X-RateLimit-Reset, else 60 s), 5xx / network / timeout / unparseable body -> retried 3
times with backoff and jitter, then RetryableError. Rate limit: x-ratelimit-* headers,
when sent, become Batch.rate_limit; at most `max_pages` requests per poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

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
    require_env,
    safely,
    sole_brand,
    validate_options,
)
from listener.types import Author, Batch, BrandSpec, Mention, RateLimit

API = "https://api.trustpilot.com/v1/business-units/{unit}/reviews"


class TrustpilotSource(PlatformSource):
    """Reviews of one Trustpilot business unit (one company domain), newest first."""

    type: ClassVar[str] = "trustpilot"
    platform: ClassVar[str] = "trustpilot"
    description: ClassVar[str] = "Trustpilot service reviews of a business unit (Business Units API, newest first)."
    needs: ClassVar[tuple[str, ...]] = ("TRUSTPILOT_API_KEY",)
    expected_update_period: ClassVar[float | None] = 14 * 86_400.0  # seconds; see listener.silence

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        business_unit_id: str = Field(pattern=r"^[A-Za-z0-9]{8,40}$")
        language: str | None = None  # e.g. "en"; default: all languages
        brand: str | None = None  # recorded in Mention.extra["brand"]
        per_page: int = Field(100, ge=1, le=100)
        max_pages: int = Field(10, ge=1, le=100)
        timeout: float = Field(15.0, gt=0, le=120)

    options: TrustpilotSource.Options

    def __init__(self, name: str, client: httpx.Client, api_key: str, options: Options):
        super().__init__(name, options)
        self.client = client
        self.api_key = api_key

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> TrustpilotSource:
        opts = validate_options(cls, name, options)
        key = require_env(env, cls.needs, cls.type, name)["TRUSTPILOT_API_KEY"]
        opts.brand = sole_brand(opts.brand, brands)
        return cls(name, client or httpx.Client(), key, opts)

    def _credential_message(self, status: int, body: str) -> str:
        if status == 401:
            return "TRUSTPILOT_API_KEY was rejected (401): check the key"
        return f"403: the Trustpilot API key has no access to business unit {self.options.business_unit_id}'s reviews"

    def fetch(self, cursor: str | None) -> Batch:
        """Read reviews newer than the cursor."""
        state = load_cursor(cursor, self.type, self.name)
        stats: dict[str, int] = {}
        sweep = Sweep(self.name, Watermark.from_json(state), stats)
        rate_limit: RateLimit | None = None
        for page in range(1, self.options.max_pages + 1):
            reviews, has_next, rate_limit = self._page(page, stats)
            for review in reviews:
                sweep.offer(
                    review,
                    safely(lambda r: str(r["id"]), review),
                    safely(lambda r: parse_time(r["createdAt"]).timestamp(), review),
                    self._mention,
                )
            if sweep.done or not has_next or len(reviews) < self.options.per_page:
                break
        else:
            if sweep.mark.ts is not None:
                bump(stats, "gap/page_limit")
        bump(stats, "fetched", len(sweep.mentions))
        if sweep.quarantined:
            bump(stats, "quarantined", len(sweep.quarantined))
        return Batch(
            mentions=sweep.mentions,
            next_cursor=dump_cursor({"v": 1, **sweep.advanced().to_json()}),
            rate_limit=rate_limit,
            quarantined=sweep.quarantined,
            stats=stats,
        )

    def _page(self, page: int, stats: dict[str, int]) -> tuple[list[Any], bool, RateLimit | None]:
        params: dict[str, Any] = {
            "orderBy": "createdat.desc",
            "perPage": self.options.per_page,
            "page": page,
        }
        if self.options.language:
            params["language"] = self.options.language
        url = API.format(unit=self.options.business_unit_id)

        def get() -> tuple[list[Any], bool, RateLimit | None]:
            response = _http.request(
                self.client,
                "GET",
                url,
                label="Trustpilot",
                credential_message=self._credential_message,
                params=params,
                headers={"apikey": self.api_key},
                timeout=self.options.timeout,
                policy=RetryPolicy(attempts=1),
                stats=stats,
                clock=self.clock,
            )
            try:
                body = response.json()
                reviews = body["reviews"]
                if not isinstance(reviews, list):
                    raise TypeError("'reviews' is not a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise TransientError(
                    f"Trustpilot returned a malformed reviews page {page}: {exc}",
                    "malformed_body",
                ) from exc
            links = body.get("links") or []
            has_next = any(isinstance(x, dict) and x.get("rel") == "next-page" for x in links)
            rl = _http.rate_limit_from_headers(response.headers, self.clock())
            return reviews, has_next, rl

        return call_with_retries(get, self.retry, stats)

    def _mention(self, review: Mapping[str, Any]) -> Mention:
        review_id = str(review["id"])
        text = review["text"]
        if not isinstance(text, str):
            raise TypeError("text is not a string")
        stars = float(review["stars"])
        if not 1 <= stars <= 5:
            raise ValueError(f"stars {stars} is not 1-5")
        consumer = review.get("consumer") or {}
        extra: dict[str, Any] = {
            "business_unit_id": self.options.business_unit_id,
            "consumer_reviews": consumer.get("numberOfReviews"),
            "consumer_location": consumer.get("displayLocation"),
            "verified_review": review.get("isVerified"),
            "company_replied": bool(review.get("companyReply")),
        }
        if self.options.brand:
            extra["brand"] = self.options.brand
        return Mention(
            source=self.name,
            platform="trustpilot",
            external_id=review_id,
            text=text,
            created_at=parse_time(review["createdAt"]),
            author=Author(
                platform="trustpilot",
                # The reviews API names the author `displayName`; event (webhook)
                # payloads name them `name`.
                handle=str(consumer.get("displayName") or consumer.get("name") or ""),
                name=consumer.get("displayName") or consumer.get("name"),
                external_id=consumer.get("id"),
            ),
            url=f"https://www.trustpilot.com/reviews/{review_id}",
            lang=review.get("language"),
            rating=stars,
            title=review.get("title"),
            engagement=int(review.get("numberOfLikes") or 0),
            extra=extra,
        )
