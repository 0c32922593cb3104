"""Rows of `login_throttle`: failure counts and back-off per key (an address, an
account, a device cookie). The policy (how many failures are free, how long to wait)
is the console's (`console.web.throttle`); these read and write the rows on the
caller's Session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from storage.console_models import LoginThrottle
from storage.dialect import insert_for, table
from storage.types import as_utc

_t = table(LoginThrottle)


def get(session: Session, key: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, key, populate_existing=True)


def blocked_until(session: Session, keys: list[str]) -> list[datetime]:
    """The back-off ends of those of `keys` that have one."""
    rows = session.execute(sa.select(_t.c.blocked_until).where(_t.c.key.in_(keys))).scalars()
    return [as_utc(b) for b in rows if b is not None]


def count_failure(session: Session, key: str, now: datetime, *, forget_after: timedelta,
                  delay_s: Callable[[int], float]) -> int:
    """Count one failure against `key` (restarting from 1 when the last was longer than
    `forget_after` ago) and block it for `delay_s(failures)` seconds; the new count.

    The row is created if absent, then locked (FOR UPDATE on PostgreSQL), so two
    replicas counting at once do not lose a failure.
    """
    session.execute(
        insert_for(session, LoginThrottle)
        .values(key=key, failures=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.execute(sa.select(_t.c.failures, _t.c.updated_at).where(_t.c.key == key).with_for_update()).one()
    failures = 1 if as_utc(row.updated_at) < now - forget_after else row.failures + 1
    delay = delay_s(failures)
    blocked = now + timedelta(seconds=delay) if delay else None
    session.execute(sa.update(_t).where(_t.c.key == key).values(failures=failures, blocked_until=blocked, updated_at=now))
    return failures


def set_failures(session: Session, key: str, failures: int) -> None:
    session.execute(sa.update(_t).where(_t.c.key == key).values(failures=failures))


def clear(session: Session, key: str) -> None:
    session.execute(sa.delete(_t).where(_t.c.key == key))


def refresh(session: Session, key: str, now: datetime) -> None:
    """Create `key` with no failures, or reset its failures and time (a device cookie
    that just signed in)."""
    session.execute(
        insert_for(session, LoginThrottle)
        .values(key=key, failures=0, updated_at=now)
        .on_conflict_do_update(index_elements=["key"], set_={"failures": 0, "updated_at": now})
    )
