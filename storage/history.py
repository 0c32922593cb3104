"""One view of the customer: an author's earlier mentions and escalations across sources.

Used when an escalation is delivered (the ticket shows the story so far, as of delivery)
and by the console's author card. One query per batch of authors: a window function
ranks each author's mentions, so the cost does not grow with the author's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import models as t
from storage.dialect import table


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


HISTORY_LIMIT = 10


def author_histories(
    conn: Connection, author_ids: set[int], limit: int = HISTORY_LIMIT + 1
) -> dict[int, list[dict[str, Any]]]:
    """Each author's latest mentions (any source) and escalations with how they ended.

    One query for the whole batch (a window function ranks each author's mentions), not
    one per escalation. `limit` includes one spare so the caller can drop the current mention.
    """
    if not author_ids:
        return {}
    mt, et = table(t.Mention), table(t.Escalation)
    rank = sa.func.row_number().over(partition_by=mt.c.author_id, order_by=(mt.c.created_at.desc(), mt.c.id.desc()))
    inner = (
        sa.select(
            mt.c.id,
            mt.c.author_id,
            mt.c.source,
            mt.c.platform,
            mt.c.created_at,
            mt.c.sentiment_label,
            mt.c.url,
            rank.label("rank"),
        )
        .where(mt.c.author_id.in_(author_ids), mt.c.deleted_at.is_(None))
        .subquery()
    )
    rows = conn.execute(
        sa.select(inner, et.c.id.label("esc_id"), et.c.status, et.c.resolution, et.c.route)
        .select_from(inner.outerjoin(et, et.c.mention_id == inner.c.id))
        .where(inner.c.rank <= limit)
        .order_by(inner.c.author_id, inner.c.rank)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        item: dict[str, Any] = {
            "kind": "escalation" if r.esc_id else "mention",
            "mention_id": r.id,
            "source": r.source,
            "platform": r.platform,
            "created_at": _iso(r.created_at),
            "sentiment": r.sentiment_label,
            "url": r.url,
        }
        if r.esc_id:
            status = getattr(r.status, "value", r.status)
            item.update(escalation_id=r.esc_id, status=status, resolution=r.resolution, route=r.route)
        out.setdefault(r.author_id, []).append(item)
    return out


def escalation_rows(conn: Connection, escalation_ids: Sequence[int]) -> Sequence[sa.Row[Any]]:
    """Each escalation (every column) with what a delivery payload shows of its mention
    (`m_created`, `m_brand`, its `scoring`, ...) and author (`handle`, `author_name`, ...); one query."""
    et, mt, at = table(t.Escalation), table(t.Mention), table(t.Author)
    return conn.execute(
        sa.select(
            et,
            mt.c.source,
            mt.c.platform,
            mt.c.external_id,
            mt.c.url,
            mt.c.text,
            mt.c.title,
            mt.c.created_at.label("m_created"),
            mt.c.lang,
            mt.c.rating,
            mt.c.in_reply_to,
            mt.c.conversation_id,
            mt.c.brand.label("m_brand"),
            mt.c.competitor,
            mt.c.scoring,
            mt.c.author_id,
            at.c.handle,
            at.c.name.label("author_name"),
            at.c.followers,
            at.c.verified,
        )
        .select_from(et.join(mt, mt.c.id == et.c.mention_id).outerjoin(at, at.c.id == mt.c.author_id))
        .where(et.c.id.in_(list(escalation_ids)))
    ).all()


def newest_escalation_ids(conn: Connection, n: int = 1) -> list[int]:
    """The ids of the `n` newest escalations (the outbox worker warms its queries on them)."""
    et = table(t.Escalation)
    return [int(i) for i in conn.execute(sa.select(et.c.id).order_by(et.c.id.desc()).limit(n)).scalars()]
