"""The shared HTTP error mapping: one table, tested once."""

from __future__ import annotations

import httpx
import pytest

from platforms.http import parse_retry_after
from responders.sinks._http import raise_for_status, send
from socialear.errors import (
    BadCredentials,
    PermanentError,
    RateLimited,
    RetryableError,
)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentError),
        (401, BadCredentials),
        (403, BadCredentials),
        (404, PermanentError),
        (408, RetryableError),
        (409, RetryableError),
        (422, PermanentError),
        (429, RateLimited),
        (500, RetryableError),
        (502, RetryableError),
        (503, RetryableError),
        (301, PermanentError),
    ],
)
def test_status_mapping(status, error):
    response = httpx.Response(status, json={"message": "vendor says no"})
    with pytest.raises(error) as info:
        raise_for_status(response, label="x sink 'a'", credential="X_TOKEN")
    assert str(info.value).startswith(f"x sink 'a': HTTP {status}: vendor says no")
    if error is BadCredentials:
        assert "check X_TOKEN" in str(info.value)
    if error is PermanentError:
        assert not isinstance(info.value, RetryableError | BadCredentials)


def test_2xx_passes():
    raise_for_status(httpx.Response(204), label="x", credential="X")


def test_retry_after_forms():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now=now) == 60
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)
def test_network_failures_are_retryable(exc):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with httpx.Client(transport=httpx.MockTransport(handler)) as client, pytest.raises(RetryableError) as info:
        send(client, "POST", "https://api.example/x", label="x", credential="X", timeout=3)
    assert not isinstance(info.value, RateLimited)
