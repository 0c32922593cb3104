"""Case grouping's SQL: the reads, locks and writes `listener.cases` places a batch with.

`listener.cases` decides which case each new escalation joins, re-opens or starts (the
policy, in memory, in post order); these functions read the candidates up front and write
the outcome with one statement per kind of change, on the caller's Connection (the
pipeline's batch transaction), never committing. Why set-based: six queries per post
were most of the pipeline's time (bench/pipeline.py).

Replicas: `lock` takes PostgreSQL transaction-scoped advisory locks, all in one round trip
and in key order, so two replicas placing the same customer's posts at once serialise
(see listener.cases).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import models as t
from storage.bulk import allocate_ids, execute_many, insert_rows
from storage.dialect import chunks, pairs_in, select_in, table
from storage.types import as_utc

_ET, _MT, _CT = table(t.Escalation), table(t.Mention), table(t.CareCase)
_CI, _AU = table(t.CustomerIdentity), table(t.Author)


NewRow = tuple[int, int | None, str, str, str | None, str | None, int, int | None, datetime | None, datetime]
"""A stored escalation not yet in a case with its post's facts: (id, author id, source,
external id, in reply to, conversation id, priority rank, urgency, SLA due, posted at)."""


class CaseRow(NamedTuple):
    id: int
    status: str
    author_id: int | None
    conversation_id: str | None
    head_escalation_id: int | None
    size: int
    urgency: int | None
    updated_at: datetime
    resolved_at: datetime | None


class HeadRow(NamedTuple):
    """A case head's fields a follow-up can raise."""

    id: int
    status: str
    priority_rank: int
    urgency: int | None
    sla_due: datetime | None


# -- reads -----------------------------------------------------------------------------


def new_escalations(conn: Connection, escalation_ids: Sequence[int]) -> list[NewRow]:
    out: list[NewRow] = []
    for chunk in chunks(escalation_ids):
        out += [tuple(r) for r in conn.execute(
            sa.select(_ET.c.id, _MT.c.author_id, _MT.c.source, _MT.c.external_id,
                      _MT.c.in_reply_to, _MT.c.conversation_id, _ET.c.priority_rank,
                      _ET.c.urgency, _ET.c.sla_due, _MT.c.created_at)
            .select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
            .where(_ET.c.id.in_(chunk)))]
    return out


def has_directory(conn: Connection) -> bool:
    """Whether the customer directory links any identity (else no author has another)."""
    return conn.execute(sa.select(_CI.c.customer_id).limit(1)).first() is not None


def thread_cases(conn: Connection, posts: Collection[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(source, external id) -> case id, for those of `posts` that are escalated and in a case."""
    by_source: dict[str, set[str]] = {}
    for source, post in posts:
        by_source.setdefault(source, set()).add(post)
    out: dict[tuple[str, str], int] = {}
    for source, ids in sorted(by_source.items()):
        out.update(((src, ext), int(case_id)) for src, ext, case_id in select_in(conn, _THREAD_CASES, (source,), sorted(ids)))
    return out


# The batch's reads at driver speed (storage.dialect.select_in: plain tuples, no Row, no
# statement built per call); the timestamps converted as UTCDateTime would (`_utc`).
_THREAD_CASES = ("SELECT mention.source, mention.external_id, escalation.case_id FROM escalation "
                 "JOIN mention ON mention.id = escalation.mention_id "
                 "WHERE mention.source = ? AND mention.external_id IN_LIST AND escalation.case_id IS NOT NULL")
_CASE_NAMES = "id, status, author_id, conversation_id, head_escalation_id, size, urgency, updated_at, resolved_at"
_CASES_BY_ID = f"SELECT {_CASE_NAMES} FROM care_case WHERE id IN_LIST"
_CASES_BY_AUTHOR = (f"SELECT {_CASE_NAMES} FROM (SELECT {_CASE_NAMES}, row_number() OVER "
                    "(PARTITION BY author_id ORDER BY id DESC) AS rn FROM care_case WHERE author_id IN_LIST) "
                    "AS ranked WHERE rn <= {per_author}")
_HEADS = "SELECT id, status, priority_rank, urgency, sla_due FROM escalation WHERE id IN_LIST"


def _utc(value: Any) -> datetime | None:
    """A timestamp as the driver returns it (SQLite: the stored text), as UTCDateTime
    reads it: aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def _case(r: tuple[Any, ...]) -> CaseRow:
    return CaseRow(int(r[0]), str(r[1]), r[2], r[3], r[4], int(r[5]), r[6], _utc(r[7]), _utc(r[8]))  # type: ignore[arg-type]


def stored_cases(conn: Connection, case_ids: Collection[int], author_ids: Collection[int],
                 per_author: int = 5) -> list[CaseRow]:
    """The cases `case_ids`, and each of `author_ids`' `per_author` newest cases."""
    rows = [_case(r) for r in select_in(conn, _CASES_BY_ID, (), sorted(case_ids))]
    by_author = _CASES_BY_AUTHOR.replace("{per_author}", str(int(per_author)))
    rows += [_case(r) for r in select_in(conn, by_author, (), sorted(author_ids))]
    return rows


def heads(conn: Connection, head_ids: Collection[int]) -> list[HeadRow]:
    return [HeadRow(int(r[0]), str(r[1]), int(r[2]), r[3], _utc(r[4]))
            for r in select_in(conn, _HEADS, (), sorted(head_ids))]


def linked_authors(conn: Connection, author_ids: Collection[int],
                   customers: dict[int, str] | None = None) -> dict[int, list[int]]:
    """Each author and, when the customer directory links them to a customer, every author
    row of that customer's other identities (the same person on another platform).
    Fills `customers` (author id -> customer id) for the linked ones."""
    me: dict[int, tuple[str, str]] = {}
    for chunk in chunks(sorted(author_ids)):
        me.update((int(r[0]), (r[1], r[2])) for r in conn.execute(
            sa.select(_AU.c.id, _AU.c.platform, sa.func.lower(_AU.c.handle)).where(_AU.c.id.in_(chunk))))
    customer_of: dict[tuple[str, str], str] = {}
    for cond in pairs_in(_CI.c.platform, _CI.c.handle, set(me.values())):
        customer_of.update(((r.platform, r.handle), r.customer_id) for r in conn.execute(
            sa.select(_CI.c.platform, _CI.c.handle, _CI.c.customer_id).where(cond)))
    idents: dict[str, list[tuple[str, str]]] = {}
    for chunk in chunks(sorted(set(customer_of.values()))):
        for r in conn.execute(sa.select(_CI.c.customer_id, _CI.c.platform, _CI.c.handle)
                              .where(_CI.c.customer_id.in_(chunk))):
            idents.setdefault(r.customer_id, []).append((r.platform, r.handle))
    author_of: dict[tuple[str, str], list[int]] = {}
    for chunk in chunks(sorted({i for ids in idents.values() for i in ids})):
        for r in conn.execute(sa.select(_AU.c.id, _AU.c.platform, sa.func.lower(_AU.c.handle).label("h"))
                              .where(sa.tuple_(_AU.c.platform, sa.func.lower(_AU.c.handle)).in_(chunk))):
            author_of.setdefault((r.platform, r.h), []).append(int(r.id))
    out: dict[int, list[int]] = {}
    for a in author_ids:
        customer = customer_of.get(me[a]) if a in me else None
        others = [x for i in idents.get(customer, ()) for x in author_of.get(i, ())] if customer else []
        if customer and customers is not None:
            customers[a] = customer
        out[a] = sorted({a, *others})
    return out


def lock(conn: Connection, keys: Collection[int]) -> None:
    """PostgreSQL: one `pg_advisory_xact_lock` per key, taken in key order in one round
    trip, released at commit (a no-op elsewhere: SQLite has one writer at a time)."""
    if keys and conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                             "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered"),
                     {"keys": sorted(keys)})


def case_of(conn: Connection, escalation_id: int) -> tuple[int, str] | None:
    """(case id, the escalation's status), or None when it is in no case."""
    row = conn.execute(sa.select(_ET.c.case_id, _ET.c.status).where(_ET.c.id == escalation_id)).first()
    if row is None or row.case_id is None:
        return None
    return int(row.case_id), str(row.status)


class CaseHead(NamedTuple):
    head_escalation_id: int | None


def case_head(conn: Connection, case_id: int) -> CaseHead | None:
    """The case's head escalation, or None when there is no such case."""
    row = conn.execute(sa.select(_CT.c.head_escalation_id).where(_CT.c.id == case_id)).first()
    return None if row is None else CaseHead(row.head_escalation_id)


# -- writes ----------------------------------------------------------------------------

# the writes of every batch, as module constants (storage.bulk caches their plans)
_CASE_CHANGED = _CT.update().where(_CT.c.id == sa.bindparam("cid")).values(
    status=sa.bindparam("st"), head_escalation_id=sa.bindparam("head"), size=sa.bindparam("sz"),
    urgency=sa.bindparam("urg"), updated_at=sa.bindparam("upd"), resolved_at=sa.bindparam("res"))
_PLACED = _ET.update().where(_ET.c.id == sa.bindparam("eid")).values(
    case_id=sa.bindparam("cid"), updated_at=sa.bindparam("now"))
_JOINED = _ET.update().where(_ET.c.id == sa.bindparam("eid")).values(
    case_id=sa.bindparam("cid"), status="resolved", resolved_at=sa.bindparam("now"), updated_at=sa.bindparam("now"),
    follow_up_of=sa.bindparam("head"), resolution=sa.bindparam("why"))


def insert_cases(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """New cases (one per head escalation); returns head escalation id -> case id.

    The ids are allocated first (`storage.bulk.allocate_ids`; the batch has written its
    mentions, so on SQLite it holds the write lock) and the rows inserted at driver speed:
    `INSERT ... RETURNING` through SQLAlchemy processed every row in Python."""
    if not rows:
        return {}
    ids = allocate_ids(conn, _CT, len(rows))
    insert_rows(conn, _CT, [{**row, "id": case_id} for row, case_id in zip(rows, ids, strict=True)])
    return {int(row["head_escalation_id"]): case_id for row, case_id in zip(rows, ids, strict=True)}


def update_cases(conn: Connection, params: Sequence[dict[str, Any]]) -> None:
    """Stored cases changed by a batch: keys cid, st, head, sz, urg, upd, res."""
    execute_many(conn, _CASE_CHANGED, params)


def place(conn: Connection, params: Sequence[dict[str, Any]]) -> None:
    """Stored escalations that head a case: keys eid, cid, now."""
    execute_many(conn, _PLACED, params)


def join(conn: Connection, params: Sequence[dict[str, Any]]) -> None:
    """Stored escalations closed into their case's head: keys eid, cid, head, now, why."""
    execute_many(conn, _JOINED, params)


RAISABLE = ("priority", "priority_rank", "sla_due", "urgency")  # what a follow-up can raise on its head
# One statement for every raised head, whatever it raised: a column a head did not raise
# is bound NULL and keeps its value.
_RAISED = _ET.update().where(_ET.c.id == sa.bindparam("hid")).values(
    updated_at=sa.bindparam("raised_at"),
    **{c: sa.func.coalesce(sa.bindparam(c, type_=_ET.c[c].type), _ET.c[c]) for c in RAISABLE})


def raise_heads(conn: Connection, params: Sequence[dict[str, Any]], now: datetime) -> None:
    """Heads follow-ups raised: keys hid and the raised columns (any of RAISABLE).

    One statement, in id order, as the outbox recorder writes ticket references
    (`storage.tickets.record_refs`): two transactions locking the same escalations in one
    order cannot deadlock. With a statement per set of raised columns the pipeline's row
    locks were not in one order, and on PostgreSQL a batch and the recorder deadlocked and
    the batch was rolled back (bench/latency.py --database-url: about one run in four)."""
    rows = [{"hid": p["hid"], "raised_at": now, **{c: p.get(c) for c in RAISABLE}} for p in params]
    execute_many(conn, _RAISED, sorted(rows, key=lambda r: r["hid"]))


def make_head(conn: Connection, case_id: int, escalation_id: int) -> None:
    """A follow-up re-opened by hand heads its case, open, and is no longer a follow-up."""
    conn.execute(_CT.update().where(_CT.c.id == case_id).values(
        head_escalation_id=escalation_id, status="open", resolved_at=None))
    conn.execute(_ET.update().where(_ET.c.id == escalation_id).values(follow_up_of=None))


def set_status(conn: Connection, case_id: int, active: bool, now: datetime) -> None:
    """The case open (its head is active) or resolved at `now`."""
    conn.execute(_CT.update().where(_CT.c.id == case_id).values(
        status="open" if active else "resolved", resolved_at=None if active else now))
