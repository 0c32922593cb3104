"""Public replies to posts: the escalation and post a reply answers, its outbox row (one
per escalation: re-armed when dead, refused while queued or once sent), and the
escalation's reply fields. `responders.publish` decides what may be posted and audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage import models as t
from storage.dialect import rowcount, table

_ET, _MT, _OT = table(t.Escalation), table(t.Mention), table(t.OutboxItem)


class ReplyConflict(Exception):
    """Another reply row for this escalation won a race (the caller's transaction must roll back)."""


@dataclass(frozen=True)
class ReplyTarget:
    """The escalation and the post a reply answers, read in the transaction that queues it."""

    escalation_id: int
    idempotency_key: str
    priority_rank: int
    route: str
    suggested_reply: str
    source: str
    platform: str
    external_id: str
    conversation_id: str | None
    deleted: bool


@dataclass(frozen=True)
class ReplyRow:
    """The escalation's existing reply outbox row."""

    id: int
    state: str
    external_ref: str | None


def target(conn: Connection, escalation_id: int) -> ReplyTarget | None:
    row = conn.execute(
        sa.select(
            _ET.c.id, _ET.c.idempotency_key, _ET.c.priority_rank, _ET.c.route, _ET.c.suggested_reply,
            _MT.c.source, _MT.c.platform, _MT.c.external_id, _MT.c.conversation_id, _MT.c.deleted_at,
        )
        .select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
        .where(_ET.c.id == escalation_id)
    ).first()
    if row is None:
        return None
    return ReplyTarget(
        escalation_id=row.id, idempotency_key=row.idempotency_key, priority_rank=row.priority_rank or 2,
        route=row.route, suggested_reply=row.suggested_reply or "", source=row.source, platform=row.platform,
        external_id=row.external_id, conversation_id=row.conversation_id, deleted=row.deleted_at is not None,
    )


def existing_reply(conn: Connection, escalation_id: int) -> ReplyRow | None:
    row = conn.execute(
        sa.select(_OT.c.id, _OT.c.state, _OT.c.external_ref)
        .where(_OT.c.escalation_id == escalation_id, _OT.c.kind == "reply")
    ).first()
    if row is None:
        return None
    return ReplyRow(int(row.id), str(getattr(row.state, "value", row.state)), row.external_ref)


def rearm(conn: Connection, outbox_id: int, payload: dict[str, Any], now: datetime) -> bool:
    """Queue a dead reply row again with a new payload; False if it is no longer dead."""
    return rowcount(conn.execute(
        _OT.update().where(_OT.c.id == outbox_id, _OT.c.state == "dead").values(
            state="pending", attempts=0, next_attempt_at=now, payload=payload, updated_at=now,
            locked_by=None, locked_until=None,
        )
    )) == 1


def queue(conn: Connection, target: ReplyTarget, key: str, payload: dict[str, Any], now: datetime) -> int:
    """Insert the reply's outbox row; ReplyConflict when a concurrent approval won on the
    (escalation_id, sink, kind) unique key."""
    try:
        return int(conn.execute(_OT.insert().returning(_OT.c.id).values(
            escalation_id=target.escalation_id, sink=target.source, kind="reply", state="pending",
            attempts=0, next_attempt_at=now, idempotency_key=key, priority_rank=target.priority_rank,
            payload=payload, created_at=now, updated_at=now,
        )).scalar_one())
    except sa.exc.IntegrityError:
        raise ReplyConflict from None


def record_text(conn: Connection, escalation_id: int, text: str, actor: str, now: datetime) -> None:
    """The approved reply on the escalation; the first response time is set once."""
    conn.execute(
        _ET.update().where(_ET.c.id == escalation_id).values(
            reply_text=text, reply_by=actor, updated_at=now,
            replied_at=sa.func.coalesce(_ET.c.replied_at, now),
        )
    )


def post_deleted(engine: Engine, escalation_id: int) -> bool:
    """Whether the post the escalation answers was deleted on the platform."""
    with engine.connect() as conn:
        deleted = conn.execute(
            sa.select(_MT.c.deleted_at).select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
            .where(_ET.c.id == escalation_id)
        ).scalar_one_or_none()
    return deleted is not None


def record_published(conn: Connection, escalation_id: int, external_ref: str | None, now: datetime) -> None:
    conn.execute(_ET.update().where(_ET.c.id == escalation_id).values(
        reply_external_id=external_ref, updated_at=now,
    ))
