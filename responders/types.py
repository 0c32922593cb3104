"""Plain data that crosses from the pipeline into responders, and the `Sink` contract.

Responders never import listener internals: the pipeline hands them an `EscalationPayload`
(also stored verbatim in the outbox row as JSON, so a retry days later delivers exactly
what was decided at the time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    import httpx

PRIORITY_RANK = {"low": 1, "normal": 2, "high": 3, "urgent": 4}


@dataclass(slots=True)
class EscalationPayload:
    """Everything a contact-centre agent needs so the customer never repeats themselves."""

    escalation_id: int
    idempotency_key: str
    brand: str | None
    competitor: bool
    route: str
    queue: str
    priority: str  # low | normal | high | urgent
    mention: dict[str, Any]  # source, platform, external_id, url, text, title, created_at, lang, rating
    author: dict[str, Any]  # platform, handle, name, followers, verified
    sentiment: dict[str, Any]  # label, compound, reasons
    urgency: int
    urgency_signals: dict[str, float]
    categories: list[str]
    tags: list[str]
    suggested_reply: str
    decision: dict[str, Any]  # the routing trace: rule that fired and why
    history: list[dict[str, Any]] = field(default_factory=list)  # author's earlier mentions/escalations
    repeat_contact: bool = False
    console_url: str | None = None
    # Cases (listener.cases): the case this post belongs to and, for every post after the
    # case's first, the sink's ticket for the case: ticket sinks then add a comment to it
    # instead of creating a second ticket. Set by the outbox worker at delivery.
    case_id: int | None = None
    case_ticket: str | None = None
    # The contact centre's own customer id (customer directory), so its record opens.
    customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Shallow on purpose: the nested values are already plain JSON data (and deep
        copying the routing trace for every escalation was the pipeline's hottest spot)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EscalationPayload:
        return cls(**data)


@dataclass(slots=True)
class DeliveryResult:
    """What the target said: its reference for the created item (ticket id, message ts)."""

    external_ref: str | None
    url: str | None = None
    created: bool = True  # False when an earlier attempt had already created it


@runtime_checkable
class Sink(Protocol):
    """A destination for escalations. One class per target under `responders/sinks/`, or
    in a plugin package (entry-point group `socialear.sinks`)."""

    name: str

    @property
    def type(self) -> str: ...

    def deliver(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """Create the item once per `payload.idempotency_key`; safe to call again after a
        failure. `attempt` is the outbox row's 1-based attempt number: a ticket sink looks
        for an item an earlier attempt may have created before creating one."""
        ...


class SinkClass(Protocol):
    """A sink class as the registry sees it (`type[SinkClass]`): what it declares about
    itself and how to build one. Invalid options raise pydantic's ValidationError; missing
    credentials NotConfigured with the reason. `Options` is checked at load
    (`socialear.components.options_model`): mypy cannot match a nested class."""

    type: ClassVar[str]
    description: ClassVar[str]
    needs: ClassVar[tuple[str, ...]]

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> Sink: ...
