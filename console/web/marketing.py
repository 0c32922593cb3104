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

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from console.web.auth import Principal
from console.web.deps import current_user, get_ctx
from console.web.queries import FTS, PG_TSVECTOR, TextQuery
from reports import ReportError, build_competitor_report, resolve_period
from reports.html import CSS_PATH, render_body, render_html
from storage.dialect import table
from storage.engine import session_scope
from storage.models import Author, Mention
from storage.types import utcnow

router = APIRouter(include_in_schema=False)

M, A = table(Mention), table(Author)
PAGE_SIZE = 50
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


# ------------------------------------------------------------------------------ mentions
@dataclass
class MentionFilters:
    brand: str = ""
    platform: str = ""
    sentiment: str = ""
    category: str = ""
    start: str = ""  # YYYY-MM-DD
    end: str = ""  # YYYY-MM-DD, included
    q: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Any) -> MentionFilters:
        out = cls()
        for f in fields(cls):
            key = {"start": "from", "end": "to"}.get(f.name, f.name)
            raw = params.get(key)
            if raw is None:
                continue
            raw = str(raw).strip()[:200]
            if f.name == "page":
                out.page = max(1, min(int(raw), 10_000)) if raw.isdigit() else 1
            else:
                setattr(out, f.name, raw)
        return out

    def params(self, **changes: Any) -> dict[str, str]:
        data = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        names = {"start": "from", "end": "to"}
        return {names.get(k, k): str(v) for k, v in data.items()
                if v not in ("", None) and not (k == "page" and v == 1)}


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def mention_page(session: Session, f: MentionFilters) -> tuple[list[Any], bool, list[str]]:
    """One page of mentions, newest first, through mention(created_at) and the search
    index; returns (rows, has_next, problems with the filters)."""
    problems: list[str] = []
    where: list[Any] = [M.c.deleted_at.is_(None)]
    if f.brand:
        where.append(M.c.brand == f.brand)
    if f.platform:
        where.append(M.c.platform == f.platform)
    if f.sentiment:
        where.append(M.c.sentiment_label == f.sentiment)
    if f.category:
        # categories is a JSON list; its text holds the quoted name on both databases
        where.append(sa.cast(M.c.categories, sa.Text).like(
            '%"' + f.category.replace("%", "").replace("_", "\\_") + '"%', escape="\\"))
    for text, end in ((f.start, False), (f.end, True)):
        if not text:
            continue
        day = _day(text)
        if day is None:
            problems.append(f"{'to' if end else 'from'}: {text!r} is not a date (YYYY-MM-DD)")
        elif end:
            where.append(M.c.created_at < day + timedelta(days=1))
        else:
            where.append(M.c.created_at >= day)
    query = TextQuery.parse(f.q)
    if query.handles:
        authors = sa.select(A.c.id).where(sa.func.lower(A.c.handle).in_(query.handles))
        where.append(M.c.author_id.in_(authors))
    if query.words:
        if session.get_bind().dialect.name == "sqlite":
            match = sa.literal_column("mention_fts").op("MATCH")(query.fts5())
            where.append(M.c.id.in_(sa.select(FTS.c.rowid).where(match)))
        else:
            tsq = sa.func.to_tsquery(sa.literal_column("'simple'"), query.tsquery())
            where.append(PG_TSVECTOR.op("@@")(tsq))
    rows = list(session.execute(
        sa.select(M.c.id, M.c.platform, M.c.source, M.c.brand, M.c.competitor, M.c.text,
                  M.c.title, M.c.url, M.c.created_at, M.c.sentiment_label, M.c.categories,
                  M.c.engagement, M.c.urgency, A.c.handle, A.c.followers)
        .select_from(M.outerjoin(A, A.c.id == M.c.author_id))
        .where(*where).order_by(M.c.created_at.desc(), M.c.id.desc())
        .offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE, problems


@router.get("/mentions", response_class=HTMLResponse)
def mentions(request: Request, user: Principal = Depends(current_user)) -> Response:
    ctx = get_ctx(request)
    f = MentionFilters.from_params(request.query_params)
    rules = ctx.rules()
    with session_scope(ctx.engine) as session:
        rows, has_next, problems = mention_page(session, f)
        platforms = sorted(p for p in session.execute(
            sa.select(M.c.platform).distinct().limit(50)).scalars() if p)
    return ctx.renderer.page(request, "mentions.html", user, {
        "title": "Mentions", "f": f, "rows": rows, "has_next": has_next,
        "problems": problems, "brands": [(b.name, b.competitor) for b in rules.brands],
        "platforms": platforms, "sentiments": SENTIMENTS,
        "categories": [c.name for c in rules.categories],
    }, 422 if problems else 200)
