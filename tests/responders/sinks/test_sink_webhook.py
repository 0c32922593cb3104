"""WebhookSink: signed, schema-valid bodies; receivers verify with verify_signature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pydantic
import pytest
import respx

from responders.sinks.webhook import WebhookSink, sign, verify_signature
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    PermanentError,
    RateLimited,
    RetryableError,
)

URL = "https://hooks.nimbus.example/socialear"
SECRET = "whsec_test_0123456789"
NOW = 1_714_557_600.0
SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "responders" / "webhook_schema.json").read_text())


def make_sink(client: httpx.Client, env: dict[str, str] | None = None, **options: Any) -> WebhookSink:
    env = {"SOCIALEAR_WEBHOOK_SECRET": SECRET} if env is None else env
    sink = WebhookSink.from_options("hook", {"url": URL, **options}, env=env, client=client)
    sink._clock = lambda: NOW
    return sink


@pytest.fixture
def client() -> httpx.Client:
    with httpx.Client() as c:
        yield c


def test_delivers_a_signed_schema_valid_event(client, make_payload):
    with respx.mock:
        route = respx.post(URL).respond(202)
        result = make_sink(client).deliver(make_payload())

    assert (result.external_ref, result.created) == ("esc-1-zendesk", True)
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "esc-1-zendesk"
    assert request.headers["X-Socialear-Timestamp"] == str(int(NOW))
    assert request.extensions["timeout"]["read"] == 10.0
    body = json.loads(request.content)
    jsonschema.Draft202012Validator(SCHEMA).validate(body)
    assert body["event"] == "escalation.created"
    assert body["created_at"] == "2024-05-01T10:00:00Z"
    assert body["escalation"]["mention"]["url"] == "https://x.com/jen_k/status/1785000000000000001"
    assert verify_signature(
        SECRET,
        request.headers["X-Socialear-Timestamp"],
        request.content,
        request.headers["X-Socialear-Signature"],
        now=NOW + 5,
    )


def test_event_id_is_stable_across_retries(client, make_payload):
    sink = make_sink(client)
    first, _ = sink.request_for(make_payload())
    sink._clock = lambda: NOW + 600
    second, _ = sink.request_for(make_payload())
    assert json.loads(first)["id"] == json.loads(second)["id"]


def test_signature_rejects_tampering_and_replays():
    body = b'{"event":"escalation.created"}'
    ts = int(NOW)
    good = sign(SECRET, ts, body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert verify_signature(SECRET, ts, body, good, now=NOW)
    assert not verify_signature(SECRET, ts, body.replace(b"created", b"deleted"), good, now=NOW)
    assert not verify_signature("another-secret", ts, body, good, now=NOW)
    assert not verify_signature(SECRET, ts + 1, body, good, now=NOW)  # timestamp is signed too
    assert not verify_signature(SECRET, ts, body, good, now=NOW + 301)  # too old: a replay
    assert not verify_signature(SECRET, ts, body, good, now=NOW - 301)  # from the future
    assert not verify_signature(SECRET, "not-a-number", body, good, now=NOW)


def test_hostile_text_round_trips_exactly(client, make_payload, hostile_text):
    with respx.mock:
        route = respx.post(URL).respond(200)
        make_sink(client).deliver(make_payload(mention={"text": hostile_text}))
    content = route.calls.last.request.content
    content.decode("ascii")  # the lone surrogate travels as \ud800, not as invalid UTF-8
    assert json.loads(content)["escalation"]["mention"]["text"] == hostile_text
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(content))


def test_secret_is_required_unless_unsigned_is_explicit(client, make_payload):
    with pytest.raises(NotConfigured, match="webhook sink 'hook': SOCIALEAR_WEBHOOK_SECRET is not set"):
        make_sink(client, env={})
    sink = make_sink(client, env={}, unsigned=True)
    with respx.mock:
        route = respx.post(URL).respond(204)
        sink.deliver(make_payload())
    assert "X-Socialear-Signature" not in route.calls.last.request.headers


def test_custom_secret_env(client):
    sink = make_sink(client, env={"HOOK_SECRET": "s"}, secret_env="HOOK_SECRET")
    assert sink._secret == "s"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500), RetryableError),
        (httpx.Response(429, headers={"Retry-After": "7"}), RateLimited),
        (httpx.Response(401, text="bad signature"), BadCredentials),
        (httpx.Response(400, text="nope"), PermanentError),
        (httpx.Response(302, headers={"Location": "https://elsewhere.example/"}), PermanentError),
    ],
)
def test_only_2xx_counts(client, make_payload, response, error):
    with respx.mock:
        respx.post(URL).mock(return_value=response)
        with pytest.raises(error) as info:
            make_sink(client).deliver(make_payload())
    if error is BadCredentials:
        assert "SOCIALEAR_WEBHOOK_SECRET" in str(info.value)
    if error is RateLimited:
        assert info.value.retry_after == 7


def test_timeout_is_retryable(client, make_payload, handlers):
    with respx.mock:
        respx.post(URL).mock(side_effect=handlers.slow)
        with pytest.raises(RetryableError, match="timed out"):
            make_sink(client).deliver(make_payload())


@pytest.mark.parametrize(
    "options",
    [
        {"url": "ftp://example.com/x"},
        {"url": URL, "headers": {"X-Socialear-Signature": "forged"}},
        {"url": URL, "retries": 3},
    ],
)
def test_bad_options_are_refused_at_load(options):
    with pytest.raises(pydantic.ValidationError):
        WebhookSink.from_options("hook", options, env={"SOCIALEAR_WEBHOOK_SECRET": SECRET})
