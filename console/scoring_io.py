"""`socialear score`: records in (JSONL or CSV, file or stdin), scored JSONL out.

Each record needs only `text`; anything else it carries (platform, author, rating, lang)
is used if present and echoed back untouched. A record that cannot be scored is reported
on stderr with its line number and skipped; the others are still written.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from listener.analysis import Analyzer
from listener.sources.replay import RecordError, record_to_mention
from listener.types import storable_json
from socialear.config import RulesConfig
from socialear.errors import UserError


def _records(stream: Iterable[str], fmt: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, record, error) for every non-blank record."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise UserError("CSV input needs a header row with a `text` column")
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if k is not None}, None
        return
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, None, f"not valid JSON: {exc.msg} (column {exc.colno})"
            continue
        if not isinstance(rec, dict):
            yield n, None, "expected a JSON object"
            continue
        yield n, storable_json(rec), None  # half an emoji in any field would fail the output


def _detect(file: Path | None, fmt: str, head: str) -> str:
    if fmt in ("jsonl", "csv"):
        return fmt
    if fmt != "auto":
        raise UserError(f"--format must be auto, jsonl or csv, not {fmt!r}")
    if file is not None and file.suffix.lower() == ".csv":
        return "csv"
    return "jsonl" if head.lstrip().startswith("{") or not head.strip() else "csv"


def open_input(file: Path | None) -> IO[str]:
    if file is None:
        return sys.stdin
    try:
        return file.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise UserError(f"file not found: {file}") from None
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror}") from None


def score_record(analyzer: Analyzer, rec: dict[str, Any], line: int) -> dict[str, Any]:
    """The input record plus sentiment, urgency, categories, brands and route."""
    mention = record_to_mention(rec, source="score", line=line, require_id=False)
    match = analyzer.matcher.match(mention.text, mention.title)
    score = analyzer.scorer.score(mention)
    decision = analyzer.route(mention, match.primary, match.competitor, score, explain=True)
    out = dict(rec)
    out.update(score.to_dict())
    out["brands"] = list(match.brands)
    out["brand"] = match.primary
    out["route"] = decision.route
    out["escalate"] = decision.escalate
    out["route_trace"] = [
        {
            "route": t["route"],
            "matched": t["matched"],
            "failed": [c["condition"] for c in t["conditions"] if not c["ok"]],
        }
        for t in decision.trace
    ]
    return out


def score_stream(rules: RulesConfig, file: Path | None, fmt: str, out: IO[str], err: Console) -> int:
    """Score every record; return how many could not be scored."""
    analyzer = Analyzer(rules)
    stream = open_input(file)
    first = stream.readline()  # enough to tell JSONL from CSV, and it streams from stdin too
    lines = itertools.chain([first], stream)
    bad = 0
    for line, rec, error in _records(lines, _detect(file, fmt, first)):
        if rec is not None:
            try:
                out.write(json.dumps(score_record(analyzer, rec, line), ensure_ascii=False) + "\n")
                continue
            except RecordError as exc:
                error = str(exc)
        bad += 1
        err.print(f"line {line}: {error}", highlight=False, markup=False)
    return bad
