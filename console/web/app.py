"""The console's ASGI app: `create_app(engine, rules, ...)`.

Layout of the package:

    app.py            factory, security headers, error handlers, /healthz (liveness), /metrics, /docs
    auth.py           passwords, sessions, API tokens, roles (analyst < viewer < agent < lead), CSRF
    throttle.py       sign-in throttling per address and per account, device cookies
    deps.py           FastAPI dependencies: caller, care-queue caller, role and CSRF checks
    pages.py          the care queue's server-rendered pages + htmx fragments, bulk actions
    actions.py        claim / take over / assign / reply / resolve / dismiss / note (+ audit)
    case_actions.py   merge and split cases (+ audit)
    views.py          saved queue views;  team.py  the lead's team statistics
    reply_options.py  the route's reply templates, rendered for the agent to pick
    marketing.py      Reports and Mentions pages (analyst, viewer and up)
    api.py            JSON API under /api/v1, shown in /docs; reports_api.py, customers_api.py
    source_metrics.py per-source health and silence for /metrics
    webhooks.py       ticket status from the contact centre (/hooks); facebook_hook.py the Page webhook,
                      discourse_hook.py post events, source_hook.py what both share
    whatif.py         the rules page's what-if: replay recent mentions under pasted rules
    render.py         the Jinja2 environment and its filters (SLA state);  icons.py  platform icons (inline SVG)

The SQL they run lives in `storage/` (the queue's reads in storage.queue, the audit log's
in storage.audit, the mention browser's in storage.mentions, ...); nothing here composes a query.

Every route except /healthz, /metrics, /login and /static needs a session or an API token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.web import api, customers_api, marketing, pages, reports_api
from console.web.actions import ActionError
from console.web.auth import AuthError, Principal, principal_from_request
from console.web.deps import current_user
from console.web.render import Renderer
from console.web.source_metrics import SourceHealthCollector
from listener.types import storable_json
from socialear.config import RulesConfig
from socialear.metrics import Liveness, register_process_metrics
from socialear.settings import Settings
from storage.engine import DatabaseError, Engine, ping
from storage.metrics import active_escalations, outbox_groups, source_rows
from storage.types import utcnow

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass
class ConsoleContext:
    """What every request handler needs; lives on `app.state.ctx`."""

    engine: Engine
    rules: Callable[[], RulesConfig]
    settings: Settings
    rules_status: Callable[[], str | None]
    publisher: Any
    renderer: Renderer
    registry: CollectorRegistry
    liveness: Liveness | None = None


class _Observe:
    """Pure-ASGI middleware: security headers on every response, and request metrics."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram):
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    if key not in headers:
                        headers[key] = value
                if not static and "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or ("/static" if static else "unmatched")
            self.requests.labels(scope["method"], label, str(status)).inc()
            self.latency.labels(label).observe(time.perf_counter() - start)


class _OpenEscalations:
    """Scrape-time gauge: active escalations per queue and status (one indexed GROUP BY)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Any:
        gauge = GaugeMetricFamily("socialear_escalations_active",
                                  "Open or claimed escalations", labels=["queue", "status"])
        try:
            with self.engine.connect() as conn:
                rows = active_escalations(conn)
        except DatabaseError:
            rows = []
        for queue, status, n in rows:
            gauge.add_metric([queue, status], float(n))
        yield gauge


class _ServiceState:
    """Scrape-time metrics read from the database, so every replica reports the same
    cluster-wide figures: per-source counters and rate limits, outbox states and ages."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Any:
        try:
            with self.engine.connect() as conn:
                sources = source_rows(conn)
                groups = outbox_groups(conn)
        except DatabaseError:
            sources, groups = [], []
        events = CounterMetricFamily("socialear_source_events", "Per-source totals: fetched, stored, "
                                     "escalated, quarantined, dropped/<reason>, retries/<reason>",
                                     labels=["source", "event"])
        remaining = GaugeMetricFamily("socialear_source_rate_limit_remaining",
                                      "Requests left in the platform's current rate-limit window",
                                      labels=["source"])
        budget = GaugeMetricFamily("socialear_source_budget_used",
                                   "Reads charged to the source's paid budget this period", labels=["source"])
        last_ok = GaugeMetricFamily("socialear_source_last_success_timestamp_seconds",
                                    "Unix time of the source's last successful poll", labels=["source"])
        for r in sources:
            totals: dict[str, float] = {"fetched": r.fetched_total, "quarantined": r.quarantined_total}
            for key, value in r.stats.items():
                if isinstance(value, int | float) and key not in totals:
                    totals[key] = value
            for event, value in sorted(totals.items()):
                events.add_metric([r.source, event], float(value))
            if r.rate_limit_remaining is not None:
                remaining.add_metric([r.source], float(r.rate_limit_remaining))
            budget.add_metric([r.source], float(r.budget_used))
            if r.last_success is not None:
                last_ok.add_metric([r.source], r.last_success.timestamp())
        items = GaugeMetricFamily("socialear_outbox_items", "Outbox rows per sink and state",
                                  labels=["sink", "state"])
        oldest = GaugeMetricFamily("socialear_outbox_oldest_age_seconds",
                                   "Age of the oldest row still waiting (pending, retry, sending)",
                                   labels=["sink", "state"])
        now = utcnow()
        for g in groups:
            items.add_metric([g.sink, g.state], float(g.count))
            if g.oldest is not None:
                oldest.add_metric([g.sink, g.state], max(0.0, (now - g.oldest).total_seconds()))
        yield from (events, remaining, budget, last_ok, items, oldest)  # health: SourceHealthCollector


def create_app(
    engine: Engine,
    rules: Callable[[], RulesConfig],
    *,
    settings: Settings | None = None,
    rules_status: Callable[[], str | None] | None = None,
    publisher: Any = None,
    liveness: Liveness | None = None,
) -> FastAPI:
    """Build the console.

    `rules` returns the rules in force (e.g. `RulesWatcher(...).rules` via a lambda);
    `rules_status` returns the last reload error, or None when the file is valid;
    `publisher`, if given, has `publish(escalation_id, text, actor) -> str` and posts
    approved replies; without it a reply is stored for the agent to copy and send;
    `liveness`, if given, is the service's heartbeat board: /healthz reports each part
    (scheduler, outbox worker) and answers 503 when one has stopped beating.
    """
    settings = settings or Settings()
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(_OpenEscalations(engine))
    registry.register(_ServiceState(engine))
    registry.register(SourceHealthCollector(engine, rules))  # healthy / silent per source
    register_process_metrics(registry)
    requests = Counter("socialear_console_requests", "HTTP requests served by the console",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("socialear_console_request_seconds", "Console response time",
                        ["route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

    app = FastAPI(
        title="socialear console API",
        version="1",
        description="Work the escalation queue. Authenticate with `Authorization: Bearer "
        "<token>` (create one with `socialear users token NAME`).",
        docs_url=None, redoc_url=None, openapi_url=None,
    )
    app.state.ctx = ConsoleContext(
        engine=engine, rules=rules, settings=settings,
        rules_status=rules_status or (lambda: None), publisher=publisher,
        renderer=Renderer(TEMPLATE_DIR, settings), registry=registry, liveness=liveness,
    )
    app.add_middleware(_Observe, requests=requests, latency=latency)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(reports_api.router)
    app.include_router(customers_api.router)
    app.include_router(pages.router)
    app.include_router(marketing.router)  # /reports, /mentions (issue 13)
    _add_error_handlers(app)
    _add_service_routes(app)
    return app


def _wants_json(request: Request) -> bool:
    return (request.url.path.startswith("/api/")
            or request.headers.get("authorization", "").lower().startswith("bearer ")
            or "application/json" in request.headers.get("accept", ""))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        if _wants_json(request):
            headers = {"www-authenticate": "Bearer"} if exc.status == 401 else None
            return JSONResponse({"detail": exc.message}, exc.status, headers=headers)
        if exc.status == 401:
            target = "/login"
            if request.method == "GET" and request.url.path not in ("/", "/login"):
                from urllib.parse import urlencode

                target += "?" + urlencode({"next": request.url.path +
                                           (f"?{request.url.query}" if request.url.query
                                            else "")})
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"hx-redirect": target})
            return RedirectResponse(target, 303)
        ctx: ConsoleContext = request.app.state.ctx
        return ctx.renderer.page(request, "error.html", None,
                                 {"title": "Not allowed", "message": exc.message}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # A person's browser asking for /escalations/abc gets a page, not JSON (#16)
        if request.method == "GET" and not _wants_json(request):
            return _html_error(request, 404, "Page not found",
                               f"There is no page at {request.url.path}.")
        # FastAPI's own handler, except that the echoed input is made encodable: a body
        # with half an emoji ("\\ud83d") turned its 422 into a 500
        return JSONResponse({"detail": storable_json(jsonable_encoder(exc.errors()))}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown addresses and wrong methods: the API and API clients keep FastAPI's
        JSON; a browser gets a page in the console's layout (#16: raw `{"detail": "Not
        Found"}` was a dead end)."""
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, exc.status_code,
                                headers=getattr(exc, "headers", None))
        if exc.status_code == 404:
            return _html_error(request, 404, "Page not found",
                               f"There is no page at {request.url.path}.")
        if exc.status_code == 405:
            return _html_error(request, 405, "Not here",
                               f"{request.url.path} cannot be used that way "
                               f"({request.method}).")
        return _html_error(request, exc.status_code, "Something went wrong", str(exc.detail))

    @app.exception_handler(ActionError)
    async def action_error(request: Request, exc: ActionError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.message}, exc.status)
        ctx: ConsoleContext = request.app.state.ctx
        return ctx.renderer.page(request, "error.html", getattr(request.state, "principal",
                                                                None),
                                 {"title": "Could not do that", "message": exc.message},
                                 exc.status)


def _html_error(request: Request, status: int, title: str, message: str) -> Response:
    """error.html, with the navigation when the caller is signed in."""
    ctx: ConsoleContext = request.app.state.ctx
    try:
        user = principal_from_request(ctx.engine, request)
    except Exception:  # noqa: BLE001 - an error page must render even if the DB is down
        user = None
    return ctx.renderer.page(request, "error.html", user,
                             {"title": title, "message": message}, status)


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        ctx: ConsoleContext = request.app.state.ctx
        try:
            ping(ctx.engine)
            db = "ok"
        except DatabaseError as exc:
            db = f"error: {type(exc).__name__}"
        rules_error = ctx.rules_status()
        parts = ctx.liveness.report() if ctx.liveness is not None else {}
        ok = db == "ok" and all(p["alive"] for p in parts.values())
        body: dict[str, Any] = {"status": "ok" if ok else "error", "db": db,
                                "rules": "ok" if rules_error is None else "last reload refused"}
        if parts:
            body["components"] = parts
        return JSONResponse(body, 200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        ctx: ConsoleContext = request.app.state.ctx
        return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Principal = Depends(current_user)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request, user: Principal = Depends(current_user)) -> Response:
        ctx: ConsoleContext = request.app.state.ctx
        return ctx.renderer.page(request, "docs.html", user, {"title": "API"})
