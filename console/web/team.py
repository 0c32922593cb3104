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

from storage import team as team_reads
from storage.engine import Session
from storage.models import EscalationStatus
from storage.team import handled_since
from storage.types import as_utc, utcnow

MAX_ROWS = 100_000
BREACH_LIMIT = 100


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
    rows = handled_since(session, since, MAX_ROWS)
    agents: dict[str, AgentStats] = {}
    reasons: dict[str, int] = {}
    for r in rows:
        st = agents.setdefault(r.assignee or "(nobody)", AgentStats(r.assignee or "(nobody)"))
        st.handled += 1
        status, label = r.status, r.label
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
    open_breaches = team_reads.open_breaches(session, now, BREACH_LIMIT)
    late = team_reads.late_since(session, since, BREACH_LIMIT)
    return {"since": since, "agents": sorted(agents.values(), key=lambda a: -a.handled),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "open_breaches": open_breaches, "late": late, "capped": len(rows) >= MAX_ROWS}
