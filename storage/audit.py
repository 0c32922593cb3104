"""The audit trail: one writer (`audit`) and the reads of it (the console's audit log
page, and the last record of an action on a subject, which the deletion sweep resumes
from).

Audit rows are never deleted and never carry mention text (see `storage.repo`'s purge).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from storage.dialect import table
from storage.models import AuditEvent
from storage.types import as_utc, utcnow

AUDIT_PAGE_SIZE = 100


def audit(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: Any,
    *,
    at: datetime | None = None,
    **details: Any,
) -> int:
    """Append an audit event (who did what to which thing); returns its id.

    `details` must be plain JSON data and must not carry mention text (see purge).
    """
    event = AuditEvent(
        at=as_utc(at or utcnow()), actor=actor, action=action,
        subject_type=subject_type, subject_id=str(subject_id), details=dict(details),
    )
    session.add(event)
    session.flush()
    return int(event.id)  # type: ignore[arg-type]


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
class AuditFilters:
    actor: str = ""
    action: str = ""
    subject: str = ""  # "escalation:42" or just "42"
    since: str = ""  # YYYY-MM-DD
    until: str = ""  # YYYY-MM-DD (inclusive)
    page: int = 1

    @classmethod
    def from_params(cls, params: Any) -> AuditFilters:
        out = cls()
        for f in fields(cls):
            raw = params.get(f.name)
            if raw is None:
                continue
            raw = str(raw).strip()[:128]
            if f.name == "page":
                out.page = max(1, min(int(raw), 10_000)) if raw.isdigit() else 1
            else:
                setattr(out, f.name, raw)
        return out

    def params(self, **changes: Any) -> dict[str, str]:
        data = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return {k: str(v) for k, v in data.items() if v not in ("", None) and
                not (k == "page" and v == 1)}


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def audit_page(session: Session, f: AuditFilters) -> tuple[list[AuditEvent], bool]:
    stmt = sa.select(AuditEvent)
    if f.actor:
        stmt = stmt.where(AuditEvent.actor == f.actor)  # type: ignore[arg-type]
    if f.action:
        stmt = stmt.where(col(AuditEvent.action).startswith(f.action))
    if f.subject:
        kind, _, ident = f.subject.rpartition(":")
        stmt = stmt.where(AuditEvent.subject_id == ident)  # type: ignore[arg-type]
        if kind:
            stmt = stmt.where(AuditEvent.subject_type == kind)  # type: ignore[arg-type]
    if (since := _day(f.since)) is not None:
        stmt = stmt.where(AuditEvent.at >= since)  # type: ignore[arg-type]
    if (until := _day(f.until)) is not None:
        stmt = stmt.where(AuditEvent.at < until + timedelta(days=1))  # type: ignore[arg-type]
    stmt = (stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())  # type: ignore[attr-defined,union-attr]
            .limit(AUDIT_PAGE_SIZE + 1).offset((f.page - 1) * AUDIT_PAGE_SIZE))
    rows = list(session.execute(stmt).scalars())
    return rows[:AUDIT_PAGE_SIZE], len(rows) > AUDIT_PAGE_SIZE
