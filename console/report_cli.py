"""`socialear report ...`: competitor reports on the command line (`competitors`) and a
scheduled digest sent now (`send`). The report itself is built and rendered by the
`reports` package; this module only reads options and writes the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(no_args_is_help=True, help="Competitor reports.")


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
    from reports import build_competitor_report, resolve_period
    from reports.formats import check_format, render
    from socialear.config import load_rules

    check_format(fmt)
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


@report_app.command("send")
def send(
    name: Annotated[str, typer.Argument(help="a digest's name under `reports:` in rules.yaml")],
    rules: Annotated[Path | None, typer.Option("--rules", "-r", help="rules file")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="database URL")] = None,
) -> None:
    """Build a scheduled report now and send it to its recipients (email: the HTML report;
    chat: a summary with a link). A failure prints one line and exits non-zero."""
    from console.cli import _engine, _rules_path, out
    from listener.collector import default_instance_id
    from responders.digests import DigestRunner
    from socialear.config import load_rules

    cfg = load_rules(_rules_path(rules))
    runner = DigestRunner(_engine(database_url), lambda: cfg, default_instance_id())
    n = runner.send_now(name)
    out.print(f"sent report {name!r} to {n} recipient(s)", highlight=False, markup=False)
