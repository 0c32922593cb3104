"""Reddit (through praw): the clients the source, the deletion sweep and the publisher use.

Reading uses a read-only app (`REDDIT_CLIENT_ID`, `REDDIT_CLIENT_SECRET`,
`REDDIT_USER_AGENT`); posting a script account (plus `REDDIT_USERNAME`,
`REDDIT_PASSWORD`). Every client has prawcore's own retries turned off: socialear's
retry policy (sources) or the outbox (publisher) decides, and prawcore re-sending a POST
after a 5xx or a read timeout could post a reply twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import praw
import prawcore

READ_ENV = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")
WRITE_ENV = (*READ_ENV, "REDDIT_USERNAME", "REDDIT_PASSWORD")

# Reddit's API rules: the user agent names the app and its account
# ("linux:com.example.socialear:v0.1 (by /u/yourname)"); a generic one gets throttled.
UA_ACCOUNT = re.compile(r"/?u/[A-Za-z0-9_-]{3,}")


def no_prawcore_retries(reddit: Any) -> None:
    """Turn off prawcore's retries on every session a praw client holds."""

    class _Once(prawcore.sessions.FiniteRetryStrategy):
        def __init__(self, retries: int = 0) -> None:
            super().__init__(retries=0)

        def _sleep_seconds(self) -> float | None:
            return None  # the base class sleeps 2-4 s before a request once retries run out

    for attr in ("_core", "_read_only_core", "_authorized_core"):
        session = getattr(reddit, attr, None)
        if session is not None and hasattr(session, "_retry_strategy_class"):
            session._retry_strategy_class = _Once


def praw_fields(item: Any) -> dict[str, Any]:
    """The attributes praw parsed from a listing, read without triggering a lazy fetch."""
    return vars(item) if hasattr(item, "__dict__") else dict(item)


def _client(creds: Mapping[str, str], timeout: float, **login: Any) -> praw.Reddit:
    client = praw.Reddit(
        client_id=creds["REDDIT_CLIENT_ID"],
        client_secret=creds["REDDIT_CLIENT_SECRET"],
        user_agent=creds["REDDIT_USER_AGENT"],
        timeout=math.ceil(timeout),
        check_for_updates=False,
        check_for_async=False,
        **login,
    )
    no_prawcore_retries(client)
    return client


def read_client(creds: Mapping[str, str], timeout: float) -> praw.Reddit:
    """A read-only app client (no account)."""
    client = _client(creds, timeout)
    client.read_only = True
    return client


def write_client(env: Mapping[str, str], timeout: float) -> praw.Reddit:
    """A script-account client that posts as `REDDIT_USERNAME`."""
    return _client(env, timeout, username=env.get("REDDIT_USERNAME") or "", password=env["REDDIT_PASSWORD"])
