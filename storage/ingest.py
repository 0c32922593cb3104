"""The ingest path's SQL: what one batch reads and writes, on the batch's Connection.

`listener.pipeline` decides (what is new, how it scored, which escalations and outbox
rows there are, when the cursor may move); these functions run the statements, never
committing, so the whole batch stays one transaction (invariant 1).

Why these shapes: the write path is set-based. A batch costs a fixed number of
statements whatever its size (tests/listener/test_cases.py counts them for a whole batch):
one dedupe probe per 500 ids on the (source, external_id) unique index, one read per
platform of the batch's authors and of their escalation counts, one `executemany` per
table written, at driver speed (`storage.bulk`). Pair look-ups are spelled
`a = ? AND b IN (...)` (`storage.dialect.select_in`), which both databases answer from
the index; on PostgreSQL they are one index probe per value whatever its statistics
(`storage.dialect.select_by_key`). The statements that run on every batch are module
constants, so `storage.bulk` compiles each once.

The cursor advance is a compare-and-set on the cursor the batch was fetched from
(`advance`): two pollers that somehow fetched the same page cannot both commit it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from socialear.errors import SocialearError
from storage import models as t
from storage.bulk import allocate_ids, execute_many, insert_rows
from storage.dialect import select_by_key, table
from storage.outbox import notify_new_rows

OPEN_STATUSES = ("open", "claimed")

_MT, _AT, _ET, _OT = table(t.Mention), table(t.Author), table(t.Escalation), table(t.OutboxItem)
_QT, _ST, _AUDIT = table(t.Quarantine), table(t.SourceState), table(t.AuditEvent)
_AUTHOR_SEEN = (  # a stored author seen again
    _AT.update().where(_AT.c.id == sa.bindparam("aid"))
    .values(followers=sa.bindparam("f"), verified=sa.bindparam("v"), last_seen=sa.bindparam("ls"))
)
# the per-batch look-ups by a list of values, each finding at most one row per value
# (storage.dialect.select_by_key)
_STORED_IDS = "SELECT external_id FROM mention WHERE source = ? AND external_id IN_LIST"
_MENTION_IDS = "SELECT external_id, id FROM mention WHERE source = ? AND external_id IN_LIST"
_AUTHOR_IDS = "SELECT id, handle FROM author WHERE platform = ? AND handle IN_LIST"
_ESCALATION_COUNTS = (
    "SELECT author.handle, sum(CASE WHEN escalation.status IN ("
    + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ") THEN 1 ELSE 0 END), "
    "count(escalation.id) FROM author JOIN mention ON mention.author_id = author.id "
    "JOIN escalation ON escalation.mention_id = mention.id "
    "WHERE author.platform = ? AND author.handle IN_LIST GROUP BY author.handle")

AuthorKey = tuple[str, str]  # (platform, handle)


class CursorConflict(SocialearError):
    """Another poller advanced this source's cursor since we read it; our batch is discarded."""


class AuthorFacts(Protocol):
    """What a batch knows of an author (listener.types.Author)."""

    @property
    def name(self) -> str | None: ...

    @property
    def external_id(self) -> str | None: ...

    @property
    def followers(self) -> int: ...

    @property
    def verified(self) -> bool: ...


# -- reads -----------------------------------------------------------------------------


def stored_external_ids(conn: Connection, source: str, external_ids: Sequence[str]) -> set[str]:
    """The dedupe probe: which of `external_ids` this source has stored already."""
    return {r[0] for r in select_by_key(conn, _STORED_IDS, (source,), external_ids)}


def negative_mentions(
    conn: Connection, since: datetime, until: datetime, limit: int = 50_000
) -> list[tuple[datetime, str | None, list[str] | None, str | None]]:
    """(created_at, brand, categories, conversation id) of the negative mentions posted in
    [since, until], oldest first: what the pile-on window is seeded with."""
    return [tuple(r) for r in conn.execute(
        sa.select(_MT.c.created_at, _MT.c.brand, _MT.c.categories, _MT.c.conversation_id)
        .where(_MT.c.created_at >= since, _MT.c.created_at <= until, _MT.c.sentiment_label == "negative")
        .order_by(_MT.c.created_at)
        .limit(limit)
    )]


def escalation_counts(conn: Connection, keys: Collection[AuthorKey]) -> dict[AuthorKey, list[int]]:
    """(platform, handle) -> [open escalations, all escalations] for these authors (those
    with none are left out)."""
    out: dict[AuthorKey, list[int]] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, handle in keys:
        by_platform.setdefault(platform, []).append(handle)
    for platform, handles in sorted(by_platform.items()):
        for h, n_open, n_all in select_by_key(conn, _ESCALATION_COUNTS, (platform,), sorted(handles)):
            out[(platform, h)] = [int(n_open or 0), int(n_all)]
    return out


def mention_ids(conn: Connection, source: str, external_ids: Sequence[str]) -> dict[str, int]:
    """external id -> mention id, for mentions of `source` stored in this transaction."""
    return {str(e): int(i) for e, i in select_by_key(conn, _MENTION_IDS, (source,), external_ids)}


# -- writes ----------------------------------------------------------------------------


def upsert_authors(conn: Connection, latest: Mapping[AuthorKey, AuthorFacts], now: datetime) -> dict[AuthorKey, int]:
    """Store each author as last seen (followers, verified, last_seen); insert the new
    ones. Returns (platform, handle) -> author id for all of them."""
    if not latest:
        return {}
    ids: dict[AuthorKey, int] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, handle in latest:
        by_platform.setdefault(platform, []).append(handle)
    for platform, handles in sorted(by_platform.items()):  # (platform, handle): the unique index
        for aid, handle in select_by_key(conn, _AUTHOR_IDS, (platform,), sorted(handles)):
            ids[(platform, handle)] = int(aid)
    if ids:
        execute_many(conn, _AUTHOR_SEEN, [
            {"aid": ids[k], "f": latest[k].followers, "v": latest[k].verified, "ls": now} for k in ids
        ])
    new = [k for k in latest if k not in ids]
    if new:
        rows = [
            {
                "platform": p,
                "handle": h,
                "name": latest[(p, h)].name,
                "external_id": latest[(p, h)].external_id,
                "followers": latest[(p, h)].followers,
                "verified": latest[(p, h)].verified,
                "first_seen": now,
                "last_seen": now,
            }
            for p, h in new
        ]
        # ids allocated and the rows inserted at driver speed (INSERT ... RETURNING through
        # SQLAlchemy processed every row in Python); see allocate_ids for why no other
        # writer can take the same ids
        new_ids = allocate_ids(conn, _AT, len(rows))
        insert_rows(conn, _AT, [{**row, "id": author_id} for row, author_id in zip(rows, new_ids, strict=True)])
        ids.update(zip(new, new_ids, strict=True))
    return ids


def insert_mentions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """The batch's mentions (their search rows follow by trigger). A plain executemany:
    RETURNING every id costs more than it gives; `mention_ids` reads the few needed."""
    insert_rows(conn, _MT, rows)


def allocate_escalation_ids(conn: Connection, n: int) -> list[int]:
    """Ids for `n` escalations inserted later in this transaction (cases name them first)."""
    return allocate_ids(conn, _ET, n)


def insert_escalations(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, _ET, rows)


def insert_outbox(conn: Connection, rows: Sequence[dict[str, Any]], *, returning: bool) -> list[int]:
    """The new escalations' outbox rows. `returning` (rows already claimed for the local
    worker, which is handed their ids after commit): their ids. Otherwise the replicas'
    workers are woken at commit (PostgreSQL NOTIFY) and nothing is returned."""
    if not rows:
        return []
    if returning:
        return list(conn.execute(_OT.insert().returning(_OT.c.id), list(rows)).scalars())
    insert_rows(conn, _OT, rows)
    notify_new_rows(conn)  # an import or a collect --once: wake the replicas' workers
    return []


def insert_quarantined(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Records that could not be normalised or analysed, kept with their error."""
    if rows:
        conn.execute(_QT.insert(), list(rows))


def advance(
    conn: Connection,
    source: str,
    cursor_before: str | None,
    next_cursor: str | None,
    *,
    counts: Mapping[str, int],
    stats: Counter[str],
    now: datetime,
    rate_limit: tuple[int | None, datetime | None] | None = None,
    budget_used: int | None = None,
    owner: str | None = None,
) -> None:
    """Move `source`'s cursor from `cursor_before` to `next_cursor` (kept when None) and
    record the batch in its health row: `counts` (fetched, stored, escalated,
    quarantined), the per-reason `stats`, the platform's `rate_limit` (remaining,
    reset at) and the month's `budget_used`.

    The one cursor-advance design: a compare-and-set on the cursor, fenced by the lease.
    Raises `CursorConflict` when the stored cursor is not `cursor_before` (another poller
    committed this page meanwhile), or, with `owner` (a poller's instance id), when the
    source's lease is no longer `owner`'s (it lapsed and another replica took it: its
    holder fetches this page again, so this batch must roll back). The row is read FOR
    UPDATE, so on PostgreSQL two transactions cannot both pass the check; an import
    (no lease) passes no `owner` and relies on the compare-and-set alone."""
    row = conn.execute(sa.select(_ST).where(_ST.c.source == source).with_for_update()).mappings().first()
    if owner is not None and (row is None or row["lease_owner"] != owner):
        holder = row["lease_owner"] if row is not None else None
        raise CursorConflict(f"{source}: the lease is held by {holder!r}, not {owner!r}; this batch rolls back")
    if row is None:
        if cursor_before is not None:
            raise CursorConflict(f"{source}: no stored cursor, but the batch was fetched from {cursor_before!r}")
        conn.execute(_ST.insert(), {"source": source, "updated_at": now, "stats": {}, "error_log": []})
        row = conn.execute(sa.select(_ST).where(_ST.c.source == source)).mappings().one()
    elif row["cursor"] != cursor_before:
        raise CursorConflict(f"{source}: cursor moved from {cursor_before!r} to {row['cursor']!r} meanwhile")
    total = Counter(row["stats"] or {})
    total.update(stats)
    for key in ("fetched", "stored", "escalated"):
        total[key] += counts[key]
    values: dict[str, Any] = {
        "cursor": next_cursor if next_cursor is not None else cursor_before,
        "updated_at": now,
        "last_success": now,
        "healthy": True,
        "status_message": None,
        "fetched_total": (row["fetched_total"] or 0) + counts["fetched"],
        "quarantined_total": (row["quarantined_total"] or 0) + counts["quarantined"],
        "stats": dict(total),
    }
    if counts["stored"]:
        values["last_stored_at"] = now
    if row["listening_since"] is None:
        values["listening_since"] = now
    if rate_limit is not None:
        values["rate_limit_remaining"], values["rate_limit_reset"] = rate_limit
    if budget_used:
        period = now.strftime("%Y-%m")
        used = (row["budget_used"] or 0) if row["budget_period"] == period else 0
        values["budget_used"] = used + budget_used
        values["budget_period"] = period
    conn.execute(_ST.update().where(_ST.c.source == source), values)


def claimed(owner: str, lease_s: float, now: datetime) -> dict[str, Any]:
    """The columns of an outbox row written already claimed by `owner`'s worker (as
    `storage.outbox.claim_outbox` would claim it): no claim round trip, and if that
    process dies the rows are its own to resume, or lapse after `lease_s`."""
    return {"state": "sending", "attempts": 1, "locked_by": owner, "locked_until": now + timedelta(seconds=lease_s)}

