"""Shared fixtures for responders tests: payloads, hostile text, recorded vendor payloads,
named failure handlers, and a guard that fails any real network connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from responders.types import EscalationPayload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# HTML and script tags, RTL override, zero-width characters, a lone surrogate, 10 KB.
HOSTILE_TEXT = (
    "<script>alert('pwned')</script><img src=x onerror=alert(1)> <b>&amp;</b> "
    "\u202eevil reversed\u202c zero\u200bwidth\u200d\ufeff joiner "
    "lone surrogate:\ud800: "
    '{{ 7*7 }} {% raw %} @channel <!channel> "quotes" \\backslash\\ \n\t'
) + ("A" * 10_000)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real connection attempt fails the test: respx and fakes only."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"network access in a test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _payload(**overrides: Any) -> EscalationPayload:
    data: dict[str, Any] = {
        "escalation_id": 1,
        "idempotency_key": "esc-1-zendesk",
        "brand": "Nimbus Mobile",
        "competitor": False,
        "route": "outage-urgent",
        "queue": "care-tier2",
        "priority": "urgent",
        "mention": {
            "source": "x",
            "platform": "x",
            "external_id": "1785000000000000001",
            "url": "https://x.com/jen_k/status/1785000000000000001",
            "text": "@NimbusMobile no signal since 9am, third time this week. Switching carriers.",
            "title": None,
            "created_at": "2024-05-01T09:58:00Z",
            "lang": "en",
            "rating": None,
        },
        "author": {
            "platform": "x",
            "handle": "jen_k",
            "name": "Jen K",
            "followers": 12400,
            "verified": True,
        },
        "sentiment": {
            "label": "negative",
            "compound": -0.82,
            "reasons": ["no signal", "switching"],
        },
        "urgency": 91,
        "urgency_signals": {"outage_terms": 40.0, "reach": 20.0, "churn_threat": 25.0},
        "categories": ["outage", "churn risk"],
        "tags": ["Network Outage"],
        "suggested_reply": "Hi Jen, we're sorry about the signal. Status: https://status.nimbus.example",
        "decision": {"rule": "outage-urgent", "why": "category outage and urgency >= 80"},
        "history": [{"created_at": "2024-04-28T08:00:00Z", "kind": "mention", "text": "signal gone again"}],
        "repeat_contact": True,
        "console_url": "http://localhost:8000/escalations/1",
    }
    for key, value in overrides.items():
        if key in ("mention", "author", "sentiment") and isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return EscalationPayload(**data)


@pytest.fixture
def make_payload() -> Callable[..., EscalationPayload]:
    return _payload


@pytest.fixture
def hostile_text() -> str:
    return HOSTILE_TEXT


@pytest.fixture
def fixture_json() -> Callable[[str, str], Any]:
    def load(platform: str, name: str) -> Any:
        return json.loads((FIXTURES / platform / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def handlers() -> SimpleNamespace:
    """Named failure handlers shared by the sink tests."""

    def rate_limited(retry_after: str = "30", body: Any = None) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": retry_after}, json=body or {})

    def server_error(status: int = 503) -> httpx.Response:
        return httpx.Response(status, text="upstream unavailable")

    def bad_credentials(body: Any = None, status: int = 401) -> httpx.Response:
        return httpx.Response(status, json=body or {"error": "Couldn't authenticate you"})

    def truncated_json(status: int = 201) -> httpx.Response:
        return httpx.Response(status, content=b'{"ticket": {"id": 1', headers={"Content-Type": "application/json"})

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    return SimpleNamespace(
        rate_limited=rate_limited,
        server_error=server_error,
        bad_credentials=bad_credentials,
        truncated_json=truncated_json,
        slow=slow,
    )
