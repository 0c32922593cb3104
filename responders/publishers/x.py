"""XReplyPublisher: post an approved reply with `tweepy.Client.create_tweet`, never twice.

Posting: `create_tweet(text=..., in_reply_to_tweet_id=<the mention's id>)` with OAuth 1.0a
user context (X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET); X answers
201 `{"data": {"id", "text", "edit_history_tweet_ids"}}`.

Never twice: X has no idempotency key. Before re-posting on a retry (`attempt > 1`) or
after an ambiguous failure this process saw, the publisher reads our own timeline
(`GET /2/users/:me/tweets?since_id=<parent>`: real time, unlike recent search's index)
and treats a tweet that replies to the same parent with the same text (compared after
t.co wrapping, entity escaping and X's leading @handles) as delivered. X's own 403
"duplicate content" answer triggers the same look-up.

Errors (the boundary):

    tweepy.Unauthorized (401) ──────────────► BadCredentials naming the four X_* variables
    tweepy.Forbidden (403), duplicate text ─► look our reply up; found = delivered, else PermanentError
    tweepy.Forbidden (403), other ──────────► PermanentError (reply restricted, protected, app lacks write access)
    tweepy.TooManyRequests (429) ───────────► RateLimited(retry_after = x-rate-limit-reset - now)
    TwitterServerError (5xx), requests
      Timeout / ConnectionError ────────────► RetryableError(retry_after=lag_s), marked ambiguous
    other 4xx (deleted parent, bad text) ───► PermanentError with X's detail
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
import tweepy

from platforms.x import WRITE_ENV as X_ENV
from platforms.x import install_timeout, problem_detail, reset_wait, write_client
from responders.publishers import ReplyJob, same_reply
from responders.types import DeliveryResult
from socialear.errors import BadCredentials, PermanentError, RateLimited, RetryableError

TIMEOUT_S = 15.0
DEFAULT_LAG_S = 5.0  # seconds a just-posted tweet may take to show in the timeline
TIMELINE_PAGES = 3  # 3 × 100 of our own tweets since the parent: plenty for a care account
CREDENTIALS_HINT = ", ".join(X_ENV)


def _detail(exc: tweepy.HTTPException) -> str:
    return problem_detail(exc.response) or ", ".join(exc.api_messages) or str(exc)


def _json(response: Any) -> dict[str, Any]:
    if isinstance(response, requests.Response):
        try:
            body = response.json()
        except ValueError as exc:
            raise RetryableError(f"X returned a body that is not JSON (HTTP {response.status_code})") from exc
        return body if isinstance(body, dict) else {}
    data: Any = getattr(response, "data", None)  # tweepy.Response
    return {"data": getattr(data, "data", data)}


class XReplyPublisher:
    """Replies on X as the account whose user-context tokens are configured."""

    type: ClassVar[str] = "x"
    needs: ClassVar[tuple[str, ...]] = X_ENV

    def __init__(
        self,
        name: str,
        client: Any,
        *,
        lag_s: float = DEFAULT_LAG_S,
        clock: Callable[[], float] = time.time,
    ):
        self.name = name
        self.client = client
        self.lag_s = lag_s
        self.clock = clock
        self._me: str | None = None
        self._ambiguous: set[str] = set()

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str], client: Any = None) -> XReplyPublisher:
        if client is None:
            client = write_client(env, TIMEOUT_S)
        install_timeout(client, TIMEOUT_S)
        return cls(name, client)

    # -- posting ---------------------------------------------------------------------
    def post(self, job: ReplyJob, *, attempt: int = 1) -> DeliveryResult:
        """Reply once per job; on a retry, find the reply an earlier attempt made first."""
        if attempt > 1 or job.key in self._ambiguous:
            found = self.find(job)
            if found is not None:
                self._ambiguous.discard(job.key)
                return found
        try:
            response = self.client.create_tweet(text=job.text, in_reply_to_tweet_id=job.in_reply_to, user_auth=True)
        except tweepy.Forbidden as exc:
            detail = _detail(exc)
            if "duplicate" in detail.lower():
                found = self.find(job)
                if found is not None:
                    self._ambiguous.discard(job.key)
                    return found
            raise PermanentError(f"X refused the reply to {job.in_reply_to} (403): {detail}") from exc
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise self._error(exc, job, "posting the reply") from exc
        tweet = _json(response).get("data") or {}
        if not tweet.get("id"):
            self._ambiguous.add(job.key)
            raise RetryableError("X answered the reply without a tweet id; the retry looks it up", self.lag_s)
        self._ambiguous.discard(job.key)
        return DeliveryResult(external_ref=str(tweet["id"]), url=f"https://x.com/i/web/status/{tweet['id']}")

    # -- finding an earlier attempt's reply ---------------------------------------------
    def find(self, job: ReplyJob) -> DeliveryResult | None:
        """Our reply to `job.in_reply_to` with `job.text`, if an earlier attempt posted it."""
        me = self._my_id()
        token: str | None = None
        for _ in range(TIMELINE_PAGES):
            params: dict[str, Any] = {
                "since_id": job.in_reply_to,
                "max_results": 100,
                "tweet_fields": ["referenced_tweets", "conversation_id", "created_at"],
                "exclude": ["retweets"],
                "user_auth": True,
            }
            if token:
                params["pagination_token"] = token
            try:
                body = _json(self.client.get_users_tweets(me, **params))
            except (tweepy.TweepyException, requests.RequestException) as exc:
                raise self._error(exc, job, "reading our timeline", ambiguous=False) from exc
            for tweet in body.get("data") or []:
                refs = tweet.get("referenced_tweets") or []
                replies_to_parent = any(r.get("type") == "replied_to" and str(r.get("id")) == job.in_reply_to for r in refs)
                if replies_to_parent and same_reply(job.text, str(tweet.get("text") or "")):
                    tid = str(tweet["id"])
                    return DeliveryResult(external_ref=tid, url=f"https://x.com/i/web/status/{tid}", created=False)
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        return None

    def _my_id(self) -> str:
        if self._me is None:
            try:
                body = _json(self.client.get_me(user_auth=True))
            except (tweepy.TweepyException, requests.RequestException) as exc:
                raise self._error(exc, None, "looking up our own account", ambiguous=False) from exc
            me = (body.get("data") or {}).get("id")
            if not me:
                raise RetryableError("X did not say who we are (GET /2/users/me without an id)")
            self._me = str(me)
        return self._me

    def _error(self, exc: Exception, job: ReplyJob | None, what: str, *, ambiguous: bool = True) -> Exception:
        """Map a tweepy/requests error (module docstring); ambiguous ones mark the job."""
        if isinstance(exc, tweepy.Unauthorized):
            return BadCredentials(f"X rejected the write credentials while {what} (401): check {CREDENTIALS_HINT}")
        if isinstance(exc, tweepy.Forbidden):
            return BadCredentials(f"X refused {what} (403): {_detail(exc)}; the app needs read and write access")
        if isinstance(exc, tweepy.TooManyRequests):
            wait = reset_wait(exc.response.headers, datetime.fromtimestamp(self.clock(), UTC))
            return RateLimited(f"X rate limit reached while {what}; resets in {wait:.0f}s", retry_after=wait)
        transient = isinstance(exc, tweepy.TwitterServerError | requests.Timeout | requests.ConnectionError)
        if transient:
            if ambiguous and job is not None:
                self._ambiguous.add(job.key)  # it may have been posted: look before posting again
            kind = type(exc).__name__
            return RetryableError(f"X failed while {what} ({kind}); the retry looks for the reply first", self.lag_s)
        if isinstance(exc, tweepy.HTTPException):
            return PermanentError(f"X rejected {what} ({exc.response.status_code}): {_detail(exc)}")
        return RetryableError(f"X failed while {what}: {type(exc).__name__}: {exc}", self.lag_s)
