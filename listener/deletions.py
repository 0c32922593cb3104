"""Which stored posts have been deleted on their platform (X and Reddit require us to
delete them too). The pipeline passes the ids it holds and purges what comes back.

* `XDeletionChecker(client).gone(ids)`: X API v2 tweet lookup `GET /2/tweets?ids=...`
  (tweepy `get_tweets`), 100 ids per request. A post is gone when it is absent from
  `data`: X reports it in `errors` as `.../problems/resource-not-found` (deleted, or
  its author suspended/deactivated) or `.../not-authorized-for-resource` (made
  protected), and the X Developer Policy asks for both to be removed.
* `RedditDeletionChecker(reddit).gone(fullnames)`: `reddit.info(fullnames=...)`, 100 per
  request. A thing is gone when Reddit no longer returns it, when its body/selftext is
  "[deleted]" or "[removed]", when it was removed (`removed_by_category` set), or when
  its author is gone (`author` None, i.e. "[deleted]").

Errors are mapped as in the sources: 401/403 -> BadCredentials, 429 -> RateLimited,
5xx/network -> retried (3 attempts) then RetryableError. A failed batch raises: a
checker never reports an id as gone because a request failed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import praw
import prawcore

from listener.sources._common import RetryPolicy, call_with_retries, utcnow
from listener.sources.reddit import map_praw_error
from listener.sources.x import call_x
from platforms.reddit import no_prawcore_retries, praw_fields
from storage.dialect import chunks

BATCH = 100
GONE_TEXT = {"[deleted]", "[removed]"}


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in ids if i))


class XDeletionChecker:
    """Finds X posts that no longer exist (or can no longer be shown)."""

    charges_reads = True  # X bills every post a lookup returns

    def __init__(self, client: Any, retry: RetryPolicy | None = None):
        self.client = client
        self.retry = retry or RetryPolicy()
        self.clock: Callable[[], datetime] = utcnow
        self.stats: dict[str, int] = {}

    def gone(self, ids: list[str]) -> set[str]:
        """The subset of `ids` that X no longer returns."""
        gone: set[str] = set()
        for chunk in chunks(_unique(ids), BATCH):
            body, _ = call_x(
                functools.partial(self.client.get_tweets, chunk, tweet_fields=["id"]),
                what="tweet lookup",
                policy=self.retry,
                stats=self.stats,
                clock=self.clock,
            )
            present = {str(t.get("id")) for t in body.get("data") or [] if isinstance(t, dict)}
            gone.update(i for i in chunk if i not in present)
        return gone


class RedditDeletionChecker:
    """Finds Reddit submissions/comments deleted or removed on Reddit."""

    charges_reads = False

    def __init__(self, reddit: Any, retry: RetryPolicy | None = None):
        self.reddit = reddit
        self.retry = retry or RetryPolicy()
        self.stats: dict[str, int] = {}
        no_prawcore_retries(reddit)

    def gone(self, fullnames: list[str]) -> set[str]:
        """The subset of `fullnames` (t3_/t1_ ids) that are deleted or removed."""
        gone: set[str] = set()
        for chunk in chunks(_unique(fullnames), BATCH):

            def lookup(c: list[str] = chunk) -> list[Any]:
                try:
                    return list(self.reddit.info(fullnames=c))
                except (prawcore.exceptions.PrawcoreException, praw.exceptions.PRAWException) as exc:
                    raise map_praw_error(exc, "info lookup") from exc

            found: dict[str, Any] = {}
            for item in call_with_retries(lookup, self.retry, self.stats):
                raw = praw_fields(item)
                found[str(raw.get("name"))] = raw
            for fullname in chunk:
                fields = found.get(fullname)
                if fields is None or self._is_gone(fields):
                    gone.add(fullname)
        return gone

    @staticmethod
    def _is_gone(raw: dict[str, Any]) -> bool:
        text = raw.get("body") if "body" in raw else raw.get("selftext")
        if isinstance(text, str) and text.strip() in GONE_TEXT:
            return True
        if raw.get("removed_by_category"):
            return True
        author = raw.get("author")
        return author is None or str(author) == "[deleted]"
