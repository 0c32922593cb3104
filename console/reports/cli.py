"""`socialear report ...`: competitor reports on the command line.

Formats: json (the report as `console.reports` documents it), csv (one row per brand
per interval, for spreadsheets), and html once `console.reports.html.render_html`
exists (the presentation side of issue 13): until then `--format html` is refused as an
unknown format, never answered with a placeholder.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from console.reports.period import ReportError

report_app = typer.Typer(no_args_is_help=True, help="Competitor reports.")


def formats() -> tuple[str, ...]:
    has_html = importlib.util.find_spec("console.reports.html") is not None
    return ("json", "csv", "html") if has_html else ("json", "csv")


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html" and "html" in formats():
        from console.reports.html import render_html  # type: ignore[import-not-found]

        return str(render_html(report))
    raise ReportError(f"--format must be one of {', '.join(formats())}, not {fmt!r}")


CSV_COLUMNS = ("brand", "competitor", "interval", "start", "mentions", "engagement", "positive", "neutral",
               "negative", "net_sentiment")


def to_csv(report: dict[str, Any]) -> str:
    from console.reports.engine import series_rows

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in series_rows(report):
        writer.writerow({**row, "net_sentiment": "" if row["net_sentiment"] is None else row["net_sentiment"]})
    return buf.getvalue()


@report_app.command("competitors")
def competitors(
    since: Annotated[str | None, typer.Option(help="the last DURATION, e.g. 30d (default 30d)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD (or ISO 8601)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last day, included (default: now)")] = None,
    brands: Annotated[str | None, typer.Option(help="comma-separated brand names (default: all in rules)")] = None,
    interval: Annotated[str | None, typer.Option(help="hour | day | week (default: from the span)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | csv | html")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file (default stdout)")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", "-r", help="rules file")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="database URL")] = None,
) -> None:
    """Share of voice, sentiment, complaint drivers, spikes, top posts and care, per brand."""
    from console.cli import _engine, _rules_path, err
    from console.reports import build_competitor_report, resolve_period
    from socialear.config import load_rules

    if fmt not in formats():
        raise ReportError(f"--format must be one of {', '.join(formats())}, not {fmt!r}")
    start, end = resolve_period(since if (since or from_ or to) else "30d", from_, to)
    names = [b for b in (brands or "").split(",") if b.strip()] or None
    cfg = load_rules(_rules_path(rules))
    report = build_competitor_report(_engine(database_url), cfg, start=start, end=end, brands=names,
                                     interval=interval)
    text = render(report, fmt)
    if out:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote the {fmt} report ({report['period']['from']} to {report['period']['to']}) to {out}",
                  highlight=False, markup=False)
    else:
        typer.echo(text, nl=False)
