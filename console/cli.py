"""The `socialear` command line (typer).

Every user mistake (missing file, bad rules, bad database URL) becomes one clear line on
stderr and a non-zero exit, never a traceback: `main()` catches `UserError` at the top.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from socialear.errors import ConfigError, UserError

if TYPE_CHECKING:  # imported lazily below: `socialear --help` stays fast
    from datetime import datetime

    from listener.collector import Collector
    from storage.engine import Engine

app = typer.Typer(no_args_is_help=True, add_completion=False, help="socialear: social listening for customer care.")
rules_app = typer.Typer(no_args_is_help=True, help="Check, describe and replay rules.yaml.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
outbox_app = typer.Typer(invoke_without_command=True, help="Deliveries waiting, failed or dead.")
app.add_typer(rules_app, name="rules")
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
customers_app = typer.Typer(no_args_is_help=True, help="The customer directory.")
app.add_typer(customers_app, name="customers")

err = Console(stderr=True, soft_wrap=True)
out = Console()

RulesOpt = Annotated[
    Path | None, typer.Option("--rules", "-r", help="rules file (default $SOCIALEAR_RULES or ./rules.yaml)")
]
DbOpt = Annotated[
    str | None, typer.Option("--database-url", help="default $SOCIALEAR_DATABASE_URL or sqlite:///./data/socialear.db")
]
_opened: list[Any] = []  # the engines the running command opened (`_engine`), disposed of as it ends


@app.callback()
def _command(ctx: typer.Context) -> None:
    ctx.call_on_close(_dispose_engines)


def _dispose_engines() -> None:
    while _opened:
        _opened.pop().dispose()


def _rules_path(path: Path | None) -> Path:
    from socialear.settings import get_settings

    return path or Path(get_settings().rules)


def _engine(url: str | None, upgrade: bool = True) -> Engine:
    """The command's engine, disposed of when the command ends: a command run in-process
    (tests, `socialear` called from Python) must not leave pooled connections for the
    garbage collector to close."""
    from storage.engine import make_engine
    from storage.migrate import upgrade as do_upgrade

    engine = make_engine(url)
    _opened.append(engine)
    if upgrade:
        do_upgrade(engine)
    return engine


def _since(text: str | None) -> datetime | None:

    from socialear.config import parse_duration
    from storage.types import utcnow

    if not text:
        return None
    try:
        return utcnow() - parse_duration(text)
    except ValueError as exc:
        raise UserError(f"--since: {exc}") from None


# ---------------------------------------------------------------------------- run / collect
@app.command()
def run(
    rules: RulesOpt = None,
    database_url: DbOpt = None,
    host: Annotated[str | None, typer.Option(help="console bind address")] = None,
    port: Annotated[int | None, typer.Option(help="console port")] = None,
    no_console: Annotated[bool, typer.Option("--no-console", help="run without the web console")] = False,
) -> None:
    """Run the service: scheduler, outbox worker and web console, until Ctrl-C."""
    from console.service import Service

    Service(_rules_path(rules), database_url, host=host, port=port, console=not no_console).run_forever()
    # Everything is committed and the engine closed ("stopped cleanly"). Skip the
    # interpreter's teardown: freeing the language models took 1-12 s on a busy host,
    # past docker's 10 s stop grace period, and a second Ctrl-C then killed it mid-exit.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def collect(
    once: Annotated[bool, typer.Option("--once", help="poll once and exit")] = True,
    source: Annotated[str | None, typer.Option("--source", "-s", help="only this source")] = None,
    rules: RulesOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Poll sources once, store what they return, and report per source."""
    from listener.collector import Collector
    from responders.publish import PipelineResponders
    from socialear.config import load_rules

    cfg = load_rules(_rules_path(rules))
    if source and cfg.source(source) is None:
        raise UserError(f"no source named {source!r} in the rules (have: {', '.join(s.name for s in cfg.sources)})")
    collector = Collector(_engine(database_url), lambda: cfg, responders=PipelineResponders())
    names = [source] if source else [s.name for s in collector.enabled_sources()]
    failed = False
    for name in names:
        if name in collector.not_configured or (source and _not_configured(collector, name)):
            err.print(f"{name}: not configured: {collector.not_configured[name]}")
            failed = True
            continue
        o = collector.poll(name, ignore_pause=True)
        r = o.result
        if o.ok:
            out.print(
                f"{name}: fetched {r.fetched}, stored {r.stored}, escalated {r.escalated}, quarantined {r.quarantined}"
                + (f" ({o.skipped})" if o.skipped else "")
            )
        else:
            err.print(f"{name}: error: {o.error}")
            failed = True
    raise typer.Exit(1 if failed else 0)


def _not_configured(collector: Collector, name: str) -> bool:
    from socialear.errors import NotConfigured

    try:
        collector.source(name)
    except NotConfigured as exc:
        collector.not_configured[name] = str(exc)
        return True
    return False


# ---------------------------------------------------------------------------- score
@app.command()
def score(
    file: Annotated[Path | None, typer.Argument(help="JSONL or CSV (with a `text` column); default stdin")] = None,
    rules: RulesOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="auto | jsonl | csv")] = "auto",
) -> None:
    """Score records (each needs only `text`) and write JSONL with sentiment, urgency, route."""
    from console.scoring_io import score_stream
    from socialear.config import load_rules

    cfg = load_rules(_rules_path(rules))
    bad = score_stream(cfg, file, fmt, sys.stdout, err)
    raise typer.Exit(1 if bad else 0)


# ---------------------------------------------------------------------------- rules
@rules_app.command("check")
def rules_check(path: Annotated[Path | None, typer.Argument(help="rules file")] = None) -> None:
    """Validate a rules file; print every problem as PATH:LINE:COL: message."""
    from socialear.config import load_rules

    p = _rules_path(path)
    try:
        cfg = load_rules(p)
    except ConfigError as exc:
        for line in exc.errors:
            print(line)
        err.print(f"{p}: {len(exc.errors)} problem(s)")
        raise typer.Exit(1) from None
    print(
        f"{p}: OK ({len(cfg.brands)} brands, {len(cfg.sources)} sources, {len(cfg.routes)} routes, {len(cfg.sinks)} sinks)"
    )


@rules_app.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of rules.yaml (for editors)."""
    from socialear.config import RulesConfig

    print(json.dumps(RulesConfig.model_json_schema(by_alias=True), indent=2))


@rules_app.command("replay")
def rules_replay(
    since: Annotated[str, typer.Option(help="how far back, e.g. 7d")] = "7d",
    new_rules: Annotated[Path | None, typer.Option("--rules", help="proposed rules file (default: current)")] = None,
    current: Annotated[Path | None, typer.Option("--current", help="rules in force (default $SOCIALEAR_RULES)")] = None,
    database_url: DbOpt = None,
    examples: Annotated[int, typer.Option(help="examples per change")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Re-score and re-route stored mentions; print what would change."""
    from console.replay import render_replay, replay_report
    from socialear.config import load_rules

    cur = load_rules(_rules_path(current))
    proposed = load_rules(new_rules) if new_rules else cur
    report = replay_report(_engine(database_url), cur, proposed, _since(since), examples)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        render_replay(report, out)


# ---------------------------------------------------------------------------- import / export
@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV of mentions to backfill")],
    source: Annotated[str, typer.Option(help="source name to file them under")] = "import",
    rules: RulesOpt = None,
    database_url: DbOpt = None,
    batch_size: Annotated[int, typer.Option(help="records per transaction")] = 500,
    shift_to_now: Annotated[bool, typer.Option(
        "--shift-to-now", help="date the newest record now, keeping the gaps (for demos)")] = False,
) -> None:
    """Backfill mentions from a file through the whole pipeline, with a progress bar."""
    from console.backfill import backfill, summary
    from socialear import heap
    from socialear.config import load_rules

    if not file.exists():
        raise UserError(f"file not found: {file}")
    cfg = load_rules(_rules_path(rules))
    if cfg.source(source) is not None:  # its cursor is the live source's, not per file
        raise UserError(f"--source {source}: a source in the rules has that name; import under another name")
    report = backfill(_engine(database_url), cfg, file, source, batch_size, err,
                      shift_to_now=shift_to_now, started=heap.settle)
    out.print(summary(file, report), soft_wrap=True)


@app.command()
def export(
    what: Annotated[str, typer.Argument(help="mentions | escalations | cases")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="e.g. 7d")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default stdout)")] = None,
    database_url: DbOpt = None,
) -> None:
    """Export stored mentions, escalations or cases as JSONL or CSV."""
    from console.export import export_rows

    if what not in ("mentions", "escalations", "cases"):
        raise UserError(f"can export mentions, escalations or cases, not {what!r}")
    if fmt not in ("jsonl", "csv"):
        raise UserError(f"--format must be jsonl or csv, not {fmt!r}")
    engine = _engine(database_url)
    if output:
        with output.open("w", encoding="utf-8", newline="") as fh:
            n = export_rows(engine, what, fmt, _since(since), fh)
        err.print(f"wrote {n} {what} to {output}")
    else:
        export_rows(engine, what, fmt, _since(since), sys.stdout)


# ---------------------------------------------------------------------------- customers
@customers_app.command("import")
def customers_import(
    file: Annotated[Path, typer.Argument(help="CSV: customer_id, platform, handle[, segment, account_number, ltv_band]")],
    database_url: DbOpt = None,
) -> None:
    """Link social identities to customers (one identity per row; a customer may have many)."""
    from console.customers_io import import_csv

    if not file.exists():
        raise UserError(f"file not found: {file}")
    result = import_csv(_engine(database_url), file)
    typer.echo(f"customers {result['customers']}, identities linked {result['linked']}, "
               f"rows refused {len(result['errors'])}")
    for line in result["errors"][:50]:
        err.print(line)
    if result["errors"]:
        raise typer.Exit(1)


@customers_app.command("erase")
def customers_erase(customer_id: str, database_url: DbOpt = None) -> None:
    """Remove a customer's entry and the content of their posts (an audit row remains)."""
    from storage import customers
    from storage.engine import session_scope

    with session_scope(_engine(database_url)) as session:
        try:
            counts = customers.erase(session, "cli", customer_id)
        except KeyError:
            raise UserError(f"no customer {customer_id!r}") from None
    typer.echo(f"erased customer {customer_id}: {counts['identities']} identities, "
               f"{counts['posts']} posts purged")


# ---------------------------------------------------------------------------- db / sources / outbox
@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None, revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    from storage.engine import mask_url
    from storage.migrate import upgrade

    engine = _engine(database_url, upgrade=False)
    rev = upgrade(engine, revision)
    out.print(f"{mask_url(engine.url)}: at revision {rev}")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="where to write the copy")],
    database_url: DbOpt = None,
) -> None:
    """Copy a live SQLite database (online backup API) to FILE; for PostgreSQL, use pg_dump."""
    from storage.backup import backup

    pages = backup(_engine(database_url, upgrade=False), file)
    out.print(f"backed up {pages} pages to {file}")


@app.command()
def sources(rules: RulesOpt = None, database_url: DbOpt = None) -> None:
    """Health of every source: last success, last error, next run, rate limit, budget."""
    from console.health import source_rows
    from socialear.config import load_rules

    cfg = load_rules(_rules_path(rules))
    table = Table(
        "source", "type", "status", "last success", "last error", "next run", "fetched", "rate limit", "budget"
    )
    for row in source_rows(_engine(database_url), cfg):
        table.add_row(
            *(
                str(row[k]) if row[k] is not None else "–"
                for k in (
                    "name",
                    "type",
                    "status",
                    "last_success",
                    "last_error",
                    "next_run",
                    "fetched",
                    "rate_limit",
                    "budget",
                )
            )
        )
    out.print(table)


@outbox_app.callback()
def outbox(
    ctx: typer.Context,
    database_url: DbOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include sent")] = False,
) -> None:
    """List pending, retrying and dead deliveries."""
    if ctx.invoked_subcommand:
        return
    from console.health import breaker_rows, outbox_rows

    engine = _engine(database_url)
    breakers = breaker_rows(engine)
    if breakers:  # sinks down (or failing) are waited out, not dead-lettered: say so first
        sinks = Table("sink", "breaker", "failures", "down since", "next probe", "last error", title="sinks")
        for b in breakers:
            sinks.add_row(*(str(b[k]) if b[k] is not None else "–"
                            for k in ("sink", "state", "failures", "down_since", "next_probe", "last_error")))
        out.print(sinks)
    table = Table("id", "escalation", "sink", "kind", "state", "attempts", "next attempt", "last error")
    for r in outbox_rows(engine, include_sent=all_):
        table.add_row(
            *(
                str(r[k]) if r[k] is not None else "–"
                for k in ("id", "escalation_id", "sink", "kind", "state", "attempts", "next_attempt_at", "last_error")
            )
        )
    out.print(table)


@outbox_app.command("retry")
def outbox_retry(
    item_id: Annotated[int | None, typer.Argument(help="outbox id")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="re-queue every dead item")] = False,
    database_url: DbOpt = None,
) -> None:
    """Re-queue a dead (or retrying) delivery now."""
    from console.health import requeue

    if item_id is None and not all_dead:
        raise UserError("give an outbox ID or --all-dead")
    n = requeue(_engine(database_url), item_id, all_dead)
    out.print(f"re-queued {n} item(s)")


def _register_optional() -> None:
    """Command groups owned by other modules (users) attach themselves if present."""
    try:
        from console.users_cli import users_app
    except ImportError:
        return
    app.add_typer(users_app, name="users")


_register_optional()


def _register_reports() -> None:
    """`socialear report ...` (console/report_cli.py)."""
    from console.report_cli import report_app

    app.add_typer(report_app, name="report")


_register_reports()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ConfigError as exc:
        for line in exc.errors:
            err.print(line, highlight=False, markup=False)
        sys.exit(1)
    except UserError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
