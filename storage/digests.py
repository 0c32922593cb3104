"""Rows of `digest_state`: per scheduled report, the last slot sent, the slot being sent
(a claim, so one replica sends each slot), failures and back-off.
`responders.digests` decides the schedule and the back-off; these read and write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.alert_models import DigestState
from storage.dialect import rowcount, table

DS = table(DigestState)


def _state(row: Any) -> DigestState:
    return DigestState(**row._mapping)


def ensure(engine: Engine, name: str) -> None:
    """Create the digest's row if it has none."""
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(DS).values(name=name, attempts=0, sent_total=0)
                     .on_conflict_do_nothing(index_elements=["name"]))


def get(engine: Engine, name: str) -> DigestState:
    with engine.begin() as conn:
        return _state(conn.execute(sa.select(DS).where(DS.c.name == name)).one())


def all_states(engine: Engine) -> dict[str, DigestState]:
    with engine.connect() as conn:
        return {r.name: _state(r) for r in conn.execute(sa.select(DS))}


def claim_slot(engine: Engine, name: str, slot: datetime, now: datetime, lease: timedelta) -> bool:
    """Take `slot` for sending (only one replica wins): the slot is newer than the last
    sent and no attempt is pending before `now`; the claim holds for `lease`."""
    with engine.begin() as conn:
        claim = conn.execute(sa.update(DS).where(
            DS.c.name == name,
            sa.or_(DS.c.last_slot.is_(None), DS.c.last_slot < slot),
            sa.or_(DS.c.next_attempt_at.is_(None), DS.c.next_attempt_at <= now),
        ).values(pending_slot=slot, attempts=DS.c.attempts + 1, next_attempt_at=now + lease))
        return rowcount(claim) == 1


def record_sent(engine: Engine, name: str, now: datetime, *, slot: datetime | None = None) -> None:
    """A successful send; with `slot`, the scheduled slot is done and the claim released."""
    values: dict[str, Any] = {"last_sent_at": now, "sent_total": DS.c.sent_total + 1, "last_error": None}
    if slot is not None:
        values |= {"last_slot": slot, "pending_slot": None, "attempts": 0, "next_attempt_at": None}
    with engine.begin() as conn:
        conn.execute(sa.update(DS).where(DS.c.name == name).values(**values))


def record_failure(engine: Engine, name: str, error: str, now: datetime,
                   retry_at: Callable[[int], datetime] | None) -> None:
    """A failed send: the error, and (when `retry_at` is given) the next attempt's time
    from the number of attempts so far."""
    with engine.begin() as conn:
        attempts = conn.execute(sa.select(DS.c.attempts).where(DS.c.name == name)).scalar() or 1
        values: dict[str, Any] = {"last_error": error[:2000], "last_error_at": now}
        if retry_at is not None:
            values["next_attempt_at"] = retry_at(attempts)
        conn.execute(sa.update(DS).where(DS.c.name == name).values(**values))
