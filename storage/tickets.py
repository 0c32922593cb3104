"""Escalations' tickets at the contact centre's sinks: which escalation a ticket status
belongs to, the tickets a sink created, and applying a status change to the escalation.
`responders.status` decides what a vendor's status means; these read and write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage import models as t
from storage.dialect import table
from storage.types import as_utc

_ET, _OT = table(t.Escalation), table(t.OutboxItem)


@dataclass(frozen=True)
class TicketState:
    """What a status update needs of the escalation, read under a row lock (PostgreSQL)."""

    status: str
    assignee: str | None
    resolution: str | None
    external_status: str | None


def find_escalation(conn: Connection, external_id: str | None, ticket_id: str | None,
                    sinks: Iterable[str]) -> int | None:
    """The escalation a ticket belongs to: by our idempotency key (`external_id`) first,
    then by the ticket id one of `sinks` recorded on the outbox row, then by the ticket id
    stored on the escalation."""
    if external_id:
        found = conn.execute(sa.select(_ET.c.id).where(_ET.c.idempotency_key == external_id)).scalar()
        if found is not None:
            return int(found)
    if not ticket_id:
        return None
    names = list(sinks)
    if names:
        found = conn.execute(
            sa.select(_OT.c.escalation_id)
            .where(_OT.c.sink.in_(names), _OT.c.kind == "escalation", _OT.c.external_ref == ticket_id)
            .order_by(_OT.c.id).limit(1)
        ).scalar()
        if found is not None:
            return int(found)
    found = conn.execute(
        sa.select(_ET.c.id).where(_ET.c.external_ref == ticket_id).order_by(_ET.c.id).limit(1)
    ).scalar()
    return int(found) if found is not None else None


def lock_state(conn: Connection, escalation_id: int) -> TicketState:
    """The escalation's status fields, locked FOR UPDATE on PostgreSQL (SQLite's one
    writer already serialises the transaction)."""
    select = sa.select(_ET.c.status, _ET.c.assignee, _ET.c.resolution, _ET.c.external_status).where(
        _ET.c.id == escalation_id)
    if conn.dialect.name == "postgresql":
        select = select.with_for_update()
    row = conn.execute(select).one()
    return TicketState(str(getattr(row.status, "value", row.status)), row.assignee, row.resolution,
                       row.external_status)


def update_escalation(conn: Connection, escalation_id: int, values: dict[str, Any]) -> None:
    conn.execute(_ET.update().where(_ET.c.id == escalation_id).values(**values))


def tracked_tickets(engine: Engine, sink_name: str, since: datetime) -> dict[str, int]:
    """ticket id → escalation id, for tickets this sink created for escalations since `since`."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_OT.c.external_ref, _OT.c.escalation_id)
            .select_from(_OT.join(_ET, _ET.c.id == _OT.c.escalation_id))
            .where(_OT.c.sink == sink_name, _OT.c.kind == "escalation", _OT.c.state == "sent",
                   _OT.c.external_ref.is_not(None), _ET.c.created_at >= as_utc(since))
            .order_by(_OT.c.id)
        ).all()
    return {str(r.external_ref): int(r.escalation_id) for r in rows}


def record_refs(conn: Connection, refs: Sequence[tuple[int, str]], now: datetime) -> None:
    """Each escalation's ticket reference from a sink, in order; the first reference wins
    (later sinks keep theirs on their outbox row).

    Rows are updated in escalation id order (a stable sort: one escalation's references keep
    their order), as the pipeline raises case heads (`storage.cases.raise_heads`): two
    transactions locking the same rows in one order cannot deadlock. In delivery (priority)
    order, the outbox recorder and a pipeline batch deadlocked on PostgreSQL and the batch
    was rolled back (bench/latency.py --database-url: about one run in four)."""
    if refs:
        conn.execute(
            _ET.update().where(_ET.c.id == sa.bindparam("eid"), _ET.c.external_ref.is_(None))
            .values(external_ref=sa.bindparam("ref"), updated_at=now),
            [{"eid": eid, "ref": ref} for eid, ref in sorted(refs, key=lambda r: r[0])],
        )
