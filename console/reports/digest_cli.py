"""`socialear report send NAME`: send one `reports:` digest now (responders/digests.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.reports.cli import report_app


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
