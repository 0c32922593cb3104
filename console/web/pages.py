"""Server-rendered pages, and the htmx fragments that update them in place.

Without JavaScript every action is a plain form POST answered with a 303 redirect; with
htmx the queue's claim button swaps just its row, the queue's table body refreshes every
15 s (filters stay in the URL, the agent's scroll position and open editor are untouched)
and the escalation page refreshes only the "who holds this" panel.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from ruamel.yaml import YAML

from console.health import source_health
from console.web import actions, case_actions, periods, team, views, whatif
from console.web.actions import DISMISS_REASONS, ActionError
from console.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL,
    LoginRefused,
    Principal,
    authenticate,
    csrf_matches,
    end_session,
    principal_from_request,
    remember_device,
    start_session,
)
from console.web.deps import care_user, csrf_user, current_user, get_ctx, require_role
from console.web.render import span
from console.web.reply_options import reply_options
from console.web.throttle import DEVICE_COOKIE, DEVICE_TTL
from socialear.errors import NotConfigured
from socialear.trace import expand
from storage import audit as audit_trail
from storage import queue as care_queue
from storage.console_models import Role
from storage.engine import session_scope
from storage.models import Label

router = APIRouter(include_in_schema=False)

_SECRET_KEY = re.compile(r"secret|token|passw|api[_-]?key|(^|_)key$|credential|auth|bearer",
                         re.IGNORECASE)
MASK = "••••••••"


def _safe_next(value: str | None, default: str = "/queue") -> str:
    """Only same-site relative paths: never `//evil.example` or a full URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


# ------------------------------------------------------------------------------ sign-in
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/queue") -> Response:
    ctx = get_ctx(request)
    if principal_from_request(ctx.engine, request) is not None:
        return RedirectResponse(_safe_next(next), 303)
    return _login_page(request, next, None, 200)


def _login_page(request: Request, next: str, error: str | None, status: int) -> Response:
    ctx = get_ctx(request)
    token = secrets.token_urlsafe(24)
    response = ctx.renderer.page(request, "login.html", None, {
        "title": "Sign in", "next": _safe_next(next), "error": error, "login_csrf": token})
    response.status_code = status
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True,
                        samesite="lax", secure=ctx.settings.secure_cookies, path="/login")
    return response


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""),
          csrf: str = Form(""), next: str = Form("/queue")) -> Response:
    ctx = get_ctx(request)
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _login_page(request, next, "Your sign-in form expired; please try again.", 403)
    device = request.cookies.get(DEVICE_COOKIE)
    try:
        user = authenticate(ctx.engine, username, password,
                            address=request.client.host if request.client else None, device=device)
    except LoginRefused as exc:
        return _login_page(request, next, str(exc), 401)
    secret = start_session(ctx.engine, user)
    if user.role == Role.analyst and next == "/queue":  # the default; an analyst has no queue
        next = "/reports"
    response = RedirectResponse(_safe_next(next), 303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(SESSION_TTL.total_seconds()),
                        httponly=True, samesite="lax", secure=ctx.settings.secure_cookies,
                        path="/")
    response.set_cookie(DEVICE_COOKIE, remember_device(ctx.engine, user.username, device),
                        max_age=int(DEVICE_TTL.total_seconds()), httponly=True, samesite="lax",
                        secure=ctx.settings.secure_cookies, path="/login")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, user: Principal = Depends(csrf_user)) -> Response:
    end_session(get_ctx(request).engine, request.cookies.get(SESSION_COOKIE), user.username)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------ queue
@router.get("/")
def home(user: Principal = Depends(current_user)) -> Response:
    return RedirectResponse("/queue" if user.can(Role.viewer) else "/reports", 303)


def _queue_filters(session: Any, request: Request, user: Principal) -> care_queue.QueueFilters:
    """The URL's filters, with the order the agent chose last when the URL names none."""
    f = care_queue.QueueFilters.from_params(request.query_params)
    f.sort = care_queue.remember_sort(session, user.user_id, f.sort)
    return f


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, user: Principal = Depends(care_user)) -> Response:
    ctx = get_ctx(request)
    rules = ctx.rules()
    with session_scope(ctx.engine) as session:
        f = _queue_filters(session, request, user)
        problems = care_queue.filter_problems(session, f, rules)
        page = _no_rows() if problems else care_queue.queue_page(session, f, user.username)
        choices = care_queue.filter_choices(session)
        assignable = care_queue.assignable_users(session) if user.can(Role.lead) else []
        saved = views.views_for(session, user.user_id)
    return ctx.renderer.page(request, "queue.html", user, {
        "views": saved,
        "title": "Queue", "f": f, "page": page, "rows_url": _rows_url(f), "filter_errors": problems,
        "queues": rules.queues, "brands": [b.name for b in rules.brands],
        "sources": sorted({s.name for s in rules.sources} | set(choices["sources"])),
        "categories": [c.name for c in rules.categories], "users": choices["users"],
        "priorities": care_queue.PRIORITIES, "statuses": care_queue.STATUS_CHOICES,
        "sorts": care_queue.SORTS, "here": _here(request),
        "done": request.query_params.get("done", "")[:500], "reasons": DISMISS_REASONS,
        "assignable": assignable,
    }, 400 if problems else 200)


def _no_rows() -> care_queue.QueuePage:
    """The page shown instead of results when a filter value names nothing."""
    return care_queue.QueuePage(rows=[], total=0, page=1, pages=1, has_next=False)


def _rows_url(f: care_queue.QueueFilters) -> str:
    params = f.params()
    return "/queue/rows" + (f"?{urlencode(params)}" if params else "")


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


@router.get("/queue/rows", response_class=HTMLResponse)
def queue_rows(request: Request, user: Principal = Depends(care_user)) -> Response:
    """The table body only: what the 15-second refresh swaps in."""
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        f = _queue_filters(session, request, user)
        problems = care_queue.filter_problems(session, f, ctx.rules())
        page = _no_rows() if problems else care_queue.queue_page(session, f, user.username)
    here = "/queue" + (f"?{urlencode(f.params())}" if f.params() else "")
    return ctx.renderer.fragment("_queue_rows.html", {
        "page": page, "user": user, "csrf": user.csrf_token, "here": here, "f": f,
        "rows_url": _rows_url(f), "filter_errors": problems}, 400 if problems else 200)


BULK_MAX = 200
BULK_ACTIONS = {"claim": "claimed", "assign": "assigned", "dismiss": "dismissed",
                "resolve": "resolved"}


@router.post("/queue/bulk")
def queue_bulk(request: Request, ids: list[str] = Form(default=[]), action: str = Form(""),
               reason: str = Form(""), assignee: str = Form(""), next: str = Form("/queue"),
               user: Principal = Depends(csrf_user)) -> Response:
    """One action on many queue rows; each row goes through the same guarded action as
    one click would (roles, collisions, audit), and the summary says what was skipped."""
    ctx = get_ctx(request)
    if action not in BULK_ACTIONS:
        return _bulk_done(next, "Choose what to do with the selected items.")
    if action == "assign":
        require_role(user, Role.lead, "assign escalations")
    chosen = list(dict.fromkeys(int(i) for i in ids if str(i).isdigit()))[:BULK_MAX]
    if not chosen:
        return _bulk_done(next, "Select some items first.")
    if action == "dismiss" and reason not in DISMISS_REASONS:
        return _bulk_done(next, "Choose a reason to dismiss them.")
    do: dict[str, Callable[[int], Any]] = {
        "claim": lambda i: actions.claim(ctx.engine, user, i),
        "assign": lambda i: actions.assign(ctx.engine, user, i, assignee or None),
        "dismiss": lambda i: actions.dismiss(ctx.engine, user, i, reason),
        "resolve": lambda i: actions.resolve(ctx.engine, user, i),
    }
    done, skipped = 0, []
    for esc_id in chosen:
        try:
            do[action](esc_id)
            done += 1
        except ActionError as exc:
            skipped.append(f"#{esc_id}: {exc.message}")
    text = f"{BULK_ACTIONS[action].capitalize()} {done} item{'' if done == 1 else 's'}."
    if skipped:
        text += f" Skipped {len(skipped)}: " + "; ".join(skipped[:5])
    return _bulk_done(next, text)


def _bulk_done(next_url: str, text: str) -> Response:
    target = _safe_next(next_url, "/queue")
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}{urlencode({'done': text[:500]})}", 303)


@router.post("/queue/views")
def save_view(request: Request, name: str = Form(""), query: str = Form(""),
              shared: str = Form(""), user: Principal = Depends(csrf_user)) -> Response:
    require_role(user, Role.viewer, "save views of the care queue")
    ctx = get_ctx(request)
    views.save(ctx.engine, user, name, query, shared == "1")
    return _bulk_done("/queue" + (f"?{query}" if query else ""), f"Saved the view {name.strip()!r}.")


@router.post("/queue/views/{view_id}/delete")
def delete_view(request: Request, view_id: int, user: Principal = Depends(csrf_user)) -> Response:
    require_role(user, Role.viewer, "change views of the care queue")
    views.delete(get_ctx(request).engine, user, view_id)
    return _bulk_done("/queue", "Deleted the view.")


@router.get("/queue/next")
def queue_next(request: Request, user: Principal = Depends(care_user)) -> Response:
    """The next item to work ("resolve and next"): the first row in the agent's order that
    is theirs or nobody's."""
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        f = _queue_filters(session, request, user)
        for assignee in ("me", "none"):
            f.assignee, f.page = assignee, 1
            page = care_queue.queue_page(session, f, user.username)
            if page.rows:
                return RedirectResponse(f"/escalations/{page.rows[0]['id']}", 303)
    return RedirectResponse("/queue?" + urlencode({"done": "Nothing left in your queue."}), 303)


@router.get("/queue/pulse")
def queue_pulse(request: Request, user: Principal = Depends(care_user)) -> Response:
    """Open urgent items now, for the "new urgent items" notice (polled by console.js)."""
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        data = care_queue.urgent_pulse(session)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------ escalation
def _escalation_page(request: Request, user: Principal, escalation_id: int,
                     error: str | None = None, status: int = 200,
                     draft: str | None = None) -> Response:
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        detail = care_queue.escalation_detail(session, escalation_id)
        users = care_queue.assignable_users(session) if user.can(Role.lead) else []
    if detail is None:
        return ctx.renderer.page(request, "error.html", user, {
            "title": "Not found", "message": f"There is no escalation {escalation_id}."}, 404)
    return ctx.renderer.page(request, "escalation.html", user, {
        "title": f"Escalation #{escalation_id}", "d": detail, "esc": detail.escalation,
        "m": detail.mention, "author": detail.author, "users": users, "error": error,
        "draft": draft, "reasons": DISMISS_REASONS, "labels": [lab.value for lab in Label],
        **_publishing(ctx.publisher, detail.mention.source),
        "reply_options": reply_options(ctx.rules(), detail.escalation, detail.mention,
                                       detail.author),
        "decision": _shown_decision(detail.escalation.decision),
    }, status)


def _shown_decision(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The stored decision with its trace as the page shows it (socialear.trace)."""
    decision = dict(stored or {})
    decision["trace"] = expand(decision.get("trace"))
    return decision


def _publishing(publisher: Any, source: str) -> dict[str, Any]:
    """Whether a reply to this source is posted ("Publish on X") or only recorded ("Mark
    as replied" + "Copy"), and why not, so the button says what will happen (#16)."""
    if publisher is None:
        return {"published": False, "publish_off": "Publishing is off"}
    check = getattr(getattr(publisher, "publishers", None), "check", None)
    if check is None:
        return {"published": True, "publish_off": None}
    try:
        check(source)
    except NotConfigured as exc:
        return {"published": False, "publish_off": str(exc)[:1].upper() + str(exc)[1:]}
    return {"published": True, "publish_off": None}


@router.get("/escalations/{escalation_id}", response_class=HTMLResponse)
def escalation(request: Request, escalation_id: int,
               user: Principal = Depends(care_user)) -> Response:
    return _escalation_page(request, user, escalation_id)


@router.get("/escalations/{escalation_id}/holder", response_class=HTMLResponse)
def holder(request: Request, escalation_id: int,
           user: Principal = Depends(care_user)) -> Response:
    """The "who is working on this" panel, refreshed while the page is open."""
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        detail = care_queue.escalation_detail(session, escalation_id)
    if detail is None:
        return Response(status_code=404)
    return ctx.renderer.fragment("_holder.html", {
        "esc": detail.escalation, "user": user, "csrf": user.csrf_token})


def _act(request: Request, user: Principal, escalation_id: int, fn: Callable[[], Any],
         next_url: str | None, draft: str | None = None) -> Response:
    """Run an action; answer htmx with the updated row, a browser with a redirect."""
    ctx = get_ctx(request)
    row_fragment = request.query_params.get("fragment") == "row"
    try:
        fn()
    except ActionError as exc:
        if row_fragment:
            return _row(request, user, escalation_id, exc.message, exc.status)
        return _escalation_page(request, user, escalation_id, exc.message, exc.status, draft)
    if row_fragment:
        return _row(request, user, escalation_id, None, 200)
    del ctx
    return RedirectResponse(_safe_next(next_url, f"/escalations/{escalation_id}"), 303)


def _row(request: Request, user: Principal, escalation_id: int, error: str | None,
         status: int) -> Response:
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        row = care_queue.queue_row(session, escalation_id)
    if row is None:
        return Response(status_code=404)
    here = _safe_next(request.query_params.get("here"), "/queue")
    return ctx.renderer.fragment("_queue_row.html", {
        "r": row, "user": user, "csrf": user.csrf_token, "error": error, "here": here},
        status)


@router.post("/escalations/{escalation_id}/claim")
def claim(request: Request, escalation_id: int, take_over: str = Form(""),
          next: str = Form(""), user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.claim(ctx.engine, user, escalation_id, take_over == "1"), next)


@router.post("/escalations/{escalation_id}/release")
def release(request: Request, escalation_id: int, next: str = Form(""),
            user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.release(ctx.engine, user, escalation_id), next)


@router.post("/escalations/{escalation_id}/assign")
def assign(request: Request, escalation_id: int, assignee: str = Form(""),
           user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    require_role(user, Role.lead, "assign escalations")
    return _act(request, user, escalation_id,
                lambda: actions.assign(ctx.engine, user, escalation_id, assignee), None)


@router.post("/escalations/{escalation_id}/reply")
def reply(request: Request, escalation_id: int, text: str = Form(""),
          user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.reply(ctx.engine, user, escalation_id, text, ctx.publisher),
                None, draft=text)


@router.post("/escalations/{escalation_id}/resolve")
def resolve(request: Request, escalation_id: int, resolution: str = Form(""),
            label: str = Form(""), next: str = Form(""),
            user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.resolve(ctx.engine, user, escalation_id, resolution,
                                        label or None), next)


@router.post("/escalations/{escalation_id}/dismiss")
def dismiss(request: Request, escalation_id: int, reason: str = Form(""),
            note: str = Form(""), user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.dismiss(ctx.engine, user, escalation_id, reason, note), None)


@router.post("/escalations/{escalation_id}/reopen")
def reopen(request: Request, escalation_id: int,
           user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.reopen(ctx.engine, user, escalation_id), None)


@router.post("/escalations/{escalation_id}/note")
def note(request: Request, escalation_id: int, text: str = Form(""),
         user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: actions.add_note(ctx.engine, user, escalation_id, text), None)


@router.post("/escalations/{escalation_id}/case/merge")
def case_merge(request: Request, escalation_id: int, into: str = Form(""),
               user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: case_actions.merge(ctx.engine, user, escalation_id, into), None)


@router.post("/escalations/{escalation_id}/case/split")
def case_split(request: Request, escalation_id: int,
               user: Principal = Depends(csrf_user)) -> Response:
    ctx = get_ctx(request)
    return _act(request, user, escalation_id,
                lambda: case_actions.split(ctx.engine, user, escalation_id), None)


# ------------------------------------------------------------------------------ other pages
@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Principal = Depends(current_user)) -> Response:
    ctx = get_ctx(request)
    asked = request.query_params.get(periods.PARAM) or request.query_params.get("range")  # old links
    with session_scope(ctx.engine) as session:
        period = periods.chosen(session, user.user_id, asked)
        data = care_queue.dashboard(session, period.start)
    return ctx.renderer.page(request, "dashboard.html", user, {
        "title": "Dashboard", "period": period, **data})


@router.get("/team", response_class=HTMLResponse)
def team_page(request: Request, user: Principal = Depends(current_user)) -> Response:
    """The lead's view: agent statistics and SLA breaches over the period picked here or
    on the dashboard (one picker, remembered per user)."""
    require_role(user, Role.lead, "see the team's statistics")
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        period = periods.chosen(session, user.user_id, request.query_params.get(periods.PARAM))
        data = team.team_stats(session, period.start)
    return ctx.renderer.page(request, "team.html", user, {
        "title": "Team", "period": period, "span": span, **data})


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, user: Principal = Depends(current_user)) -> Response:
    ctx = get_ctx(request)
    with session_scope(ctx.engine) as session:
        rows = source_health(session, list(ctx.rules().sources))
    from responders.digests import digest_health

    return ctx.renderer.page(request, "sources.html", user, {
        "title": "Sources", "rows": rows, "mask": mask_secrets,
        "digests": digest_health(ctx.engine, ctx.rules())})


def mask_secrets(value: Any, key: str = "") -> Any:
    """A copy of `value` with anything under a secret-looking key replaced by a mask."""
    if key and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def rules_yaml(data: dict[str, Any]) -> str:
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # ruamel declares it None; it reads a bool
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _rules_page(request: Request, user: Principal, result: whatif.WhatIf | None = None,
                proposed: str | None = None, status: int = 200,
                busy: str | None = None) -> Response:
    ctx = get_ctx(request)
    cfg = ctx.rules()
    data = mask_secrets(cfg.model_dump(mode="json", by_alias=True, exclude_defaults=True))
    text = rules_yaml(data)
    return ctx.renderer.page(request, "rules.html", user, {
        "title": "Rules", "yaml": text, "status": ctx.rules_status(), "cfg": cfg,
        "proposed": text if proposed is None else proposed, "result": result, "busy": busy,
        "windows": list(whatif.WINDOWS), "window": result.window if result else
        whatif.DEFAULT_WINDOW, "max_mentions": whatif.MAX_MENTIONS}, status)


@router.get("/rules", response_class=HTMLResponse)
def rules(request: Request, user: Principal = Depends(current_user)) -> Response:
    return _rules_page(request, user)


@router.post("/rules/whatif", response_class=HTMLResponse)
def rules_whatif(request: Request, proposed: str = Form(""), window: str = Form("7d"),
                 user: Principal = Depends(csrf_user)) -> Response:
    """Replay recent history under pasted rules; nothing is saved or changed."""
    require_role(user, Role.lead, "try out rules")
    ctx = get_ctx(request)
    try:
        result = whatif.run(ctx.engine, ctx.rules(), proposed, window)
    except whatif.WhatIfBusy as exc:
        return _rules_page(request, user, None, proposed, 429, str(exc))
    return _rules_page(request, user, result, proposed, 422 if result.errors else 200)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, user: Principal = Depends(current_user)) -> Response:
    require_role(user, Role.lead, "read the audit log")
    ctx = get_ctx(request)
    f = audit_trail.AuditFilters.from_params(request.query_params)
    with session_scope(ctx.engine) as session:
        events, has_next = audit_trail.audit_page(session, f)
    return ctx.renderer.page(request, "audit.html", user, {
        "title": "Audit log", "events": events, "has_next": has_next, "f": f})
