"""The lead's view of the team over a period: per agent, items handled, median first
response, share handled within the SLA, and why items were dismissed; and the SLA
breaches (still open past due, or handled late).

Handled = resolved or dismissed by the agent (escalation.assignee) in the period, with a
label: follow-ups closed into their case by the pipeline have none and are not counted.
First response = replied_at - created_at. Within SLA = first response (or, without a
reply, the close) at or before sla_due. Rows are read for the period only
(ix_escalation_status_created_at serves the breach list; the period's closed rows are
bounded by MAX_ROWS).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from storage.dialect import table
from storage.models import Author, Escalation, EscalationStatus, Mention
from storage.types import as_utc, utcnow

MAX_ROWS = 100_000
BREACH_LIMIT = 100
E, M, A = table(Escalation), table(Mention), table(Author)  # type: ignore[attr-defined]


@dataclass
class AgentStats:
    agent: str
    handled: int = 0
    resolved: int = 0
    dismissed: int = 0
    within_sla: int = 0
    response_s: list[float] = field(default_factory=list)
    dismiss_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def median_first_response_s(self) -> float | None:
        return statistics.median(self.response_s) if self.response_s else None

    @property
    def share_within_sla(self) -> float | None:
        return self.within_sla / self.handled if self.handled else None


def team_stats(session: Session, since: datetime, now: datetime | None = None) -> dict[str, Any]:
    """Statistics of what was closed since `since` (the period picker's start,
    console.web.periods); the open breaches as of now."""
    now = now or utcnow()
    closed = (EscalationStatus.resolved.value, EscalationStatus.dismissed.value)
    rows = session.execute(
        sa.select(E.c.assignee, E.c.status, E.c.label, E.c.created_at, E.c.replied_at,
                  E.c.resolved_at, E.c.sla_due)
        .where(E.c.status.in_(closed), E.c.resolved_at >= since, E.c.label.is_not(None))
        .limit(MAX_ROWS)).all()
    agents: dict[str, AgentStats] = {}
    reasons: dict[str, int] = {}
    for r in rows:
        st = agents.setdefault(r.assignee or "(nobody)", AgentStats(r.assignee or "(nobody)"))
        st.handled += 1
        status = str(getattr(r.status, "value", r.status))
        label = str(getattr(r.label, "value", r.label))
        if status == EscalationStatus.dismissed.value:
            st.dismissed += 1
            st.dismiss_reasons[label] = st.dismiss_reasons.get(label, 0) + 1
            reasons[label] = reasons.get(label, 0) + 1
        else:
            st.resolved += 1
        first = r.replied_at or r.resolved_at
        if r.replied_at is not None:
            st.response_s.append((as_utc(r.replied_at) - as_utc(r.created_at)).total_seconds())
        if r.sla_due is None or (first is not None and as_utc(first) <= as_utc(r.sla_due)):
            st.within_sla += 1
    open_breaches = [dict(b._mapping) for b in session.execute(
        sa.select(E.c.id, E.c.queue, E.c.priority, E.c.assignee, E.c.sla_due, E.c.status,
                  A.c.handle)
        .select_from(E.join(M, M.c.id == E.c.mention_id).outerjoin(A, A.c.id == M.c.author_id))
        .where(E.c.status.in_(("open", "claimed")), E.c.sla_due < now)
        .order_by(E.c.sla_due).limit(BREACH_LIMIT))]
    late = [dict(b._mapping) for b in session.execute(
        sa.select(E.c.id, E.c.queue, E.c.priority, E.c.assignee, E.c.sla_due, E.c.status,
                  E.c.replied_at, E.c.resolved_at)
        .where(E.c.status.in_(closed), E.c.resolved_at >= since, E.c.label.is_not(None),
               E.c.sla_due < sa.func.coalesce(E.c.replied_at, E.c.resolved_at))
        .order_by(E.c.resolved_at.desc()).limit(BREACH_LIMIT))]
    return {"since": since, "agents": sorted(agents.values(), key=lambda a: -a.handled),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "open_breaches": open_breaches, "late": late, "capped": len(rows) >= MAX_ROWS}
