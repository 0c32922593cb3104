"""Ticket-update webhooks from the contact centre: `POST /hooks/zendesk`, `POST /hooks/freshdesk`.

`make_router(engine, rules, env)` returns the router (prefix `/hooks`); the console app
includes it. These routes take no session or API token: each request is verified instead,
and anything unverified is refused with 401 before its body is parsed.

Zendesk (signed): the webhook's signing secret goes in ZENDESK_WEBHOOK_SECRET. Zendesk
sends `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret, timestamp + raw body))
and `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601). A timestamp more than 5 minutes
from now is refused (replays). Bodies understood:

* a trigger/automation webhook with this JSON body (Admin Center → Triggers, condition
  "Status category changed", action "Notify webhook"):
  `{"ticket_id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "status": "{{ticket.status}}"}`
* an event-subscription webhook (`zen:event-type:ticket.status_changed`): `detail.id`,
  `detail.external_id`, and `event.current` (or `detail.status`).

Freshdesk (shared secret): automation webhooks cannot be signed, so the request must
carry the token from FRESHDESK_WEBHOOK_TOKEN, either in a custom header
`X-Socialear-Token: <token>` (automation rule → "Trigger webhook" → "Add custom headers")
or as `?token=<token>` in the URL (when headers are not available; the URL is then a
secret: use HTTPS). Body (JSON, "Advanced" content):
`{"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}"}`; the "Simple" content's
`{"freshdesk_webhook": {"ticket_id": ..., "ticket_status": ...}}` works too.

Answers: 200 `{"ok": true, "escalation_id", "change"}` (also for a ticket that is not
ours, so the helpdesk does not retry or disable the webhook); 401 unverified; 400 not
JSON; 413 body over 1 MiB; 422 no ticket id or status; 503 the secret is not set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from responders.status import TicketStatus, apply_status, sink_names
from socialear.config import RulesConfig

PREFIX = "/hooks"
ZENDESK_SECRET_ENV = "ZENDESK_WEBHOOK_SECRET"
FRESHDESK_TOKEN_ENV = "FRESHDESK_WEBHOOK_TOKEN"
ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
FRESHDESK_TOKEN_HEADER = "X-Socialear-Token"
TOLERANCE_S = 300.0
MAX_BODY = 1 << 20


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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_zendesk(data: Any) -> TicketStatus | None:
    """A TicketStatus from a trigger body or an event-subscription body; None if neither."""
    if not isinstance(data, dict):
        return None
    detail = data.get("detail")
    if isinstance(detail, dict):  # zen:event-type:ticket.*
        event = data.get("event")
        current = event.get("current") if isinstance(event, dict) else None
        if isinstance(current, dict):
            current = current.get("status")
        status = current if isinstance(current, str) else detail.get("status")
        ticket_id = _text(detail.get("id")) or _text(str(data.get("subject", "")).rpartition(":")[2])
        return TicketStatus("zendesk", ticket_id, str(status or ""), _text(detail.get("external_id")))
    nested = data.get("ticket")
    ticket: dict[str, Any] = nested if isinstance(nested, dict) else data
    ticket_id = _text(ticket.get("ticket_id") or ticket.get("id"))
    return TicketStatus("zendesk", ticket_id, str(ticket.get("status") or ""), _text(ticket.get("external_id")))


def parse_freshdesk(data: Any) -> TicketStatus | None:
    if not isinstance(data, dict):
        return None
    nested = data.get("freshdesk_webhook")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else data
    ticket_id = _text(inner.get("ticket_id") or inner.get("id"))
    status = inner.get("status") or inner.get("ticket_status") or ""
    return TicketStatus("freshdesk", ticket_id, str(status))


async def bounded_body(request: Request, limit: int = MAX_BODY) -> bytes | JSONResponse:
    """The request body, or a 413 when it (or its declared length) is over `limit`: every
    webhook reads its body through this, before any signature check."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        return JSONResponse({"detail": "body too large"}, 413)
    body = await request.body()
    if len(body) > limit:
        return JSONResponse({"detail": "body too large"}, 413)
    return body


def make_router(engine: Engine, rules: Callable[[], RulesConfig], env: Mapping[str, str]) -> APIRouter:
    """The `/hooks` router. `rules` gives the rules in force (to know which sinks are
    Zendesk/Freshdesk); `env` holds ZENDESK_WEBHOOK_SECRET / FRESHDESK_WEBHOOK_TOKEN."""
    router = APIRouter(prefix=PREFIX, tags=["webhooks"])

    async def _apply(update: TicketStatus | None, vendor: str) -> JSONResponse:
        if update is None or not update.ticket_id or not update.status.strip():
            return JSONResponse({"detail": "no ticket id or status in the body"}, 422)
        outcome = await run_in_threadpool(apply_status, engine, update, sink_names(rules(), vendor))
        return JSONResponse({"ok": True, "escalation_id": outcome.escalation_id, "change": outcome.change})

    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            return _NOT_JSON

    @router.post("/zendesk", summary="Zendesk ticket-update webhook (HMAC signed)")
    async def zendesk(request: Request) -> JSONResponse:
        secret = env.get(ZENDESK_SECRET_ENV)
        if not secret:
            return JSONResponse({"detail": f"Zendesk webhooks are off: {ZENDESK_SECRET_ENV} is not set"}, 503)
        body = await bounded_body(request)
        if isinstance(body, JSONResponse):
            return body
        if not verify_zendesk(secret, request.headers.get(ZENDESK_TIMESTAMP), body, request.headers.get(ZENDESK_SIGNATURE)):
            return JSONResponse({"detail": "invalid or stale signature"}, 401)
        data = _json(body)
        if data is _NOT_JSON:
            return JSONResponse({"detail": "body is not JSON"}, 400)
        return await _apply(parse_zendesk(data), "zendesk")

    @router.post("/freshdesk", summary="Freshdesk ticket-update webhook (shared token)")
    async def freshdesk(request: Request) -> JSONResponse:
        token = env.get(FRESHDESK_TOKEN_ENV)
        if not token:
            return JSONResponse({"detail": f"Freshdesk webhooks are off: {FRESHDESK_TOKEN_ENV} is not set"}, 503)
        given = request.headers.get(FRESHDESK_TOKEN_HEADER) or request.query_params.get("token") or ""
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            return JSONResponse({"detail": "missing or wrong token"}, 401)
        body = await bounded_body(request)
        if isinstance(body, JSONResponse):
            return body
        data = _json(body)
        if data is _NOT_JSON:
            return JSONResponse({"detail": "body is not JSON"}, 400)
        return await _apply(parse_freshdesk(data), "freshdesk")

    return router


_NOT_JSON = object()
