"""Rollups: per-brand, per-platform, per-hour counts that reports read instead of mentions.

Why: a report over a year of mentions must not scan them (issue 13, Deliver 7). Every
writer of `mention` keeps these tables exact *in its own transaction*:

* the pipeline adds each stored batch (`add_mentions`, listener/pipeline.py);
* a purge (the platform deleted the post) subtracts the mention (`remove_mention`,
  storage/repo.py `purge_mention_content`): a deleted post is no longer counted;
* `socialear rules replay` only reads, so it cannot move them (a test proves it);
* migration 0004 back-fills existing databases with `rebuild`.

What is counted: stored, not purged mentions (`deleted_at IS NULL`), by `brand` (the
primary brand; '' when none) and `platform`:

* `rollup_hour` (hour, brand, platform): mentions, engagement, positive/neutral/negative.
  A mention without a sentiment label counts as neutral.
* `rollup_category` (hour, brand, platform, category): mentions and negative mentions
  that carry the category.

Coarser twins of the same counts (migration 0011), derived from the same delta in the
same statement batch, so a report reads a few rows per day instead of every hour:

* `rollup_brand_hour` (brand, hour): `rollup_hour` with platforms summed; the hourly
  series the spike baselines learn from (hours x brands rows, not x platforms).
* `rollup_day` (brand, day, platform) and `rollup_day_category` (brand, day, category):
  `rollup_hour` and `rollup_category` by UTC day (`day` = hour // 24). A range of hours
  is read as its whole days from these plus the hours at its two ends from the hourly
  tables (`split_hours`), so totals over 90 days read ~90 rows per key, not ~2,160.

On SQLite the three are WITHOUT ROWID tables: rows are stored in key order, so a
brand's range is one contiguous read (a rowid table looks each row up by its key).

Care: `rollup_care_span` (below) counts answered escalations per first-response bucket
and (queue, categories, status) combination (numbered in `care_group`), by day, 7-day
and 28-day block of the day created (migration 0013; 0011's `rollup_care` had days
only and text keys). Escalations have many writers (pipeline, console actions, ticket
status sync, case merges, retention), so triggers on `escalation` keep it, in the
writer's transaction, from one SQL definition (`care_sql`) that the recount and the
report's direct reads share.

Words are not rolled up: a term table grows with vocabulary x days (a year of real text
holds millions of (day, brand, term) rows, more than the mentions' own scan), and it
would multiply the pipeline's writes. The reports' distinctive terms come from a
bounded, stratified sample instead (storage/report_queries.py `term_sample`), and what
the sample needs is computed at ingest: `mention_terms` (brand, created_at, mention_id:
terms) holds each stored negative post's terms (socialear/terms.py), one row per post,
written by `add_mentions` in the storing transaction and deleted by `remove_mention`
(migration 0013). Keyed in the sample's order, so the sample is a contiguous read of
narrow rows, and the report does not tokenise: the same posts, the same terms, no text.

Buckets are integers: `hour` = Unix time // 3600 (UTC). Integer
keys are compact, compare the same on SQLite and PostgreSQL and need no time-zone care.

Concurrency: increments are `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`,
atomic on both databases, applied in key order so two replicas writing overlapping keys
lock them in the same order (no deadlock).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from socialear.terms import stored_terms
from storage.bulk import execute_many, fetch_tuples, insert_rows
from storage.dialect import table
from storage.types import UTCDateTime

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SENTIMENTS = ("positive", "neutral", "negative")


class RollupHour(SQLModel, table=True):
    """Mentions, engagement and sentiment per (hour, brand, platform)."""

    __tablename__ = "rollup_hour"
    __table_args__ = (sa.Index("ix_rollup_hour_brand_hour", "brand", "hour"),)

    hour: int = Field(primary_key=True)  # Unix time // 3600
    brand: str = Field(primary_key=True, max_length=128)
    platform: str = Field(primary_key=True, max_length=32)
    mentions: int = 0
    # a sum of per-post engagement, each capped at 2**31-1: needs 64 bits (PostgreSQL's
    # INTEGER overflowed on two capped posts in one hour)
    engagement: int = Field(default=0, sa_type=sa.BigInteger)
    positive: int = 0
    neutral: int = 0
    negative: int = 0


class RollupBrandHour(SQLModel, table=True):
    """`rollup_hour` with platforms summed: per (brand, hour)."""

    __tablename__ = "rollup_brand_hour"
    __table_args__ = {"sqlite_with_rowid": False}

    brand: str = Field(primary_key=True, max_length=128)
    hour: int = Field(primary_key=True)
    mentions: int = 0
    engagement: int = Field(default=0, sa_type=sa.BigInteger)
    positive: int = 0
    neutral: int = 0
    negative: int = 0


class RollupDay(SQLModel, table=True):
    """`rollup_hour` by UTC day: per (brand, day, platform); day = hour // 24."""

    __tablename__ = "rollup_day"
    __table_args__ = {"sqlite_with_rowid": False}

    brand: str = Field(primary_key=True, max_length=128)
    day: int = Field(primary_key=True)
    platform: str = Field(primary_key=True, max_length=32)
    mentions: int = 0
    engagement: int = Field(default=0, sa_type=sa.BigInteger)
    positive: int = 0
    neutral: int = 0
    negative: int = 0


class RollupDayCategory(SQLModel, table=True):
    """`rollup_category` by UTC day, platforms summed: per (brand, day, category)."""

    __tablename__ = "rollup_day_category"
    __table_args__ = {"sqlite_with_rowid": False}

    brand: str = Field(primary_key=True, max_length=128)
    day: int = Field(primary_key=True)
    category: str = Field(primary_key=True, max_length=64)
    mentions: int = 0
    negative: int = 0


class RollupCategory(SQLModel, table=True):
    """Mentions (and negative mentions) carrying a category, per (hour, brand, platform)."""

    __tablename__ = "rollup_category"
    __table_args__ = (sa.Index("ix_rollup_category_brand_hour", "brand", "hour"),)

    hour: int = Field(primary_key=True)
    brand: str = Field(primary_key=True, max_length=128)
    platform: str = Field(primary_key=True, max_length=32)
    category: str = Field(primary_key=True, max_length=64)
    mentions: int = 0
    negative: int = 0


class MentionTerms(SQLModel, table=True):
    """The terms of each stored negative mention with a brand, in the order the report's
    sample reads them (brand, created_at, mention_id): `terms` is
    `socialear.terms.stored_terms(text)` (sorted, tab-separated). Kept like the rollups:
    added with the mention, deleted when it is purged (migration 0013)."""

    __tablename__ = "mention_terms"
    __table_args__ = {"sqlite_with_rowid": False}

    brand: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    mention_id: int = Field(primary_key=True)
    terms: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))


_MODELS = (RollupHour, RollupCategory, RollupBrandHour, RollupDay, RollupDayCategory, MentionTerms)

# --------------------------------------------------------------------------- deltas


def epoch_hour(at: datetime) -> int:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return int(at.timestamp()) // 3600


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


@dataclass(slots=True)
class RollupRow:
    """The part of a mention the rollups count."""

    brand: str | None
    platform: str
    created_at: datetime
    engagement: int
    sentiment: str | None
    categories: Sequence[str]
    text: str
    # which mention (for `mention_terms`): its id, or (source, external_id) to look it up
    mention_id: int | None = None
    source: str | None = None
    external_id: str | None = None
    terms: str | None = None  # `stored_terms(text)` when computed ahead (the prescoring worker)


@dataclass(slots=True)
class Delta:
    """Counts to add (sign +1) or subtract (sign -1), keyed like the tables; and the
    negative mentions whose `mention_terms` row goes in (`terms_in`) or out (`terms_out`)."""

    hours: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)
    categories: Counter[tuple[int, str, str, str, str]] = field(default_factory=Counter)
    terms_in: list[RollupRow] = field(default_factory=list)
    terms_out: list[RollupRow] = field(default_factory=list)
    with_terms: bool = True  # False: counts only (`rebuild` streams the terms apart)

    def add(self, row: RollupRow, sign: int = 1) -> None:
        hour = epoch_hour(row.created_at)
        brand = row.brand or ""
        sentiment = row.sentiment if row.sentiment in SENTIMENTS else "neutral"
        counts = self.hours.setdefault((hour, brand, row.platform), [0, 0, 0, 0, 0])
        counts[0] += sign
        counts[1] += sign * int(row.engagement or 0)
        counts[2 + SENTIMENTS.index(sentiment)] += sign
        negative = sentiment == "negative"
        for cat in dict.fromkeys(row.categories or ()):
            self.categories[(hour, brand, row.platform, str(cat)[:64], "mentions")] += sign
            if negative:
                self.categories[(hour, brand, row.platform, str(cat)[:64], "negative")] += sign
        if self.with_terms and row.sentiment == "negative" and row.brand:  # the sample's posts: brand = a name
            (self.terms_in if sign > 0 else self.terms_out).append(row)

    def __bool__(self) -> bool:
        return bool(self.hours)


def _insert(conn: Connection, model: Any) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table(model))
    if name == "sqlite":
        return sqlite.insert(table(model))
    raise NotImplementedError(f"rollups support sqlite and postgresql, not {name}")


_UPSERTS: dict[tuple[str, str], Any] = {}  # (dialect, table) -> its upsert, built once (every batch runs five)


def _upsert(conn: Connection, model: Any, keys: Sequence[str], counts: Sequence[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    tbl = table(model)
    stmt = _UPSERTS.get((conn.dialect.name, tbl.name))
    if stmt is None:
        stmt = _insert(conn, model)
        stmt = _UPSERTS[(conn.dialect.name, tbl.name)] = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: tbl.c[c] + stmt.excluded[c] for c in counts},
        )
    for i in range(0, len(rows), 2000):  # at driver speed (storage.bulk): every batch runs five
        execute_many(conn, stmt, rows[i : i + 2000])


_COUNTS = ("mentions", "engagement", "positive", "neutral", "negative")
_CAT_COUNTS = ("mentions", "negative")


def _tables(delta: Delta) -> list[tuple[Any, tuple[str, ...], tuple[str, ...], dict[tuple[Any, ...], list[int]]]]:
    """(model, key columns, count columns, key -> counts) for every rollup table, derived
    from the hourly delta; in a fixed order, each keyed as its primary key is."""
    brand_hours: dict[tuple[Any, ...], list[int]] = {}
    days: dict[tuple[Any, ...], list[int]] = {}
    for (h, b, p), c in delta.hours.items():
        for key, into in (((b, h), brand_hours), ((b, h // 24, p), days)):
            cell = into.setdefault(key, [0, 0, 0, 0, 0])
            for i in range(5):
                cell[i] += c[i]
    cats: dict[tuple[Any, ...], list[int]] = {}
    day_cats: dict[tuple[Any, ...], list[int]] = {}
    for (h, b, p, cat, what), n in delta.categories.items():
        i = 0 if what == "mentions" else 1
        cats.setdefault((h, b, p, cat), [0, 0])[i] += n
        day_cats.setdefault((b, h // 24, cat), [0, 0])[i] += n
    return [
        (RollupHour, ("hour", "brand", "platform"), _COUNTS, delta.hours),
        (RollupCategory, ("hour", "brand", "platform", "category"), _CAT_COUNTS, cats),
        (RollupBrandHour, ("brand", "hour"), _COUNTS, brand_hours),
        (RollupDay, ("brand", "day", "platform"), _COUNTS, days),
        (RollupDayCategory, ("brand", "day", "category"), _CAT_COUNTS, day_cats),
    ]


COUNT_TABLES = ("rollup_hour", "rollup_category", "rollup_brand_hour", "rollup_day", "rollup_day_category")
ALL_TABLES = (*COUNT_TABLES, "mention_terms")


def apply(conn: Connection, delta: Delta, only: Sequence[str] = ALL_TABLES) -> None:
    """Add `delta` to the rollup tables (`only` these), each in key order (see the
    module doc on locks)."""
    subtracts = any(c[0] < 0 for c in delta.hours.values())
    for model, keys, counts, cells in _tables(delta):
        if table(model).name not in only:
            continue
        rows = [{**dict(zip(keys, k, strict=True)), **dict(zip(counts, c, strict=True))}
                for k, c in sorted(cells.items())]
        _upsert(conn, model, keys, counts, rows)
        if subtracts:
            _drop_empty(conn, model, keys, sorted(cells))
    if "mention_terms" in only and (delta.terms_in or delta.terms_out):
        _apply_terms(conn, delta)


def _mention_ids(conn: Connection, rows: Sequence[RollupRow]) -> None:
    """Fill in `mention_id` of rows that carry only (source, external_id): one statement
    per source and 500 ids (the pipeline's batches are one source)."""
    missing: dict[str, list[RollupRow]] = {}
    for r in rows:
        if r.mention_id is None:
            if r.source is None or r.external_id is None:
                raise ValueError("a negative mention's rollup row needs its id or (source, external_id)")
            missing.setdefault(r.source, []).append(r)
    for source, items in missing.items():
        for i in range(0, len(items), 500):
            chunk = items[i : i + 500]
            found = dict(conn.execute(_ids_statement(), {
                "source": source, "ids": [r.external_id for r in chunk]}).all())
            for r in chunk:
                r.mention_id = int(found[r.external_id])


@cache
def _ids_statement() -> Any:
    from storage.models import Mention

    mt = table(Mention)
    return sa.select(mt.c.external_id, mt.c.id).where(
        mt.c.source == sa.bindparam("source"), mt.c.external_id.in_(sa.bindparam("ids", expanding=True)))


def _apply_terms(conn: Connection, delta: Delta) -> None:
    """Insert the new negative mentions' terms, delete the purged ones' (by key)."""
    tbl = table(MentionTerms)
    _mention_ids(conn, [*delta.terms_in, *delta.terms_out])
    if delta.terms_out:
        stmt = sa.delete(tbl).where(tbl.c.brand == sa.bindparam("b"), tbl.c.created_at == sa.bindparam("c"),
                                    tbl.c.mention_id == sa.bindparam("i"))
        conn.execute(stmt, [{"b": r.brand, "c": r.created_at, "i": r.mention_id} for r in delta.terms_out])
    if delta.terms_in:
        insert_rows(conn, tbl, [{"brand": r.brand, "created_at": r.created_at, "mention_id": r.mention_id,
                                 "terms": stored_terms(r.text) if r.terms is None else r.terms}
                                for r in delta.terms_in])


def _drop_empty(conn: Connection, model: Any, keys: Sequence[str], touched: list[tuple[Any, ...]]) -> None:
    """After a subtraction: the touched rows counted down to zero go, so a recount (which
    has no zero rows) compares equal. Only the touched keys: a purge must not scan."""
    tbl = table(model)
    for key in touched:
        conn.execute(sa.delete(tbl).where(*(tbl.c[k] == v for k, v in zip(keys, key, strict=True)),
                                          tbl.c.mentions <= 0))


def add_mentions(conn: Connection, rows: Iterable[RollupRow]) -> None:
    """Count newly stored mentions (call in the transaction that inserts them)."""
    delta = Delta()
    for row in rows:
        delta.add(row)
    if delta:
        apply(conn, delta)


def remove_mention(conn: Connection, row: RollupRow) -> None:
    """Uncount a mention that is being purged (call before its text is blanked)."""
    delta = Delta()
    delta.add(row, sign=-1)
    apply(conn, delta)


# --------------------------------------------------------------------------- recount


def _stored_rows(conn: Connection, *, negative_only: bool = False) -> Iterator[RollupRow]:
    from storage.models import Mention

    mt = table(Mention)
    q = (
        sa.select(mt.c.brand, mt.c.platform, mt.c.created_at, mt.c.engagement, mt.c.sentiment_label,
                  mt.c.categories, mt.c.text, mt.c.id)
        .where(mt.c.deleted_at.is_(None))
        .order_by(mt.c.id)
        .execution_options(yield_per=5000)  # on the statement: on `conn` it would stick
    )
    if negative_only:
        q = q.where(mt.c.sentiment_label == "negative", mt.c.brand.is_not(None))
        if conn.dialect.name == "postgresql":
            # written in `mention_terms`' key order, so a sample's slice is a few adjacent
            # heap pages (a PostgreSQL table is not stored in key order; SQLite's WITHOUT
            # ROWID table is, whatever the insert order)
            q = q.order_by(None).order_by(mt.c.brand, mt.c.created_at, mt.c.id)
    for r in conn.execute(q):
        yield RollupRow(r.brand, r.platform, r.created_at, r.engagement or 0, r.sentiment_label,
                        r.categories or [], r.text or "", r.id)


def recount(conn: Connection) -> Delta:
    """The rollups as a full pass over the stored mentions would compute them (the
    `mention_terms` rows included: for tests and small databases; `rebuild` streams)."""
    delta = Delta()
    for row in _stored_rows(conn):
        delta.add(row)
    return delta


def rebuild(conn: Connection, only: Sequence[str] = ALL_TABLES) -> None:
    """Replace the rollups (`only` these tables) with a full recount (the migrations'
    back-fill: 0004 for the hourly tables, 0011 for their coarser twins, 0013 for
    `mention_terms`; repair). The counts are summed in memory (one cell per key);
    `mention_terms` (one row per negative post) is written as the mentions are read."""
    for model in _MODELS:
        if table(model).name in only:
            conn.execute(sa.delete(table(model)))
    counts = [name for name in only if name in COUNT_TABLES]
    if counts:
        delta = Delta(with_terms=False)
        for row in _stored_rows(conn):
            delta.add(row)
        apply(conn, delta, counts)
    if "mention_terms" in only:
        batch = Delta()
        for row in _stored_rows(conn, negative_only=True):
            batch.terms_in.append(row)
            if len(batch.terms_in) >= 5000:
                _apply_terms(conn, batch)
                batch = Delta()
        if batch.terms_in:
            _apply_terms(conn, batch)


def snapshot(conn: Connection) -> dict[str, set[tuple[Any, ...]]]:
    """Every rollup row as a tuple, per table: what tests compare with `recount`."""
    out: dict[str, set[tuple[Any, ...]]] = {}
    for model in _MODELS:
        tbl = table(model)
        out[tbl.name] = {tuple(r) for r in conn.execute(sa.select(tbl))}
    return out


def as_snapshot(delta: Delta) -> dict[str, set[tuple[Any, ...]]]:
    """`delta` in `snapshot`'s shape (zero counts dropped)."""
    out = {table(model).name: {(*k, *c) for k, c in cells.items() if c[0]}
           for model, _keys, _counts, cells in _tables(delta)}
    gone = {(r.brand, r.created_at, r.mention_id) for r in delta.terms_out}
    out["mention_terms"] = {(r.brand, r.created_at, r.mention_id, stored_terms(r.text)) for r in delta.terms_in
                            if (r.brand, r.created_at, r.mention_id) not in gone}
    return out


# --------------------------------------------------------------------------- care


class CareGroup(SQLModel, table=True):
    """The (queue, categories, status) combinations escalations have had, numbered: the
    care rollup keys its rows by this number (sorting and grouping integers, not three
    texts, is what made the care part of a report cheap on SQLite: ~3x). Rows are only
    added (by the triggers, `ON CONFLICT DO NOTHING`), never changed, so a number keeps
    its meaning. `categories` is the escalation's list as JSON text."""

    __tablename__ = "care_group"
    __table_args__ = (sa.UniqueConstraint("queue", "categories", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(max_length=128)
    categories: str = Field(sa_type=sa.Text)
    status: str = Field(max_length=16)


class RollupCareSpan(SQLModel, table=True):
    """Answered escalations per (brand, level, block, cell): how many, and how many within
    their SLA. `level` 0/1/2 counts by day / 7-day / 28-day block of the day created
    (`block` = epoch day // 1, 7 or 28; CARE_LEVELS), so a period's whole days are read
    as a few coarse blocks plus the days at its ends (`care_blocks`): ~10k rows for 90
    days at ~290 escalations a day, not ~22k. `cell` = care_group id x 256 + the
    first-response bucket of storage/report_queries.py (RESPONSE_BUCKETS, 0..165). Kept by
    database triggers on `escalation` (migration 0013; 0011's `rollup_care` had one level
    and text keys), so every writer (pipeline, console actions, ticket status sync, case
    merges, retention) keeps it exact in its own transaction, with no code of its own.
    Unanswered escalations are not here: whether they breached depends on when the
    report asks, and they are the open backlog, which the report reads directly."""

    __tablename__ = "rollup_care_span"
    __table_args__ = {"sqlite_with_rowid": False}

    brand: str = Field(primary_key=True, max_length=128)
    level: int = Field(primary_key=True, sa_type=sa.SmallInteger)
    block: int = Field(primary_key=True)
    cell: int = Field(primary_key=True, sa_type=sa.BigInteger)  # group id x 256 + bucket
    n: int = 0
    met: int = 0


CARE_KEY = ("brand", "day", "queue", "categories", "status", "bucket")
CARE_BUCKETS = 165  # len(storage.report_queries.RESPONSE_BUCKETS): 10 s x 1.1**i
CARE_COLUMNS = ("brand", "created_at", "queue", "categories", "status", "sla_due", "replied_at", "resolved_at")
CARE_LEVELS = (1, 7, 28)  # days per block at levels 0, 1, 2 (nested: both from epoch day 0)
CELL = 256  # cell = group id * CELL + bucket (bucket <= CARE_BUCKETS < CELL)


def care_sql(dialect: str, row: str) -> dict[str, str]:
    """SQL for the rollup's key and counts of escalation `row` (a table name or a
    trigger's NEW/OLD), on `dialect`: the one definition the triggers, the recount and
    the report's direct reads share, so they agree to the last bit."""
    r = f"{row}."
    if dialect == "sqlite":
        first = f"coalesce(min({r}replied_at, {r}resolved_at), {r}replied_at, {r}resolved_at)"
        secs = f"((julianday({first}) - julianday({r}created_at)) * 86400.0)"
        day = f"(CAST(strftime('%s', {r}created_at) AS INTEGER) / 86400)"
        cats, status, least = f"{r}categories", f"{r}status", "min"
    else:
        first = f"least({r}replied_at, {r}resolved_at)"  # least() skips NULLs
        secs = f"date_part('epoch', {first} - {r}created_at)"
        day = f"CAST(floor(date_part('epoch', {r}created_at) / 86400) AS INTEGER)"
        cats, status, least = f"CAST({r}categories AS TEXT)", f"CAST({r}status AS TEXT)", "least"
    # the bucket whose upper edge is the first above secs: floor(log_1.1(secs / 10)) + 1
    bucket = (f"CASE WHEN {first} IS NULL THEN -1 WHEN {secs} < 10.0 THEN 0 "
              f"ELSE CAST({least}(floor(ln({secs} / 10.0) / {math.log(1.1)!r}) + 1, {CARE_BUCKETS}) AS INTEGER) END")
    return {
        "brand": f"coalesce({r}brand, '')", "day": day, "queue": f"{r}queue", "categories": cats,
        "status": status, "bucket": bucket, "first": first,
        "met": f"CASE WHEN {first} IS NOT NULL AND ({r}sla_due IS NULL OR {first} <= {r}sla_due) THEN 1 ELSE 0 END",
    }


def _care_group_id(e: dict[str, str]) -> str:
    return (f"(SELECT care_group.id FROM care_group WHERE care_group.queue = {e['queue']} "
            f"AND care_group.categories = {e['categories']} AND care_group.status = {e['status']})")


def _care_count(dialect: str, row: str, where: str) -> list[str]:
    """Count escalation `row` (if `where`): its group numbered, then one upsert per level."""
    e = care_sql(dialect, row)
    cell = f"{_care_group_id(e)} * {CELL} + {e['bucket']}"
    # NOT EXISTS first: PostgreSQL draws the id's sequence value before it finds the
    # conflict, so a bare ON CONFLICT DO NOTHING would burn one number per escalation
    # change and a later group's cell (id x 256) would outgrow its column
    out = [(f"INSERT INTO care_group (queue, categories, status) SELECT {e['queue']}, {e['categories']}, "
            f"{e['status']} WHERE {where} AND NOT EXISTS {_care_group_id(e)} "
            f"ON CONFLICT (queue, categories, status) DO NOTHING")]
    for level, size in enumerate(CARE_LEVELS):
        out.append(
            f"INSERT INTO rollup_care_span (brand, level, block, cell, n, met) SELECT {e['brand']}, {level}, "
            f"{e['day']} / {size}, {cell}, 1, {e['met']} WHERE {where} "
            f"ON CONFLICT (brand, level, block, cell) DO UPDATE SET n = rollup_care_span.n + excluded.n, "
            f"met = rollup_care_span.met + excluded.met")
    return out


def _care_uncount(dialect: str, row: str, where: str) -> list[str]:
    """Uncount escalation `row` (if `where`) at every level; rows counted down to 0 go."""
    e = care_sql(dialect, row)
    out = []
    for level, size in enumerate(CARE_LEVELS):
        match = (f"brand = {e['brand']} AND level = {level} AND block = {e['day']} / {size} "
                 f"AND cell = {_care_group_id(e)} * {CELL} + {e['bucket']} AND {where}")
        out += [f"UPDATE rollup_care_span SET n = n - 1, met = met - {e['met']} WHERE {match}",
                f"DELETE FROM rollup_care_span WHERE {match} AND n <= 0"]
    return out


def care_triggers(dialect: str, *, guarded: bool = True) -> list[str]:
    """DDL of the triggers that keep `rollup_care_span` (and `care_group`) exact
    (migration 0013; `guarded`, since 0014).

    Every statement of a trigger's body counts only an answered escalation (its WHERE
    tests the first answer), so an unanswered one, which is what the pipeline inserts,
    changes nothing. `guarded` (SQLite) says so in the trigger's WHEN as well: SQLite
    then skips the body instead of opening the rollup's tables for each of its four
    statements per inserted row only to find the WHERE false (about 7 us of the
    pipeline's ~45 us per escalation insert, bench/pipeline.py). Same rows counted: the
    WHEN is the OR of the body's own WHERE clauses. PostgreSQL (guarded since 0015): the
    one function, called by one trigger per event, each with the WHEN of its rows, instead
    of one trigger for all three events, which cannot have a WHEN (NEW does not exist
    for a DELETE, OLD not for an INSERT) and called the PL/pgSQL function for every
    escalation the pipeline inserts (about 0.4 of the escalation insert's time on the
    server, bench/pipeline.py on PostgreSQL)."""
    watched = ", ".join(CARE_COLUMNS)
    new_first, old_first = care_sql(dialect, "NEW")["first"], care_sql(dialect, "OLD")["first"]
    add = _care_count(dialect, "NEW", f"{new_first} IS NOT NULL")
    sub = _care_uncount(dialect, "OLD", f"{old_first} IS NOT NULL")
    if dialect == "sqlite":
        when_new = f" WHEN {new_first} IS NOT NULL" if guarded else ""
        when_old = f" WHEN {old_first} IS NOT NULL" if guarded else ""
        when_any = f" WHEN {old_first} IS NOT NULL OR {new_first} IS NOT NULL" if guarded else ""
        return [
            f"CREATE TRIGGER rollup_care_span_ai AFTER INSERT ON escalation{when_new} BEGIN {'; '.join(add)}; END",
            f"CREATE TRIGGER rollup_care_span_ad AFTER DELETE ON escalation{when_old} BEGIN {'; '.join(sub)}; END",
            (f"CREATE TRIGGER rollup_care_span_au AFTER UPDATE OF {watched} ON escalation{when_any} BEGIN "
             f"{'; '.join(sub)}; {'; '.join(add)}; END"),
        ]
    if guarded:
        fires = [("INSERT", f"{new_first} IS NOT NULL"), ("DELETE", f"{old_first} IS NOT NULL"),
                 (f"UPDATE OF {watched}", f"{old_first} IS NOT NULL OR {new_first} IS NOT NULL")]
        triggers = [f"""CREATE TRIGGER rollup_care_span_apply_{event[:3].lower()} AFTER {event} ON escalation
        FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION rollup_care_span_apply()""" for event, when in fires]
    else:
        triggers = [f"""CREATE TRIGGER rollup_care_span_apply AFTER INSERT OR DELETE OR UPDATE OF {watched} ON escalation
        FOR EACH ROW EXECUTE FUNCTION rollup_care_span_apply()"""]
    return [
        f"""CREATE FUNCTION rollup_care_span_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                {'; '.join(sub)};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {'; '.join(add)};
            END IF;
            RETURN NULL;
        END $$""",
        *triggers,
    ]


def recreated_care_triggers(dialect: str, *, guarded: bool) -> list[str]:
    """DDL that replaces the care triggers on `dialect` by `care_triggers(guarded=...)`'s
    (migrations 0014 on SQLite and 0015 on PostgreSQL, up and down)."""
    return [*drop_care_triggers(dialect), *care_triggers(dialect, guarded=guarded)]


def drop_care_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS rollup_care_span_{s}" for s in ("ai", "ad", "au")]
    return [*(f"DROP TRIGGER IF EXISTS rollup_care_span_apply{s} ON escalation" for s in ("", "_ins", "_del", "_upd")),
            "DROP FUNCTION IF EXISTS rollup_care_span_apply()"]


def _care_grouped(dialect: str, size: int) -> str:
    """SELECT of the answered escalations' counts by (brand, block of `size` days, queue,
    categories, status, bucket), from the escalations themselves."""
    e = care_sql(dialect, "escalation")
    keys = {**{k: e[k] for k in CARE_KEY}, "day": f"{e['day']} / {size}"}
    cols = ", ".join(f"{keys[k]} AS {'block' if k == 'day' else k}" for k in CARE_KEY)
    return (f"SELECT {cols}, count(*) AS n, sum({e['met']}) AS met FROM escalation WHERE {e['first']} IS NOT NULL "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(CARE_KEY)))}")


def care_recount(conn: Connection, level: int = 0) -> set[tuple[Any, ...]]:
    """The care rollup's `level` as a full pass over the escalations would compute it:
    (brand, block, queue, categories, status, bucket, n, met) rows."""
    return {tuple(r) for r in conn.exec_driver_sql(_care_grouped(conn.dialect.name, CARE_LEVELS[level]))}


def rebuild_care(conn: Connection) -> None:
    """Replace the care rollup with a recount (migration 0013's back-fill; repair)."""
    dialect = conn.dialect.name
    conn.execute(sa.delete(table(RollupCareSpan)))
    e = care_sql(dialect, "escalation")
    conn.exec_driver_sql(
        f"INSERT INTO care_group (queue, categories, status) SELECT DISTINCT {e['queue']}, {e['categories']}, "
        f"{e['status']} FROM escalation WHERE {e['first']} IS NOT NULL ON CONFLICT (queue, categories, status) DO NOTHING")
    for level, size in enumerate(CARE_LEVELS):
        conn.exec_driver_sql(
            f"INSERT INTO rollup_care_span (brand, level, block, cell, n, met) "
            f"SELECT g.brand, {level}, g.block, care_group.id * {CELL} + g.bucket, g.n, g.met "
            f"FROM ({_care_grouped(dialect, size)}) AS g "
            f"JOIN care_group ON care_group.queue = g.queue AND care_group.categories = g.categories "
            f"AND care_group.status = g.status")


def care_snapshot(conn: Connection, level: int = 0) -> set[tuple[Any, ...]]:
    """The care rollup's `level` in `care_recount`'s shape (cells decoded)."""
    groups = {gid: (q, c, st) for gid, q, c, st in conn.execute(sa.select(table(CareGroup))).all()}
    tbl = table(RollupCareSpan)
    return {(b, block, *groups[cell // CELL], cell % CELL, n, met)
            for b, _level, block, cell, n, met in conn.execute(sa.select(tbl).where(tbl.c.level == level)).all()}


def care_blocks(first_day: int, end_day: int, level: int = len(CARE_LEVELS) - 1) -> list[tuple[int, int, int]]:
    """Days [first_day, end_day) as (level, first block, end block) ranges: the coarsest
    whole blocks in the middle, finer ones toward the ends (at most 5 ranges)."""
    if first_day >= end_day:
        return []
    size = CARE_LEVELS[level]
    lo, hi = -(-first_day // size), end_day // size
    if level == 0 or lo >= hi:
        return [(0, first_day, end_day)] if level == 0 else care_blocks(first_day, end_day, level - 1)
    return [*care_blocks(first_day, lo * size, level - 1), (level, lo, hi), *care_blocks(hi * size, end_day, level - 1)]


# The rollup of migration 0011, which 0013 replaced: its triggers and back-fill, frozen
# here for 0011's upgrade and 0013's downgrade (the schema they run on).


def _care_upsert_0011(dialect: str, row: str, where: str) -> str:
    e = care_sql(dialect, row)
    keys = ", ".join(e[k] for k in CARE_KEY)
    return (f"INSERT INTO rollup_care ({', '.join(CARE_KEY)}, n, met) SELECT {keys}, 1, {e['met']} WHERE {where} "
            f"ON CONFLICT ({', '.join(CARE_KEY)}) DO UPDATE SET n = rollup_care.n + excluded.n, "
            f"met = rollup_care.met + excluded.met")


def _care_uncount_0011(dialect: str, row: str) -> list[str]:
    e = care_sql(dialect, row)
    match = " AND ".join(f"{k} = {e[k]}" for k in CARE_KEY)
    return [f"UPDATE rollup_care SET n = n - 1, met = met - {e['met']} WHERE {match}",
            f"DELETE FROM rollup_care WHERE {match} AND n <= 0"]


def care_triggers_0011(dialect: str) -> list[str]:
    """DDL of the triggers that kept 0011's `rollup_care` exact."""
    watched = ", ".join(CARE_COLUMNS)
    if dialect == "sqlite":
        new_first, old_first = care_sql(dialect, "NEW")["first"], care_sql(dialect, "OLD")["first"]
        add = _care_upsert_0011(dialect, "NEW", f"{new_first} IS NOT NULL")
        sub = [f"{q} AND {old_first} IS NOT NULL" for q in _care_uncount_0011(dialect, "OLD")]
        return [
            f"CREATE TRIGGER rollup_care_ai AFTER INSERT ON escalation BEGIN {add}; END",
            f"CREATE TRIGGER rollup_care_ad AFTER DELETE ON escalation BEGIN {'; '.join(sub)}; END",
            (f"CREATE TRIGGER rollup_care_au AFTER UPDATE OF {watched} ON escalation BEGIN "
             f"{'; '.join(sub)}; {add}; END"),
        ]
    new, old = care_sql(dialect, "NEW"), care_sql(dialect, "OLD")
    return [
        f"""CREATE FUNCTION rollup_care_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') AND {old['first']} IS NOT NULL THEN
                {'; '.join(_care_uncount_0011(dialect, 'OLD'))};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND {new['first']} IS NOT NULL THEN
                {_care_upsert_0011(dialect, 'NEW', 'true')};
            END IF;
            RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER rollup_care_apply AFTER INSERT OR DELETE OR UPDATE OF {watched} ON escalation
        FOR EACH ROW EXECUTE FUNCTION rollup_care_apply()""",
    ]


def drop_care_triggers_0011(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS rollup_care_{s}" for s in ("ai", "ad", "au")]
    return ["DROP TRIGGER IF EXISTS rollup_care_apply ON escalation", "DROP FUNCTION IF EXISTS rollup_care_apply()"]


def rebuild_care_0011(conn: Connection) -> None:
    """0011's back-fill of `rollup_care`."""
    conn.exec_driver_sql("DELETE FROM rollup_care")
    e = care_sql(conn.dialect.name, "escalation")
    keys = ", ".join(e[k] for k in CARE_KEY)
    conn.exec_driver_sql(
        f"INSERT INTO rollup_care ({', '.join(CARE_KEY)}, n, met) SELECT {keys}, count(*), sum({e['met']}) "
        f"FROM escalation WHERE {e['first']} IS NOT NULL GROUP BY {', '.join(str(i + 1) for i in range(len(CARE_KEY)))}"
    )


# --------------------------------------------------------------------------- reading


def split_hours(start_hour: int, end_hour: int) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    """[start_hour, end_hour) as (hour ranges at its ends, whole-day range or None)."""
    first_day, end_day = -(-start_hour // 24), end_hour // 24
    if first_day >= end_day:
        return [(start_hour, end_hour)], None
    edges = [(a, b) for a, b in ((start_hour, first_day * 24), (end_day * 24, end_hour)) if a < b]
    return edges, (first_day, end_day)


def hourly_by_brand(
    conn: Connection, start_hour: int, end_hour: int, brands: Sequence[str]
) -> list[Sequence[Any]]:
    """(hour, brand, mentions, engagement, positive, neutral, negative) rows, platforms summed."""
    # .all(): one fetchall (iterating the result fetches row by row, twice the CPU here)
    return list(conn.execute(_hourly_statement(), {"brands": list(brands), "start": start_hour, "end": end_hour}).all())


def hourly_arrays(conn: Connection, start_hour: int, end_hour: int,
                  brands: Sequence[str]) -> dict[str, npt.NDArray[np.int64]]:
    """brand -> int64 array of rows [hour, mentions, engagement, positive, neutral,
    negative] (platforms summed), the brands' hours with any mention in the range.

    PostgreSQL sends each brand's rows as one comma-separated text (`string_agg`), parsed
    by numpy: building thousands of result rows cost the client 4x more CPU. SQLite
    builds such strings slower than it returns rows, so there the rows are read.
    (numpy is imported here, not with the module: the pipeline imports storage and
    never reads reports; ~13 MB and ~0.1 s it does not need.)"""
    import numpy as np

    out: dict[str, npt.NDArray[np.int64]] = {}
    params = {"brands": list(brands), "start": start_hour, "end": end_hour}
    if conn.dialect.name == "postgresql":
        for brand, packed in fetch_tuples(conn, _packed_hourly_statement(), params):
            out[brand] = np.fromstring(packed, dtype=np.int64, sep=",").reshape(-1, 6)
        return out
    rows = fetch_tuples(conn, _hourly_statement(), params)
    if rows:
        hours, names, *cols = zip(*rows, strict=True)  # columns, not rows: one C pass
        table_ = np.array([hours, *cols], dtype=np.int64).T
        which = np.array(names, dtype=object)
        for brand in dict.fromkeys(names):
            out[brand] = table_[which == brand]
    return out


@cache
def _packed_hourly_statement() -> Any:
    tbl = table(RollupBrandHour)
    row = sa.func.concat_ws(",", tbl.c.hour, *(tbl.c[c] for c in _COUNTS))
    return (sa.select(tbl.c.brand, sa.func.string_agg(row, ","))
            .where(tbl.c.brand.in_(sa.bindparam("brands", expanding=True)),
                   tbl.c.hour >= sa.bindparam("start"), tbl.c.hour < sa.bindparam("end"))
            .group_by(tbl.c.brand))


@cache
def _hourly_statement() -> Any:
    """Built once, values as parameters: a report reads thousands of rows with it, and
    rebuilding the statement each time cost as much CPU as reading them."""
    tbl = table(RollupBrandHour)
    return sa.select(tbl.c.hour, tbl.c.brand, *(tbl.c[c] for c in _COUNTS)).where(
        tbl.c.brand.in_(sa.bindparam("brands", expanding=True)),
        tbl.c.hour >= sa.bindparam("start"), tbl.c.hour < sa.bindparam("end"))


def _ranged_sums(conn: Connection, hourly: Any, daily: Any, group: Sequence[str], counts: Sequence[str],
                 start_hour: int, end_hour: int, brands: Sequence[str]) -> dict[tuple[Any, ...], list[int]]:
    """Sums of `counts` by `group` over the hours: whole days from `daily`, the hours at
    the two ends from `hourly`; one statement (a UNION ALL of the parts)."""
    edges, days = split_hours(start_hour, end_hour)
    ranges = [("hour", a, b) for a, b in edges] + ([("day", *days)] if days else [])
    params: dict[str, Any] = {"brands": list(brands)}
    for i, (_col, a, b) in enumerate(ranges):
        params[f"from_{i}"], params[f"to_{i}"] = a, b
    stmt = _ranged_statement(hourly, daily, tuple(group), tuple(counts), tuple(col for col, _a, _b in ranges))
    out: dict[tuple[Any, ...], list[int]] = {}
    width = len(group)
    for row in fetch_tuples(conn, stmt, params):
        cell = out.setdefault(tuple(row[:width]), [0] * len(counts))
        for i, x in enumerate(row[width:]):
            cell[i] += int(x or 0)
    return out


@cache
def _ranged_statement(hourly: Any, daily: Any, group: tuple[str, ...], counts: tuple[str, ...],
                      parts: tuple[str, ...]) -> Any:
    """`_ranged_sums`' statement for one shape (which parts: hour ranges, day range),
    built once with the bounds and brands as parameters."""
    selects = []
    for i, col in enumerate(parts):
        tbl = table(hourly if col == "hour" else daily)
        selects.append(
            sa.select(*(tbl.c[g] for g in group), *(sa.func.sum(tbl.c[c]).label(c) for c in counts))
            .where(tbl.c.brand.in_(sa.bindparam("brands", expanding=True)),
                   tbl.c[col] >= sa.bindparam(f"from_{i}"), tbl.c[col] < sa.bindparam(f"to_{i}"))
            .group_by(*(tbl.c[g] for g in group))
        )
    return sa.union_all(*selects)


def platform_totals(
    conn: Connection, start_hour: int, end_hour: int, brands: Sequence[str]
) -> list[tuple[str, str, int, int, int, int, int]]:
    """(brand, platform, mentions, engagement, positive, neutral, negative) over the hours."""
    sums = _ranged_sums(conn, RollupHour, RollupDay, ("brand", "platform"), _COUNTS, start_hour, end_hour, brands)
    return [(b, p, *c) for (b, p), c in sums.items()]


def category_totals(
    conn: Connection, start_hour: int, end_hour: int, brands: Sequence[str]
) -> list[tuple[str, str, int, int]]:
    """(brand, category, mentions, negative mentions) over the hours."""
    sums = _ranged_sums(conn, RollupCategory, RollupDayCategory, ("brand", "category"), _CAT_COUNTS,
                        start_hour, end_hour, brands)
    return [(b, c, m, n) for (b, c), (m, n) in sums.items()]


def brands_with_data(conn: Connection) -> list[str]:
    tbl = table(RollupHour)
    return [b for (b,) in conn.execute(sa.select(tbl.c.brand).distinct())]


def as_rollup_row(values: Mapping[str, Any], terms: str | None = None, mention_id: int | None = None) -> RollupRow:
    """A RollupRow from a mention row's values (a dict as the pipeline inserts it; its
    id, `mention_id` or its "id", when it has none yet, is looked up by (source,
    external_id) if it is needed); `terms`: its stored terms when they were computed ahead."""
    return RollupRow(
        values.get("brand"), values["platform"], values["created_at"], values.get("engagement") or 0,
        values.get("sentiment_label"), values.get("categories") or [], values.get("text") or "",
        values.get("id") if mention_id is None else mention_id, values.get("source"), values.get("external_id"),
        terms,
    )


__all__ = [
    "ALL_TABLES",
    "COUNT_TABLES",
    "CareGroup",
    "Delta",
    "MentionTerms",
    "RollupBrandHour",
    "RollupCareSpan",
    "RollupCategory",
    "RollupDay",
    "RollupDayCategory",
    "RollupHour",
    "RollupRow",
    "add_mentions",
    "as_rollup_row",
    "as_snapshot",
    "care_blocks",
    "care_recount",
    "care_snapshot",
    "care_sql",
    "care_triggers",
    "category_totals",
    "drop_care_triggers",
    "epoch_hour",
    "hour_start",
    "hourly_arrays",
    "hourly_by_brand",
    "platform_totals",
    "rebuild",
    "rebuild_care",
    "recount",
    "remove_mention",
    "snapshot",
    "split_hours",
]
