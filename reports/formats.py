"""The report as a file: json (the shape documented in `reports/__init__.py`), csv (one
row per brand per interval, for spreadsheets) or html (`reports.html`, self-contained).

One place that knows the formats, so the CLI, and anything else that writes a report
file, refuse the same unknown format with the same message.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reports.engine import series_rows
from reports.period import ReportError

FORMATS = ("json", "csv", "html")

CSV_COLUMNS = ("brand", "competitor", "interval", "start", "mentions", "engagement", "positive", "neutral",
               "negative", "net_sentiment")


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ReportError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def render(report: dict[str, Any], fmt: str) -> str:
    check_format(fmt)
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(report)
    from reports.html import render_html

    return render_html(report)


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in series_rows(report):
        writer.writerow({**row, "net_sentiment": "" if row["net_sentiment"] is None else row["net_sentiment"]})
    return buf.getvalue()
