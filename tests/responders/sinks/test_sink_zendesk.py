"""ZendeskSink against a respx-mocked Tickets API with recorded response shapes."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import httpx
import pydantic
import pytest
import respx

from responders.sinks.zendesk import ZendeskSink
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    PermanentError,
    RateLimited,
    RetryableError,
)

BASE = "https://nimbus.zendesk.com"
ENV = {"ZENDESK_EMAIL": "care@nimbus.example", "ZENDESK_API_TOKEN": "tok123"}


def make_sink(client: httpx.Client, **options: Any) -> ZendeskSink:
    return ZendeskSink.from_options("zd", {"subdomain": "nimbus", **options}, env=ENV, client=client)


class FakeZendesk:
    """A ticket store behind respx routes: POST creates, GET ?external_id= looks up."""

    def __init__(self, mock: respx.MockRouter, template: dict[str, Any]):
        self.tickets: list[dict[str, Any]] = []
        self.template = template
        self.fail_next: str | None = None  # "timeout_before" | "timeout_after" | "502_after"
        self.creates_ok = 0
        self.create_route = mock.post(f"{BASE}/api/v2/tickets.json").mock(side_effect=self.create)
        self.lookup_route = mock.get(f"{BASE}/api/v2/tickets.json").mock(side_effect=self.lookup)

    def create(self, request: httpx.Request) -> httpx.Response:
        mode, self.fail_next = self.fail_next, None
        if mode == "timeout_before":
            raise httpx.ConnectTimeout("connect timed out", request=request)
        ticket = copy.deepcopy(self.template["ticket"])
        ticket.update(json.loads(request.content)["ticket"])
        ticket["id"] = 35436 + len(self.tickets)
        self.tickets.append(ticket)
        if mode == "timeout_after":
            raise httpx.ReadTimeout("read timed out", request=request)
        if mode == "502_after":
            return httpx.Response(502, text="Bad Gateway")
        self.creates_ok += 1
        return httpx.Response(201, json={"ticket": ticket, "audit": self.template["audit"]})

    def lookup(self, request: httpx.Request) -> httpx.Response:
        key = request.url.params["external_id"]
        found = [t for t in self.tickets if t.get("external_id") == key]
        body = {"tickets": found, "next_page": None, "previous_page": None, "count": len(found)}
        return httpx.Response(200, json=body)


@pytest.fixture
def client() -> httpx.Client:
    with httpx.Client() as c:
        yield c


@pytest.fixture
def fake(fixture_json: Any) -> FakeZendesk:
    with respx.mock(assert_all_called=False) as mock:
        yield FakeZendesk(mock, fixture_json("zendesk", "ticket_created.json"))


def test_creates_one_ticket_with_the_full_context(client, fake, make_payload):
    result = make_sink(client).deliver(make_payload())

    assert (result.external_ref, result.created) == ("35436", True)
    assert result.url == f"{BASE}/agent/tickets/35436"
    request = fake.create_route.calls.last.request
    assert request.headers["Idempotency-Key"] == "esc-1-zendesk"
    user, _, token = base64.b64decode(request.headers["Authorization"][6:]).decode().partition(":")
    assert (user, token) == ("care@nimbus.example/token", "tok123")
    assert request.extensions["timeout"]["read"] == 10.0  # every call has a timeout
    ticket = json.loads(request.content)["ticket"]
    assert ticket["subject"] == "[Nimbus Mobile] outage-urgent: @jen_k on X"
    assert ticket["external_id"] == "esc-1-zendesk"
    assert ticket["priority"] == "urgent"
    assert ticket["requester"] == {"name": "Jen K", "email": "x-jen_k@social.invalid"}
    assert ticket["tags"] == [
        "socialear",
        "outage-urgent",
        "outage",
        "churn_risk",
        "network_outage",
        "x",
        "nimbus_mobile",
    ]
    comment = ticket["comment"]
    assert comment["public"] is False
    for expected in (
        "no signal since 9am, third time this week",
        "https://x.com/jen_k/status/1785000000000000001",
        "12,400 followers · verified",
        "signal gone again",
        "Sentiment: negative (compound -0.82)",
        "Urgency: 91/100",
        "outage_terms: +40",
        "Rule that fired: outage-urgent",
        "category outage and urgency >= 80",
        "Suggested reply",
        "Status: https://status.nimbus.example",
        "Repeat contact",
    ):
        assert expected in comment["body"]
    assert fake.lookup_route.call_count == 0  # a first attempt does not look up


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("urgent", "urgent"), ("high", "high"), ("normal", "normal"), ("low", "low")],
)
def test_priority_mapping(client, fake, make_payload, priority, expected):
    make_sink(client).deliver(make_payload(priority=priority))
    assert json.loads(fake.create_route.calls.last.request.content)["ticket"]["priority"] == expected


def test_custom_fields_group_and_type(client, fake, make_payload):
    sink = make_sink(
        client,
        group_id=98738,
        ticket_type="incident",
        custom_fields={"360001": "{{ mention.url }}", 360002: "{{ urgency }}"},
    )
    sink.deliver(make_payload())
    ticket = json.loads(fake.create_route.calls.last.request.content)["ticket"]
    assert ticket["group_id"] == 98738 and ticket["type"] == "incident"
    assert ticket["custom_fields"] == [
        {"id": 360001, "value": "https://x.com/jen_k/status/1785000000000000001"},
        {"id": 360002, "value": "91"},
    ]


def test_timeout_after_the_ticket_was_created_makes_exactly_one(client, fake, make_payload):
    payload = make_payload()
    fake.fail_next = "timeout_after"
    with pytest.raises(RetryableError):
        make_sink(client).deliver(payload)
    assert len(fake.tickets) == 1  # the vendor made it even though we never heard back

    # the outbox retries later, possibly from another replica: a fresh sink, attempt 2
    result = make_sink(client).deliver(payload, attempt=2)

    assert (result.external_ref, result.created) == ("35436", False)
    assert len(fake.tickets) == 1
    assert fake.create_route.call_count == 1 and fake.creates_ok == 0
    assert fake.lookup_route.calls.last.request.url.params["external_id"] == "esc-1-zendesk"


def test_in_process_retry_after_ambiguous_failure_looks_up_even_without_attempt(client, fake, make_payload):
    sink, payload = make_sink(client), make_payload()
    fake.fail_next = "502_after"
    with pytest.raises(RetryableError) as info:
        sink.deliver(payload)
    assert not isinstance(info.value, RateLimited)

    result = sink.deliver(payload)  # same process remembers the ambiguity

    assert result.created is False and len(fake.tickets) == 1
    assert fake.create_route.call_count == 1


def test_timeout_before_the_ticket_was_created_creates_it_on_retry(client, fake, make_payload):
    payload = make_payload()
    fake.fail_next = "timeout_before"
    with pytest.raises(RetryableError, match="timed out"):
        make_sink(client).deliver(payload)
    assert fake.tickets == []

    result = make_sink(client).deliver(payload, attempt=2)

    assert result.created is True and len(fake.tickets) == 1 and fake.creates_ok == 1
    assert fake.lookup_route.call_count == 1


def test_401_is_bad_credentials_naming_them(client, make_payload, fixture_json):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").respond(401, json=fixture_json("zendesk", "error_401.json"))
        with pytest.raises(BadCredentials) as info:
            make_sink(client).deliver(make_payload())
    message = str(info.value)
    assert "Couldn't authenticate you" in message
    assert "ZENDESK_EMAIL / ZENDESK_API_TOKEN" in message and "tok123" not in message


def test_403_is_bad_credentials(client, make_payload, fixture_json):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").respond(403, json=fixture_json("zendesk", "error_403.json"))
        with pytest.raises(BadCredentials, match="Forbidden"):
            make_sink(client).deliver(make_payload())


def test_422_is_permanent_with_zendesk_details(client, make_payload, fixture_json):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").respond(422, json=fixture_json("zendesk", "error_422.json"))
        with pytest.raises(PermanentError) as info:
            make_sink(client).deliver(make_payload())
    assert not isinstance(info.value, BadCredentials)
    assert "RecordInvalid" in str(info.value)
    assert "requester: Requester: Email:" in str(info.value)


def test_429_is_rate_limited_with_retry_after(client, make_payload, fixture_json, handlers):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").mock(
            return_value=handlers.rate_limited("45", fixture_json("zendesk", "error_429.json"))
        )
        with pytest.raises(RateLimited) as info:
            make_sink(client).deliver(make_payload())
    assert info.value.retry_after == 45
    assert "APIRateLimitExceeded" in str(info.value)


def test_429_with_http_date_retry_after(client, make_payload):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").respond(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
        with pytest.raises(RateLimited) as info:
            make_sink(client).deliver(make_payload())
    assert info.value.retry_after == 0  # a date in the past: go now, not never


def test_5xx_is_retryable(client, make_payload, handlers):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").mock(return_value=handlers.server_error(503))
        with pytest.raises(RetryableError, match="HTTP 503"):
            make_sink(client).deliver(make_payload())


def test_truncated_success_body_is_retryable_and_ambiguous(client, make_payload, handlers, fixture_json):
    sink = make_sink(client)
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets.json").mock(return_value=handlers.truncated_json())
        lookup = respx.get(f"{BASE}/api/v2/tickets.json").respond(
            200, json=fixture_json("zendesk", "tickets_by_external_id.json")
        )
        with pytest.raises(RetryableError, match="not JSON"):
            sink.deliver(make_payload())
        result = sink.deliver(make_payload())
    assert lookup.call_count == 1
    assert (result.external_ref, result.created) == ("35436", False)


def test_hostile_text_arrives_intact(client, fake, make_payload, hostile_text):
    make_sink(client).deliver(make_payload(mention={"text": hostile_text}))
    request = fake.create_route.calls.last.request
    request.content.decode("ascii")  # ASCII JSON on the wire: nothing raw to mangle
    body = json.loads(request.content)["ticket"]["comment"]["body"]
    # everything verbatim, except the lone surrogate, which no vendor JSON parser accepts
    assert hostile_text.replace("\ud800", "\ufffd") in body


def test_missing_token_is_not_configured(client):
    with pytest.raises(NotConfigured) as info:
        ZendeskSink.from_options("zd", {"subdomain": "nimbus"}, env={"ZENDESK_EMAIL": "a@b"})
    assert str(info.value) == "zendesk sink 'zd': ZENDESK_API_TOKEN is not set"


@pytest.mark.parametrize(
    "options",
    [
        {"subdomain": "nimbus", "subdomian": "typo"},
        {"subdomain": "https://nimbus.zendesk.com"},
        {"subdomain": "nimbus", "custom_fields": {"1": "{{ secret_sauce }}"}},
        {"subdomain": "nimbus", "custom_fields": {"1": "{{ unclosed"}},
        {"subdomain": "nimbus", "ticket_type": "bug"},
    ],
)
def test_bad_options_are_refused_at_load(options):
    with pytest.raises(pydantic.ValidationError):
        ZendeskSink.from_options("zd", options, env=ENV)


def test_hostile_author_cannot_break_subject_or_requester(client, fake, make_payload):
    payload = make_payload(author={"handle": "evil\u202e\nBcc: x@y", "name": "<b>Jen</b>\r\nX"})
    make_sink(client).deliver(payload)
    ticket = json.loads(fake.create_route.calls.last.request.content)["ticket"]
    assert "\n" not in ticket["subject"] and "\u202e" not in ticket["subject"]
    assert ticket["requester"]["email"] == "x-evil_bcc_x_y@social.invalid"
    assert "\n" not in ticket["requester"]["name"]
