"""The sink registry: every built-in sink, registered like an extension would be.

Config names a sink by `type`; `build_sink` validates its options (pydantic, extra keys
refused) and reads credentials from the environment. A sink that lacks credentials raises
`NotConfigured` with the reason ("zendesk sink 'zd': ZENDESK_API_TOKEN is not set"), which
start-up logs while the other sinks carry on.

Every sink has: `type`, `description`, `needs` (env vars), `Options`, `from_options(name,
options, env=None, client=None)` and `deliver(payload, *, attempt=1) -> DeliveryResult`.
`attempt` is the outbox row's 1-based attempt number: ticket sinks look for an item an
earlier attempt may have created before creating one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from responders.sinks.alert import AlertSink
from responders.sinks.freshdesk import FreshdeskSink
from responders.sinks.jsonl import JsonlSink
from responders.sinks.webhook import WebhookSink
from responders.sinks.zendesk import ZendeskSink
from responders.types import Sink
from socialear.errors import UserError

SINKS: dict[str, Any] = {
    JsonlSink.type: JsonlSink,
    WebhookSink.type: WebhookSink,
    ZendeskSink.type: ZendeskSink,
    FreshdeskSink.type: FreshdeskSink,
    AlertSink.type: AlertSink,
}


def build_sink(
    name: str,
    type: str,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> Sink:
    """Build a configured sink. Raises UserError (unknown type), pydantic.ValidationError (bad
    options) or NotConfigured (missing credentials)."""
    try:
        cls = SINKS[type]
    except KeyError:
        known = ", ".join(sorted(SINKS))
        raise UserError(f"sink {name!r}: unknown type {type!r} (known: {known})") from None
    sink: Sink = cls.from_options(name, dict(options or {}), env=env, client=client)
    return sink


__all__ = [
    "SINKS",
    "build_sink",
    "AlertSink",
    "FreshdeskSink",
    "JsonlSink",
    "WebhookSink",
    "ZendeskSink",
]
