"""How long ago (or how soon) a moment is, in one wording for every surface: the web
console's pages and the CLI's `sources` and `outbox` tables showed two different
formats for the same breaker or source before."""

from __future__ import annotations

from datetime import datetime

from storage.types import as_utc, utcnow


def ago(value: datetime | None) -> str:
    """'45s ago', '12m ago', '3h 5m ago', '2d ago'; 'in 4m' for a moment to come."""
    if value is None:
        return "never"
    seconds = (utcnow() - as_utc(value)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m"
    elif seconds < 86_400:
        text = f"{int(seconds // 3600)}h {int(seconds % 3600 // 60)}m"
    else:
        text = f"{int(seconds // 86_400)}d"
    return f"in {text}" if future else f"{text} ago"
