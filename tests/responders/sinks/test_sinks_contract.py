"""Contract tests over the registry: a sink is tested the moment it is registered."""

from __future__ import annotations

from typing import Any

import httpx
import pydantic
import pytest

from responders.sinks import SINKS, build_sink
from responders.types import Sink
from socialear.errors import NotConfigured

# Minimal working options and environment per registered type. A new sink without an
# entry here fails `test_every_sink_has_contract_data`.
CONTRACT: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "jsonl": ({"path": "{tmp}/e.jsonl"}, {}),
    "webhook": ({"url": "https://hooks.example/x"}, {"SOCIALEAR_WEBHOOK_SECRET": "s"}),
    "zendesk": ({"subdomain": "nimbus"}, {"ZENDESK_EMAIL": "a@b.c", "ZENDESK_API_TOKEN": "t"}),
    "freshdesk": ({"domain": "nimbus"}, {"FRESHDESK_API_KEY": "k"}),
    "alert": ({}, {"SOCIALEAR_ALERT_URLS": "json://localhost"}),
}


def options_for(kind: str, tmp_path) -> tuple[dict[str, Any], dict[str, str]]:
    options, env = CONTRACT[kind]
    return {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in options.items()}, env


def test_every_sink_has_contract_data():
    assert set(SINKS) == set(CONTRACT)


@pytest.mark.parametrize("kind", sorted(SINKS))
def test_describes_itself(kind):
    cls = SINKS[kind]
    assert cls.type == kind
    assert isinstance(cls.description, str) and cls.description.endswith(".")
    assert all(isinstance(var, str) and var.isupper() for var in cls.needs)
    assert cls.Options.model_config.get("extra") == "forbid"
    assert callable(cls.from_options) and callable(cls.deliver)


@pytest.mark.parametrize("kind", sorted(SINKS))
def test_builds_and_satisfies_the_protocol(kind, tmp_path):
    options, env = options_for(kind, tmp_path)
    with httpx.Client() as client:
        sink = build_sink("s1", kind, options, env=env, client=client)
        assert isinstance(sink, Sink)
        assert (sink.name, sink.type) == ("s1", kind)


@pytest.mark.parametrize("kind", sorted(k for k in SINKS if SINKS[k].needs))
def test_missing_credentials_turn_it_off_with_the_reason(kind, tmp_path):
    options, _ = options_for(kind, tmp_path)
    with pytest.raises(NotConfigured) as info:
        build_sink("s1", kind, options, env={})
    message = str(info.value)
    assert message.startswith(f"{kind} sink 's1': ")
    assert any(var in message for var in SINKS[kind].needs)


@pytest.mark.parametrize("kind", sorted(SINKS))
def test_unknown_option_is_refused(kind, tmp_path):
    options, env = options_for(kind, tmp_path)
    with pytest.raises(pydantic.ValidationError):
        build_sink("s1", kind, {**options, "no_such_option": 1}, env=env)


@pytest.mark.parametrize("kind", sorted(k for k in SINKS if k != "alert"))
def test_delivery_is_idempotent_by_key(kind, tmp_path, make_payload):
    """Each sink, called twice with one key, creates one item (HTTP sinks behind a fake)."""
    options, env = options_for(kind, tmp_path)
    made: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # ticket lookups
            return httpx.Response(200, json={"tickets": [{"id": 1}] * len(made), "results": [{"id": 1}] * len(made)})
        made.append(request.url.path)
        return httpx.Response(201, json={"ticket": {"id": 1}, "id": 1})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        sink = build_sink("s1", kind, options, env=env, client=client)
        first = sink.deliver(make_payload())
        second = sink.deliver(make_payload(), attempt=2)
    assert first.created is True
    if kind != "webhook":  # a webhook receiver de-duplicates on Idempotency-Key itself
        assert second.created is False and second.external_ref == first.external_ref


def test_unknown_type_is_not_configured_like_an_unknown_source_type():
    """One error for an unknown type, sources and sinks alike: NotConfigured, which the
    outbox logs while the other sinks carry on (it catches NotConfigured, not UserError)."""
    with pytest.raises(NotConfigured, match=r"sink 's1': unknown type 'zendesk2'.*known: alert, freshdesk"):
        build_sink("s1", "zendesk2", {})
