"""Plain data that crosses from the pipeline into responders, and the `Sink` contract.

Responders never import listener internals: the pipeline hands them an `EscalationPayload`
(also stored verbatim in the outbox row as JSON, so a retry days later delivers exactly
what was decided at the time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeGuard, runtime_checkable

if TYPE_CHECKING:
    import httpx

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


@dataclass(frozen=True, slots=True)
class TicketStatus:
    """One ticket's status as the contact centre reports it (webhook or poll)."""

    vendor: str  # the sink type: zendesk | freshdesk | a plugin's
    ticket_id: str | None
    status: str  # the vendor's word for it, as `normalise_status` leaves it
    external_id: str | None = None  # a ticket's external_id (Zendesk: our idempotency key)
    via: str = "webhook"  # webhook | poll
    vendor_name: str | None = None  # for people: "Zendesk"; default the type, capitalised

    @property
    def label(self) -> str:
        return self.vendor_name or self.vendor.capitalize()


@runtime_checkable
class TicketSink(Sink, Protocol):
    """A sink whose items are tickets a contact centre works on. It owns everything vendor
    specific about them, so `responders.status`, the outbox and the console's webhooks
    never branch on a vendor's name:

    - a case's later posts become comments on the case's ticket (`deliver` with
      `payload.case_ticket`);
    - `ticket_statuses(ids, since)` polls the status of the tickets it created;
    - `webhook_refusal(...)` verifies a ticket-update webhook (None: verified, else why
      not) and `parse_webhook(data)` reads its JSON body.
    """

    vendor_name: ClassVar[str]  # "Zendesk", for resolutions and logs
    webhook_secret_env: ClassVar[str]  # the env var holding the webhook's secret
    polls_by_id: ClassVar[bool]  # True: `ticket_statuses` answers for every id it still has

    def ticket_statuses(self, ids: Sequence[str], since: datetime) -> Iterable[TicketStatus]:
        """Current status of the tickets `ids` (created by this sink since `since`); vendor
        errors surface as socialear errors."""
        ...

    @classmethod
    def webhook_refusal(
        cls, secret: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> str | None:
        """None when the request is the vendor's, else why it is refused (answered 401)."""
        ...

    @classmethod
    def parse_webhook(cls, data: Any) -> TicketStatus | None:
        """The ticket update in a webhook's JSON body; None when it holds none."""
        ...


TICKET_SINK_MEMBERS = ("vendor_name", "webhook_secret_env", "polls_by_id", "ticket_statuses",
                       "webhook_refusal", "parse_webhook")


def is_ticket_sink(sink: object) -> TypeGuard[TicketSink]:
    """True for a built sink that makes tickets (see `TicketSink`)."""
    return all(hasattr(sink, m) for m in TICKET_SINK_MEMBERS)


def is_ticket_sink_class(cls: object) -> TypeGuard[type[TicketSink]]:
    """The same test on a registered sink class, before building one."""
    return isinstance(cls, type) and all(hasattr(cls, m) for m in TICKET_SINK_MEMBERS)
