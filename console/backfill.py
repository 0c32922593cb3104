"""`socialear import FILE`: backfill a JSONL/CSV export through the whole pipeline.

The file is read by the same ReplaySource the sample feed uses, so an import validates,
quarantines and dedupes exactly like live collection; each batch commits with its cursor,
so an interrupted import resumes where it stopped when run again.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.engine import Engine

from listener.pipeline import BatchResult, Pipeline
from listener.sources.replay import ReplaySource
from socialear.config import RulesConfig
from storage import models as t
from storage.dialect import table


def _stored_cursor(engine: Engine, source: str) -> str | None:
    with engine.connect() as conn:
        st = table(t.SourceState)
        return conn.execute(st.select().with_only_columns(st.c.cursor).where(st.c.source == source)).scalar()


def backfill(
    engine: Engine, rules: RulesConfig, path: Path, source: str, batch_size: int, err: Console,
    *, shift_to_now: bool = False,
) -> BatchResult:
    replay = ReplaySource(source, path, batch_size=batch_size, require_id=False,
                          shift_to_now=shift_to_now)
    pipeline = Pipeline(engine, lambda: rules)
    totals = BatchResult()
    size = path.stat().st_size
    with Progress(
        TextColumn("[bold]import[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("bytes"),
        TimeRemainingColumn(), console=err, transient=False,
    ) as progress:
        task = progress.add_task("import", total=size)
        while True:
            cursor = _stored_cursor(engine, source)
            batch = replay.fetch(cursor)
            res = pipeline.process(source, batch, cursor)
            totals.merge(res)
            progress.update(task, completed=min(size, replay.offset_of(batch.next_cursor)))
            if batch.exhausted:
                break
    return totals
