"""`socialear import FILE`: backfill a JSONL/CSV export through the whole pipeline.

The file is read by the same ReplaySource the sample feed uses, so an import validates,
quarantines and dedupes exactly like live collection; each batch commits with its cursor,
so an interrupted import resumes where it stopped when run again.

Why the cursor is per file, not per source: every import under one `--source` name shares
that source's cursor row, and a byte offset means nothing in another file. Keyed by source
alone, `import b.jsonl` after `import a.jsonl` started at a.jsonl's offset inside b.jsonl
and silently skipped b's first records. So the source's cursor holds one position per
file *identity* (the size and SHA-256 of its content, `file_identity`): a different file
starts at its beginning, the same file (even renamed or moved) resumes, and a file whose
content changed is a new file whose records already stored count as duplicates of
earlier imports. The map is JSON in the ordinary cursor column, so it still moves in the
batch's one transaction, by the pipeline's compare-and-set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from listener.pipeline import BatchResult, Pipeline
from listener.prescoring import Prescorer
from listener.sources.replay import ReplaySource
from listener.types import Batch
from responders.publish import PipelineResponders
from socialear.config import RulesConfig
from storage.engine import Engine
from storage.sources import get_cursor

_CURSOR_KIND = "import-files/1"


def file_identity(path: Path) -> str:
    """`<size>-<sha256 of the content, 32 hex>`: the same bytes give the same identity
    wherever the file lives, and any change of content gives a new one."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return f"{size}-{digest.hexdigest()[:32]}"


@dataclass(slots=True)
class ImportReport:
    """An import's counters plus what the summary line says about earlier imports."""

    totals: BatchResult
    resumed_at_line: int | None = None  # an interrupted import of this same file went on from here
    already_done: bool = False  # this exact file was imported completely before


def _stored_cursor(engine: Engine, source: str) -> str | None:
    with engine.connect() as conn:
        return get_cursor(conn, source)


def _files(cursor: str | None) -> dict[str, Any]:
    """The per-file positions in a source's cursor; anything else (no cursor, or a
    pre-per-file byte offset whose file is unknown) means no file is known yet."""
    if not cursor or not cursor.startswith("{"):
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("kind") != _CURSOR_KIND:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _encode(files: dict[str, Any]) -> str:
    return json.dumps({"kind": _CURSOR_KIND, "files": files}, sort_keys=True, separators=(",", ":"))


def _line_of(replay_cursor: str | None) -> int:
    # the replay cursor is "<offset>:<lines>", or "<offset>:<lines>@<shift seconds>"
    parts = (replay_cursor or "").split("@", 1)[0].split(":")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


LOOKAHEAD_BYTES = 1 << 20  # a file this big pays for starting the prescoring worker


def _batches(replay: ReplaySource, position: str | None) -> Iterator[Batch]:
    """The file's batches in order, from `position` (read ahead of what is stored)."""
    while True:
        batch = replay.fetch(position)
        yield batch
        if batch.exhausted:
            return
        position = batch.next_cursor


def backfill(
    engine: Engine, rules: RulesConfig, path: Path, source: str, batch_size: int, err: Console,
    *, shift_to_now: bool = False, lookahead: bool | None = None, started: Callable[[], None] | None = None,
) -> ImportReport:
    """Import `path` batch by batch, each batch one transaction with its cursor.

    `lookahead` (default: for files over LOOKAHEAD_BYTES): the next batch's history-free
    analysis runs in a worker process while the current batch is stored
    (listener.prescoring); the stored rows are the same either way. `started` is called
    once the pipeline is built, before the first batch (the CLI settles its heap then)."""
    replay = ReplaySource(source, path, batch_size=batch_size, require_id=False,
                          shift_to_now=shift_to_now)
    responders = PipelineResponders()
    pipeline = Pipeline(engine, lambda: rules, responders=responders)
    identity = file_identity(path)
    report = ImportReport(BatchResult())
    known = _files(_stored_cursor(engine, source)).get(identity)
    if isinstance(known, dict):
        if known.get("done"):
            report.already_done = True
            return report
        report.resumed_at_line = _line_of(known.get("at"))
    size = path.stat().st_size
    with Progress(
        TextColumn("[bold]import[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("bytes"),
        TimeRemainingColumn(), console=err, transient=False,
    ) as progress, Prescorer(rules, responders.render_reply) as prescorer:
        if not (size >= LOOKAHEAD_BYTES if lookahead is None else lookahead):
            prescorer.close()  # analysed in process, batch by batch
        task = progress.add_task("import", total=size)
        if started is not None:
            _ = pipeline.analyzer
            started()
        position = known.get("at") if isinstance(known, dict) else None
        for batch, prepared in prescorer.ahead(source, _batches(replay, position)):
            stored = _stored_cursor(engine, source)
            files = _files(stored)
            files[identity] = {"at": batch.next_cursor, "name": path.name, "done": batch.exhausted}
            res = pipeline.process(source, dataclasses.replace(batch, next_cursor=_encode(files)), stored, prepared)
            report.totals.merge(res)
            progress.update(task, completed=min(size, replay.offset_of(files[identity]["at"])))
    return report


def summary(path: Path, report: ImportReport) -> str:
    """The one line `socialear import` prints: counts, and what earlier imports explain."""
    if report.already_done:
        return f"{path.name} was imported before (same content): nothing new, 0 records read"
    totals = report.totals
    line = (
        f"imported {totals.fetched} records: stored {totals.stored}, escalated {totals.escalated}, "
        f"duplicates {totals.stats.get('dropped/duplicate', 0)} "
        f"({totals.already_stored} of them stored by earlier imports), "
        f"no brand {totals.stats.get('dropped/no_brand', 0)}, quarantined {totals.quarantined}"
    )
    if report.resumed_at_line:
        line += f"; resumed after line {report.resumed_at_line} of an interrupted import of this file"
    return line
