"""`render_html(report) -> str`: the competitor report as one self-contained HTML file.

What "self-contained" buys: the file is forwarded by email, opened offline and printed to
PDF, so it fetches nothing (no script at all, no web font, no stylesheet link); the charts
are inline SVG (`reports.charts`) and the styles one `<style>` block, with print
rules that keep cards and tables whole on a page.

Every string from a mention (text, author, url) is escaped by Jinja2's autoescape; links
are kept only for http(s) urls, so a hostile post stays visible text and never markup.

The console's Reports page shows the same body (`render_body`) inside its own layout, so
the two cannot drift apart. Input is the JSON-shaped dict of
`reports.engine.build_competitor_report`; optional sections (care, top posts,
terms) are shown when present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reports import charts

HERE = Path(__file__).resolve().parent
CSS_PATH = HERE / "report.css"
_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)


def safe_url(value: Any) -> str | None:
    """Only http(s) links are rendered; `javascript:` and friends are dropped."""
    return value if isinstance(value, str) and _SAFE_URL.match(value) else None


def pct(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def signed(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.{digits}f}"


def when(value: Any, fmt: str = "%d %b %Y %H:%M") -> str:
    t = charts.parse_time(value)
    return t.strftime(fmt) if t else ("—" if value in (None, "") else str(value))


def author_of(item: Mapping[str, Any]) -> str:
    author = item.get("author")
    if isinstance(author, Mapping):
        author = author.get("handle") or author.get("name")
    return str(author or "unknown")


def term_of(item: Any) -> tuple[str, float | None]:
    """(term, score) whatever shape the engine used: "word", ["word", z] or {term, z}."""
    if isinstance(item, Mapping):
        score = next((item[k] for k in ("z", "score", "zeta", "weight") if k in item), None)
        return str(item.get("term") or item.get("phrase") or item.get("word") or ""), score
    if isinstance(item, list | tuple) and item:
        return str(item[0]), item[1] if len(item) > 1 else None
    return str(item), None


def driver_of(item: Any) -> dict[str, Any]:
    """A complaint driver as {category, count, share, previous, change}."""
    if isinstance(item, Mapping):
        return {"category": item.get("category") or item.get("name") or "?",
                "count": item.get("count", item.get("mentions")),
                "share": item.get("share"), "previous": item.get("previous",
                                                                 item.get("previous_count")),
                "change": item.get("change", item.get("delta"))}
    if isinstance(item, list | tuple) and item:
        return {"category": item[0], "count": item[1] if len(item) > 1 else None,
                "share": None, "previous": None, "change": None}
    return {"category": str(item), "count": None, "share": None, "previous": None,
            "change": None}


def ratio(spike: Mapping[str, Any]) -> str:
    base = float(spike.get("baseline") or 0)
    n = float(spike.get("mentions") or 0)
    return f"{n / base:.1f}×" if base >= 0.05 else "from almost none"


def spike_groups(spikes: Any) -> list[dict[str, Any]]:
    """Spikes of one brand over overlapping hours, as one card: a volume spike and the
    negative spike inside it are one event, told once (the volume one's examples)."""
    groups: list[dict[str, Any]] = []
    for s in spikes or []:
        start, end = charts.parse_time(s.get("start")), charts.parse_time(s.get("end"))
        for g in groups:
            if (g["brand"] == s.get("brand") and start is not None and end is not None
                    and start < g["end"] and g["start"] < end):
                g["kinds"].append(s)
                g["start"], g["end"] = min(g["start"], start), max(g["end"], end)
                if s.get("kind") == "volume":
                    g["main"] = s
                break
        else:
            if start is not None and end is not None:
                groups.append({"brand": s.get("brand"), "start": start, "end": end,
                               "kinds": [s], "main": s})
    for g in groups:
        g["kinds"].sort(key=lambda s: s.get("kind") != "volume")
        g["negative"] = all(s.get("kind") == "negative" for s in g["kinds"])
    return groups


def spikes_of(report: Mapping[str, Any], brand: str) -> list[Mapping[str, Any]]:
    return [s for s in report.get("spikes") or [] if s.get("brand") == brand]


def platform_map(brand: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A brand's per-platform figures keyed by platform (the engine gives a list)."""
    raw = brand.get("platforms") or []
    if isinstance(raw, Mapping):
        return {str(k): v for k, v in raw.items() if isinstance(v, Mapping)}
    return {str(p.get("platform")): p for p in raw if isinstance(p, Mapping)}


def platform_names(brands: Any) -> list[str]:
    out: list[str] = []
    for b in brands or []:
        out += [p for p in platform_map(b) if p not in out]
    return sorted(out)


def columns(rows: Any) -> list[str]:
    """Column names of a list of dicts, in first-seen order (for generic tables)."""
    out: list[str] = []
    for row in rows or []:
        if isinstance(row, Mapping):
            out += [k for k in row if k not in out]
    return out


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # mention text, authors, brand names: always escaped
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,  # an optional section absent is just not shown
    )
    env.filters.update(pct=pct, signed=signed, when=when, safe_url=safe_url, cell=cell,
                       duration=duration)
    env.globals.update(
        charts=charts, author_of=author_of, term_of=term_of, driver_of=driver_of,
        ratio=ratio, spikes_of=spikes_of, spike_groups=spike_groups, columns=columns, platform_map=platform_map,
        platform_names=platform_names,
        share_of_voice_svg=charts.share_of_voice_svg,
        sentiment_series_svg=charts.sentiment_series_svg,
        net_sentiment_bar=charts.net_sentiment_bar,
    )
    return env


def render_body(report: Mapping[str, Any]) -> Markup:
    """The report's content without page chrome: what the console's Reports page embeds."""
    return Markup(environment().get_template("report_body.html").render(r=report))


def render_html(report: Mapping[str, Any], *, title: str | None = None) -> str:
    """The whole report as one HTML document (inline CSS and SVG, no script, no fetches)."""
    period = report.get("period") or {}
    own = next((b["name"] for b in report.get("brands") or [] if not b.get("competitor")),
               None)
    title = title or (f"Competitor report{f': {own}' if own else ''}, "
                      f"{when(period.get('from'), '%d %b')} – {when(period.get('to'), '%d %b %Y')}")
    return environment().get_template("report.html").render(
        r=report, title=title, css=Markup(CSS_PATH.read_text(encoding="utf-8")),
        body=render_body(report))
