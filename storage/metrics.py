"""Read-only aggregates for `/metrics`: per-source health counters, outbox states/ages and
active escalations per queue.

They live here, not in the console, because storage owns the SQL. Each is one indexed
GROUP BY or a scan of the (small) source_state table, so a Prometheus scrape every 15 s
costs milliseconds even on a large database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.dialect import table
from storage.models import Escalation, EscalationStatus, OutboxItem, OutboxState, SourceState
from storage.types import as_utc


@dataclass(frozen=True)
class SourceRow:
    source: str
    fetched_total: int
    quarantined_total: int
    stats: dict[str, Any]
    rate_limit_remaining: int | None
    budget_used: int
    healthy: bool
    last_success: datetime | None


@dataclass(frozen=True)
class OutboxGroup:
    sink: str
    state: str
    count: int
    oldest: datetime | None  # created_at of the oldest row in this group


def source_rows(conn: Connection) -> list[SourceRow]:
    st = table(SourceState)
    rows = conn.execute(sa.select(
        st.c.source, st.c.fetched_total, st.c.quarantined_total, st.c.stats,
        st.c.rate_limit_remaining, st.c.budget_used, st.c.healthy, st.c.last_success,
    ).order_by(st.c.source)).all()
    return [SourceRow(r.source, r.fetched_total or 0, r.quarantined_total or 0, dict(r.stats or {}),
                      r.rate_limit_remaining, r.budget_used or 0, bool(r.healthy),
                      as_utc(r.last_success) if r.last_success else None) for r in rows]


def outbox_groups(conn: Connection) -> list[OutboxGroup]:
    """Rows per sink and state; the oldest row's age only for states still waiting."""
    ot = table(OutboxItem)
    rows = conn.execute(
        sa.select(ot.c.sink, ot.c.state, sa.func.count(), sa.func.min(ot.c.created_at))
        .group_by(ot.c.sink, ot.c.state)
    ).all()
    waiting = {OutboxState.pending.value, OutboxState.retry.value, OutboxState.sending.value}
    out = []
    for sink, state, n, oldest in rows:
        name = str(getattr(state, "value", state))
        when = as_utc(oldest) if (oldest is not None and name in waiting) else None
        if isinstance(oldest, str):  # SQLite aggregate bypasses the column type
            when = as_utc(datetime.fromisoformat(oldest)) if name in waiting else None
        out.append(OutboxGroup(sink, name, int(n), when))
    return out


def active_escalations(conn: Connection) -> list[tuple[str, str, int]]:
    """(queue, status, count) of open or claimed escalations (one indexed GROUP BY)."""
    et = table(Escalation)
    rows = conn.execute(
        sa.select(et.c.queue, et.c.status, sa.func.count())
        .where(et.c.status.in_([EscalationStatus.open.value, EscalationStatus.claimed.value]))
        .group_by(et.c.queue, et.c.status)
    ).all()
    return [(str(queue), str(status), int(n)) for queue, status, n in rows]
