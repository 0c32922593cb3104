"""The period picker the dashboard and the lead's team view share: one set of periods,
one query parameter (`?period=today|7d|30d`), one partial template
(`_period_picker.html`), and the choice remembered per user (`console_user.period`,
migration 0010) like the queue order, so a lead who looks at the last 7 days on /team
finds the dashboard on the same 7 days.

`today` starts at midnight UTC; `7d` and `30d` are the last 7 / 30 days from now. The
dashboard's old `?range=` and the team view's old `1d` still work (links kept in notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.engine import Session
from storage.types import utcnow
from storage.users import remember

PARAM = "period"
PERIODS: dict[str, str] = {"today": "today", "7d": "last 7 days", "30d": "last 30 days"}
DEFAULT = "today"
_ALIASES = {"1d": "today"}  # the team view's old "last 24 hours"


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    start: datetime

    @property
    def choices(self) -> dict[str, str]:
        return PERIODS


def start_of(key: str, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    if key == "today":
        return datetime(now.year, now.month, now.day, tzinfo=UTC)
    return now - timedelta(days=int(key[:-1]))


def chosen(session: Session, user_id: int, asked: str | None, now: datetime | None = None) -> Period:
    """The period to show: `asked` when valid (then remembered for the user), else the
    one they chose last, else `DEFAULT`."""
    key = remember(session, user_id, "period", _ALIASES.get(asked or "", asked or ""), PERIODS) or DEFAULT
    return Period(key, PERIODS[key], start_of(key, now))
