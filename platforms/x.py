"""X (API v2 through tweepy): the clients the source, the deletion sweep and the publisher use.

Reading (search, tweet lookup) uses an app-only bearer token (`X_BEARER_TOKEN`); posting
uses OAuth 1.0a user context (`X_API_KEY`, `X_API_SECRET`, `X_ACCESS_TOKEN`,
`X_ACCESS_TOKEN_SECRET`). Both clients return raw `requests.Response`s (so callers read
the rate-limit headers), never sleep on a rate limit inside a worker thread, and put a
timeout on every request: tweepy passes none to requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from platforms.http import reset_at_from

READ_ENV = ("X_BEARER_TOKEN",)
WINDOW_S = 15 * 60.0  # X's rate-limit windows are 15 minutes: the wait when no reset is sent
WRITE_ENV = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")


class TimeoutAdapter(HTTPAdapter):
    """Supplies a timeout to every request that has none (tweepy never passes one)."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def send(  # the base signature, with the timeout filled in
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(request, stream=stream, timeout=self.timeout if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)


def install_timeout(client: Any, timeout: float) -> None:
    """Mount the timeout-supplying adapter on a tweepy client's requests session (an
    injected test double without a session is left alone)."""
    if hasattr(client, "wait_on_rate_limit"):
        client.wait_on_rate_limit = False  # never sleep in a worker thread
    session = getattr(client, "session", None)
    if isinstance(session, requests.Session):
        adapter = TimeoutAdapter(timeout)
        session.mount("https://", adapter)
        session.mount("http://", adapter)


def read_client(bearer_token: str, timeout: float) -> tweepy.Client:
    """An app-only client for search and lookups."""
    client = tweepy.Client(bearer_token=bearer_token, return_type=requests.Response, wait_on_rate_limit=False)
    install_timeout(client, timeout)
    return client


def write_client(env: Mapping[str, str], timeout: float) -> tweepy.Client:
    """A user-context client that posts as the account whose tokens `env` holds."""
    client = tweepy.Client(
        consumer_key=env["X_API_KEY"],
        consumer_secret=env["X_API_SECRET"],
        access_token=env["X_ACCESS_TOKEN"],
        access_token_secret=env["X_ACCESS_TOKEN_SECRET"],
        return_type=requests.Response,
        wait_on_rate_limit=False,
    )
    install_timeout(client, timeout)
    return client


def reset_wait(headers: Mapping[str, str], now: datetime) -> float:
    """Seconds until X's rate-limit window resets (`x-rate-limit-reset`, epoch seconds),
    at least 1; a whole window when the header is missing."""
    lower = {k.lower(): v for k, v in headers.items()}
    reset = reset_at_from(lower.get("x-rate-limit-reset"), now)
    return max((reset - now).total_seconds(), 1.0) if reset is not None else WINDOW_S


def problem_detail(response: Any) -> str:
    """X's own words for a refused request (its problem JSON's `detail` or `title`); ""
    when the body says nothing readable."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - any unreadable body just has no detail
        return ""
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or "")
    return ""
