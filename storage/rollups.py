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

Words are not rolled up: a term table grows with vocabulary x days (a year of real text
holds millions of (day, brand, term) rows, more than the mentions' own scan), and it
would multiply the pipeline's writes. The reports' distinctive terms come from a
bounded, stratified sample instead (storage/report_queries.py `text_sample`).

Buckets are integers: `hour` = Unix time // 3600 (UTC). Integer
keys are compact, compare the same on SQLite and PostgreSQL and need no time-zone care.

Concurrency: increments are `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`,
atomic on both databases, applied in key order so two replicas writing overlapping keys
lock them in the same order (no deadlock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from storage.dialect import table

SENTIMENTS = ("positive", "neutral", "negative")


class RollupHour(SQLModel, table=True):
    """Mentions, engagement and sentiment per (hour, brand, platform)."""

    __tablename__ = "rollup_hour"
    __table_args__ = (sa.Index("ix_rollup_hour_brand_hour", "brand", "hour"),)

    hour: int = Field(primary_key=True)  # Unix time // 3600
    brand: str = Field(primary_key=True, max_length=128)
    platform: str = Field(primary_key=True, max_length=32)
    mentions: int = 0
    engagement: int = 0
    positive: int = 0
    neutral: int = 0
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


@dataclass(slots=True)
class Delta:
    """Counts to add (sign +1) or subtract (sign -1), keyed like the two tables."""

    hours: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)
    categories: Counter[tuple[int, str, str, str, str]] = field(default_factory=Counter)

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

    def __bool__(self) -> bool:
        return bool(self.hours)


def _insert(conn: Connection, model: Any) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table(model))
    if name == "sqlite":
        return sqlite.insert(table(model))
    raise NotImplementedError(f"rollups support sqlite and postgresql, not {name}")


def _upsert(conn: Connection, model: Any, keys: Sequence[str], counts: Sequence[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = _insert(conn, model)
    tbl = table(model)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: tbl.c[c] + stmt.excluded[c] for c in counts},
    )
    for i in range(0, len(rows), 2000):
        conn.execute(stmt, rows[i : i + 2000])


def apply(conn: Connection, delta: Delta) -> None:
    """Add `delta` to the two tables, in key order (see the module doc on locks)."""
    hour_rows = [
        {"hour": h, "brand": b, "platform": p, "mentions": c[0], "engagement": c[1],
         "positive": c[2], "neutral": c[3], "negative": c[4]}
        for (h, b, p), c in sorted(delta.hours.items())
    ]
    _upsert(conn, RollupHour, ("hour", "brand", "platform"),
            ("mentions", "engagement", "positive", "neutral", "negative"), hour_rows)
    cats: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for (h, b, p, c, what), n in delta.categories.items():
        row = cats.setdefault((h, b, p, c), {"hour": h, "brand": b, "platform": p, "category": c,
                                              "mentions": 0, "negative": 0})
        row[what] += n
    _upsert(conn, RollupCategory, ("hour", "brand", "platform", "category"), ("mentions", "negative"),
            [cats[k] for k in sorted(cats)])
    if any(c[0] < 0 for c in delta.hours.values()):
        _drop_empty(conn, delta)


def _drop_empty(conn: Connection, delta: Delta) -> None:
    """After a subtraction: the touched rows counted down to zero go, so a recount (which
    has no zero rows) compares equal. Only the touched keys: a purge must not scan."""
    ht, ct = table(RollupHour), table(RollupCategory)
    for h, b, p in sorted(delta.hours):
        conn.execute(sa.delete(ht).where(ht.c.hour == h, ht.c.brand == b, ht.c.platform == p,
                                         ht.c.mentions <= 0))
    for h, b, p, c in sorted({k[:4] for k in delta.categories}):
        conn.execute(sa.delete(ct).where(ct.c.hour == h, ct.c.brand == b, ct.c.platform == p,
                                         ct.c.category == c, ct.c.mentions <= 0))


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


def _stored_rows(conn: Connection) -> Iterator[RollupRow]:
    from storage.models import Mention

    mt = table(Mention)
    q = (
        sa.select(mt.c.brand, mt.c.platform, mt.c.created_at, mt.c.engagement, mt.c.sentiment_label,
                  mt.c.categories, mt.c.text)
        .where(mt.c.deleted_at.is_(None))
        .order_by(mt.c.id)
        .execution_options(yield_per=5000)  # on the statement: on `conn` it would stick
    )
    for r in conn.execute(q):
        yield RollupRow(r.brand, r.platform, r.created_at, r.engagement or 0, r.sentiment_label,
                        r.categories or [], r.text or "")


def recount(conn: Connection) -> Delta:
    """The rollups as a full pass over the stored mentions would compute them."""
    delta = Delta()
    for row in _stored_rows(conn):
        delta.add(row)
    return delta


def rebuild(conn: Connection) -> None:
    """Replace the rollups with a full recount (migration 0004's back-fill; repair)."""
    for model in (RollupHour, RollupCategory):
        conn.execute(sa.delete(table(model)))
    apply(conn, recount(conn))


def snapshot(conn: Connection) -> dict[str, set[tuple[Any, ...]]]:
    """Every rollup row as a tuple, per table: what tests compare with `recount`."""
    out: dict[str, set[tuple[Any, ...]]] = {}
    for model in (RollupHour, RollupCategory):
        tbl = table(model)
        out[tbl.name] = {tuple(r) for r in conn.execute(sa.select(tbl))}
    return out


def as_snapshot(delta: Delta) -> dict[str, set[tuple[Any, ...]]]:
    """`delta` in `snapshot`'s shape (zero counts dropped)."""
    cats: dict[tuple[int, str, str, str], list[int]] = {}
    for (h, b, p, c, what), n in delta.categories.items():
        cats.setdefault((h, b, p, c), [0, 0])[0 if what == "mentions" else 1] += n
    return {
        "rollup_hour": {(h, b, p, *c) for (h, b, p), c in delta.hours.items() if c[0]},
        "rollup_category": {(h, b, p, c, *n) for (h, b, p, c), n in cats.items() if n[0]},
    }


# --------------------------------------------------------------------------- reading


_COUNTS = ("mentions", "engagement", "positive", "neutral", "negative")


def hourly_by_brand(
    conn: Connection, start_hour: int, end_hour: int, brands: Sequence[str]
) -> list[tuple[int, str, int, int, int, int, int]]:
    """(hour, brand, mentions, engagement, positive, neutral, negative), platforms summed."""
    tbl = table(RollupHour)
    q = (
        sa.select(tbl.c.hour, tbl.c.brand, *(sa.func.sum(tbl.c[c]) for c in _COUNTS))
        .where(tbl.c.hour >= start_hour, tbl.c.hour < end_hour, tbl.c.brand.in_(list(brands)))
        .group_by(tbl.c.hour, tbl.c.brand)
    )
    return [(int(h), b, *(int(x or 0) for x in rest)) for h, b, *rest in conn.execute(q)]  # type: ignore[misc]


def platform_totals(
    conn: Connection, start_hour: int, end_hour: int, brands: Sequence[str]
) -> list[tuple[str, str, int, int, int, int, int]]:
    """(brand, platform, mentions, engagement, positive, neutral, negative) over the hours."""
    tbl = table(RollupHour)
    q = (
        sa.select(tbl.c.brand, tbl.c.platform, *(sa.func.sum(tbl.c[c]) for c in _COUNTS))
        .where(tbl.c.hour >= start_hour, tbl.c.hour < end_hour, tbl.c.brand.in_(list(brands)))
        .group_by(tbl.c.brand, tbl.c.platform)
    )
    return [(b, p, *(int(x or 0) for x in rest)) for b, p, *rest in conn.execute(q)]  # type: ignore[misc]


def category_totals(
    conn: Connection, start_hour: int, end_hour: int, brands: Sequence[str]
) -> list[tuple[str, str, int, int]]:
    """(brand, category, mentions, negative mentions) over the hours."""
    tbl = table(RollupCategory)
    q = (
        sa.select(tbl.c.brand, tbl.c.category, sa.func.sum(tbl.c.mentions), sa.func.sum(tbl.c.negative))
        .where(tbl.c.hour >= start_hour, tbl.c.hour < end_hour, tbl.c.brand.in_(list(brands)))
        .group_by(tbl.c.brand, tbl.c.category)
    )
    return [(b, c, int(m or 0), int(n or 0)) for b, c, m, n in conn.execute(q)]


def brands_with_data(conn: Connection) -> list[str]:
    tbl = table(RollupHour)
    return [b for (b,) in conn.execute(sa.select(tbl.c.brand).distinct())]


def as_rollup_row(values: Mapping[str, Any]) -> RollupRow:
    """A RollupRow from a mention row's values (a dict as the pipeline inserts it)."""
    return RollupRow(
        values.get("brand"), values["platform"], values["created_at"], values.get("engagement") or 0,
        values.get("sentiment_label"), values.get("categories") or [], values.get("text") or "",
    )


__all__ = [
    "Delta",
    "RollupCategory",
    "RollupHour",
    "RollupRow",
    "add_mentions",
    "as_rollup_row",
    "as_snapshot",
    "category_totals",
    "epoch_hour",
    "hourly_by_brand",
    "hour_start",
    "platform_totals",
    "rebuild",
    "recount",
    "remove_mention",
    "snapshot",
]
