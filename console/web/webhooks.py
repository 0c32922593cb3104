"""Ticket-update webhooks from the contact centre: `POST /hooks/<sink type>` for every
registered ticket sink (`responders.types.TicketSink`: `/hooks/zendesk`, `/hooks/freshdesk`,
or a plugin's).

`make_router(engine, rules, env)` returns the router (prefix `/hooks`); the console app
includes it. These routes take no session or API token: each request is verified by its
sink's `webhook_refusal` instead (Zendesk: HMAC signature over timestamp + body, within 5
minutes; Freshdesk: a shared token in a header or `?token=`), and anything unverified is
refused with 401 before its body is parsed. The bodies each sink understands are in its
class docstring (`ZendeskSink`, `FreshdeskSink`).

Answers: 200 `{"ok": true, "escalation_id", "change"}` (also for a ticket that is not
ours, so the helpdesk does not retry or disable the webhook); 401 unverified; 400 not
JSON; 413 body over 1 MiB; 422 no ticket id or status; 503 the secret is not set.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from responders.sinks import SINKS
from responders.status import apply_status, sink_names
from responders.types import TicketSink, is_ticket_sink_class
from socialear.config import RulesConfig
from storage.engine import Engine

PREFIX = "/hooks"
MAX_BODY = 1 << 20


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
    """The `/hooks` router: one route per registered ticket sink type. `rules` gives the
    rules in force (which sinks are of that type); `env` holds each sink's webhook secret
    (`webhook_secret_env`: ZENDESK_WEBHOOK_SECRET, FRESHDESK_WEBHOOK_TOKEN)."""
    router = APIRouter(prefix=PREFIX, tags=["webhooks"])
    for kind in SINKS:
        cls = SINKS[kind]
        if is_ticket_sink_class(cls):
            router.add_api_route(f"/{kind}", _hook(engine, rules, env, kind, cls), methods=["POST"],
                                 summary=f"{cls.vendor_name} ticket-update webhook")
    return router


def _hook(engine: Engine, rules: Callable[[], RulesConfig], env: Mapping[str, str], kind: str,
          sink: type[TicketSink]) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def hook(request: Request) -> JSONResponse:
        secret = env.get(sink.webhook_secret_env)
        if not secret:
            return JSONResponse(
                {"detail": f"{sink.vendor_name} webhooks are off: {sink.webhook_secret_env} is not set"}, 503)
        body = await bounded_body(request)
        if isinstance(body, JSONResponse):
            return body
        refusal = sink.webhook_refusal(secret, request.headers, request.query_params, body)
        if refusal is not None:
            return JSONResponse({"detail": refusal}, 401)
        try:
            data = json.loads(body)
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, 400)
        update = sink.parse_webhook(data)
        if update is None or not update.ticket_id or not update.status.strip():
            return JSONResponse({"detail": "no ticket id or status in the body"}, 422)
        outcome = await run_in_threadpool(apply_status, engine, update, sink_names(rules(), kind))
        return JSONResponse({"ok": True, "escalation_id": outcome.escalation_id, "change": outcome.change})

    return hook
