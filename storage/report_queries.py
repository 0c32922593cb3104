"""The few report queries that must read mentions or escalations, each bounded by an index.

Everything countable comes from the rollups (storage/rollups.py). What is left reads
rows, and each read is bounded so a report's cost does not grow with the data:

* top posts by engagement: walks `ix_mention_brand_engagement` (brand, engagement,
  created_at) from the top, keeping those inside the period; with K wanted and a share f
  of the brand's mentions in the period, about K/f index entries are read.
* top posts and authors by reach (followers): walks `ix_author_followers` from the most
  followed author down, in chunks of 25, 50, then AUTHOR_CHUNK authors, counting each
  chunk's mentions of every brand in the period in one statement (`ix_mention_author_id`);
  stops when each brand has enough or after MAX_AUTHORS authors (a documented bound:
  "the most followed authors among the first 20,000 by followers"). The chunk sizes
  change how many authors are looked at, not which are found. Each top author's best post is read by
  one window-function statement over those authors' mentions.
* a spike's examples and its term sample: the brand's mentions inside the spike's hours
  (`ix_mention_brand_created_at`), at most SAMPLE_LIMIT, by engagement.
* distinctive terms: `term_sample`, at most SAMPLE_SLICES x SLICE_LIMIT negative posts
  per brand, the first SLICE_LIMIT of each of SAMPLE_SLICES equal slices of the period,
  so a whole period is represented, not its last day; one statement per brand over
  `mention_terms` (storage/rollups.py: each stored negative post's terms, computed at
  ingest, keyed by brand and time), so neither text is read nor tokenised.
* care performance: answered escalations of the period's whole days from
  `rollup_care_span` (storage/rollups.py, kept by triggers: 28-day, 7-day and day blocks,
  integer keys); the hours at the period's ends from the
  escalations through the covering index `ix_escalation_brand_created_at_care`, and the
  unanswered backlog of the whole days through its partial twin
  `ix_escalation_backlog_care`, which holds only unanswered escalations, so a period's
  answered ones are not walked past (`care_histogram`).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import models as t
from storage import rollups
from storage.bulk import fetch_tuples
from storage.dialect import table

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

AUTHOR_CHUNK = 100
MAX_AUTHOR_CHUNKS = 200
FIRST_AUTHOR_CHUNK = 25  # chunks grow 25, 50, 100, 100, ...: the most followed authors
# usually cover every brand, and each author's mentions are table rows to visit
MAX_AUTHORS = AUTHOR_CHUNK * MAX_AUTHOR_CHUNKS  # the bound: the first 20,000 by followers
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
    """Walks ix_mention_brand_engagement backwards (engagement DESC, created_at DESC, which
    is its order), keeping the period's rows, until `limit` are found."""
    mt, at = table(t.Mention), table(t.Author)
    created: sa.ColumnElement[Any] = mt.c.created_at
    if conn.dialect.name == "sqlite":
        # `+created_at`: SQLite's planner otherwise skip-scans the index on the period's
        # range and sorts every match; the unary plus keeps the range a plain filter.
        created = sa.literal_column("+mention.created_at", type_=mt.c.created_at.type)
    q = (
        sa.select(*_post_columns())
        .select_from(mt.outerjoin(at, at.c.id == mt.c.author_id))
        .where(mt.c.brand == brand, created >= start, created < end, mt.c.deleted_at.is_(None))
        .order_by(mt.c.engagement.desc(), mt.c.created_at.desc())
        .limit(limit)
    )
    if conn.dialect.name == "sqlite":
        q = q.with_hint(mt, "INDEXED BY ix_mention_brand_engagement", "sqlite")
    return [_post(r) for r in conn.execute(q).all()]


def top_by_reach(conn: Connection, brands: list[str], start: datetime, end: datetime,
                 limit: int = 5) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """brand -> (top posts by author followers, top authors by followers), for the period.

    Authors are ranked by followers; each carries their mentions, engagement and negative
    mentions of the brand in the period, counted in SQL per chunk of authors (all brands
    in one statement); then one statement reads each top author's most engaged post of
    the period (a window function over their mentions, found through the author index).
    """
    found: dict[str, list[tuple[int, int, int, int, int]]] = {b: [] for b in brands}  # author, followers, n, eng, neg
    chunks, stats_q, best_q = _reach_statements()
    period: dict[str, Any] = {"brands": list(brands), "start": start, "end": end}
    last: tuple[int, int] | None = None
    seen, size = 0, FIRST_AUTHOR_CHUNK
    while seen < MAX_AUTHORS:
        params: dict[str, Any] = {"chunk": min(size, MAX_AUTHORS - seen)}
        if last is not None:
            params.update(followers=last[0], id=last[1])
        chunk = [(int(i), int(f or 0)) for i, f in conn.execute(chunks[last is not None], params).all()]
        if not chunk:
            break
        seen, size = seen + len(chunk), min(size * 2, AUTHOR_CHUNK)
        last = (chunk[-1][1], chunk[-1][0])
        stats = {
            (int(a), str(b)): (int(n), int(e or 0), int(neg or 0))
            for a, b, n, e, neg in conn.execute(stats_q, {**period, "authors": [i for i, _ in chunk]}).all()
        }
        for brand in brands:
            for author_id, followers in chunk:
                if (author_id, brand) in stats and len(found[brand]) < limit:
                    found[brand].append((author_id, followers, *stats[(author_id, brand)]))
        if all(len(v) >= limit for v in found.values()):
            break
    authors = sorted({a for v in found.values() for a, *_ in v})
    best: dict[tuple[int, str], Any] = {}
    if authors:
        best = {(int(r.author_id), str(r.brand)): r
                for r in conn.execute(best_q, {**period, "authors": authors}).all()}
    out: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for brand in brands:
        posts: list[dict[str, Any]] = []
        people: list[dict[str, Any]] = []
        for author_id, followers, n, engagement, negative_n in found[brand]:
            row = best.get((author_id, brand))
            if row is None:
                continue
            posts.append(_post(row))
            people.append({"author": row.handle, "name": row.author_name, "platform": row.platform,
                           "followers": followers, "mentions": n, "engagement": engagement, "negative": negative_n})
        out[brand] = (posts, people)
    return out


@cache
def _reach_statements() -> tuple[tuple[Any, Any], Any, Any]:
    """`top_by_reach`'s statements, built once with every value a parameter: ((the first
    chunk of authors, a next chunk after (followers, id)), one chunk's counts per author
    and brand in the period, each top author's most engaged post of the period)."""
    mt, at = table(t.Mention), table(t.Author)
    first = (sa.select(at.c.id, at.c.followers).order_by(at.c.followers.desc(), at.c.id.desc())
             .limit(sa.bindparam("chunk", type_=sa.Integer)))
    after = first.where(sa.or_(at.c.followers < sa.bindparam("followers"),
                               sa.and_(at.c.followers == sa.bindparam("followers"), at.c.id < sa.bindparam("id"))))
    created_type = mt.c.created_at.type
    in_period = (mt.c.brand.in_(sa.bindparam("brands", expanding=True)),
                 mt.c.created_at >= sa.bindparam("start", type_=created_type),
                 mt.c.created_at < sa.bindparam("end", type_=created_type), mt.c.deleted_at.is_(None))
    authors = mt.c.author_id.in_(sa.bindparam("authors", expanding=True))
    negative = sa.func.sum(sa.case((mt.c.sentiment_label == "negative", 1), else_=0))
    stats = (sa.select(mt.c.author_id, mt.c.brand, sa.func.count(), sa.func.sum(mt.c.engagement), negative)
             .where(authors, *in_period).group_by(mt.c.author_id, mt.c.brand))
    rank = sa.func.row_number().over(partition_by=(mt.c.author_id, mt.c.brand),
                                     order_by=(mt.c.engagement.desc(), mt.c.id)).label("rank")
    ranked = (
        sa.select(*_post_columns(), mt.c.brand, rank)
        .select_from(mt.join(at, at.c.id == mt.c.author_id))
        .where(authors, *in_period)
        .subquery()
    )
    return (first, after), stats, sa.select(ranked).where(ranked.c.rank == 1)


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
    return [_post(r) for r in conn.execute(q).all()]


def text_sample(conn: Connection, brand: str, start: datetime, end: datetime, *,
                slices: int = SAMPLE_SLICES, per_slice: int = SLICE_LIMIT) -> list[tuple[int, str]]:
    """(id, text) of up to slices x per_slice of the brand's stored mentions, spread over
    the period: the first `per_slice` (by time) of each of `slices` equal slices, in one
    statement (a UNION ALL of the slices, each a bounded range of
    `ix_mention_brand_created_at`). A volume spike's background (any sentiment)."""
    stmt = _sample_statement(conn.dialect.name, False, slices)
    return [(int(i_), str(text or "")) for i_, text in conn.execute(stmt, _slices(brand, start, end, slices,
                                                                                  per_slice)).all()]


def term_sample(conn: Connection, brand: str, start: datetime, end: datetime, *,
                slices: int = SAMPLE_SLICES, per_slice: int = SLICE_LIMIT) -> list[tuple[int, str]]:
    """(id, terms) of up to slices x per_slice of the brand's stored negative mentions,
    sliced as `text_sample`: the same posts (the first of each slice by (created_at,
    id)), with the terms computed at ingest (`mention_terms`, storage/rollups.py; `terms`
    is tab-separated, '' when none). Each slice is a contiguous range of that table's
    key (brand, created_at, mention_id): no mention row is visited, nothing tokenised."""
    stmt = _sample_statement(conn.dialect.name, True, slices)
    return [(int(i_), str(terms)) for i_, terms in fetch_tuples(conn, stmt, _slices(brand, start, end, slices,
                                                                                    per_slice))]


def _slices(brand: str, start: datetime, end: datetime, slices: int, per_slice: int) -> dict[str, Any]:
    step = (end - start) / slices
    params: dict[str, Any] = {"brand": brand, "per_slice": per_slice}
    for i in range(slices):
        params[f"from_{i}"] = start + step * i
        params[f"to_{i}"] = start + step * (i + 1) if i < slices - 1 else end
    return params


@cache
def _sample_statement(dialect: str, terms: bool, slices: int) -> Any:
    """The samples' statement, built once per shape with every value a parameter:
    building and compiling a 12-part union cost more CPU than running it (~3 ms a brand)."""
    mt, tt = table(t.Mention), table(rollups.MentionTerms)
    created_type = mt.c.created_at.type
    parts = []
    for i in range(slices):
        if terms:
            q = (sa.select(tt.c.mention_id.label("id"), tt.c.terms.label("body"))
                 .where(tt.c.brand == sa.bindparam("brand"),
                        tt.c.created_at >= sa.bindparam(f"from_{i}", type_=created_type),
                        tt.c.created_at < sa.bindparam(f"to_{i}", type_=created_type))
                 .order_by(tt.c.created_at, tt.c.mention_id))
        else:
            q = (sa.select(mt.c.id, mt.c.text.label("body"))
                 .where(mt.c.brand == sa.bindparam("brand"),
                        mt.c.created_at >= sa.bindparam(f"from_{i}", type_=created_type),
                        mt.c.created_at < sa.bindparam(f"to_{i}", type_=created_type),
                        mt.c.deleted_at.is_(None))
                 .order_by(mt.c.created_at, mt.c.id))
            if dialect == "sqlite":
                q = q.with_hint(mt, "INDEXED BY ix_mention_brand_created_at", "sqlite")
        sub = q.limit(sa.bindparam("per_slice", type_=sa.Integer)).subquery()
        parts.append(sa.select(sub.c.id, sub.c.body))
    return sa.union_all(*parts)


# First-response times are counted in geometric buckets (10 s .. ~700 days, x1.1 apart),
# so medians come from a histogram the database builds: a quantile is exact to its bucket
# and interpolated inside it, so it lies in the exact quantile's own bucket: within 10 %
# of it (under 10 s, within 10 s; tests/reports/test_care_bound.py). Coarser buckets were
# measured and not taken: the rollup's rows are ~1.2 escalations each because of the
# (day, queue, categories) key, not the buckets (x1.21 buckets: 21.8k -> 19.1k rows on the
# bench, its read 18.6 -> 17.5 ms), so they would double the error for ~1 ms.
RESPONSE_BUCKETS: list[float] = [10.0 * 1.1**i for i in range(rollups.CARE_BUCKETS)]
CARE_BUCKETS = rollups.CARE_BUCKETS  # the largest bucket number (above the last edge)


CareRow = tuple[str, tuple[str, ...], str, int, int, int, int]
# Unanswered: neither replied nor resolved (care_sql's `first` IS NULL). A literal, as the
# partial index `ix_escalation_backlog_care` spells it, so the planners match the two.
BACKLOG = sa.text("escalation.replied_at IS NULL AND escalation.resolved_at IS NULL")


def _care_raw(conn: Connection, brands: list[str], start: datetime, end: datetime, now: datetime,
              unanswered_only: bool = False) -> list[tuple[Any, ...]]:
    """Escalations created in [start, end) grouped as the care rollup is, read through
    `ix_escalation_brand_created_at_care` (it holds every column used: no table row is
    visited on SQLite). The expressions are the rollup's own (`rollups.care_sql`)."""
    stmt = _care_raw_statement(conn.dialect.name, unanswered_only)
    return list(conn.execute(stmt, {"brands": list(brands), "start": start, "end": end, "now": now}).all())


@cache
def _care_raw_statement(dialect: str, unanswered_only: bool) -> Any:
    """`_care_raw`'s statement, built once per dialect with every value a parameter."""
    et = table(t.Escalation)
    e: dict[str, Any] = {k: sa.literal_column(v) for k, v in rollups.care_sql(dialect, "escalation").items()}
    now_param = sa.bindparam("now", type_=et.c.sla_due.type)
    breached = sa.case(
        (sa.and_(e["first"].is_not(None), et.c.sla_due.is_not(None), e["first"] > et.c.sla_due), 1),
        (sa.and_(e["first"].is_(None), et.c.sla_due < now_param), 1),
        else_=0,
    )
    q = (
        sa.select(e["queue"], e["categories"], e["status"], e["bucket"], sa.func.count(), sa.func.sum(e["met"]),
                  sa.func.sum(breached))
        .where(et.c.brand.in_(sa.bindparam("brands", expanding=True)),
               et.c.created_at >= sa.bindparam("start", type_=et.c.created_at.type),
               et.c.created_at < sa.bindparam("end", type_=et.c.created_at.type))
        .group_by(*(sa.literal_column(str(i)) for i in range(1, 5)))
    )
    if unanswered_only:
        # the partial index's own predicate (the same rows as `first IS NULL`), so both
        # planners read the backlog from `ix_escalation_backlog_care` alone
        q = q.where(BACKLOG)
        if dialect == "sqlite":
            q = q.with_hint(et, "INDEXED BY ix_escalation_backlog_care", "sqlite")
    return q


@cache
def _care_rollup_statement(parts: tuple[int, ...]) -> Any:
    """Answered escalations of whole days from `rollup_care_span`, summed per cell (group
    number x 256 + bucket): one UNION ALL of the block ranges (`rollups.care_blocks`; one
    part per range, `parts` their levels), grouped by the one integer."""
    rc = table(rollups.RollupCareSpan)
    ranges = [
        sa.select(rc.c.cell, rc.c.n, rc.c.met).where(
            rc.c.brand.in_(sa.bindparam("brands", expanding=True)), rc.c.level == level,
            rc.c.block >= sa.bindparam(f"from_{i}"), rc.c.block < sa.bindparam(f"to_{i}"))
        for i, level in enumerate(parts)
    ]
    rows = (ranges[0] if len(ranges) == 1 else sa.union_all(*ranges)).subquery()
    return sa.select(rows.c.cell, sa.func.sum(rows.c.n), sa.func.sum(rows.c.met)).group_by(rows.c.cell)


class CareColumns(NamedTuple):
    """`care_histogram`'s rows as columns: row i is (*keys[key[i]], bucket[i], n[i],
    met[i], breached[i]), the rows in `care_histogram`'s order and `keys` (queue,
    categories, status) numbered in order of first appearance."""

    keys: list[tuple[str, tuple[str, ...], str]]
    key: npt.NDArray[np.int64]
    bucket: npt.NDArray[np.int64]
    n: npt.NDArray[np.int64]
    met: npt.NDArray[np.int64]
    breached: npt.NDArray[np.int64]


def care_columns(conn: Connection, brands: list[str], start: datetime, end: datetime, now: datetime) -> CareColumns:
    """The brands' escalations created in [start, end), grouped by queue, categories,
    status and response-time bucket, with exact counts of within SLA and breached
    (unanswered and past due counts as breached). Bucket -1: no response yet. A group
    may come in several rows (one per part below); callers add them up.

    Answered escalations of the period's whole days come from `rollup_care_span` (its
    coarsest whole blocks, then finer ones toward the ends); those of the hours at the
    period's two ends, and the unanswered ones (the open backlog, whose breach depends on
    `now`), from the escalations themselves through a covering index. Categories and
    status come back as text, decoded once per distinct value, not per row. The
    rollup's cells (thousands over a quarter) stay integer arrays: their group is a
    division, their (queue, categories, status) looked up once per group, so no Python
    tuple is built per cell (`reports.engine.care_performance` adds them with numpy).
    (numpy is imported here, as in `rollups.hourly_arrays`: the pipeline imports storage.)"""
    import numpy as np

    edges, days = rollups.split_hours(rollups.epoch_hour(start), rollups.epoch_hour(end))
    decoded: dict[str | None, tuple[str, ...]] = {}
    keys: dict[tuple[str, tuple[str, ...], str], int] = {}
    parts: list[tuple[Any, ...]] = []

    def add(rows: Any) -> None:
        columns: list[list[int]] = [[], [], [], [], []]
        for queue, cat_text, state, b, n, m, br in rows:
            k = keys.setdefault((queue, _decode(decoded, cat_text), str(state)), len(keys))
            for col, x in zip(columns, (k, int(b), int(n), int(m or 0), int(br or 0)), strict=True):
                col.append(x)
        parts.append(tuple(np.array(col, dtype=np.int64) for col in columns))

    for a, b in edges:
        add(_care_raw(conn, brands, rollups.hour_start(a), rollups.hour_start(b), now))
    if days:
        blocks = rollups.care_blocks(*days)
        params: dict[str, Any] = {"brands": list(brands)}
        for i, (_level, a, b) in enumerate(blocks):
            params[f"from_{i}"], params[f"to_{i}"] = a, b
        cells = fetch_tuples(conn, _care_rollup_statement(tuple(level for level, _a, _b in blocks)), params)
        if cells:
            # each group decoded once; a row is its group's (queue, categories, status)
            # and the cell's bucket, with breached = n - met (an answered escalation
            # either met its SLA or not)
            cg = table(rollups.CareGroup)
            groups = {int(gid): (q, _decode(decoded, c), str(st))
                      for gid, q, c, st in fetch_tuples(conn, sa.select(cg))}
            cell, n, met = np.array(cells, dtype=np.int64).reshape(-1, 3).T
            gid, bucket = np.divmod(cell, rollups.CELL)
            ids, first, inverse = np.unique(gid, return_index=True, return_inverse=True)
            number = np.empty(len(ids), dtype=np.int64)
            for u in np.argsort(first, kind="stable").tolist():  # numbered in order of appearance
                number[u] = keys.setdefault(groups[int(ids[u])], len(keys))
            parts.append((number[inverse.reshape(-1)], bucket, n, met, n - met))
        add(_care_raw(conn, brands, rollups.hour_start(days[0] * 24), rollups.hour_start(days[1] * 24), now,
                      unanswered_only=True))
    cols = [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=np.int64) for i in range(5)]
    return CareColumns(list(keys), *cols)


def care_histogram(conn: Connection, brands: list[str], start: datetime, end: datetime,
                   now: datetime) -> list[CareRow]:
    """`care_columns` as rows: (queue, categories, status, bucket, n, met, breached)."""
    c = care_columns(conn, brands, start, end, now)
    return [(*c.keys[k], b, n, m, br) for k, b, n, m, br in zip(*(x.tolist() for x in c[1:]), strict=True)]


def _decode(decoded: dict[str | None, tuple[str, ...]], cat_text: str | None) -> tuple[str, ...]:
    """An escalation's categories (JSON text) as a tuple, decoded once per distinct text."""
    cats = decoded.get(cat_text)
    if cats is None:
        cats = decoded[cat_text] = tuple(json.loads(cat_text) if cat_text else ())
    return cats


__all__ = ["CARE_BUCKETS", "RESPONSE_BUCKETS", "CareColumns", "CareRow", "care_columns", "care_histogram", "term_sample", "text_sample", "top_by_reach", "top_posts_by_engagement", "window_sample"]
