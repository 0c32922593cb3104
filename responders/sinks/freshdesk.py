"""FreshdeskSink: one Freshdesk ticket per escalation, and never a second one.

Freshdesk tickets have no external id and the API takes no idempotency header, so each
ticket carries a unique tag `sk-<first 24 hex of sha256(idempotency key)>` (27 characters,
inside Freshdesk's tag length limit; a hash because keys may hold characters tags cannot).
Tags are searchable with the Filter Tickets API,
`GET /api/v2/search/tickets?query="tag:'sk-…'"`, so a retry after an ambiguous failure
(timeout after sending, connection reset, 5xx) looks the ticket up before creating again.

That search is index-backed and lags behind writes by seconds, so an ambiguous failure is
re-raised with `retry_after = index_lag_s` (default 60 s): the outbox worker's backoff never
retries before then (`next_delay` honours retry_after), and the lookup sees the ticket.
The sink looks up when `attempt > 1` (from the outbox row) or when this process saw the
ambiguous failure itself.

Errors (mapped in `_http`):

    timeout / network / 5xx / 408 / 409 ─► RetryableError(retry_after=index_lag_s)
    429 ─────────────────────────────────► RateLimited(retry_after)
    401 / 403 ───────────────────────────► BadCredentials  "check FRESHDESK_API_KEY"
    400 "Validation failed", other 4xx ──► PermanentError  with each field's message
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from responders.sinks import _http, _ticket
from responders.types import DeliveryResult, EscalationPayload, TicketStatus
from socialear.errors import NotConfigured, PermanentError, RateLimited, RetryableError
from storage.types import as_utc

log = logging.getLogger(__name__)

PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}  # Freshdesk: Low, Medium, High, Urgent
STATUS_OPEN = 2
SOURCE_PORTAL = 2  # create accepts 1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback widget, 10 Outbound email


def idempotency_tag(key: str) -> str:
    """The tag that marks the one ticket for this idempotency key."""
    return "sk-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def describe_error(response: httpx.Response) -> str:
    """Freshdesk's envelope: {"description", "errors": [{"field", "message", "code"}]}
    or {"code", "message"}."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip()
    if not isinstance(data, dict):
        return str(data)[:300]
    parts = [str(data[k]) for k in ("description", "message") if data.get(k)]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            field = f"{error['field']}: " if error.get("field") else ""
            code = f" ({error['code']})" if error.get("code") else ""
            parts.append(f"{field}{error.get('message', '')}{code}")
    if not parts and data.get("code"):
        parts.append(str(data["code"]))
    return "; ".join(parts) or response.text[:300].strip()


STATUS_NAMES = {2: "open", 3: "pending", 4: "resolved", 5: "closed", 6: "waiting on customer", 7: "waiting on third party"}
LIST_PAGE = 100
LIST_MAX_PAGES = 300  # Freshdesk's own cap on list pagination
TOKEN_HEADER = "X-Socialear-Token"


def status_name(status: Any) -> str:
    """Freshdesk's numeric status (4, "4") as its name ("resolved"); text passes through."""
    text = str(status if status is not None else "").strip()
    return STATUS_NAMES.get(int(text), text) if text.isdigit() else text


class FreshdeskSink:
    """Creates a Freshdesk ticket per escalation with the mention context as its description.

    Ticket status: Freshdesk has no "show many", so polling pages through
    `GET /api/v2/tickets?updated_since=<since>` (100 per page) keeping ours; or a webhook
    (`POST /hooks/freshdesk`): automation webhooks cannot be signed, so the request carries
    the token from FRESHDESK_WEBHOOK_TOKEN in `X-Socialear-Token` or as `?token=` (the URL
    is then a secret: use HTTPS). Body `{"ticket_id": "{{ticket.id}}", "status":
    "{{ticket.status}}"}`, or the "Simple" content's `{"freshdesk_webhook": {"ticket_id",
    "ticket_status"}}`.
    """

    type: ClassVar[str] = "freshdesk"
    description: ClassVar[str] = "Creates one Freshdesk ticket per escalation (API v2, API key auth)."
    needs: ClassVar[tuple[str, ...]] = ("FRESHDESK_API_KEY",)
    vendor_name: ClassVar[str] = "Freshdesk"
    webhook_secret_env: ClassVar[str] = "FRESHDESK_WEBHOOK_TOKEN"
    polls_by_id: ClassVar[bool] = False  # the listing shows only tickets updated since

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        domain: str = Field(description="'acme' for https://acme.freshdesk.com")
        api_key_env: str = "FRESHDESK_API_KEY"
        group_id: int | None = None
        ticket_type: str | None = None
        source: int = SOURCE_PORTAL
        custom_fields: dict[str, str] = Field(default_factory=dict, description="{cf_name: value template}")
        extra_tags: list[str] = Field(default_factory=list)
        requester_domain: str = _ticket.PLACEHOLDER_DOMAIN
        index_lag_s: float = Field(default=60.0, ge=0)
        timeout_s: float = Field(default=_http.DEFAULT_TIMEOUT_S, gt=0, le=120)

        @field_validator("domain")
        @classmethod
        def _domain(cls, value: str) -> str:
            return _ticket.check_subdomain(value, "Freshdesk domain")

        @field_validator("custom_fields")
        @classmethod
        def _templates(cls, value: dict[str, str]) -> dict[str, str]:
            return _ticket.check_field_templates(value)

    def __init__(self, name: str, options: Options, api_key: str, client: httpx.Client | None = None):
        self.name = name
        self.options = options
        self.label = f"freshdesk sink {name!r}"
        self.base_url = f"https://{options.domain}.freshdesk.com"
        self._auth = httpx.BasicAuth(api_key, "X")
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
    ) -> FreshdeskSink:
        opts = cls.Options.model_validate(options)
        env = os.environ if env is None else env
        if not env.get(opts.api_key_env):
            raise NotConfigured(f"freshdesk sink {name!r}: {opts.api_key_env} is not set")
        return cls(name, opts, env[opts.api_key_env], client)

    # -- ticket status ------------------------------------------------------------------
    def ticket_statuses(self, ids: Sequence[str], since: datetime) -> Iterator[TicketStatus]:
        """The status of the tickets in `ids` updated since `since`."""
        ours = set(ids)
        stamp = as_utc(since).strftime("%Y-%m-%dT%H:%M:%SZ")
        found = 0
        for page in range(1, LIST_MAX_PAGES + 1):
            response = self._send("GET", "/api/v2/tickets", params={
                "updated_since": stamp, "per_page": LIST_PAGE, "page": page, "order_by": "updated_at",
                "order_type": "asc",
            })
            tickets = _http.response_json(response, label=self.label)
            if not isinstance(tickets, list):
                break
            for ticket in tickets:
                if str(ticket.get("id")) in ours:
                    found += 1
                    yield TicketStatus(self.type, str(ticket["id"]), status_name(ticket.get("status")),
                                       via="poll", vendor_name=self.vendor_name)
            if len(tickets) < LIST_PAGE or found >= len(ours):
                break

    @classmethod
    def webhook_refusal(
        cls, secret: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> str | None:
        given = headers.get(TOKEN_HEADER) or query.get("token") or ""
        if hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            return None
        return "missing or wrong token"

    @classmethod
    def parse_webhook(cls, data: Any) -> TicketStatus | None:
        if not isinstance(data, dict):
            return None
        nested = data.get("freshdesk_webhook")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else data
        ticket_id = _ticket.text_or_none(inner.get("ticket_id") or inner.get("id"))
        status = inner.get("status") or inner.get("ticket_status") or ""
        return TicketStatus(cls.type, ticket_id, status_name(status), vendor_name=cls.vendor_name)

    # -- delivery ------------------------------------------------------------------------
    def deliver(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """Create the ticket once per idempotency key; on a retry, find the earlier one first.
        A case's follow-up (`payload.case_ticket` set) becomes a private note on that ticket."""
        if payload.case_ticket:
            return self.add_note(payload, attempt=attempt)
        key = payload.idempotency_key
        if attempt > 1 or key in self._ambiguous:
            existing = self.find(key)
            if existing is not None:
                self._ambiguous.discard(key)
                return existing
        body = _http.json_body(self.ticket_fields(payload))
        try:
            ticket = self._create(body)
        except RateLimited:
            raise  # answered before anything was created
        except RetryableError as exc:
            self._ambiguous.add(key)  # it may exist: wait for the search index, then look it up
            wait = max(exc.retry_after or 0.0, self.options.index_lag_s)
            raise RetryableError(f"{exc} (it may exist; the retry looks it up)", wait) from exc
        self._ambiguous.discard(key)
        return self._result(ticket, created=True)

    def add_note(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """The follow-up as a private note (`POST /api/v2/tickets/{id}/notes`), once: a
        retry first reads the ticket's conversations for the note's marker line."""
        ticket_id, key = str(payload.case_ticket), payload.idempotency_key
        if not ticket_id.isdigit():
            raise PermanentError(f"{self.label}: case ticket {ticket_id!r} is not a Freshdesk ticket id")
        if attempt > 1 or key in self._ambiguous:
            response = self._send("GET", f"/api/v2/tickets/{ticket_id}/conversations")
            notes = _http.response_json(response, label=self.label)
            if any(_ticket.has_mark(n.get("body_text") or n.get("body"), key)
                   for n in (notes if isinstance(notes, list) else []) if isinstance(n, dict)):
                self._ambiguous.discard(key)
                return self._result({"id": int(ticket_id)}, created=False)
        text = _ticket.follow_up_text(payload)
        body = _http.json_body({"body": "<br>".join(html.escape(line) for line in text.split("\n")),
                                "private": True})
        with _ticket.tracking_ambiguity(self._ambiguous, key):
            self._send("POST", f"/api/v2/tickets/{ticket_id}/notes", content=body,
                       headers={"Content-Type": "application/json"})
        return self._result({"id": int(ticket_id)}, created=True)

    def _create(self, body: bytes) -> dict[str, Any]:
        response = self._send("POST", "/api/v2/tickets", content=body, headers={"Content-Type": "application/json"})
        ticket = _http.response_json(response, label=self.label)
        if not isinstance(ticket, dict) or ticket.get("id") is None:
            raise RetryableError(f"{self.label}: HTTP {response.status_code} without a ticket id")
        return ticket

    def find(self, key: str) -> DeliveryResult | None:
        """The ticket an earlier attempt created for this key, if the search index has it."""
        query = f"\"tag:'{idempotency_tag(key)}'\""
        response = self._send("GET", "/api/v2/search/tickets", params={"query": query})
        results = _http.response_json(response, label=self.label).get("results") or []
        if len(results) > 1:
            log.warning("%s: %d tickets carry tag %s", self.label, len(results), idempotency_tag(key))
        if not results:
            return None
        return self._result(min(results, key=lambda t: t.get("id") or 0), created=False)

    def ticket_fields(self, payload: EscalationPayload) -> dict[str, Any]:
        """The create-ticket body (see the Freshdesk API v2 reference, Create a Ticket)."""
        opts = self.options
        person = _ticket.requester(payload, opts.requester_domain)
        tags = _ticket.ticket_tags(payload, opts.extra_tags)
        fields: dict[str, Any] = {
            "name": person["name"],
            "email": person["email"],
            "subject": _ticket.subject(payload),
            "description": _ticket.context_html(payload),
            "status": STATUS_OPEN,
            "priority": PRIORITIES.get(payload.priority, 2),
            "source": opts.source,
            "tags": [idempotency_tag(payload.idempotency_key), *[t[:32] for t in tags]],
        }
        if opts.group_id is not None:
            fields["group_id"] = opts.group_id
        if opts.ticket_type:
            fields["type"] = opts.ticket_type
        if opts.custom_fields:
            fields["custom_fields"] = {
                name: _ticket.render_field(template, payload) for name, template in opts.custom_fields.items()
            }
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
            credential=self.options.api_key_env,
            timeout=self.options.timeout_s,
            describe=describe_error,
            auth=self._auth,
            **kwargs,
        )

    def _result(self, ticket: dict[str, Any], *, created: bool) -> DeliveryResult:
        ticket_id = ticket.get("id")
        url = f"{self.base_url}/a/tickets/{ticket_id}" if ticket_id is not None else None
        return DeliveryResult(external_ref=str(ticket_id) if ticket_id is not None else None, url=url, created=created)
