"""ZendeskSink: one Zendesk Support ticket per escalation, and never a second one.

Exactly one ticket: each ticket carries `external_id` = the idempotency key, and the create
call sends an `Idempotency-Key` header (Zendesk replays the first answer for a while). A
create that failed ambiguously (timeout after sending, connection reset, 5xx) may still have
made the ticket, so before creating again the sink looks it up with
`GET /api/v2/tickets?external_id=KEY` and returns it with `created=False`. It looks up when
the outbox worker says this is a retry (`deliver(payload, attempt=n)`, n > 1: survives
restarts and replicas) or when this process itself saw an ambiguous failure for the key.

Errors (mapped in `_http`):

    timeout / network / 5xx / 408 / 409 ─► RetryableError   (key marked ambiguous)
    429 ─────────────────────────────────► RateLimited(retry_after)
    401 / 403 ───────────────────────────► BadCredentials  "check ZENDESK_EMAIL / ZENDESK_API_TOKEN"
    422 RecordInvalid, other 4xx ────────► PermanentError  with Zendesk's details
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from responders.sinks import _http, _ticket
from responders.types import DeliveryResult, EscalationPayload, TicketStatus
from socialear.errors import NotConfigured, PermanentError, RetryableError

log = logging.getLogger(__name__)

PRIORITIES = {"urgent": "urgent", "high": "high", "normal": "normal", "low": "low"}


def describe_error(response: httpx.Response) -> str:
    """Zendesk's error envelope: {"error", "description", "details": {field: [{description}]}}."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip()
    if not isinstance(data, dict):
        return str(data)[:300]
    error = data.get("error")
    if isinstance(error, dict):  # {"error": {"title": ..., "message": ...}}
        error = ": ".join(str(error[k]) for k in ("title", "message") if error.get(k))
    parts = [str(p) for p in (error, data.get("description")) if p]
    details = data.get("details")
    if isinstance(details, dict):
        for field, problems in details.items():
            for problem in problems if isinstance(problems, list) else [problems]:
                text = problem.get("description") if isinstance(problem, dict) else problem
                parts.append(f"{field}: {text}")
    return "; ".join(parts) or response.text[:300].strip()


SHOW_MANY = 100  # ids per "show many" call, Zendesk's limit
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
TOLERANCE_S = 300.0  # a signed webhook older (or newer) than this is a replay


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk computes it."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _epoch(timestamp: str) -> float | None:
    value = timestamp.strip()
    if value.isdigit():
        return float(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def verify_zendesk(
    secret: str, timestamp: str | None, body: bytes, signature: str | None, *, now: float | None = None
) -> bool:
    """True when the signature matches the raw body and the timestamp is fresh."""
    if not timestamp or not signature:
        return False
    sent = _epoch(timestamp)
    current = time.time() if now is None else now
    if sent is None or abs(current - sent) > TOLERANCE_S:
        return False
    return hmac.compare_digest(zendesk_signature(secret, timestamp, body), signature.strip())


class ZendeskSink:
    """Creates a Zendesk ticket per escalation with the mention context as an internal note.

    Ticket status: polled with "show many" (`GET /api/v2/tickets/show_many.json?ids=...`,
    100 ids per call), or pushed by a signed webhook (`POST /hooks/zendesk`; the signing
    secret in ZENDESK_WEBHOOK_SECRET): a trigger/automation body
    `{"ticket_id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "status":
    "{{ticket.status}}"}`, or an event-subscription body
    (`zen:event-type:ticket.status_changed`: `detail.id`, `detail.external_id`,
    `event.current` or `detail.status`).
    """

    type: ClassVar[str] = "zendesk"
    description: ClassVar[str] = "Creates one Zendesk Support ticket per escalation (Tickets API, API token auth)."
    needs: ClassVar[tuple[str, ...]] = ("ZENDESK_EMAIL", "ZENDESK_API_TOKEN")
    vendor_name: ClassVar[str] = "Zendesk"
    webhook_secret_env: ClassVar[str] = "ZENDESK_WEBHOOK_SECRET"
    polls_by_id: ClassVar[bool] = True  # show_many answers for every ticket that still exists

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        subdomain: str = Field(description="'acme' for https://acme.zendesk.com")
        email_env: str = "ZENDESK_EMAIL"
        token_env: str = "ZENDESK_API_TOKEN"
        group_id: int | None = None
        ticket_type: Literal["problem", "incident", "question", "task"] | None = None
        custom_fields: dict[int, str] = Field(default_factory=dict, description="{field id: value template}")
        extra_tags: list[str] = Field(default_factory=list)
        requester_domain: str = _ticket.PLACEHOLDER_DOMAIN
        timeout_s: float = Field(default=_http.DEFAULT_TIMEOUT_S, gt=0, le=120)

        @field_validator("subdomain")
        @classmethod
        def _subdomain(cls, value: str) -> str:
            return _ticket.check_subdomain(value, "Zendesk subdomain")

        @field_validator("custom_fields")
        @classmethod
        def _templates(cls, value: dict[int, str]) -> dict[int, str]:
            return _ticket.check_field_templates(value)

    def __init__(
        self,
        name: str,
        options: Options,
        email: str,
        token: str,
        client: httpx.Client | None = None,
    ):
        self.name = name
        self.options = options
        self.label = f"zendesk sink {name!r}"
        self.base_url = f"https://{options.subdomain}.zendesk.com"
        self._auth = httpx.BasicAuth(f"{email}/token", token)
        self._credential = f"{options.email_env} / {options.token_env}"
        self._owns_client = client is None
        self.client = client or _http.make_client(options.timeout_s)
        self._ambiguous: set[str] = set()

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> ZendeskSink:
        opts = cls.Options.model_validate(options)
        env = os.environ if env is None else env
        for var in (opts.email_env, opts.token_env):
            if not env.get(var):
                raise NotConfigured(f"zendesk sink {name!r}: {var} is not set")
        return cls(name, opts, env[opts.email_env], env[opts.token_env], client)

    # -- ticket status ------------------------------------------------------------------
    def ticket_statuses(self, ids: Sequence[str], since: datetime) -> Iterator[TicketStatus]:
        """The status of each ticket in `ids` Zendesk still has, 100 per call."""
        ids = list(ids)
        for start in range(0, len(ids), SHOW_MANY):
            chunk = ids[start:start + SHOW_MANY]
            response = self._send("GET", "/api/v2/tickets/show_many.json", params={"ids": ",".join(chunk)})
            for ticket in _http.response_json(response, label=self.label).get("tickets") or []:
                if ticket.get("id") is not None:
                    yield TicketStatus(self.type, str(ticket["id"]), str(ticket.get("status") or ""),
                                       ticket.get("external_id") or None, via="poll", vendor_name=self.vendor_name)

    @classmethod
    def webhook_refusal(
        cls, secret: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> str | None:
        if verify_zendesk(secret, headers.get(TIMESTAMP_HEADER), body, headers.get(SIGNATURE_HEADER)):
            return None
        return "invalid or stale signature"

    @classmethod
    def parse_webhook(cls, data: Any) -> TicketStatus | None:
        """A trigger body or an event-subscription body (see the class docstring)."""
        if not isinstance(data, dict):
            return None
        text = _ticket.text_or_none
        detail = data.get("detail")
        if isinstance(detail, dict):  # zen:event-type:ticket.*
            event = data.get("event")
            current = event.get("current") if isinstance(event, dict) else None
            if isinstance(current, dict):
                current = current.get("status")
            status = current if isinstance(current, str) else detail.get("status")
            ticket_id = text(detail.get("id")) or text(str(data.get("subject", "")).rpartition(":")[2])
            return TicketStatus(cls.type, ticket_id, str(status or ""), text(detail.get("external_id")),
                                vendor_name=cls.vendor_name)
        nested = data.get("ticket")
        ticket: dict[str, Any] = nested if isinstance(nested, dict) else data
        ticket_id = text(ticket.get("ticket_id") or ticket.get("id"))
        return TicketStatus(cls.type, ticket_id, str(ticket.get("status") or ""), text(ticket.get("external_id")),
                            vendor_name=cls.vendor_name)

    # -- delivery ------------------------------------------------------------------------
    def deliver(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """Create the ticket once per idempotency key; on a retry, find the earlier one first.
        A case's follow-up (`payload.case_ticket` set) becomes a comment on that ticket."""
        if payload.case_ticket:
            return self.add_comment(payload, attempt=attempt)
        key = payload.idempotency_key
        if attempt > 1 or key in self._ambiguous:
            existing = self.find(key)
            if existing is not None:
                self._ambiguous.discard(key)
                return existing
        body = _http.json_body({"ticket": self.ticket_fields(payload)})
        with _ticket.tracking_ambiguity(self._ambiguous, key):  # it may exist: the retry looks first
            ticket = self._create(body, key)
        return self._result(ticket, created=True)

    def add_comment(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """The follow-up as an internal comment on the case's ticket, once: comments go
        through a ticket update (`PUT /api/v2/tickets/{id}` with `comment`), which takes no
        idempotency key, so a retry first lists the ticket's comments for the marker line
        the comment ends with (`_ticket.follow_up_text`)."""
        ticket_id, key = str(payload.case_ticket), payload.idempotency_key
        if not ticket_id.isdigit():
            raise PermanentError(f"{self.label}: case ticket {ticket_id!r} is not a Zendesk ticket id")
        if (attempt > 1 or key in self._ambiguous) and self._has_comment(ticket_id, key):
            self._ambiguous.discard(key)
            return self._result({"id": int(ticket_id)}, created=False)
        body = _http.json_body({"ticket": {
            "comment": {"body": _ticket.follow_up_text(payload), "public": False},
            "additional_tags": ["socialear_follow_up"]}})
        with _ticket.tracking_ambiguity(self._ambiguous, key):
            response = self._send("PUT", f"/api/v2/tickets/{ticket_id}.json", content=body,
                                  headers={"Content-Type": "application/json"})
        data = _http.response_json(response, label=self.label)
        ticket = data.get("ticket") if isinstance(data, dict) else None
        return self._result(ticket if isinstance(ticket, dict) else {"id": int(ticket_id)},
                            created=True)

    def _has_comment(self, ticket_id: str, key: str) -> bool:
        response = self._send("GET", f"/api/v2/tickets/{ticket_id}/comments.json")
        comments = _http.response_json(response, label=self.label).get("comments") or []
        return any(_ticket.has_mark(c.get("body") or c.get("plain_body"), key)
                   for c in comments if isinstance(c, dict))

    def _create(self, body: bytes, key: str) -> dict[str, Any]:
        response = self._send(
            "POST",
            "/api/v2/tickets.json",
            content=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        data = _http.response_json(response, label=self.label)
        ticket = data.get("ticket") if isinstance(data, dict) else None
        if not isinstance(ticket, dict) or ticket.get("id") is None:
            raise RetryableError(f"{self.label}: HTTP {response.status_code} without a ticket id")
        return ticket

    def find(self, key: str) -> DeliveryResult | None:
        """The ticket an earlier attempt created for this key, if there is one."""
        response = self._send("GET", "/api/v2/tickets.json", params={"external_id": key})
        tickets = _http.response_json(response, label=self.label).get("tickets") or []
        if len(tickets) > 1:
            log.warning("%s: %d tickets share external_id %s", self.label, len(tickets), key)
        if not tickets:
            return None
        return self._result(min(tickets, key=lambda t: t.get("id") or 0), created=False)

    def ticket_fields(self, payload: EscalationPayload) -> dict[str, Any]:
        """The `ticket` object of the create request (see the Zendesk Tickets API reference)."""
        opts = self.options
        fields: dict[str, Any] = {
            "subject": _ticket.subject(payload),
            "comment": {"body": _ticket.context_text(payload), "public": False},
            "requester": _ticket.requester(payload, opts.requester_domain),
            "external_id": payload.idempotency_key,
            "priority": PRIORITIES.get(payload.priority, "normal"),
            "tags": _ticket.ticket_tags(payload, opts.extra_tags),
        }
        if opts.group_id is not None:
            fields["group_id"] = opts.group_id
        if opts.ticket_type:
            fields["type"] = opts.ticket_type
        if opts.custom_fields:
            fields["custom_fields"] = [
                {"id": field_id, "value": _ticket.render_field(template, payload)}
                for field_id, template in opts.custom_fields.items()
            ]
        return fields

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return _http.send(
            self.client,
            method,
            self.base_url + path,
            label=self.label,
            credential=self._credential,
            timeout=self.options.timeout_s,
            describe=describe_error,
            auth=self._auth,
            **kwargs,
        )

    def _result(self, ticket: dict[str, Any], *, created: bool) -> DeliveryResult:
        ticket_id = ticket.get("id")
        url = f"{self.base_url}/agent/tickets/{ticket_id}" if ticket_id is not None else None
        return DeliveryResult(external_ref=str(ticket_id) if ticket_id is not None else None, url=url, created=created)
