"""`socialear export`: stored mentions, escalations or cases as JSONL or CSV, streamed.

Rows come streamed from `storage.export.records` (a server-side cursor read in chunks),
so exporting a million mentions does not hold them in memory. CSV flattens JSON columns
to JSON text.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import IO, Any

from storage.engine import Engine
from storage.export import records


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):  # str enums
        return value.value
    return value


def export_rows(engine: Engine, what: str, fmt: str, since: datetime | None, out: IO[str]) -> int:
    n = 0
    writer = None
    for row in records(engine, what, since):
        rec = {k: _plain(v) for k, v in row.items()}
        if fmt == "jsonl":
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(rec))
                writer.writeheader()
            writer.writerow(
                {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in rec.items()}
            )
        n += 1
    return n
