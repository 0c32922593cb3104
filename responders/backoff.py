"""When to try a failed delivery again, and when to give up: pure functions for the outbox worker.

Why full jitter: after an outage every replica's backlog retries at once; spreading each
retry uniformly over [0, base * 2**(attempt-1)] (capped) keeps them from arriving in waves.
Why `retry_after` wins: a vendor that said "wait 60 s" (429 Retry-After) bans clients that
come back sooner, so the delay is never shorter than what it asked for.

Only retryable errors are retried (the kind decides, never the vendor's class):

    RetryableError (5xx, network, timeout) ─► "retry" after next_delay(attempt)
      └── RateLimited ─────────────────────► "retry", never before retry_after
    PermanentError (422, malformed) ───────► "dead": retrying cannot help
      └── BadCredentials ──────────────────► "dead": fix the credential, then requeue
    NotConfigured, anything unexpected ────► "dead": a bug or a missing setting, not a blip
    retryable, but older than max_age ─────► "dead" (default 24 h, the sink's `retry.max_age`)

Retries are bounded by age, not by count: a sink that is down for two hours is waited
out (its circuit breaker keeps the worker from burning attempts meanwhile), while an
escalation nobody could deliver for a day is surfaced as dead. A count cap
(`max_attempts`) exists only if the operator sets SOCIALEAR_OUTBOX_MAX_ATTEMPTS.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from socialear.errors import BadCredentials, NotConfigured, PermanentError, RetryableError

MAX_ATTEMPTS = 8  # the old count cap, kept only as the value tests name
MAX_AGE_S = 24 * 3600.0

Verdict = Literal["retry", "dead"]


def next_delay(
    attempt: int,
    base: float = 2.0,
    cap: float = 900.0,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after attempt `attempt` (1-based) failed, before trying again."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))  # 2.0: int ** int is typed Any
    delay = rng() * ceiling
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


def classify(exc: BaseException) -> Verdict:
    """ "retry" for transient failures, "dead" for everything retrying cannot fix."""
    return "retry" if isinstance(exc, RetryableError) else "dead"


def dead_reason(exc: BaseException) -> str:
    """A one-line explanation for the dead-letter row and the console."""
    if isinstance(exc, BadCredentials):
        return f"bad credentials, fix them then requeue: {exc}"
    if isinstance(exc, PermanentError):
        return f"rejected, retrying cannot help: {exc}"
    if isinstance(exc, NotConfigured):
        return f"sink not configured: {exc}"
    if isinstance(exc, RetryableError):
        return f"gave up: {exc}"
    return f"unexpected error (a bug, not retried): {type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What the outbox worker does with a row whose delivery just failed."""

    verdict: Verdict
    delay: float | None  # seconds until the next attempt; None when dead
    reason: str


def decide(
    exc: BaseException,
    attempt: int,
    *,
    age_s: float = 0.0,
    max_age_s: float = MAX_AGE_S,
    max_attempts: int | None = None,
    rng: Callable[[], float] = random.random,
) -> RetryDecision:
    """Retry with backoff, or dead-letter with a reason; `attempt` is the one that just
    failed and `age_s` how long ago the row was created."""
    if isinstance(exc, RetryableError):
        if age_s >= max_age_s:
            return RetryDecision("dead", None, f"gave up after {_span(age_s)} of retrying ({attempt} attempts): {exc}")
        if max_attempts is not None and attempt >= max_attempts:
            return RetryDecision("dead", None, f"gave up after {attempt} attempts: {exc}")
        retry_after = getattr(exc, "retry_after", None)
        return RetryDecision("retry", next_delay(attempt, retry_after=retry_after, rng=rng), str(exc))
    return RetryDecision("dead", None, dead_reason(exc))


def _span(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
