"""`socialear import` keys its position by file identity (finding 1 of issue 14).

Keyed by source name alone, importing b.jsonl after a.jsonl resumed at a.jsonl's byte
offset inside b.jsonl and silently skipped b's first records.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from console.backfill import backfill, file_identity, summary
from listener.pipeline import Pipeline
from socialear.config import RulesConfig
from storage import models as t
from storage.dialect import table

ROOT = Path(__file__).resolve().parents[2]
QUIET = Console(file=io.StringIO())  # the progress bar writes nowhere (an open devnull leaked a file)


def write_feed(path: Path, prefix: str, n: int, start: int = 1, pad: str = "") -> Path:
    lines = [
        json.dumps(
            {
                "id": f"{prefix}{i}",
                "platform": "x",
                "text": f"@NimbusMobile no signal in town {i} since Monday{pad}",
                "created_at": "2026-11-20T08:00:00Z",
                "author": {"handle": f"user_{prefix}{i}"},
            }
        )
        for i in range(start, start + n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_ids(engine: Engine, source: str = "import") -> set[str]:
    mt = table(t.Mention)
    with engine.connect() as conn:
        return set(conn.execute(sa.select(mt.c.external_id).where(mt.c.source == source)).scalars())


def test_a_different_file_starts_at_its_beginning(engine: Engine, rules: RulesConfig, tmp_path: Path) -> None:
    a = write_feed(tmp_path / "a.jsonl", "a", 8, pad=" and still nothing at all")  # longer lines than b
    b = write_feed(tmp_path / "b.jsonl", "b", 5)
    first = backfill(engine, rules, a, "import", 3, QUIET)
    assert first.totals.stored == 8
    second = backfill(engine, rules, b, "import", 3, QUIET)
    assert second.totals.fetched == 5 and second.totals.stored == 5
    assert stored_ids(engine) == {f"a{i}" for i in range(1, 9)} | {f"b{i}" for i in range(1, 6)}
    assert second.resumed_at_line is None and not second.already_done


def test_the_same_file_resumes_after_an_interruption(
    engine: Engine, rules: RulesConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write_feed(tmp_path / "a.jsonl", "a", 7)
    real = Pipeline.process
    calls = {"n": 0}

    def crash_on_second_batch(self: Pipeline, *args: object, **kw: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C between the first and second commit
        return real(self, *args, **kw)

    monkeypatch.setattr(Pipeline, "process", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        backfill(engine, rules, a, "import", 3, QUIET)
    monkeypatch.setattr(Pipeline, "process", real)
    assert stored_ids(engine) == {"a1", "a2", "a3"}

    moved = tmp_path / "renamed.jsonl"
    a.rename(moved)  # identity is the content, not the name
    report = backfill(engine, rules, moved, "import", 3, QUIET)
    assert report.resumed_at_line == 3
    assert report.totals.fetched == 4 and report.totals.stored == 4 and report.totals.already_stored == 0
    assert stored_ids(engine) == {f"a{i}" for i in range(1, 8)}
    assert "resumed after line 3" in summary(moved, report)

    again = backfill(engine, rules, moved, "import", 3, QUIET)
    assert again.already_done and again.totals.fetched == 0
    assert "imported before" in summary(moved, again)


def test_a_changed_file_reports_duplicates_of_earlier_imports(
    engine: Engine, rules: RulesConfig, tmp_path: Path
) -> None:
    a = write_feed(tmp_path / "a.jsonl", "a", 5)
    backfill(engine, rules, a, "import", 2, QUIET)
    identity = file_identity(a)
    with a.open("a") as fh:  # the export grew: three more records appended
        fh.write(write_feed(tmp_path / "more.jsonl", "a", 3, start=6).read_text())
    assert file_identity(a) != identity
    report = backfill(engine, rules, a, "import", 2, QUIET)
    assert report.totals.fetched == 8 and report.totals.stored == 3
    assert report.totals.already_stored == 5
    assert "duplicates 5 (5 of them stored by earlier imports)" in summary(a, report)


def test_cli_second_import_of_a_smaller_file_imports_it(tmp_path: Path, rules_file: Path) -> None:
    env = {**os.environ, "SOCIALEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    a = write_feed(tmp_path / "a.jsonl", "a", 6, pad=" and the whole street is out too")
    b = write_feed(tmp_path / "b.jsonl", "b", 2)

    def run(path: Path) -> str:
        res = subprocess.run(
            [sys.executable, "-m", "console.cli", "import", str(path), "--rules", str(rules_file)],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "stored 6" in run(a)
    out = run(b)
    assert "imported 2 records: stored 2" in out and "(0 of them stored by earlier imports)" in out
    assert "imported before" in run(b)


def test_cli_refuses_to_import_under_a_live_sources_name(tmp_path: Path, rules_file: Path) -> None:
    env = {**os.environ, "SOCIALEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    a = write_feed(tmp_path / "a.jsonl", "a", 2)
    res = subprocess.run(
        [sys.executable, "-m", "console.cli", "import", str(a), "--source", "feed", "--rules", str(rules_file)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert res.returncode == 1 and "a source in the rules has that name" in res.stderr
    assert "Traceback" not in res.stderr
