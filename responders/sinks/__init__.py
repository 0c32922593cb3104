"""The sink registry: every sink, built-in or from a plugin, registered by entry point.

Config names a sink by `type`; the entry point of that name in the group `socialear.sinks`
(socialear's own in pyproject.toml) names its class, checked at load against the
`SinkClass` contract of `responders.types`. `build_sink` validates its options
(pydantic, extra keys refused) and reads credentials from the environment. A sink that
lacks credentials, or whose type no installed package provides, raises `NotConfigured`
with the reason ("zendesk sink 'zd': ZENDESK_API_TOKEN is not set"), which start-up logs
while the other sinks carry on.

Every sink has: `type`, `description`, `needs` (env vars), `Options`, `from_options(name,
options, *, env=None, client=None)` and `deliver(payload, *, attempt=1) -> DeliveryResult`.
`attempt` is the outbox row's 1-based attempt number: ticket sinks look for an item an
earlier attempt may have created before creating one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from responders.types import Sink, SinkClass
from socialear.components import COMPONENT_MEMBERS, SINK_GROUP, Registry

SINKS: Registry[type[SinkClass]] = Registry(SINK_GROUP, "sink", (*COMPONENT_MEMBERS, "from_options"))


def build_sink(
    name: str,
    type: str,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> Sink:
    """Build a configured sink. Raises NotConfigured (unknown type, missing credentials)
    or pydantic.ValidationError (bad options)."""
    factory = SINKS.require(type, name)
    return factory.from_options(name, dict(options or {}), env=env, client=client)


if TYPE_CHECKING:
    # mypy checks every built-in class against the contract here; pyproject.toml's entry
    # points name the same classes (tests/responders/sinks/test_sinks_contract.py).
    from responders.sinks.alert import AlertSink
    from responders.sinks.freshdesk import FreshdeskSink
    from responders.sinks.jsonl import JsonlSink
    from responders.sinks.webhook import WebhookSink
    from responders.sinks.zendesk import ZendeskSink

    BUILT_INS: tuple[type[SinkClass], ...] = (AlertSink, FreshdeskSink, JsonlSink, WebhookSink, ZendeskSink)

__all__ = ["SINKS", "build_sink"]
