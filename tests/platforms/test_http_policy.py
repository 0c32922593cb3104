"""One HTTP error policy (platforms.http), used by the sources' and the sinks' HTTP seams.

The two seams used to disagree: a source treated 408/409/425 as permanent (the source was
marked unhealthy) while a sink retried them. Each status now means the same everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from listener.sources import _http as source_http
from listener.sources._common import RetryPolicy
from platforms.http import classify_status, parse_retry_after
from responders.sinks import _http as sink_http
from socialear.errors import BadCredentials, PermanentError, RateLimited, RetryableError

EXPECTED = {
    200: None, 204: None,
    408: RetryableError, 409: RetryableError, 425: RetryableError, 500: RetryableError, 503: RetryableError,
    429: RateLimited,
    401: BadCredentials, 403: BadCredentials,
    400: PermanentError, 404: PermanentError, 422: PermanentError,
}


def _client(status: int) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, text="{}")))


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_a_source_and_a_sink_read_a_status_the_same_way(status):
    expected = EXPECTED[status]
    policy = RetryPolicy(attempts=2, sleep=lambda _: None)
    with _client(status) as client:
        if expected is None:
            assert source_http.request(client, "GET", "https://api.example/x", label="Example", timeout=1,
                                       policy=policy, stats={}).status_code == status
            sink_http.raise_for_status(client.get("https://api.example/x"), label="s", credential="KEY")
            return
        with pytest.raises(expected) as from_source:
            source_http.request(client, "GET", "https://api.example/x", label="Example", timeout=1,
                                policy=policy, stats={})
        with pytest.raises(expected) as from_sink:
            sink_http.raise_for_status(client.get("https://api.example/x"), label="s", credential="KEY")
    # a subclass would be a different decision (RateLimited is a RetryableError)
    assert type(from_sink.value) is expected
    assert isinstance(from_source.value, expected)
    assert isinstance(from_source.value, RateLimited) == (expected is RateLimited)


def test_the_status_table():
    kinds = {s: classify_status(s) for s in (200, 302, 400, 401, 403, 404, 408, 409, 425, 429, 500, 599)}
    assert kinds == {200: "ok", 302: "ok", 400: "permanent", 401: "credentials", 403: "credentials",
                     404: "permanent", 408: "retryable", 409: "retryable", 425: "retryable",
                     429: "rate_limited", 500: "retryable", 599: "retryable"}


def test_retry_after_is_read_once_for_every_caller():
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now=now.timestamp()) == 60
    # the sources' reading adds their floor of 1 s and fallbacks, on top of the same parse
    assert source_http.retry_after_from({"Retry-After": "Wed, 21 Oct 2015 07:29:00 GMT"}, now) == 60
    assert source_http.retry_after_from({"retry-after": "0"}, now) == 1.0
    assert source_http.retry_after_from({}, now) == 60.0
