"""The one httpx seam for the sources that speak plain HTTP (App Store, Trustpilot, RSS).

Vendor errors become socialear's exceptions here:

    httpx.TimeoutException          -> RetryableError (reason "timeout"), retried
    httpx.TransportError            -> RetryableError (reason "network"), retried
    5xx, 408, 409, 425              -> RetryableError (reason "server_error" / "http_409"),
                                       retried (platforms.http: the one status policy)
    429                             -> RateLimited(retry_after from Retry-After or
                                       X-RateLimit-Reset; 60 s when neither is sent)
    401 / 403                       -> BadCredentials (message names the credential)
    other 4xx                       -> PermanentError (the body's first 200 chars)
    2xx / 304                       -> returned to the caller
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from listener.sources._common import RetryPolicy, TransientError, call_with_retries, utcnow
from listener.types import RateLimit
from platforms.http import DEFAULT_RATE_LIMIT_WAIT, as_int, classify_status, parse_retry_after, reset_at_from
from socialear.errors import BadCredentials, PermanentError, RateLimited


def rate_limit_from_headers(headers: Mapping[str, str], now: datetime) -> RateLimit | None:
    """Read x-rate-limit-* / x-ratelimit-* headers (any case) into a RateLimit."""
    lower = {k.lower(): v for k, v in headers.items()}

    def pick(*names: str) -> str | None:
        for n in names:
            if n in lower:
                return lower[n]
        return None

    remaining = pick("x-rate-limit-remaining", "x-ratelimit-remaining", "ratelimit-remaining")
    limit = pick("x-rate-limit-limit", "x-ratelimit-limit", "ratelimit-limit")
    reset = pick("x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset")
    if remaining is None and limit is None and reset is None:
        return None
    return RateLimit(remaining=as_int(remaining), limit=as_int(limit), reset_at=reset_at_from(reset, now))


def retry_after_from(headers: Mapping[str, str], now: datetime) -> float:
    """Seconds to wait after a 429: Retry-After (seconds or HTTP date), else the reset."""
    lower = {k.lower(): v for k, v in headers.items()}
    wait = parse_retry_after(lower.get("retry-after"), now.timestamp())
    if wait is not None:
        return max(wait, 1.0)
    rl = rate_limit_from_headers(headers, now)
    if rl and rl.reset_at:
        return max((rl.reset_at - now).total_seconds(), 1.0)
    return DEFAULT_RATE_LIMIT_WAIT


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    label: str,
    credential_message: Callable[[int, str], str] | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    policy: RetryPolicy,
    stats: dict[str, int],
    clock: Callable[[], datetime] = utcnow,
    classify: Callable[[httpx.Response], Exception | None] | None = None,
) -> httpx.Response:
    """One HTTP call with timeout, retries and the error mapping drawn above.

    `label` names the platform in messages ("App Store", "Trustpilot").
    `credential_message(status, body)` words the BadCredentials message for 401/403.
    `classify(response)` sees every response first and may return the exception to
    raise: platforms that throttle with 403 (YouTube `quotaExceeded`) or 400 (Graph API
    codes 4/17/32/613) say so in the body, which the status alone cannot tell.
    """

    def once() -> httpx.Response:
        try:
            response = client.request(method, url, params=params, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{label} timed out after {timeout:g}s ({url})", "timeout") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{label} network error: {exc}", "network") from exc
        status = response.status_code
        if classify is not None:
            error = classify(response)
            if error is not None:
                raise error
        kind = classify_status(status)
        if kind == "rate_limited":
            wait = retry_after_from(response.headers, clock())
            raise RateLimited(f"{label} rate limit reached (429); retry in {wait:.0f}s", retry_after=wait)
        if kind == "credentials":
            body = response.text[:200]
            message = (
                credential_message(status, body) if credential_message else f"{label} refused access ({status}): {body}"
            )
            raise BadCredentials(message)
        if kind == "retryable":
            reason = "server_error" if status >= 500 else f"http_{status}"
            raise TransientError(f"{label} server error {status} ({url})", reason)
        if kind == "permanent":
            raise PermanentError(f"{label} rejected the request ({status}): {response.text[:200]}")
        return response

    return call_with_retries(once, policy, stats)
