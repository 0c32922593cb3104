"""Report periods from what a user types: `--since 30d`, or `--from DATE --to DATE`.

Periods are whole UTC hours, [from, to): the rollups count by hour, so a period that
cut an hour in two could not be answered exactly. `--since` floors its start and ceils
`now` up to the next hour; a date-only `--to` includes that whole day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from socialear.config import parse_duration
from socialear.errors import UserError
from storage.types import utcnow

INTERVALS = ("hour", "day", "week")


class ReportError(UserError):
    """A report request that cannot be answered; the message says why, in one line."""


class EmptyPeriod(ReportError):
    """No mention of the brands in the period: there is nothing to report (not an empty report)."""


def parse_when(text: str, *, end: bool = False, flag: str = "--from") -> datetime:
    """YYYY-MM-DD (a day: its start, or with `end` the next day's start) or ISO 8601."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{flag}: {text!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def floor_hour(at: datetime) -> datetime:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floored = floor_hour(at)
    return floored if floored == at else floored + timedelta(hours=1)


def resolve_period(
    since: str | None = None, from_: str | None = None, to: str | None = None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """(start, end) in whole hours; `since` and `from_`/`to` are exclusive of each other."""
    now = now or utcnow()
    if since and (from_ or to):
        raise ReportError("give --since or --from/--to, not both")
    if since:
        try:
            span = parse_duration(since)
        except ValueError as exc:
            raise ReportError(f"--since: {exc}") from None
        if span.total_seconds() <= 0:
            raise ReportError(f"--since: {since!r} is not a positive duration")
        end = ceil_hour(now)
        return floor_hour(now - span), end
    if from_ is None:
        raise ReportError("give --since (e.g. 30d) or --from DATE [--to DATE]")
    start = floor_hour(parse_when(from_, flag="--from"))
    end = ceil_hour(parse_when(to, end=True, flag="--to")) if to else ceil_hour(now)
    if end <= start:
        raise ReportError(f"--to ({end.isoformat()}) is not after --from ({start.isoformat()})")
    return start, end


def default_interval(start: datetime, end: datetime) -> str:
    """hour up to 3 days, day up to 90 days, week beyond: 24 to 100-odd points a chart."""
    span = end - start
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=90):
        return "day"
    return "week"


def check_interval(interval: str | None, start: datetime, end: datetime) -> str:
    if interval is None:
        return default_interval(start, end)
    if interval not in INTERVALS:
        raise ReportError(f"--interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    return interval


__all__ = ["INTERVALS", "EmptyPeriod", "ReportError", "ceil_hour", "check_interval", "default_interval", "floor_hour",
           "parse_when", "resolve_period"]
