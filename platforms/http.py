"""The one HTTP error policy, and the Retry-After / rate-limit reset parsing.

Every HTTP caller (sources, sinks, publishers, ticket-status polling) classifies a status
with `classify_status` and reads a wait with `parse_retry_after` / `reset_at_from`, so the
answer to "is a 409 worth retrying?" is written once:

    2xx, 3xx (a caller that follows no redirects decides itself)   -> "ok"
    429                                                            -> "rate_limited"
    401, 403                                                       -> "credentials"
    408 (timeout), 409 (conflict), 425 (too early), 5xx            -> "retryable"
    any other 4xx                                                  -> "permanent"

408/409/425 say "not now" rather than "never": a vendor that timed out reading our body,
saw a concurrent edit or refused an early replay may take the same request later. (The
sources used to treat them as permanent and the sinks as retryable; one rule now.)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

RETRYABLE_STATUS = frozenset({408, 409, 425})
DEFAULT_RATE_LIMIT_WAIT = 60.0  # seconds, when a 429 names no time at all

Kind = Literal["ok", "rate_limited", "credentials", "retryable", "permanent"]


def classify_status(status: int) -> Kind:
    """What an HTTP status means for a retry (see the module's table)."""
    if status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "credentials"
    if status >= 500 or status in RETRYABLE_STATUS:
        return "retryable"
    return "permanent"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, RFC 9110);
    None when absent or unreadable. `now` is epoch seconds (default: the clock)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def as_int(value: Any) -> int | None:
    """A header's number ("42", "42.0"), or None."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def reset_at_from(value: Any, now: datetime) -> datetime | None:
    """A rate-limit reset header: epoch seconds (X) or seconds from now (Reddit, others)."""
    seconds = as_int(value)
    if seconds is None:
        return None
    if seconds > 1_000_000_000:
        return datetime.fromtimestamp(seconds, UTC)
    return now + timedelta(seconds=seconds)
