"""The one place HTTP sinks turn vendor answers into socialear's errors (the status policy
itself, and Retry-After parsing, are `platforms.http`'s, shared with every HTTP caller).

    httpx.TimeoutException, httpx.TransportError ──► RetryableError   (may have been sent!)
    408, 409, 425, 5xx ────────────────────────────► RetryableError   (may have been acted on)
    429 ───────────────────────────────────────────► RateLimited(retry_after from Retry-After:
                                                      seconds or an HTTP date)
    401, 403 ──────────────────────────────────────► BadCredentials   (names the credential)
    3xx, other 4xx (400, 404, 422) ────────────────► PermanentError   (with the vendor's message)

Every request carries an explicit timeout; a sink never waits forever on a vendor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from platforms.http import classify_status, parse_retry_after
from socialear.errors import BadCredentials, PermanentError, RateLimited, RetryableError

DEFAULT_TIMEOUT_S = 10.0

ErrorDescriber = Callable[[httpx.Response], str]


def json_body(data: Any) -> bytes:
    """JSON as ASCII: lone surrogates and control characters travel as \\u escapes, never raw."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def default_error_text(response: httpx.Response) -> str:
    """The vendor's own words, from a JSON error body if there is one, else the raw text."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip()
    if isinstance(data, dict):
        for key in ("description", "message", "error", "detail"):
            message = data.get(key)
            if isinstance(message, str):
                return message
    return json.dumps(data)[:300]


def raise_for_status(
    response: httpx.Response,
    *,
    label: str,
    credential: str,
    describe: ErrorDescriber = default_error_text,
) -> None:
    """Map a non-2xx response to socialear's errors; `label` names the sink."""
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"{label}: HTTP {status}"
    detail = describe(response)
    if detail:
        what = f"{what}: {detail}"
    kind = classify_status(status)
    if kind == "rate_limited":
        raise RateLimited(what, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if kind == "credentials":
        raise BadCredentials(f"{what} (check {credential})")
    if kind == "retryable":
        raise RetryableError(what, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    raise PermanentError(what)  # 3xx too: a sink follows no redirects


def send(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    *,
    label: str,
    credential: str,
    timeout: float,
    describe: ErrorDescriber = default_error_text,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP call with a timeout; returns a 2xx response or raises a socialear error."""
    try:
        response = client.request(method, url, timeout=timeout, **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{label}: {method} timed out after {timeout:g}s ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"{label}: network error on {method}: {type(exc).__name__}: {exc}") from exc
    raise_for_status(response, label=label, credential=credential, describe=describe)
    return response


def response_json(response: httpx.Response, *, label: str) -> Any:
    """Parse a 2xx body; a truncated or non-JSON answer is retryable (the proxy hiccupped)."""
    try:
        return response.json()
    except ValueError as exc:
        raise RetryableError(f"{label}: HTTP {response.status_code} with a body that is not JSON") from exc


def make_client(timeout: float = DEFAULT_TIMEOUT_S) -> httpx.Client:
    """A client for production use; tests inject their own (respx mocks it either way)."""
    return httpx.Client(timeout=timeout, follow_redirects=False)
