"""Rows of `spike_alert`: one per detected spike, claimed by a unique key so each is sent
once across replicas (`responders.spike_alerts` detects, words and sends them).

A claim is an INSERT ... ON CONFLICT DO NOTHING on the key; the replica whose insert
took the row sends it. An unsent row whose owner went quiet is taken over with a guarded
UPDATE (only if still held by that owner and unsent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.alert_models import SpikeAlert
from storage.dialect import rowcount, table

SA = table(SpikeAlert)


@dataclass(frozen=True)
class Pending:
    """A claimed, unsent alert this replica is to send."""

    id: int
    key: str
    details: dict[str, Any]


def claim(engine: Engine, *, key: str, brand: str, kind: str, start: datetime, end: datetime,
          mentions: int, baseline: float, owner: str, now: datetime, details: dict[str, Any]) -> bool:
    """Record a new spike for `owner`; False when another replica claimed this key first or
    an overlapping spike of the same brand and kind was alerted under another key."""
    with engine.begin() as conn:
        earlier = conn.execute(
            sa.select(SA.c.id).where(SA.c.brand == brand, SA.c.kind == kind,
                                     SA.c.start < end, SA.c.end > start,
                                     SA.c.key != key).limit(1)).first()
        if earlier is not None:
            return False  # the same event, alerted under an earlier start
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(SA).values(
            key=key, brand=brand, kind=kind, start=start, end=end, mentions=mentions,
            baseline=baseline, claimed_by=owner, created_at=now, details=details,
        ).on_conflict_do_nothing(index_elements=["key"])
        return rowcount(conn.execute(stmt)) == 1


def take_pending(engine: Engine, owner: str, now: datetime, *, retry_window: timedelta,
                 takeover: timedelta) -> list[Pending]:
    """Unsent alerts younger than `retry_window` that `owner` holds, taking over those
    whose holder has not sent them within `takeover`, oldest first."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(SA.c.id, SA.c.key, SA.c.claimed_by, SA.c.created_at, SA.c.details)
            .where(SA.c.sent_at.is_(None), SA.c.created_at > now - retry_window)
            .order_by(SA.c.id)).all()
        mine = []
        for r in rows:
            if r.claimed_by == owner:
                mine.append(r)
            elif r.created_at < now - takeover:  # the owner went quiet: take it over
                took = conn.execute(sa.update(SA).where(
                    SA.c.id == r.id, SA.c.claimed_by == r.claimed_by,
                    SA.c.sent_at.is_(None)).values(claimed_by=owner, created_at=now))
                if rowcount(took) == 1:
                    mine.append(r)
    return [Pending(int(r.id), str(r.key), dict(r.details or {})) for r in mine]


def mark_sent(engine: Engine, ids: Sequence[int], now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(SA).where(SA.c.id.in_(list(ids))).values(sent_at=now))
