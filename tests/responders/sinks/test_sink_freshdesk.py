"""FreshdeskSink against a respx-mocked API v2 with recorded response shapes."""

from __future__ import annotations

import base64
import copy
import html
import json
import re
from typing import Any

import httpx
import pydantic
import pytest
import respx

from responders.sinks.freshdesk import FreshdeskSink, idempotency_tag
from socialear.errors import (
    BadCredentials,
    NotConfigured,
    PermanentError,
    RateLimited,
    RetryableError,
)

BASE = "https://nimbus.freshdesk.com"
ENV = {"FRESHDESK_API_KEY": "fdkey"}


def make_sink(client: httpx.Client, **options: Any) -> FreshdeskSink:
    return FreshdeskSink.from_options("fd", {"domain": "nimbus", **options}, env=ENV, client=client)


class FakeFreshdesk:
    """A ticket store behind respx routes: POST creates, GET /search/tickets filters by tag."""

    def __init__(self, mock: respx.MockRouter, template: dict[str, Any]):
        self.tickets: list[dict[str, Any]] = []
        self.template = template
        self.fail_next: str | None = None
        self.creates_ok = 0
        self.create_route = mock.post(f"{BASE}/api/v2/tickets").mock(side_effect=self.create)
        self.search_route = mock.get(f"{BASE}/api/v2/search/tickets").mock(side_effect=self.search)

    def create(self, request: httpx.Request) -> httpx.Response:
        mode, self.fail_next = self.fail_next, None
        if mode == "timeout_before":
            raise httpx.ConnectError("connection refused", request=request)
        ticket = copy.deepcopy(self.template)
        ticket.update(json.loads(request.content))
        ticket["id"] = 1042 + len(self.tickets)
        self.tickets.append(ticket)
        if mode == "timeout_after":
            raise httpx.ReadTimeout("read timed out", request=request)
        self.creates_ok += 1
        return httpx.Response(201, json=ticket)

    def search(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        match = re.fullmatch(r"\"tag:'([^']+)'\"", query)  # the documented filter syntax
        if match is None:
            return httpx.Response(400, json={"description": "Validation failed", "errors": []})
        found = [t for t in self.tickets if match.group(1) in t.get("tags", [])]
        return httpx.Response(200, json={"results": found, "total": len(found)})


@pytest.fixture
def client() -> httpx.Client:
    with httpx.Client() as c:
        yield c


@pytest.fixture
def fake(fixture_json: Any) -> FakeFreshdesk:
    with respx.mock(assert_all_called=False) as mock:
        yield FakeFreshdesk(mock, fixture_json("freshdesk", "ticket_created.json"))


def test_creates_one_ticket_with_the_full_context(client, fake, make_payload):
    result = make_sink(client).deliver(make_payload())

    assert (result.external_ref, result.created) == ("1042", True)
    assert result.url == f"{BASE}/a/tickets/1042"
    request = fake.create_route.calls.last.request
    assert base64.b64decode(request.headers["Authorization"][6:]) == b"fdkey:X"
    assert request.extensions["timeout"]["read"] == 10.0
    ticket = json.loads(request.content)
    assert ticket["subject"] == "[Nimbus Mobile] outage-urgent: @jen_k on X"
    assert (ticket["name"], ticket["email"]) == ("Jen K", "x-jen_k@social.invalid")
    assert (ticket["status"], ticket["priority"], ticket["source"]) == (2, 4, 2)
    assert ticket["tags"][0] == idempotency_tag("esc-1-zendesk")
    assert len(ticket["tags"][0]) <= 32
    assert "outage-urgent" in ticket["tags"] and "nimbus_mobile" in ticket["tags"]
    for expected in ("no signal since 9am", "Urgency: 91/100", "Rule that fired: outage-urgent"):
        assert expected in ticket["description"]
    assert fake.search_route.call_count == 0


@pytest.mark.parametrize(("priority", "expected"), [("low", 1), ("normal", 2), ("high", 3), ("urgent", 4)])
def test_priority_mapping(client, fake, make_payload, priority, expected):
    make_sink(client).deliver(make_payload(priority=priority))
    assert json.loads(fake.create_route.calls.last.request.content)["priority"] == expected


def test_custom_fields_by_name(client, fake, make_payload):
    make_sink(client, custom_fields={"cf_social_link": "{{ mention.url }}"}).deliver(make_payload())
    ticket = json.loads(fake.create_route.calls.last.request.content)
    assert ticket["custom_fields"] == {"cf_social_link": "https://x.com/jen_k/status/1785000000000000001"}


def test_timeout_after_the_ticket_was_created_makes_exactly_one(client, fake, make_payload):
    payload = make_payload()
    fake.fail_next = "timeout_after"
    with pytest.raises(RetryableError) as info:
        make_sink(client).deliver(payload)
    assert info.value.retry_after == 60  # wait for the search index before looking it up
    assert len(fake.tickets) == 1

    result = make_sink(client).deliver(payload, attempt=2)

    assert (result.external_ref, result.created) == ("1042", False)
    assert len(fake.tickets) == 1 and fake.create_route.call_count == 1 and fake.creates_ok == 0
    query = fake.search_route.calls.last.request.url.params["query"]
    assert query == f"\"tag:'{idempotency_tag('esc-1-zendesk')}'\""


def test_connection_refused_before_create_creates_on_retry(client, fake, make_payload):
    sink, payload = make_sink(client), make_payload()
    fake.fail_next = "timeout_before"
    with pytest.raises(RetryableError):
        sink.deliver(payload)
    result = sink.deliver(payload)  # same process: it remembers, and looks up first

    assert result.created is True and len(fake.tickets) == 1
    assert fake.search_route.call_count == 1


def test_400_validation_failed_is_permanent_with_field_messages(client, make_payload, fixture_json):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets").respond(400, json=fixture_json("freshdesk", "error_400_validation.json"))
        with pytest.raises(PermanentError) as info:
            make_sink(client).deliver(make_payload())
    assert not isinstance(info.value, BadCredentials)
    assert "Validation failed" in str(info.value)
    assert "email: It should be in the 'valid email address' format (invalid_value)" in str(info.value)


def test_401_is_bad_credentials_naming_the_key(client, make_payload, fixture_json):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets").respond(401, json=fixture_json("freshdesk", "error_401.json"))
        with pytest.raises(BadCredentials) as info:
            make_sink(client).deliver(make_payload())
    assert "FRESHDESK_API_KEY" in str(info.value) and "fdkey" not in str(info.value)
    assert "You have to be logged in" in str(info.value)


def test_429_is_rate_limited_and_not_ambiguous(client, make_payload, fixture_json, handlers):
    sink = make_sink(client)
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets").mock(
            return_value=handlers.rate_limited("12", fixture_json("freshdesk", "error_429.json"))
        )
        with pytest.raises(RateLimited) as info:
            sink.deliver(make_payload())
    assert info.value.retry_after == 12
    assert "esc-1-zendesk" not in sink._ambiguous


def test_5xx_is_retryable(client, make_payload, handlers):
    with respx.mock:
        respx.post(f"{BASE}/api/v2/tickets").mock(return_value=handlers.server_error(500))
        with pytest.raises(RetryableError, match="HTTP 500"):
            make_sink(client).deliver(make_payload())


def test_hostile_text_is_escaped_and_intact(client, fake, make_payload, hostile_text):
    make_sink(client).deliver(make_payload(mention={"text": hostile_text}))
    request = fake.create_route.calls.last.request
    request.content.decode("ascii")
    description = json.loads(request.content)["description"]
    assert "<script>" not in description and "&lt;script&gt;" in description
    text = html.unescape(description.replace("<br>\n", "\n").removeprefix("<div>").removesuffix("</div>"))
    assert hostile_text.replace("\ud800", "\ufffd") in text


def test_missing_key_is_not_configured():
    with pytest.raises(NotConfigured) as info:
        FreshdeskSink.from_options("fd", {"domain": "nimbus"}, env={})
    assert str(info.value) == "freshdesk sink 'fd': FRESHDESK_API_KEY is not set"


@pytest.mark.parametrize(
    "options",
    [
        {"domain": "nimbus", "extra": 1},
        {"domain": "Nimbus Inc"},
        {"domain": "n", "custom_fields": {"cf": "{{ x }}"}},
    ],
)
def test_bad_options_are_refused_at_load(options):
    with pytest.raises(pydantic.ValidationError):
        FreshdeskSink.from_options("fd", options, env=ENV)
