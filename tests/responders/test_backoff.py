"""Backoff: exponential with full jitter, Retry-After honoured, only retryable kinds retried."""

from __future__ import annotations

import pytest

from responders.backoff import MAX_ATTEMPTS, classify, dead_reason, decide, next_delay
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    PermanentError,
    RateLimited,
    RetryableError,
)


def test_exponential_ceiling_with_full_jitter():
    assert [next_delay(n, rng=lambda: 1.0) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert next_delay(3, rng=lambda: 0.5) == 4
    assert next_delay(1, rng=lambda: 0.0) == 0
    assert next_delay(50, rng=lambda: 1.0) == 900  # capped
    assert next_delay(10_000, rng=lambda: 1.0) == 900  # no overflow


def test_retry_after_is_a_floor():
    assert next_delay(1, retry_after=60, rng=lambda: 1.0) == 60
    assert next_delay(8, retry_after=3600, rng=lambda: 1.0) == 3600  # never earlier, even past cap
    assert next_delay(8, retry_after=1, rng=lambda: 1.0) == 256


def test_attempt_is_one_based():
    with pytest.raises(ValueError, match="1-based"):
        next_delay(0)


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (RetryableError("503"), "retry"),
        (RateLimited("429", retry_after=5), "retry"),
        (PermanentError("422"), "dead"),
        (BadCredentials("401"), "dead"),
        (NotConfigured("off"), "dead"),
        (KeyError("bug"), "dead"),
    ],
)
def test_classify(exc, verdict):
    assert classify(exc) == verdict


def test_dead_reasons_are_clear():
    assert dead_reason(BadCredentials("zendesk sink 'zd': HTTP 401")).startswith("bad credentials")
    assert "retrying cannot help" in dead_reason(PermanentError("HTTP 422"))
    assert "a bug" in dead_reason(KeyError("x"))


def test_decide():
    retry = decide(RateLimited("slow down", retry_after=30), 1, rng=lambda: 0.0)
    assert (retry.verdict, retry.delay) == ("retry", 30)
    # bounded by age, not by count: the 100th attempt of a young row is retried
    assert decide(RetryableError("503"), 100, age_s=3600).verdict == "retry"
    dead = decide(RetryableError("503"), 100, age_s=24 * 3600)
    assert (dead.verdict, dead.delay) == ("dead", None)
    assert dead.reason == "gave up after 24.0 h of retrying (100 attempts): 503"
    assert decide(RetryableError("503"), 10, age_s=60, max_age_s=30).verdict == "dead"
    # an explicit count cap still works when an operator sets one
    capped = decide(RetryableError("503"), MAX_ATTEMPTS, max_attempts=MAX_ATTEMPTS)
    assert capped.reason == f"gave up after {MAX_ATTEMPTS} attempts: 503"
    assert decide(BadCredentials("401"), 1).verdict == "dead"
