"""Reddit submissions and comments mentioning a brand, through an injected `praw.Reddit`.

Two streams per configured subreddit (default `all`):

* `search:<sub>`: `subreddit.search(<brand terms OR'd>, sort="new", time_filter=...)`,
  then every brand's boolean query is matched locally on title + body (Reddit's search
  syntax is not ours; the local match decides).
* `comments:<sub>`: `subreddit.comments(limit=...)`, the newest comments, matched
  locally. On r/all this is a sample of a firehose: list your brand's subreddits.

Payload shape (Reddit API listings, recorded in tests/fixtures/reddit/): `{"kind":
"Listing", "data": {"after", "before", "dist", "children": [{"kind": "t3"|"t1",
"data": {...}}]}}`; t3 (submission) has `name` (fullname), `id`, `title`, `selftext`,
`author`, `author_fullname`, `subreddit`, `created_utc`, `permalink`, `score`,
`num_comments`; t1 (comment) has `name`, `body`, `author`, `link_id`, `parent_id`,
`link_title`, `created_utc`, `permalink`, `score`. Attributes are read from the
object's `__dict__`, never with getattr, which would make praw fetch a missing field.

`Mention.external_id` is the fullname (`t3_...`, `t1_...`): what `reddit.info` takes
when checking deletions. A submission's text is its title, then a blank line and the
body when it has one (both verbatim); `title` holds the title alone.

Cursor (JSON): `{"v": 1, "streams": {"search:all": {"ts", "seen", "resume"?}, ...}}`:
`ts`/`seen` is the watermark (newest created_utc and the fullnames read near it; search
keeps `search_lookback` seconds of ids because Reddit's search index lags). When a poll
hits `limit` before reaching the watermark, `resume = {"after": <oldest fullname read>,
"pending": <watermark of what was read>}`, and the next poll continues below `after`
before adopting `pending`: nothing is skipped, nothing read twice.

Errors (the boundary): 401 from the token endpoint or API -> BadCredentials naming
REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET; 403 -> BadCredentials (private/quarantined
subreddit or missing access); 404 / redirect (no such subreddit) -> PermanentError;
429 -> RateLimited(retry_after from Retry-After or x-ratelimit-reset); 5xx, network
errors, timeouts and bad JSON -> retried (3 attempts, backoff with jitter), then
RetryableError. prawcore's own retry is switched off on clients built here so a fetch
makes at most 3 attempts per request.

Rate-limit policy: prawcore reads Reddit's x-ratelimit-* headers and spaces requests
itself (it may sleep a few seconds in the worker thread, by design: that is how praw
stays under 100 requests/minute); `reddit.auth.limits` becomes Batch.rate_limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import praw
import prawcore
import requests
from pydantic import BaseModel, ConfigDict, Field

from listener.sources._common import (
    BrandMatcher,
    PlatformSource,
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
    utcnow,
    validate_options,
)
from listener.sources._http import retry_after_from
from listener.types import Author, Batch, BrandSpec, Mention, Quarantined, RateLimit
from platforms.http import reset_at_from
from platforms.reddit import READ_ENV as ENV
from platforms.reddit import UA_ACCOUNT, no_prawcore_retries, praw_fields, read_client
from socialear.errors import BadCredentials, NotConfigured, PermanentError, RateLimited

if TYPE_CHECKING:
    from listener.deletions import RedditDeletionChecker


def map_praw_error(exc: Exception, what: str) -> Exception:
    """Translate a praw/prawcore exception into socialear's tree (see module doc)."""
    if isinstance(exc, prawcore.exceptions.TooManyRequests):
        wait = retry_after_from(exc.response.headers, utcnow())
        return RateLimited(f"Reddit rate limit reached on {what}; retry in {wait:.0f}s", wait)
    if isinstance(exc, prawcore.exceptions.OAuthException):
        return BadCredentials(
            f"REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET were rejected ({exc.error}): check the Reddit app's id and secret"
        )
    if isinstance(exc, prawcore.exceptions.Forbidden):
        return BadCredentials(
            f"403: Reddit refused {what}: the subreddit is private or quarantined, or the app lacks read access"
        )
    if isinstance(exc, prawcore.exceptions.BadJSON):
        return TransientError(f"Reddit returned a malformed body for {what}", "malformed_body")
    if isinstance(exc, prawcore.exceptions.ServerError):
        status = exc.response.status_code
        return TransientError(f"Reddit server error {status} on {what}", "server_error")
    if isinstance(exc, prawcore.exceptions.NotFound | prawcore.exceptions.Redirect):
        return PermanentError(f"Reddit has no {what} (check the subreddit name)")
    if isinstance(exc, prawcore.exceptions.ResponseException):
        status = exc.response.status_code
        if status == 429:
            # The token endpoint answers a throttle with a plain ResponseException (JSON
            # `{"message": "Too Many Requests", "error": 429}`, no Retry-After): it is a
            # rate limit like any other 429, not a rejected credential.
            wait = retry_after_from(exc.response.headers, utcnow())
            return RateLimited(f"Reddit rate limit reached on {what} (429); retry in {wait:.0f}s", wait)
        if status == 401:
            return BadCredentials(
                "REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET were rejected (401): check the Reddit app's id and secret"
            )
        if status >= 500:
            return TransientError(f"Reddit server error {status} on {what}", "server_error")
        return PermanentError(f"Reddit rejected {what} ({status})")
    if isinstance(exc, prawcore.exceptions.RequestException):
        original = exc.original_exception
        if isinstance(original, requests.Timeout):
            return TransientError(f"Reddit timed out on {what}: {original}", "timeout")
        return TransientError(f"Reddit network error on {what}: {original}", "network")
    if isinstance(exc, praw.exceptions.RedditAPIException):
        return PermanentError(f"Reddit API error on {what}: {exc}")
    return exc


class RedditSource(PlatformSource):
    """Reddit posts and comments that match a brand query, in chosen subreddits."""

    type: ClassVar[str] = "reddit"
    platform: ClassVar[str] = "reddit"
    description: ClassVar[str] = (
        "Reddit submissions (search, newest first) and comments in chosen subreddits that match a brand's query."
    )
    needs: ClassVar[tuple[str, ...]] = ENV
    expected_update_period: ClassVar[float | None] = 2 * 86_400.0  # seconds; see listener.silence

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        subreddits: list[str] = Field(default_factory=lambda: ["all"], min_length=1)
        brands: list[str] | None = None  # only these brands (default: every brand)
        query: str | None = None  # an extra boolean query
        search: bool = True  # submissions through subreddit search
        comments: bool = True  # newest comments, matched locally
        time_filter: Literal["hour", "day", "week", "month", "year", "all"] = "all"
        limit: int = Field(250, ge=1, le=1000)  # items per stream per poll
        search_lookback: float = Field(3600.0, ge=0, le=86_400)
        timeout: float = Field(16.0, gt=0, le=120)

    options: RedditSource.Options

    def __init__(
        self,
        name: str,
        reddit: Any,
        matcher: BrandMatcher,
        options: RedditSource.Options,
    ):
        super().__init__(name, options)
        self.reddit = reddit
        self.matcher = matcher
        self._limit_headers: tuple[dict[str, str], datetime] | None = None

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        brands: Sequence[BrandSpec] | None = None,
    ) -> RedditSource:
        opts = validate_options(cls, name, options)
        matcher = BrandMatcher.for_source("reddit", name, brands, opts.brands, opts.query)
        if not matcher:
            raise NotConfigured(f"reddit source '{name}': no brand queries to match")
        if client is None:
            creds = require_env(env, ENV, cls.type, name)
            agent = creds["REDDIT_USER_AGENT"]
            if not UA_ACCOUNT.search(agent):
                raise NotConfigured(
                    f"reddit source '{name}': REDDIT_USER_AGENT must describe the app and its "
                    "Reddit account, e.g. 'linux:com.example.socialear:v0.1 (by /u/yourname)'"
                )
            client = read_client(creds, opts.timeout)
        no_prawcore_retries(client)
        source = cls(name, client, matcher, opts)
        source._watch_rate_limit_headers()
        return source

    def _watch_rate_limit_headers(self) -> None:
        """Keep the last response's x-ratelimit-* headers.

        praw 8 / prawcore 4 expose only `remaining` and `used` in `reddit.auth.limits`;
        the reset (`x-ratelimit-reset`, seconds until the window ends) is only in the
        headers, so a requests response hook on praw's session reads it from there.
        """
        core = getattr(self.reddit, "_core", None)
        authenticator = getattr(getattr(core, "_authorizer", None), "_authenticator", None)
        requestor = getattr(core, "_requestor", None) or getattr(authenticator, "_requestor", None)
        http = vars(requestor).get("_http") if requestor is not None and hasattr(requestor, "__dict__") else None
        if not isinstance(http, requests.Session):
            return

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            headers = {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit-")}
            if headers:
                self._limit_headers = (headers, self.clock())

        http.hooks.setdefault("response", []).append(hook)

    # ------------------------------------------------------------------ fetch

    def deletion_checker(self) -> RedditDeletionChecker:
        """Which stored posts were deleted on the platform, asked through this source's
        client (the platform's terms require purging them; listener.purge sweeps)."""
        from listener.deletions import RedditDeletionChecker  # deletions imports this module: import when used

        return RedditDeletionChecker(self.reddit)

    def fetch(self, cursor: str | None) -> Batch:
        """Read new matching submissions and comments since the cursor."""
        state = load_cursor(cursor, self.type, self.name)
        streams: dict[str, Any] = state.setdefault("streams", {})
        stats: dict[str, int] = {}
        mentions: list[Mention] = []
        quarantined: list[Quarantined] = []
        exhausted = True
        ids: set[str] = set()
        for sub in self.options.subreddits:
            plan: list[tuple[str, float, Callable[[dict[str, Any]], Iterable[Any]]]] = []
            if self.options.search:
                plan.append((f"search:{sub}", self.options.search_lookback, self._search(sub)))
            if self.options.comments:
                plan.append((f"comments:{sub}", 0.0, self._comments(sub)))
            for key, lookback, listing in plan:
                entry = streams.get(key) or {}
                caught_up = self._read_stream(key, entry, lookback, listing, stats)
                streams[key] = entry
                exhausted = exhausted and caught_up
                for mention in entry.pop("_mentions"):
                    if mention.external_id not in ids:
                        ids.add(mention.external_id)
                        mentions.append(mention)
                quarantined.extend(entry.pop("_quarantined"))
        state["v"] = 1
        bump(stats, "fetched", len(mentions))
        if quarantined:
            bump(stats, "quarantined", len(quarantined))
        return Batch(
            mentions=mentions,
            next_cursor=dump_cursor(state),
            rate_limit=self._rate_limit(),
            quarantined=quarantined,
            exhausted=exhausted,
            stats=stats,
        )

    def _search(self, sub: str) -> Callable[[dict[str, Any]], Iterable[Any]]:
        query = " OR ".join(_reddit_term(t) for t in self.matcher.terms())

        def listing(params: dict[str, Any]) -> Iterable[Any]:
            # `reddit` is praw.Reddit or a test double, held as Any: a praw ListingGenerator
            return cast(Iterable[Any], self.reddit.subreddit(sub).search(
                query,
                sort="new",
                time_filter=self.options.time_filter,
                limit=self.options.limit,
                params=params,
            ))

        return listing

    def _comments(self, sub: str) -> Callable[[dict[str, Any]], Iterable[Any]]:
        def listing(params: dict[str, Any]) -> Iterable[Any]:
            # as in _search: a praw ListingGenerator
            return cast(Iterable[Any], self.reddit.subreddit(sub).comments(limit=self.options.limit, params=params))

        return listing

    def _read_stream(
        self,
        key: str,
        entry: dict[str, Any],
        lookback: float,
        listing: Callable[[dict[str, Any]], Iterable[Any]],
        stats: dict[str, int],
    ) -> bool:
        """Sweep one listing; update `entry` (the stream's cursor). True when caught up."""
        mark = Watermark.from_json(entry, lookback=lookback)
        resume = entry.get("resume")
        params = {"after": resume["after"]} if resume else {}
        sweep = Sweep(self.name, mark, stats)
        items = self._list(key, listing, params, stats)
        last_fullname: str | None = None
        for item in items:
            raw = praw_fields(item)
            fullname = safely(lambda r: str(r["name"]), raw)
            last_fullname = fullname or last_fullname
            sweep.offer(
                item,
                fullname,
                safely(lambda r: float(r["created_utc"]), raw),
                self._normalise,
            )
            if sweep.done:
                break
        listing_ended = len(items) < self.options.limit
        read_all = sweep.done or sweep.reached or listing_ended
        if resume:
            pending = Watermark.from_json(resume.get("pending"), lookback=lookback)
            merged = pending.advanced(sweep.read)
            if read_all:
                entry.clear()
                entry.update(Watermark(merged.ts, merged.seen).to_json())
            else:
                entry["resume"] = {"after": last_fullname, "pending": merged.to_json()}
        elif read_all or mark.ts is None:
            # Caught up, or the first poll (start from the newest, no back-fill).
            entry.clear()
            entry.update(sweep.advanced().to_json())
        else:
            entry["resume"] = {"after": last_fullname, "pending": sweep.advanced().to_json()}
        entry["_mentions"] = [m for m in sweep.mentions if isinstance(m, Mention)]
        entry["_quarantined"] = sweep.quarantined
        dropped = sum(1 for m in sweep.mentions if m is None)
        if dropped:
            bump(stats, "dropped/no_match", dropped)
        deleted = sum(1 for m in sweep.mentions if m is DELETED)
        if deleted:
            bump(stats, "dropped/deleted", deleted)
        return "resume" not in entry

    def _list(
        self,
        key: str,
        listing: Callable[[dict[str, Any]], Iterable[Any]],
        params: dict[str, Any],
        stats: dict[str, int],
    ) -> list[Any]:
        what = f"r/{key.split(':', 1)[1]} {key.split(':', 1)[0]}"

        def once() -> list[Any]:
            try:
                return list(listing(dict(params)))
            except (prawcore.exceptions.PrawcoreException, praw.exceptions.PRAWException) as exc:
                raise map_praw_error(exc, what) from exc

        return call_with_retries(once, self.retry, stats)

    def _normalise(self, item: Any) -> Mention | object | None:
        """A Mention; None when no brand query matches; DELETED when the author or the
        content is gone (both counted, neither quarantined)."""
        raw = praw_fields(item)
        fullname = str(raw["name"])
        created = parse_time(float(raw["created_utc"]))
        if _is_deleted(raw):
            return DELETED
        author = raw.get("author")
        handle = str(author)
        permalink = raw.get("permalink")
        common: dict[str, Any] = {
            "source": self.name,
            "platform": "reddit",
            "external_id": fullname,
            "created_at": created,
            "author": Author(
                platform="reddit",
                handle=handle,
                external_id=raw.get("author_fullname"),
            ),
            "url": f"https://www.reddit.com{permalink}" if permalink else None,
            "engagement": int(raw.get("score") or 0),
        }
        subreddit = str(raw.get("subreddit") or "")
        if fullname.startswith("t3_"):
            title = raw["title"]
            body = raw.get("selftext") or ""
            if not isinstance(title, str) or not isinstance(body, str):
                raise TypeError("title/selftext is not a string")
            text = f"{title}\n\n{body}" if body else title
            common["engagement"] += int(raw.get("num_comments") or 0)
            mention = Mention(text=text, title=title, conversation_id=fullname, **common)
        elif fullname.startswith("t1_"):
            body = raw["body"]
            if not isinstance(body, str):
                raise TypeError("body is not a string")
            mention = Mention(
                text=body,
                title=raw.get("link_title"),
                in_reply_to=raw.get("parent_id"),
                conversation_id=raw.get("link_id"),
                **common,
            )
        else:
            raise ValueError(f"unexpected kind for {fullname!r}")
        matched = self.matcher.matches(mention.text)
        if not matched:
            return None
        mention.extra = {"subreddit": subreddit, "brands": matched}
        return mention

    def _rate_limit(self) -> RateLimit | None:
        """The allowance left, from the last response's headers (remaining, used and
        reset), else from `reddit.auth.limits` (remaining and used only)."""
        if self._limit_headers is not None:
            headers, at = self._limit_headers
            remaining = _number(headers.get("x-ratelimit-remaining"))
            used = _number(headers.get("x-ratelimit-used"))
            reset = reset_at_from(headers.get("x-ratelimit-reset"), at)
            if remaining is not None:
                total = remaining + used if used is not None else None
                return RateLimit(remaining=remaining, limit=total, reset_at=reset)
        try:
            limits = self.reddit.auth.limits
        except Exception:  # noqa: BLE001 - a fake client may have no auth; no limits then
            return None
        remaining, used = limits.get("remaining"), limits.get("used")
        if remaining is None:
            return None
        total = int(remaining) + int(used) if used is not None else None
        reset = limits.get("reset_timestamp")
        return RateLimit(
            remaining=int(remaining),
            limit=total,
            reset_at=parse_time(float(reset)) if reset else None,
        )


DELETED = object()  # _normalise's answer for an item whose author or content is gone
_GONE = ("[deleted]", "[removed]")


def _is_deleted(raw: Mapping[str, Any]) -> bool:
    """Deleted or removed on Reddit: the account is gone (praw turns the author
    "[deleted]" into None) or the body/selftext is "[deleted]"/"[removed]". Reddit's
    Data API terms ask for deleted content not to be kept; there is no one to answer."""
    author = raw.get("author")
    if author is None or str(author) in _GONE:
        return True
    body = raw.get("body") if "body" in raw else raw.get("selftext")
    return isinstance(body, str) and body.strip() in _GONE


def _number(value: Any) -> int | None:
    """Reddit sends counts as floats ("99.0")."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _reddit_term(term: str) -> str:
    """A query term in Reddit's search syntax: no @/# prefixes, no trailing wildcard."""
    term = term.strip()
    if term.startswith('"'):
        return term
    term = term.lstrip("@#").rstrip("*")
    return f'"{term}"' if re.search(r"\W", term) else term
