"""RedditReplyPublisher: reply to a submission or comment through `praw`, never twice.

Posting: the mention's id is a fullname; `t3_<id>` → `reddit.submission(id).reply(text)`,
`t1_<id>` → `reddit.comment(id).reply(text)` (POST /api/comment). It needs a script app
with the account's password (REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, REDDIT_USER_AGENT,
REDDIT_USERNAME, REDDIT_PASSWORD).

Never twice: Reddit takes no idempotency key, and prawcore would itself retry a POST after
a 5xx or a read timeout, so its retries are switched off here. On a retry (`attempt > 1`)
or after an ambiguous failure, the publisher reads our account's newest comments
(`GET /user/<us>/comments/new`, one listing for submissions and comments alike, however
big the thread) and treats one whose `parent_id` is the mention and whose body is the
same text as delivered. `reply()` returning None (created, but not visible to us in a
quarantined subreddit) is handled the same way.

Errors (the boundary):

    OAuthException / 401 ────────────► BadCredentials naming REDDIT_USERNAME/REDDIT_PASSWORD
    403 Forbidden ───────────────────► PermanentError (banned from the subreddit, or suspended)
    RedditAPIException RATELIMIT ────► RateLimited (the minutes Reddit asks for)
    RedditAPIException other ────────► PermanentError (THREAD_LOCKED, DELETED_COMMENT, TOO_OLD, ...)
    TooManyRequests (429) ───────────► RateLimited(Retry-After)
    ServerError (5xx), network,
      timeout ───────────────────────► RetryableError(retry_after=lag_s), marked ambiguous
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import praw
import prawcore

from platforms.http import DEFAULT_RATE_LIMIT_WAIT, parse_retry_after
from platforms.reddit import WRITE_ENV as REDDIT_ENV
from platforms.reddit import no_prawcore_retries, praw_fields, write_client
from responders.publishers import ReplyJob, same_reply
from responders.types import DeliveryResult
from socialear.errors import BadCredentials, PermanentError, RateLimited, RetryableError

TIMEOUT_S = 16.0
DEFAULT_LAG_S = 5.0
HISTORY_LIMIT = 100
_WAIT = re.compile(r"(\d+)\s*(second|minute)", re.IGNORECASE)



class RedditReplyPublisher:
    """Replies on Reddit as the configured account."""

    type: ClassVar[str] = "reddit"
    needs: ClassVar[tuple[str, ...]] = REDDIT_ENV

    def __init__(self, name: str, reddit: Any, username: str, *, lag_s: float = DEFAULT_LAG_S):
        self.name = name
        self.reddit = reddit
        self.username = username
        self.lag_s = lag_s
        self._ambiguous: set[str] = set()

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str], client: Any = None) -> RedditReplyPublisher:
        username = env.get("REDDIT_USERNAME") or ""
        if client is None:
            client = write_client(env, TIMEOUT_S)
        no_prawcore_retries(client)
        if not username:  # an injected client knows whose it is
            username = str(getattr(getattr(client, "config", None), "username", None) or "")
        return cls(name, client, username)

    def post(self, job: ReplyJob, *, attempt: int = 1) -> DeliveryResult:
        """Reply once per job; on a retry, find the reply an earlier attempt made first."""
        kind, _, thing_id = job.in_reply_to.partition("_")
        if kind not in ("t1", "t3") or not thing_id:
            raise PermanentError(f"cannot reply to Reddit item {job.in_reply_to!r}: not a t1_/t3_ fullname")
        if attempt > 1 or job.key in self._ambiguous:
            found = self.find(job)
            if found is not None:
                self._ambiguous.discard(job.key)
                return found
        parent = self.reddit.comment(id=thing_id) if kind == "t1" else self.reddit.submission(id=thing_id)
        try:
            reply = parent.reply(job.text)
        except Exception as exc:  # mapped (module docstring)
            raise self._error(exc, job, "posting the reply") from exc
        if reply is None:  # created, but we cannot see it (quarantined subreddit): look it up
            self._ambiguous.add(job.key)
            found = self.find(job)
            if found is not None:
                self._ambiguous.discard(job.key)
                return found
            raise RetryableError("Reddit accepted the reply but returned no comment; the retry looks it up", self.lag_s)
        self._ambiguous.discard(job.key)
        return self._result(praw_fields(reply), created=True)

    def find(self, job: ReplyJob) -> DeliveryResult | None:
        """Our comment replying to `job.in_reply_to` with `job.text`, if one exists."""
        if not self.username:
            return None
        try:
            for comment in self.reddit.redditor(self.username).comments.new(limit=HISTORY_LIMIT):
                data = praw_fields(comment)
                if data.get("parent_id") == job.in_reply_to and same_reply(job.text, str(data.get("body") or "")):
                    return self._result(data, created=False)
        except Exception as exc:  # mapped
            raise self._error(exc, None, "reading our comment history") from exc
        return None

    @staticmethod
    def _result(data: dict[str, Any], *, created: bool) -> DeliveryResult:
        ref = data.get("name") or (f"t1_{data['id']}" if data.get("id") else None)
        permalink = data.get("permalink")
        url = f"https://www.reddit.com{permalink}" if isinstance(permalink, str) and permalink.startswith("/") else None
        return DeliveryResult(external_ref=str(ref) if ref else None, url=url, created=created)

    def _error(self, exc: Exception, job: ReplyJob | None, what: str) -> Exception:
        if isinstance(exc, praw.exceptions.RedditAPIException):
            for item in exc.items:
                if item.error_type == "RATELIMIT":
                    match = _WAIT.search(item.message or "")
                    wait = 600.0
                    if match:
                        wait = float(match.group(1)) * (60 if match.group(2).lower().startswith("minute") else 1)
                    return RateLimited(f"Reddit rate limit while {what}: {item.message}", retry_after=wait)
            return PermanentError(f"Reddit refused {what}: {exc}")
        if isinstance(exc, prawcore.exceptions.TooManyRequests):
            told = parse_retry_after(exc.response.headers.get("retry-after"))
            wait = DEFAULT_RATE_LIMIT_WAIT if told is None else told
            return RateLimited(f"Reddit rate limit (429) while {what}", retry_after=wait)
        if isinstance(exc, prawcore.exceptions.OAuthException):
            return BadCredentials(
                f"Reddit rejected the login while {what} ({exc.error}): check REDDIT_USERNAME, REDDIT_PASSWORD "
                "and REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET (a 'script' app)"
            )
        if isinstance(exc, prawcore.exceptions.Forbidden):
            return PermanentError(f"Reddit forbade {what} (403): the account may be banned there or suspended")
        if isinstance(exc, prawcore.exceptions.ServerError | prawcore.exceptions.RequestException):
            if job is not None:
                self._ambiguous.add(job.key)
            return RetryableError(f"Reddit failed while {what} ({type(exc).__name__}); the retry looks first", self.lag_s)
        if isinstance(exc, prawcore.exceptions.ResponseException):
            status = exc.response.status_code
            if status == 401:
                return BadCredentials(f"Reddit rejected the credentials while {what} (401): check REDDIT_USERNAME/REDDIT_PASSWORD")
            return PermanentError(f"Reddit rejected {what} ({status})")
        if isinstance(exc, praw.exceptions.PRAWException | prawcore.exceptions.PrawcoreException):
            return PermanentError(f"Reddit error while {what}: {exc}")
        return exc
