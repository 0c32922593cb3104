"""The rows `socialear export` writes: live mentions (with their author), escalations,
or cases (with their posts and ticket), streamed.

Rows are read with a server-side cursor in chunks (`yield_per`), so exporting a million
mentions does not hold them in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage import models as t
from storage.dialect import table

MENTION_COLUMNS = (
    "id",
    "source",
    "platform",
    "external_id",
    "url",
    "created_at",
    "brand",
    "competitor",
    "text",
    "title",
    "lang",
    "rating",
    "sentiment_label",
    "sentiment_compound",
    "urgency",
    "categories",
    "route",
)
ESCALATION_COLUMNS = (
    "id",
    "mention_id",
    "route",
    "queue",
    "priority",
    "status",
    "assignee",
    "created_at",
    "sla_due",
    "resolved_at",
    "resolution",
    "follow_up_of",
    "label",
    "external_ref",
    "suggested_reply",
    "reply_text",
    "replied_at",
)


def _query(what: str, since: datetime | None) -> sa.Select[Any]:
    if what == "mentions":
        mt, at = table(t.Mention), table(t.Author)
        q = (
            sa.select(*(mt.c[c] for c in MENTION_COLUMNS), at.c.handle.label("author"), at.c.followers)
            .select_from(mt.outerjoin(at, at.c.id == mt.c.author_id))
            .where(mt.c.deleted_at.is_(None))
        )
        if since:
            q = q.where(mt.c.created_at >= since)
        return q.order_by(mt.c.id)
    et = table(t.Escalation)
    q = sa.select(*(et.c[c] for c in ESCALATION_COLUMNS))
    if since:
        q = q.where(et.c.created_at >= since)
    return q.order_by(et.c.id)


CASE_CHUNK = 500


def _case_records(conn: sa.Connection, since: datetime | None) -> Iterator[dict[str, Any]]:
    """One record per case: the case, its author, every post's external id (oldest first),
    the ones among them that were follow-ups closed into the case's head, and the sink's ticket (the first ticket reference among its escalations). Cases are
    read in chunks; each chunk's posts in one query (escalation.case_id is indexed)."""
    ct, et, mt, at = table(t.CareCase), table(t.Escalation), table(t.Mention), table(t.Author)
    ci = table(t.CustomerIdentity)
    q = (sa.select(ct.c.id.label("case_id"), ct.c.status, at.c.platform.label("author_platform"),
                   at.c.handle.label("author"), ci.c.customer_id, ct.c.size, ct.c.urgency,
                   ct.c.opened_at, ct.c.updated_at.label("last_post_at"), ct.c.resolved_at)
         .select_from(ct.outerjoin(at, at.c.id == ct.c.author_id).outerjoin(
             ci, sa.and_(ci.c.platform == at.c.platform,
                         ci.c.handle == sa.func.lower(at.c.handle))))
         .order_by(ct.c.id))
    if since:
        q = q.where(ct.c.opened_at >= since)
    result = conn.execution_options(yield_per=CASE_CHUNK).execute(q)
    for chunk in result.mappings().partitions(CASE_CHUNK):
        ids = [r["case_id"] for r in chunk]
        posts: dict[int, list[str]] = {i: [] for i in ids}
        follow_ups: dict[int, list[str]] = {i: [] for i in ids}
        tickets: dict[int, str] = {}
        for case_id, external_id, ref, follow_up_of in conn.execute(
            sa.select(et.c.case_id, mt.c.external_id, et.c.external_ref, et.c.follow_up_of)
            .select_from(et.join(mt, mt.c.id == et.c.mention_id))
            .where(et.c.case_id.in_(ids)).order_by(et.c.case_id, mt.c.created_at, et.c.id)
        ):
            posts[case_id].append(external_id)
            if follow_up_of is not None:
                follow_ups[case_id].append(external_id)
            if ref and case_id not in tickets:
                tickets[case_id] = ref
        for r in chunk:
            yield {**r, "mention_external_ids": posts[r["case_id"]],
                   "follow_up_external_ids": follow_ups[r["case_id"]],
                   "ticket_ref": tickets.get(r["case_id"])}


def records(engine: Engine, what: str, since: datetime | None) -> Iterator[dict[str, Any]]:
    """Every record of `what` ("mentions", "escalations" or "cases") created since
    `since` (all when None), oldest id first, as column -> stored value."""
    with engine.connect() as conn:
        if what == "cases":
            yield from _case_records(conn, since)
        else:
            for row in conn.execution_options(yield_per=1000).execute(_query(what, since)).mappings():
                yield dict(row)
