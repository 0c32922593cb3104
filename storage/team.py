"""Reads for the lead's team page (`console.web.team` computes the statistics): the
escalations closed in a period, those still open past their SLA, and those handled late.

Bounded reads: the period's closed rows stop at a limit the caller passes (it says
"capped" when reached); the breach lists take the first `limit` by due time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from storage.dialect import table
from storage.models import Author, Escalation, EscalationStatus, Mention

E, M, A = table(Escalation), table(Mention), table(Author)
CLOSED = (EscalationStatus.resolved.value, EscalationStatus.dismissed.value)


@dataclass(frozen=True)
class Handled:
    """One escalation an agent resolved or dismissed (with a label)."""

    assignee: str | None
    status: str
    label: str
    created_at: datetime
    replied_at: datetime | None
    resolved_at: datetime | None
    sla_due: datetime | None


def _closed_since(since: datetime) -> list[Any]:
    return [E.c.status.in_(CLOSED), E.c.resolved_at >= since, E.c.label.is_not(None)]


def handled_since(session: Session, since: datetime, limit: int) -> list[Handled]:
    """Escalations resolved or dismissed with a label since `since`, at most `limit`."""
    rows = session.execute(
        sa.select(E.c.assignee, E.c.status, E.c.label, E.c.created_at, E.c.replied_at,
                  E.c.resolved_at, E.c.sla_due)
        .where(*_closed_since(since))
        .limit(limit)).all()
    return [Handled(r.assignee, str(getattr(r.status, "value", r.status)), str(getattr(r.label, "value", r.label)),
                    r.created_at, r.replied_at, r.resolved_at, r.sla_due) for r in rows]


def open_breaches(session: Session, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Active escalations past their SLA at `now`, most overdue first, with the author."""
    return [dict(b._mapping) for b in session.execute(
        sa.select(E.c.id, E.c.queue, E.c.priority, E.c.assignee, E.c.sla_due, E.c.status,
                  A.c.handle)
        .select_from(E.join(M, M.c.id == E.c.mention_id).outerjoin(A, A.c.id == M.c.author_id))
        .where(E.c.status.in_(("open", "claimed")), E.c.sla_due < now)
        .order_by(E.c.sla_due).limit(limit))]


def late_since(session: Session, since: datetime, limit: int) -> list[dict[str, Any]]:
    """Escalations closed since `since` whose first response came after the SLA, newest first."""
    return [dict(b._mapping) for b in session.execute(
        sa.select(E.c.id, E.c.queue, E.c.priority, E.c.assignee, E.c.sla_due, E.c.status,
                  E.c.replied_at, E.c.resolved_at)
        .where(*_closed_since(since), E.c.sla_due < sa.func.coalesce(E.c.replied_at, E.c.resolved_at))
        .order_by(E.c.resolved_at.desc()).limit(limit))]
