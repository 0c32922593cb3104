"""X (Twitter) recent search, API v2, through an injected `tweepy.Client`.

Payload shape (GET /2/tweets/search/recent, docs.x.com "Search Posts" reference):
`{"data": [tweet...], "includes": {"users": [user...]}, "meta": {"newest_id",
"oldest_id", "result_count", "next_token"}}`; a tweet carries id, text, author_id,
created_at, conversation_id, in_reply_to_user_id, referenced_tweets[{type, id}],
public_metrics{retweet_count, reply_count, like_count, quote_count}, lang; a user id,
username, name, verified, public_metrics.followers_count. With no match the body is
`{"meta": {"result_count": 0}}`. Errors are problem+json:
`{"title": "Too Many Requests", "detail": ..., "type": "about:blank", "status": 429}`.
Recorded examples: tests/fixtures/x/.

One query per brand (the brand's boolean query through `listener.query.to_x_query`,
plus `-is:retweet` and the configured `lang:`); one cursor entry per brand.

Cursor (JSON): `{"v": 1, "streams": {brand: {"since_id", "until_id", "pending"}},
"not_before": epoch}`. `since_id` is the newest id of the last *complete* sweep. When a
poll stops early (per-poll cap, budget, an error after some pages were read) the stream
keeps `since_id`, sets `until_id` to the oldest id read and `pending` to the newest id
read; the next poll reads the gap (since_id, until_id) before moving `since_id` to
`pending`. So a capped poll never skips posts, and no post is returned twice. The very
first poll (no cursor) reads the newest `max_results_per_poll` posts and starts from
there, rather than back-filling seven days of search history into the budget.
A bare numeric cursor is accepted as a since_id for every brand.

Error mapping (the boundary):

    tweepy.Unauthorized (401)      -> BadCredentials "X_BEARER_TOKEN was rejected (401)..."
    tweepy.Forbidden (403)         -> BadCredentials "403: your X app lacks access to ..."
    tweepy.TooManyRequests (429)   -> RateLimited(retry_after = x-rate-limit-reset - now)
    tweepy.TwitterServerError (5xx),
    requests Timeout/ConnectionError,
    unparseable JSON body          -> RetryableError, retried (3 attempts, backoff+jitter)
    tweepy.BadRequest (400) etc.   -> PermanentError (X's detail, e.g. an invalid query)

Rate-limit policy: the client never sleeps (`wait_on_rate_limit=False`); every
response's `x-rate-limit-*` headers become `Batch.rate_limit`. A 429 raises RateLimited
so the scheduler waits for the reset. If the 429 (or an outage) comes after some pages
of this poll were read, the pages read are returned (they were paid for), the cursor
records the gap and `not_before`, and the next fetch raises RateLimited before calling X.

Monthly budget: X bills reads per post. `max_posts_per_month` caps them; the pipeline
sets `budget_used_this_month` before each fetch. Each request's `max_results` is cut so
the poll cannot overshoot the budget; when fewer than 10 posts (X's smallest page) are
left the source raises RateLimited until the 1st of next month, UTC.
`Batch.budget_used` is the number of posts this fetch read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import requests
import tweepy
from pydantic import BaseModel, ConfigDict, Field

from listener.sources._common import (
    PlatformSource,
    RetryPolicy,
    TransientError,
    bump,
    call_with_retries,
    dump_cursor,
    load_cursor,
    parse_time,
    quarantine,
    require_env,
    validate_options,
)
from listener.sources._http import rate_limit_from_headers
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined, RateLimit
from platforms.x import WINDOW_S, install_timeout, problem_detail, read_client, reset_wait
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    PermanentError,
    RateLimited,
    RetryableError,
)

TWEET_FIELDS = [
    "created_at",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "public_metrics",
    "lang",
    "author_id",
]
USER_FIELDS = ["username", "name", "public_metrics", "verified"]
# referenced_tweets.id puts a repost's original in includes.tweets: the repost's own text
# is cut to "RT @user: ..." at 140 characters, the original holds the full text.
EXPANSIONS = ["author_id", "referenced_tweets.id"]
MIN_PAGE, MAX_PAGE = 10, 100  # X's bounds for max_results on recent search

if TYPE_CHECKING:
    from listener.deletions import XDeletionChecker
    from socialear.config import Problem, RulesConfig


def map_tweepy_error(exc: Exception, clock: Callable[[], datetime], what: str) -> Exception:
    """Translate a tweepy/requests exception into socialear's tree (see module doc)."""
    if isinstance(exc, tweepy.Unauthorized):
        return BadCredentials("X_BEARER_TOKEN was rejected (401): check the token")
    if isinstance(exc, tweepy.Forbidden):
        detail = problem_detail(exc.response)
        suffix = f" ({detail})" if detail else ""
        return BadCredentials(f"403: your X app lacks access to {what}{suffix}")
    if isinstance(exc, tweepy.TooManyRequests):
        now = clock()
        rl = rate_limit_from_headers(exc.response.headers, now)
        wait = reset_wait(exc.response.headers, now)
        err = RateLimited(f"X rate limit reached on {what}; resets in {wait:.0f}s", retry_after=wait)
        # read back with getattr in fetch (the batch's rate limit): socialear.errors knows no listener types
        err.rate_limit = rl or RateLimit(remaining=0)  # type: ignore[attr-defined]
        return err
    if isinstance(exc, tweepy.TwitterServerError):
        status = exc.response.status_code
        return TransientError(f"X server error {status} on {what}", "server_error")
    if isinstance(exc, requests.Timeout):
        return TransientError(f"X timed out on {what}: {exc}", "timeout")
    if isinstance(exc, requests.ConnectionError):
        return TransientError(f"X network error on {what}: {exc}", "network")
    if isinstance(exc, tweepy.HTTPException):
        status = exc.response.status_code
        detail = problem_detail(exc.response) or str(exc)
        return PermanentError(f"X rejected the request to {what} ({status}): {detail}")
    return exc


def call_x(
    fn: Callable[[], Any],
    *,
    what: str,
    policy: RetryPolicy,
    stats: dict[str, int],
    clock: Callable[[], datetime],
) -> tuple[dict[str, Any], RateLimit | None]:
    """Call tweepy with retries; return (json body, rate limit from headers)."""

    def once() -> tuple[dict[str, Any], RateLimit | None]:
        try:
            response = fn()
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise map_tweepy_error(exc, clock, what) from exc
        return _body(response, what), _headers_rate_limit(response, clock)

    return call_with_retries(once, policy, stats)


def _headers_rate_limit(response: Any, clock: Callable[[], datetime]) -> RateLimit | None:
    headers = getattr(response, "headers", None)
    return rate_limit_from_headers(headers, clock()) if headers is not None else None


def _body(response: Any, what: str) -> dict[str, Any]:
    """Accept a requests.Response (return_type) or tweepy's default Response tuple."""
    if isinstance(response, requests.Response):
        try:
            body = response.json()
        except ValueError as exc:
            snippet = response.text[:120]
            raise TransientError(
                f"X returned a malformed body for {what}: {exc} (starts {snippet!r})",
                "malformed_body",
            ) from exc
        if not isinstance(body, dict):
            raise TransientError(f"X returned a non-object body for {what}", "malformed_body")
        return body
    if isinstance(response, tweepy.Response):

        def raw(obj: Any) -> Any:
            return getattr(obj, "data", obj)

        includes = {k: [raw(o) for o in v] for k, v in (response.includes or {}).items()}
        return {
            "data": [raw(t) for t in response.data or []],
            "includes": includes,
            "errors": response.errors or [],
            "meta": response.meta or {},
        }
    raise TransientError(f"X client returned {type(response).__name__} for {what}", "malformed_body")


def first_of_next_month(now: datetime) -> datetime:
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


def check_rules(cfg: RulesConfig) -> list[Problem]:
    """rules.yaml check (entry point `socialear.checks`): with an X source enabled, every
    brand query must translate to X's search syntax (a plain parse error is reported by
    `listener.query.check_rules`)."""
    from listener.query import QueryError, parse_query, to_x_query
    from socialear.config import Problem

    problems: list[Problem] = []
    if not any(s.type == XSource.type and s.enabled for s in cfg.sources):
        return problems
    for i, brand in enumerate(cfg.brands):
        try:
            to_x_query(parse_query(brand.query))
        except QueryError as exc:
            problems.append(
                Problem(("brands", i, "query"), f"brands[{i}].query: cannot be used for X search: {exc.message}")
            )
        except Exception:  # noqa: BLE001 - the plain parse error is reported by listener.query
            pass
    return problems


class XSource(PlatformSource):
    """Posts on X matching each brand's query, via API v2 recent search."""

    type: ClassVar[str] = "x"
    platform: ClassVar[str] = "x"
    description: ClassVar[str] = (
        "X (Twitter) API v2 recent search: posts from the last 7 days matching each "
        "brand's query (retweets excluded), with a monthly read budget."
    )
    needs: ClassVar[tuple[str, ...]] = ("X_BEARER_TOKEN",)
    expected_update_period: ClassVar[float | None] = 86_400.0  # seconds; see listener.silence

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        brands: list[str] | None = None  # only these brands (default: every brand)
        query: str | None = None  # an extra boolean query, searched as stream "query"
        lang: str | None = None  # adds lang:xx to every query
        exclude_retweets: bool = True
        max_results_per_poll: int = Field(500, ge=MIN_PAGE, le=10_000)
        page_size: int = Field(100, ge=MIN_PAGE, le=MAX_PAGE)
        max_posts_per_month: int | None = Field(None, ge=MIN_PAGE)
        timeout: float = Field(15.0, gt=0, le=120)

    options: XSource.Options

    def __init__(
        self,
        name: str,
        client: Any,
        queries: Mapping[str, str],
        options: XSource.Options | None = None,
    ):
        super().__init__(name, options or XSource.Options.model_validate({}))
        self.client = client
        self.queries = dict(queries)  # stream key (brand name) -> X query string
        self.budget_used_this_month = 0  # set by the pipeline before each fetch

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> XSource:
        opts = validate_options(cls, name, options)
        queries = cls._build_queries(name, opts, brands)
        if client is None:
            token = require_env(env, cls.needs, cls.type, name)["X_BEARER_TOKEN"]
            client = read_client(token, opts.timeout)
        install_timeout(client, opts.timeout)
        return cls(name, client, queries, opts)

    @classmethod
    def _build_queries(cls, name: str, opts: XSource.Options, brands: Sequence[BrandSpec] | None) -> dict[str, str]:
        from listener.query import QueryError, parse_query, to_x_query

        wanted = set(opts.brands) if opts.brands is not None else None
        sources: list[tuple[str, str]] = [(b.name, b.query) for b in brands or [] if wanted is None or b.name in wanted]
        if wanted is not None:
            missing = wanted - {key for key, _ in sources}
            if missing:
                raise NotConfigured(
                    f"x source '{name}': unknown brand(s) in options.brands: " + ", ".join(sorted(missing))
                )
        if opts.query:
            sources.append(("query", opts.query))
        if not sources:
            raise NotConfigured(f"x source '{name}': no brand queries to search for")
        queries: dict[str, str] = {}
        for key, text in sources:
            try:
                queries[key] = to_x_query(parse_query(text), lang=opts.lang, exclude_retweets=opts.exclude_retweets)
            except QueryError as exc:
                raise NotConfigured(f"x source '{name}': the query for '{key}' cannot be searched on X: {exc}") from exc
        return queries

    # ------------------------------------------------------------------ fetch

    def deletion_checker(self) -> XDeletionChecker:
        """Which stored posts were deleted on the platform, asked through this source's
        client (the platform's terms require purging them; listener.purge sweeps)."""
        from listener.deletions import XDeletionChecker  # deletions imports this module: import when used

        return XDeletionChecker(self.client)

    def fetch(self, cursor: str | None) -> Batch:
        """Read posts newer than the cursor for every brand, within the poll cap and budget."""
        now = self.clock()
        state = self._load(cursor)
        not_before = state.get("not_before")
        if not_before and float(not_before) > now.timestamp():
            wait = float(not_before) - now.timestamp()
            raise RateLimited(f"X rate limit: waiting {wait:.0f}s for the reset", retry_after=wait)
        state.pop("not_before", None)
        cap = self._poll_cap(now)

        stats: dict[str, int] = {}
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        seen_ids: set[str] = set()
        read = 0
        rate_limit: RateLimit | None = None
        exhausted = True
        streams: dict[str, dict[str, Any]] = state.setdefault("streams", {})
        keys = list(self.queries)
        for index, key in enumerate(keys):
            stream = streams.setdefault(key, {})
            # Share what is left of the cap fairly among the streams not yet read.
            share = max((cap - read) // (len(keys) - index), 0)
            try:
                result = self._read_stream(key, stream, share, stats, seen_ids)
            except (RateLimited, RetryableError) as exc:
                if read == 0:
                    raise
                result = _StreamResult()
                result.error = exc
            read += result.read
            mentions.extend(result.mentions)
            quarantined.extend(result.quarantined)
            rate_limit = result.rate_limit or rate_limit
            exhausted = exhausted and result.complete
            if result.error is not None:
                # Pages already read this poll were paid for: keep them, record the stop.
                error = result.error
                bump(stats, f"partial/{getattr(error, 'reason', type(error).__name__)}")
                if isinstance(error, RateLimited):
                    wait = error.retry_after or WINDOW_S
                    state["not_before"] = now.timestamp() + wait
                    rate_limit = getattr(error, "rate_limit", None) or rate_limit
                exhausted = False
                break
        bump(stats, "fetched", len(mentions))
        if quarantined:
            bump(stats, "quarantined", len(quarantined))
        state["v"] = 1
        return Batch(
            mentions=mentions,
            next_cursor=dump_cursor(state),
            rate_limit=rate_limit,
            quarantined=quarantined,
            exhausted=exhausted,
            stats=stats,
            budget_used=read,
        )

    def _load(self, cursor: str | None) -> dict[str, Any]:
        if cursor and cursor.strip().isdigit():  # a bare since_id, from before per-brand cursors
            return {"v": 1, "streams": {k: {"since_id": cursor.strip()} for k in self.queries}}
        state = load_cursor(cursor, self.type, self.name)
        if not isinstance(state.get("streams", {}), dict):
            raise PermanentError(f"x source '{self.name}': stored cursor has no 'streams' object")
        return state

    def _poll_cap(self, now: datetime) -> int:
        cap = self.options.max_results_per_poll
        budget = self.options.max_posts_per_month
        if budget is None:
            return cap
        left = budget - max(int(self.budget_used_this_month or 0), 0)
        if left < MIN_PAGE:
            reset = first_of_next_month(now)
            used = min(int(self.budget_used_this_month), budget) if left > 0 else budget
            raise RateLimited(
                f"X read budget {used}/{budget} posts spent for {now:%Y-%m}",
                retry_after=(reset - now).total_seconds(),
            )
        return min(cap, left)

    def _read_stream(
        self,
        key: str,
        stream: dict[str, Any],
        share: int,
        stats: dict[str, int],
        seen_ids: set[str],
    ) -> _StreamResult:
        since_id = stream.get("since_id")
        until_id = stream.get("until_id")
        result = _StreamResult()
        newest: int | None = None
        oldest: int | None = None
        next_token: str | None = None
        complete = False
        while True:
            left = share - result.read
            if left < MIN_PAGE:
                break
            params: dict[str, Any] = {
                "max_results": min(self.options.page_size, left, MAX_PAGE),
                "expansions": EXPANSIONS,
                "tweet_fields": TWEET_FIELDS,
                "user_fields": USER_FIELDS,
            }
            if since_id:
                params["since_id"] = since_id
            if until_id:
                params["until_id"] = until_id
            if next_token:
                params["next_token"] = next_token
            try:
                body, rl = call_x(
                    functools.partial(self.client.search_recent_tweets, self.queries[key], **params),
                    what="recent search",
                    policy=self.retry,
                    stats=stats,
                    clock=self.clock,
                )
            except (RateLimited, RetryableError) as exc:
                if result.read == 0:
                    raise
                # Keep what this stream read; the cursor records the gap.
                self._record(stream, since_id, newest, oldest, complete=False)
                result.error = exc
                return result
            result.rate_limit = rl or result.rate_limit
            bounds = (
                int(since_id) if since_id else None,
                int(until_id) if until_id else None,
            )
            page_newest, page_oldest = self._normalise_page(key, body, result, stats, seen_ids, bounds)
            if page_newest is not None:
                newest = page_newest if newest is None else max(newest, page_newest)
            if page_oldest is not None:
                oldest = page_oldest if oldest is None else min(oldest, page_oldest)
            next_token = (body.get("meta") or {}).get("next_token")
            if not next_token:
                complete = True
                break
        result.complete = self._record(stream, since_id, newest, oldest, complete)
        return result

    @staticmethod
    def _record(
        stream: dict[str, Any],
        since_id: str | None,
        newest: int | None,
        oldest: int | None,
        complete: bool,
    ) -> bool:
        """Update one stream's cursor entry; return whether the stream is caught up."""
        pending = stream.get("pending")
        top = max(
            (int(v) for v in (pending, newest, since_id) if v is not None),
            default=None,
        )
        if complete or (since_id is None and not stream.get("until_id")):
            # Caught up, or a first poll (start from the newest post, no back-fill).
            if top is not None:
                stream["since_id"] = str(top)
            stream.pop("until_id", None)
            stream.pop("pending", None)
            return True
        if oldest is not None:
            stream["until_id"] = str(oldest)
        if top is not None:
            stream["pending"] = str(top)
        return False

    def _normalise_page(
        self,
        key: str,
        body: dict[str, Any],
        result: _StreamResult,
        stats: dict[str, int],
        seen_ids: set[str],
        bounds: tuple[int | None, int | None] = (None, None),
    ) -> tuple[int | None, int | None]:
        """Normalise one page; posts outside (since_id, until_id) were read before and are
        dropped, which X should never send but which must not become duplicates."""
        low, high = bounds
        data = body.get("data") or []
        if not isinstance(data, list):
            raise TransientError("X returned a body whose 'data' is not a list", "malformed_body")
        includes = body.get("includes") or {}
        users = {}
        for user in includes.get("users") or []:
            if isinstance(user, dict) and "id" in user:
                users[str(user["id"])] = user
        originals = {}
        for tweet in includes.get("tweets") or []:
            if isinstance(tweet, dict) and "id" in tweet:
                originals[str(tweet["id"])] = tweet
        self._partial_errors(body, result, stats)
        result.read += len(data)
        newest: int | None = None
        oldest: int | None = None
        for raw in data:
            tweet_id = raw.get("id") if isinstance(raw, dict) else None
            if tweet_id is not None and str(tweet_id).isdigit():
                n = int(tweet_id)
                if (low is not None and n <= low) or (high is not None and n >= high):
                    bump(stats, "dropped/seen")
                    continue
                newest = n if newest is None else max(newest, n)
                oldest = n if oldest is None else min(oldest, n)
            try:
                mention = self._mention(raw, users, key, originals)
            except (KeyError, TypeError, ValueError) as exc:
                result.quarantined.append(quarantine(self.name, raw, exc, tweet_id))
                continue
            if mention.external_id in seen_ids:  # two brands matched the same post
                bump(stats, "dropped/duplicate")
                continue
            seen_ids.add(mention.external_id)
            result.mentions.append(mention)
        return newest, oldest

    def _partial_errors(self, body: dict[str, Any], result: _StreamResult, stats: dict[str, int]) -> None:
        """X answers 200 with `errors[]` beside `data` when part of the answer is missing:
        a referenced post deleted or withheld, an author suspended, a post we may not
        see. Each is counted (`partial_errors/<problem>`, in source health) and
        quarantined with its problem object, so the gap is visible, not silent."""
        errors = body.get("errors") or []
        if not isinstance(errors, list):
            errors = [errors]
        for problem in errors:
            kind = "unknown"
            detail = ""
            resource = None
            if isinstance(problem, dict):
                kind = str(problem.get("type") or problem.get("title") or "unknown").rsplit("/", 1)[-1]
                detail = str(problem.get("detail") or problem.get("title") or "")
                resource = problem.get("resource_id") or problem.get("value")
            bump(stats, f"partial_errors/{kind}")
            result.quarantined.append(
                quarantine(self.name, problem, f"X partial error ({kind}): {detail}", f"error:{kind}:{resource}")
            )

    def _mention(
        self,
        raw: Any,
        users: Mapping[str, dict[str, Any]],
        key: str,
        originals: Mapping[str, dict[str, Any]] | None = None,
    ) -> Mention:
        if not isinstance(raw, dict):
            raise TypeError(f"tweet is a {type(raw).__name__}, not an object")
        tweet_id = str(raw["id"])
        if not tweet_id.isdigit():
            raise ValueError(f"tweet id {tweet_id!r} is not numeric")
        text = raw["text"]
        if not isinstance(text, str):
            raise TypeError("tweet text is not a string")
        created_at = parse_time(raw["created_at"])
        author_id = str(raw.get("author_id") or "")
        user = users.get(author_id) or {}
        user_metrics = user.get("public_metrics") or {}
        author = Author(
            platform="x",
            handle=str(user.get("username") or author_id),
            name=user.get("name"),
            external_id=author_id or None,
            followers=int(user_metrics.get("followers_count") or 0),
            verified=bool(user.get("verified") or False),
        )
        metrics = raw.get("public_metrics") or {}
        engagement = sum(
            int(metrics.get(k) or 0) for k in ("like_count", "retweet_count", "reply_count", "quote_count")
        )
        refs = {r.get("type"): str(r.get("id")) for r in raw.get("referenced_tweets") or []}
        handle = user.get("username")
        url = f"https://x.com/{handle}/status/{tweet_id}" if handle else f"https://x.com/i/web/status/{tweet_id}"
        extra: dict[str, Any] = {"brand": key, "public_metrics": metrics}
        if "quoted" in refs:
            extra["quoted_id"] = refs["quoted"]
        if "retweeted" in refs:
            extra["repost_of"] = refs["retweeted"]
            text = _full_repost_text(text, (originals or {}).get(refs["retweeted"]))
        return Mention(
            source=self.name,
            platform="x",
            external_id=tweet_id,
            text=text,
            created_at=created_at,
            author=author,
            url=url,
            lang=raw.get("lang"),
            in_reply_to=refs.get("replied_to"),
            in_reply_to_user=raw.get("in_reply_to_user_id"),
            conversation_id=raw.get("conversation_id"),
            engagement=engagement,
            is_repost="retweeted" in refs,
            extra=extra,
        )


_RT_PREFIX = re.compile(r"^RT @(\w{1,15}): ")


def _full_repost_text(text: str, original: Mapping[str, Any] | None) -> str:
    """A repost's text is "RT @user: " plus the original cut at 140 characters; with the
    original from includes.tweets it becomes "RT @user: " plus the full original text."""
    full = original.get("text") if isinstance(original, Mapping) else None
    if not isinstance(full, str):
        return text
    prefix = _RT_PREFIX.match(text)
    return (prefix.group(0) if prefix else "") + full


class _StreamResult:
    def __init__(self) -> None:
        self.mentions: list[Mention] = []
        self.quarantined: list[Quarantined] = []
        self.read = 0
        self.complete = False
        self.rate_limit: RateLimit | None = None
        self.error: Exception | None = None
