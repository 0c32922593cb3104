"""The few report queries that must read mentions or escalations, each bounded by an index.

Everything countable comes from the rollups (storage/rollups.py). What is left reads
rows, and each read is bounded so a report's cost does not grow with the data:

* top posts by engagement: walks `ix_mention_brand_engagement` (brand, engagement,
  created_at) from the top, keeping those inside the period; with K wanted and a share f
  of the brand's mentions in the period, about K/f index entries are read.
* top posts and authors by reach (followers): walks `ix_author_followers` from the most
  followed author down, AUTHOR_CHUNK at a time, looking up each chunk's mentions of the
  brand in the period (`ix_mention_author_id`); stops when enough are found or after
  MAX_AUTHOR_CHUNKS chunks (a documented bound: "the most followed authors among the
  first 20,000 by followers"). Mentions are counted per chunk in SQL, never loaded.
* a spike's examples and its term sample: the brand's mentions inside the spike's hours
  (`ix_mention_brand_created_at`), at most SAMPLE_LIMIT, by engagement.
* distinctive terms: `text_sample`, at most SAMPLE_SLICES x SLICE_LIMIT texts per brand,
  the first SLICE_LIMIT of each of SAMPLE_SLICES equal slices of the period
  (`ix_mention_brand_created_at`), so a whole period is represented, not its last day.
* care performance: escalations of the brand created in the period
  (`ix_escalation_brand_created_at`); escalations are a small share of mentions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import models as t
from storage.dialect import table

AUTHOR_CHUNK = 100
MAX_AUTHOR_CHUNKS = 200
SAMPLE_LIMIT = 500
SAMPLE_SLICES = 12
SLICE_LIMIT = 50


def _post(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "text": row.text,
        "url": row.url,
        "author": row.handle,
        "author_name": row.author_name,
        "followers": int(row.followers or 0),
        "platform": row.platform,
        "created_at": row.created_at.isoformat(),
        "engagement": int(row.engagement or 0),
        "reach": int(row.followers or 0),
        "sentiment": row.sentiment_label,
        "categories": list(row.categories or []),
    }


def _post_columns() -> list[Any]:
    mt, at = table(t.Mention), table(t.Author)
    return [mt.c.id, mt.c.text, mt.c.url, mt.c.platform, mt.c.created_at, mt.c.engagement,
            mt.c.sentiment_label, mt.c.categories, mt.c.author_id, at.c.handle,
            at.c.name.label("author_name"), at.c.followers]


def top_posts_by_engagement(conn: Connection, brand: str, start: datetime, end: datetime,
                            limit: int = 5) -> list[dict[str, Any]]:
    mt, at = table(t.Mention), table(t.Author)
    q = (
        sa.select(*_post_columns())
        .select_from(mt.outerjoin(at, at.c.id == mt.c.author_id))
        .where(mt.c.brand == brand, mt.c.created_at >= start, mt.c.created_at < end,
               mt.c.deleted_at.is_(None))
        .order_by(mt.c.engagement.desc(), mt.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "sqlite":  # its planner would rather range-scan the period and sort
        q = q.with_hint(mt, "INDEXED BY ix_mention_brand_engagement", "sqlite")
    return [_post(r) for r in conn.execute(q)]


def top_by_reach(conn: Connection, brand: str, start: datetime, end: datetime,
                 limit: int = 5) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(top posts by author followers, top authors by followers) for the brand and period.

    Authors are ranked by followers; each carries their mentions, engagement and negative
    mentions of the brand in the period, counted in SQL per chunk of authors; then each
    top author's most engaged post of the period is read.
    """
    mt, at = table(t.Mention), table(t.Author)
    found: list[tuple[int, int, int, int, int]] = []  # author id, followers, mentions, engagement, negative
    last: tuple[int, int] | None = None
    for _ in range(MAX_AUTHOR_CHUNKS):
        q = sa.select(at.c.id, at.c.followers).order_by(at.c.followers.desc(), at.c.id.desc()).limit(AUTHOR_CHUNK)
        if last is not None:
            q = q.where(sa.or_(at.c.followers < last[0], sa.and_(at.c.followers == last[0], at.c.id < last[1])))
        chunk = [(int(i), int(f or 0)) for i, f in conn.execute(q)]
        if not chunk:
            break
        last = (chunk[-1][1], chunk[-1][0])
        negative = sa.func.sum(sa.case((mt.c.sentiment_label == "negative", 1), else_=0))
        stats = {
            int(a): (int(n), int(e or 0), int(neg or 0))
            for a, n, e, neg in conn.execute(
                sa.select(mt.c.author_id, sa.func.count(), sa.func.sum(mt.c.engagement), negative)
                .where(mt.c.author_id.in_([i for i, _ in chunk]), mt.c.brand == brand, mt.c.created_at >= start,
                       mt.c.created_at < end, mt.c.deleted_at.is_(None))
                .group_by(mt.c.author_id)
            )
        }
        for author_id, followers in chunk:
            if author_id in stats and len(found) < limit:
                found.append((author_id, followers, *stats[author_id]))
        if len(found) >= limit:
            break
    posts: list[dict[str, Any]] = []
    authors: list[dict[str, Any]] = []
    for author_id, followers, n, engagement, negative_n in found:
        best = conn.execute(
            sa.select(*_post_columns())
            .select_from(mt.join(at, at.c.id == mt.c.author_id))
            .where(mt.c.author_id == author_id, mt.c.brand == brand, mt.c.created_at >= start,
                   mt.c.created_at < end, mt.c.deleted_at.is_(None))
            .order_by(mt.c.engagement.desc(), mt.c.id)
            .limit(1)
        ).first()
        if best is None:
            continue
        posts.append(_post(best))
        authors.append({"author": best.handle, "name": best.author_name, "platform": best.platform,
                        "followers": followers, "mentions": n, "engagement": engagement, "negative": negative_n})
    return posts, authors


def window_sample(conn: Connection, brand: str, start: datetime, end: datetime, *,
                  negative_only: bool = False, limit: int = SAMPLE_LIMIT) -> list[dict[str, Any]]:
    """Up to `limit` of the brand's mentions in [start, end), most engaged first."""
    mt, at = table(t.Mention), table(t.Author)
    q = (
        sa.select(*_post_columns())
        .select_from(mt.outerjoin(at, at.c.id == mt.c.author_id))
        .where(mt.c.brand == brand, mt.c.created_at >= start, mt.c.created_at < end,
               mt.c.deleted_at.is_(None))
        .order_by(mt.c.engagement.desc(), mt.c.id)
        .limit(limit)
    )
    if negative_only:
        q = q.where(mt.c.sentiment_label == "negative")
    if conn.dialect.name == "sqlite":
        q = q.with_hint(mt, "INDEXED BY ix_mention_brand_created_at", "sqlite")
    return [_post(r) for r in conn.execute(q)]


def text_sample(conn: Connection, brand: str, start: datetime, end: datetime, *,
                negative_only: bool = True, slices: int = SAMPLE_SLICES,
                per_slice: int = SLICE_LIMIT) -> list[tuple[int, str]]:
    """(id, text) of up to slices x per_slice of the brand's mentions, spread over the period."""
    mt = table(t.Mention)
    step = (end - start) / slices
    out: list[tuple[int, str]] = []
    for i in range(slices):
        a, b = start + step * i, (start + step * (i + 1) if i < slices - 1 else end)
        q = (
            sa.select(mt.c.id, mt.c.text)
            .where(mt.c.brand == brand, mt.c.created_at >= a, mt.c.created_at < b, mt.c.deleted_at.is_(None))
            .order_by(mt.c.created_at)
            .limit(per_slice)
        )
        if negative_only:
            q = q.where(mt.c.sentiment_label == "negative")
        if conn.dialect.name == "sqlite":
            q = q.with_hint(mt, "INDEXED BY ix_mention_brand_created_at", "sqlite")
        out.extend((int(i_), str(text or "")) for i_, text in conn.execute(q))
    return out


def escalations(conn: Connection, brands: list[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The brands' escalations created in [start, end), with what care performance needs."""
    et = table(t.Escalation)
    q = sa.select(
        et.c.id, et.c.brand, et.c.queue, et.c.categories, et.c.status, et.c.priority, et.c.created_at,
        et.c.claimed_at, et.c.replied_at, et.c.resolved_at, et.c.sla_due,
    ).where(et.c.brand.in_(brands), et.c.created_at >= start, et.c.created_at < end)
    return [dict(r._mapping) for r in conn.execute(q)]


__all__ = ["escalations", "text_sample", "top_by_reach", "top_posts_by_engagement", "window_sample"]
