"""The audit trail: one writer (`audit`) and the reads of it (the console's audit log
page, and the last record of an action on a subject, which the deletion sweep resumes
from).

Audit rows are never deleted and never carry mention text (see `storage.repo`'s purge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from storage.bulk import insert_rows
from storage.dialect import table
from storage.filters import UrlFilters, parse_day
from storage.models import AuditEvent
from storage.types import as_utc, utcnow

AUDIT_PAGE_SIZE = 100
_AT = table(AuditEvent)


def _row(actor: str, action: str, subject_type: str, subject_id: Any, at: datetime | None,
         details: dict[str, Any]) -> dict[str, Any]:
    return {"at": as_utc(at or utcnow()), "actor": actor, "action": action,
            "subject_type": subject_type, "subject_id": str(subject_id), "details": dict(details)}


def audit(
    conn: Session | Connection,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: Any,
    *,
    at: datetime | None = None,
    **details: Any,
) -> int:
    """Append an audit event (who did what to which thing) in the caller's transaction;
    returns its id. The one writer of audit rows (with `audit_many` for a batch).

    `details` must be plain JSON data and must not carry mention text (see purge).
    """
    if isinstance(conn, Session):
        conn.flush()  # the caller's pending changes first, as the ORM writer did
    stmt = sa.insert(_AT).values(**_row(actor, action, subject_type, subject_id, at, details)).returning(_AT.c.id)
    return int(conn.execute(stmt).scalar_one())


@dataclass(frozen=True)
class Event:
    """One audit event for `audit_many`."""

    actor: str
    action: str
    subject_type: str
    subject_id: Any
    at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def audit_many(conn: Session | Connection, events: list[Event]) -> None:
    """Append many audit events with one executemany (the outbox worker's rounds; the
    pipeline's and case grouping's, on a Connection, at driver speed through storage.bulk)."""
    if not events:
        return
    rows = [_row(e.actor, e.action, e.subject_type, e.subject_id, e.at, e.details) for e in events]
    if isinstance(conn, Session):
        conn.execute(sa.insert(_AT), rows)
    else:
        insert_rows(conn, _AT, rows)


def last_details(conn: Connection | Session, subject_type: str, subject_id: str, action: str) -> dict[str, Any] | None:
    """The details of the newest `action` recorded on one subject, if any."""
    at = table(AuditEvent)
    stmt = (
        sa.select(at.c.details)
        .where(at.c.subject_type == subject_type, at.c.subject_id == subject_id, at.c.action == action)
        .order_by(at.c.id.desc())
        .limit(1)
    )
    details = conn.execute(stmt).scalar_one_or_none()
    return dict(details) if details else None


@dataclass
class AuditFilters(UrlFilters):
    MAX_LEN = 128

    actor: str = ""
    action: str = ""
    subject: str = ""  # "escalation:42" or just "42"
    since: str = ""  # YYYY-MM-DD
    until: str = ""  # YYYY-MM-DD (inclusive)
    page: int = 1


def audit_page(session: Session, f: AuditFilters) -> tuple[list[AuditEvent], bool]:
    stmt = sa.select(AuditEvent)
    if f.actor:
        stmt = stmt.where(col(AuditEvent.actor) == f.actor)
    if f.action:
        stmt = stmt.where(col(AuditEvent.action).startswith(f.action))
    if f.subject:
        kind, _, ident = f.subject.rpartition(":")
        stmt = stmt.where(col(AuditEvent.subject_id) == ident)
        if kind:
            stmt = stmt.where(col(AuditEvent.subject_type) == kind)
    if (since := parse_day(f.since)) is not None:
        stmt = stmt.where(col(AuditEvent.at) >= since)
    if (until := parse_day(f.until)) is not None:
        stmt = stmt.where(col(AuditEvent.at) < until + timedelta(days=1))
    stmt = (stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            .limit(AUDIT_PAGE_SIZE + 1).offset((f.page - 1) * AUDIT_PAGE_SIZE))
    rows = list(session.execute(stmt).scalars())
    return rows[:AUDIT_PAGE_SIZE], len(rows) > AUDIT_PAGE_SIZE
