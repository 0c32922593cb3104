"""`GET /api/v1/reports/competitors`: the competitor report as JSON (reports/).

The same query as `socialear report competitors`: `since` (e.g. 30d, the default) or
`from`/`to` (YYYY-MM-DD or ISO 8601), `brands` (comma-separated), `interval`. Any signed-in
user may read it (viewer and up). A bad date, an unknown brand or interval is a 422; a
period without mentions of the brands a 404, with the reason in `detail`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from console.web.auth import Principal
from console.web.deps import api_user, get_ctx
from reports import EmptyPeriod, ReportError, build_competitor_report, resolve_period

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/competitors")
def competitors(
    request: Request,
    since: str | None = Query(None, description="the last DURATION, e.g. 30d (default 30d)"),
    from_: str | None = Query(None, alias="from", description="first day, YYYY-MM-DD or ISO 8601"),
    to: str | None = Query(None, description="last day, included (default now)"),
    brands: str | None = Query(None, description="comma-separated brand names (default all)"),
    interval: str | None = Query(None, description="hour | day | week (default from the span)"),
    user: Principal = Depends(api_user),
) -> Any:
    """Share of voice, sentiment, drivers, terms, series, spikes, top posts, care."""
    ctx = get_ctx(request)
    try:
        start, end = resolve_period(since if (since or from_ or to) else "30d", from_, to)
        names = [b for b in (brands or "").split(",") if b.strip()] or None
        return build_competitor_report(ctx.engine, ctx.rules(), start=start, end=end, brands=names,
                                       interval=interval)
    except EmptyPeriod as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    except ReportError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
