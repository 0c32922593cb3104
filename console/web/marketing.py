"""Marketing's pages: Reports (the competitor report) and Mentions (every stored mention).

Who sees them: every signed-in role, including `analyst`, marketing's role, which sees
these, the dashboard and sources but not the care queue (`deps.care_user`).

The Reports page shows the same body as the HTML report file (`reports.html.
render_body`), charts included: server-rendered SVG with presentation attributes only,
so the console's CSP (no inline style or script) holds. Its stylesheet is the report's
own, served from the package at /reports/report.css. "Download" returns the standalone
file, whose inline `<style>` needs its own CSP (no script at all, nothing fetched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from console.web.auth import Principal
from console.web.deps import current_user, get_ctx
from reports import ReportError, build_competitor_report, resolve_period
from reports.html import CSS_PATH, render_body, render_html
from storage import mentions as stored
from storage.engine import session_scope
from storage.types import utcnow

router = APIRouter(include_in_schema=False)

SENTIMENTS = ("positive", "neutral", "negative")
RANGES = {"7d": "Last 7 days", "14d": "Last 14 days", "30d": "Last 30 days",
          "90d": "Last 90 days"}
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# ------------------------------------------------------------------------------ reports
@dataclass
class ReportQuery:
    """The Reports page's form: a preset range or from/to dates, brands, interval."""

    since: str = "30d"
    start: str = ""  # YYYY-MM-DD
    end: str = ""  # YYYY-MM-DD, included
    brands: tuple[str, ...] = ()
    interval: str = ""

    @classmethod
    def from_request(cls, request: Request) -> ReportQuery:
        p = request.query_params
        since = p.get("since", "").strip()[:8]
        start, end = p.get("from", "").strip()[:32], p.get("to", "").strip()[:32]
        if since not in RANGES:
            since = "" if (start or end) else "30d"
        brands = tuple(dict.fromkeys(b.strip()[:128] for b in p.getlist("brand") if b.strip()))
        interval = p.get("interval", "").strip()[:8]
        return cls(since, start, end, brands, interval)

    def params(self) -> list[tuple[str, str]]:
        out = [("since", self.since)] if self.since else [("from", self.start), ("to", self.end)]
        out += [("brand", b) for b in self.brands]
        if self.interval:
            out.append(("interval", self.interval))
        return [(k, v) for k, v in out if v]

    def build(self, request: Request) -> dict[str, Any]:
        ctx = get_ctx(request)
        if self.since:
            start, end = resolve_period(self.since)
        else:
            start, end = resolve_period(None, self.start or None, self.end or None)
        return build_competitor_report(ctx.engine, ctx.rules(), start=start, end=end,
                                       brands=list(self.brands) or None,
                                       interval=self.interval or None)


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, user: Principal = Depends(current_user)) -> Response:
    ctx = get_ctx(request)
    q = ReportQuery.from_request(request)
    report, error, status = None, None, 200
    try:
        report = q.build(request)
    except ReportError as exc:
        error, status = str(exc), 422 if "no mentions" not in str(exc) else 200
    return ctx.renderer.page(request, "reports.html", user, {
        "title": "Reports", "q": q, "report": report, "error": error,
        "body": render_body(report) if report else None, "ranges": RANGES,
        "brands": [(b.name, b.competitor) for b in ctx.rules().brands],
        "download": "/reports/competitors.html?" + urlencode(q.params()),
        "json_url": "/api/v1/reports/competitors?" + urlencode(_api_params(q)),
    }, status)


def _api_params(q: ReportQuery) -> list[tuple[str, str]]:
    out = [("since", q.since)] if q.since else [("from", q.start), ("to", q.end)]
    if q.brands:
        out.append(("brands", ",".join(q.brands)))
    if q.interval:
        out.append(("interval", q.interval))
    return [(k, v) for k, v in out if v]


@router.get("/reports/competitors.html")
def report_file(request: Request, _: Principal = Depends(current_user)) -> Response:
    """The standalone HTML report, as a download (what the digests email)."""
    q = ReportQuery.from_request(request)
    try:
        report = q.build(request)
    except ReportError as exc:
        return Response(str(exc), 422, media_type="text/plain; charset=utf-8")
    stamp = utcnow().strftime("%Y%m%d")
    return HTMLResponse(render_html(report), headers={
        "content-security-policy": REPORT_CSP,
        "content-disposition": f'attachment; filename="competitor-report-{stamp}.html"'})


@router.get("/reports/report.css")
def report_css(_: Principal = Depends(current_user)) -> Response:
    return Response(CSS_PATH.read_text(encoding="utf-8"), media_type="text/css",
                    headers={"cache-control": "private, max-age=300"})


@router.get("/mentions", response_class=HTMLResponse)
def mentions(request: Request, user: Principal = Depends(current_user)) -> Response:
    ctx = get_ctx(request)
    f = stored.MentionFilters.from_params(request.query_params)
    rules = ctx.rules()
    with session_scope(ctx.engine) as session:
        rows, has_next, problems = stored.mention_page(session, f)
        platforms = stored.platforms(session)
    return ctx.renderer.page(request, "mentions.html", user, {
        "title": "Mentions", "f": f, "rows": rows, "has_next": has_next,
        "problems": problems, "brands": [(b.name, b.competitor) for b in rules.brands],
        "platforms": platforms, "sentiments": SENTIMENTS,
        "categories": [c.name for c in rules.categories],
    }, 422 if problems else 200)
