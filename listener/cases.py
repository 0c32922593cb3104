"""Cases: one customer's matter, however many posts it takes them to tell it.

An agent should see the customer's second "charged twice" post with the first, not as a
second queue item, and the contact centre should get one ticket with the follow-up as a
comment. So every new escalation is put in a case, in the pipeline's transaction:

    reply in a case's thread (in_reply_to / conversation_id is a case's post)  ─┐
    same author (or a linked identity of the same customer, storage.customers),
    case open and active within CASE_WINDOW                                     ├─► join it
    same author (or thread), case resolved within REOPEN_WINDOW  ──► re-open it ┘
    otherwise                                                     ──► a new case

A thread joins by post ids, not by conversation alone: the replies under a brand's own
post share its conversation id but come from many customers.

Joining an open case closes the new escalation into the case's head (the escalation the
queue shows): status `resolved`, no label, `follow_up_of` the head (shown as a follow-up
in the console and the exports), resolution naming the case, so the queue keeps one row
per case. When the follow-up is more pressing (higher priority or urgency, or an
earlier SLA) the head is raised to match: "warranted" means the customer's situation
got worse, never better. Re-opening makes the new escalation the head.

Replicas: two PostgreSQL replicas can group posts of the same author (or thread) at the
same instant, each in its own transaction; neither would see the other's new case, and the
author would get two. So `group_new` first takes a transaction-scoped advisory lock for
every author (with their linked identities) and thread it is about to place, all at once
and in sorted order (no deadlock between two batches): the second replica waits until
the first commits, then finds its case. SQLite has one writer at a time already.

The sinks deliver a case as one ticket: `responders.outbox` sends every escalation after
the case's first as a comment on the first's ticket.

Everything here is audited (`case.*` events on the head escalation) and runs inside the
caller's transaction, so a crash leaves both the escalation and its case or neither.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import models as t
from storage.bulk import execute_many, insert_rows
from storage.dialect import pairs_in, table
from storage.types import as_utc

# Both windows are measured in post time (care_case.updated_at is the case's latest post),
# so a backfill groups old posts as they were written.
CASE_WINDOW = timedelta(hours=48)  # an author's posts this close together are one matter
REOPEN_WINDOW = timedelta(days=3)  # a new post re-opens a case resolved this recently
ACTIVE = (t.EscalationStatus.open.value, t.EscalationStatus.claimed.value)
_RANK_PRIORITY = {rank: name for name, rank in t.PRIORITY_RANK.items()}

_ET, _MT, _CT, _AT = (table(t.Escalation), table(t.Mention), table(t.CareCase),
                      table(t.AuditEvent))


@dataclass(frozen=True, slots=True)
class _New:
    esc_id: int
    author_id: int | None
    source: str
    external_id: str
    in_reply_to: str | None
    conversation_id: str | None
    priority_rank: int
    urgency: int
    sla_due: datetime | None
    at: datetime  # the mention's time


@dataclass(slots=True)
class _Case:
    """A case as a batch sees it: read once, changed in memory, written once.

    `key` is the case id for a stored case and -1, -2 ... for cases this batch starts
    (their ids exist only once they are inserted); `order` sorts like the ids will."""

    key: int
    status: str
    author_id: int | None
    conversation_id: str | None
    head_escalation_id: int | None
    size: int
    urgency: int
    updated_at: datetime
    resolved_at: datetime | None
    id: int | None = None  # known for stored cases; set for new ones when inserted

    @property
    def order(self) -> tuple[int, int]:
        return (0, self.key) if self.key > 0 else (1, -self.key)


@dataclass(slots=True)
class _Head:
    """The head escalation's fields that a follow-up can raise, and what it raised."""

    id: int
    status: str
    priority_rank: int
    urgency: int
    sla_due: datetime | None
    raised: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Batch:
    """Everything group_new reads up front, and what placing the batch changes."""

    cases: dict[int, _Case]  # by key
    by_post: dict[tuple[str, str], int]  # (source, external id) of an escalated post -> case key
    by_author: dict[int, list[_Case]]  # author id -> that author's cases, newest first
    linked: dict[int, list[int]]  # author id -> the author ids of the same customer
    heads: dict[int, _Head]
    changed: dict[int, _Case] = field(default_factory=dict)  # stored cases to update
    started: list[_Case] = field(default_factory=list)  # cases to insert, in creation order
    placed: list[tuple[int, _Case]] = field(default_factory=list)  # escalation heads a case
    joined: list[tuple[int, _Case, int]] = field(default_factory=list)  # (escalation, case, head)
    audits: list[tuple[int, str, _Case, dict[str, Any]]] = field(default_factory=list)


def group_new(conn: Connection, escalation_ids: list[int], now: datetime) -> dict[int, int]:
    """Put each new (stored) escalation in a case (joining, re-opening or starting one),
    oldest post first so a batch's own follow-ups join the case its first post started.
    Returns {escalation id: case id}.

    Set-based, in a fixed number of statements whatever the batch's size: the candidate
    cases (by thread and by author, linked identities included), and their heads, are
    read up front; each post is then placed in memory in post order, seeing what the
    batch's earlier posts started, joined or re-opened, exactly as placing one post at
    a time against the database would; the outcome is written with one statement per
    kind of change. Six queries per post were most of the pipeline's time
    (bench/pipeline.py). The pipeline uses `place_pending`, which places escalations
    before they are inserted."""
    if not escalation_ids:
        return {}
    news = _load_new(conn, escalation_ids)
    batch, placed = _group(conn, news, now)
    _write(conn, batch, now)
    return {esc_id: int(case.id) for esc_id, case in placed.items() if case.id is not None}


def pending(esc_id: int, author_id: int | None, source: str, external_id: str, in_reply_to: str | None,
            conversation_id: str | None, priority_rank: int, urgency: int, sla_due: datetime | None,
            at: datetime) -> _New:
    """An escalation about to be inserted (its id allocated), as `place_pending` takes it."""
    return _New(esc_id, author_id, source, external_id, in_reply_to, conversation_id, priority_rank,
                urgency, sla_due, as_utc(at))


def place_pending(conn: Connection, news: list[_New], now: datetime) -> dict[int, dict[str, Any]]:
    """`group_new` for escalations not inserted yet (ids allocated, storage.bulk.allocate_ids):
    the cases are read, placed and written alike, and each new escalation's own fields
    (`case_id`; a follow-up's `status`, `resolved_at`, `follow_up_of`, `resolution`; what a
    later follow-up raised on a new head) are returned, by escalation id, for the caller
    to insert it with. Inserting the final row, instead of inserting and then updating
    it, spares a batch two UPDATEs over the escalation's many indexes and the care
    rollup trigger's un-count and re-count (bench/pipeline.py)."""
    if not news:
        return {}
    news = sorted(news, key=lambda n: (n.at, n.esc_id))
    batch, _ = _group(conn, news, now)
    return _write(conn, batch, now, {n.esc_id for n in news})


def _group(conn: Connection, news: list[_New], now: datetime) -> tuple[_Batch, dict[int, _Case]]:
    """Read the candidate cases and heads, and place each of `news` in memory, in order."""
    # Without a customer directory no author is linked to another: skip those look-ups.
    directory = conn.execute(sa.select(table(t.CustomerIdentity).c.customer_id).limit(1)).first() is not None
    authors = {n.author_id for n in news if n.author_id is not None}
    customers: dict[int, str] = {}
    linked = _linked_authors(conn, authors, customers) if directory else {a: [a] for a in authors}
    if conn.dialect.name == "postgresql":
        _lock_keys(conn, news, linked, customers)
        if customers:  # a replica we waited for may have committed a linked identity's author row
            linked = _linked_authors(conn, authors)
    by_post = _thread_cases(conn, news)
    cases = _stored_cases(conn, set(by_post.values()), {a for ids in linked.values() for a in ids})
    by_author: dict[int, list[_Case]] = {}
    for case in sorted(cases.values(), key=lambda c: c.order, reverse=True):
        if case.author_id is not None:
            by_author.setdefault(case.author_id, []).append(case)
    heads = _heads(conn, {c.head_escalation_id for c in cases.values() if c.head_escalation_id is not None})
    batch = _Batch(cases, by_post, by_author, linked, heads)
    placed = {new.esc_id: _place(batch, new, now) for new in news}
    return batch, placed


def _load_new(conn: Connection, escalation_ids: list[int]) -> list[_New]:
    """The new escalations with their posts' facts, oldest post first."""
    out: list[_New] = []
    for chunk in _chunks(escalation_ids):
        out += [
            _New(r.id, r.author_id, r.source, r.external_id, r.in_reply_to, r.conversation_id,
                 int(r.priority_rank), int(r.urgency or 0), r.sla_due, as_utc(r.created_at))
            for r in conn.execute(
                sa.select(_ET.c.id, _MT.c.author_id, _MT.c.source, _MT.c.external_id,
                          _MT.c.in_reply_to, _MT.c.conversation_id, _ET.c.priority_rank,
                          _ET.c.urgency, _ET.c.sla_due, _MT.c.created_at)
                .select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
                .where(_ET.c.id.in_(chunk)))
        ]
    out.sort(key=lambda n: (n.at, n.esc_id))
    return out


def _thread_cases(conn: Connection, news: list[_New]) -> dict[tuple[str, str], int]:
    """(source, external id) -> case id, for the stored posts the batch replies to."""
    wanted = {(n.source, i) for n in news for i in (n.in_reply_to, n.conversation_id) if i}
    out: dict[tuple[str, str], int] = {}
    for cond in pairs_in(_MT.c.source, _MT.c.external_id, wanted):
        out.update(((r.source, r.external_id), int(r.case_id)) for r in conn.execute(
            sa.select(_MT.c.source, _MT.c.external_id, _ET.c.case_id)
            .select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
            .where(cond, _ET.c.case_id.is_not(None))))
    return out


_CASE_COLS = (_CT.c.id, _CT.c.status, _CT.c.author_id, _CT.c.conversation_id,
              _CT.c.head_escalation_id, _CT.c.size, _CT.c.urgency, _CT.c.updated_at,
              _CT.c.resolved_at)


def _stored_cases(conn: Connection, case_ids: set[int], author_ids: set[int]) -> dict[int, _Case]:
    """The cases the batch's threads point at, and each author's five newest cases (the
    candidates one post at a time would read), by id."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(case_ids)):
        rows += conn.execute(sa.select(*_CASE_COLS).where(_CT.c.id.in_(chunk))).all()
    newest = sa.func.row_number().over(partition_by=_CT.c.author_id, order_by=_CT.c.id.desc())
    for chunk in _chunks(sorted(author_ids)):
        ranked = sa.select(*_CASE_COLS, newest.label("rn")).where(_CT.c.author_id.in_(chunk)).subquery()
        rows += conn.execute(sa.select(*(ranked.c[c.name] for c in _CASE_COLS)).where(ranked.c.rn <= 5)).all()
    return {int(r.id): _Case(int(r.id), str(r.status), r.author_id, r.conversation_id,
                             r.head_escalation_id, int(r.size), int(r.urgency or 0),
                             as_utc(r.updated_at), r.resolved_at and as_utc(r.resolved_at), int(r.id))
            for r in rows}


def _heads(conn: Connection, head_ids: set[int]) -> dict[int, _Head]:
    out: dict[int, _Head] = {}
    for chunk in _chunks(sorted(head_ids)):
        for r in conn.execute(sa.select(_ET.c.id, _ET.c.status, _ET.c.priority_rank, _ET.c.urgency,
                                        _ET.c.sla_due).where(_ET.c.id.in_(chunk))):
            out[int(r.id)] = _Head(int(r.id), str(getattr(r.status, "value", r.status)),
                                   int(r.priority_rank), int(r.urgency or 0), r.sla_due)
    return out


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory-lock key for a case key (("author", id), ("customer",
    id) or ("thread", source, post id)): the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256("\x1f".join(map(str, ("case", *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_keys(conn: Connection, news: list[_New], linked: dict[int, list[int]],
               customers: dict[int, str]) -> None:
    """Serialise case placement per author, customer and thread across transactions
    (module docstring): one `pg_advisory_xact_lock` per key, taken in key order in one
    round trip, released at commit. Taken before the candidate cases are read, so the
    second replica reads the first one's committed case."""
    keys: set[int] = set()
    for n in news:
        if n.author_id is not None:
            keys.update(lock_key("author", a) for a in linked.get(n.author_id, [n.author_id]))
            if n.author_id in customers:  # the same person on another platform, maybe a new row
                keys.add(lock_key("customer", customers[n.author_id]))
        for post in {n.external_id, n.in_reply_to, n.conversation_id} - {None, ""}:
            keys.add(lock_key("thread", n.source, post))
    if keys:
        conn.execute(sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                             "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered"),
                     {"keys": sorted(keys)})


def _linked_authors(conn: Connection, author_ids: set[int],
                    customers: dict[int, str] | None = None) -> dict[int, list[int]]:
    """Each author and, when the customer directory links them to a customer, every author
    row of that customer's other identities (the same person on another platform).
    Fills `customers` (author id -> customer id) for the linked ones."""
    ci, au = table(t.CustomerIdentity), table(t.Author)
    me: dict[int, tuple[str, str]] = {}
    for chunk in _chunks(sorted(author_ids)):
        me.update((int(r[0]), (r[1], r[2])) for r in conn.execute(
            sa.select(au.c.id, au.c.platform, sa.func.lower(au.c.handle)).where(au.c.id.in_(chunk))))
    customer_of: dict[tuple[str, str], str] = {}
    for cond in pairs_in(ci.c.platform, ci.c.handle, set(me.values())):
        customer_of.update(((r.platform, r.handle), r.customer_id) for r in conn.execute(
            sa.select(ci.c.platform, ci.c.handle, ci.c.customer_id).where(cond)))
    idents: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(sorted(set(customer_of.values()))):
        for r in conn.execute(sa.select(ci.c.customer_id, ci.c.platform, ci.c.handle)
                              .where(ci.c.customer_id.in_(chunk))):
            idents.setdefault(r.customer_id, []).append((r.platform, r.handle))
    author_of: dict[tuple[str, str], list[int]] = {}
    for chunk in _chunks(sorted({i for ids in idents.values() for i in ids})):
        for r in conn.execute(sa.select(au.c.id, au.c.platform, sa.func.lower(au.c.handle).label("h"))
                              .where(sa.tuple_(au.c.platform, sa.func.lower(au.c.handle)).in_(chunk))):
            author_of.setdefault((r.platform, r.h), []).append(int(r.id))
    out: dict[int, list[int]] = {}
    for a in author_ids:
        customer = customer_of.get(me[a]) if a in me else None
        others = [x for i in idents.get(customer, ()) for x in author_of.get(i, ())] if customer else []
        if customer and customers is not None:
            customers[a] = customer
        out[a] = sorted({a, *others})
    return out


def _choose(batch: _Batch, new: _New) -> _Case | None:
    """The case `new` belongs to, open ones first; None for a new matter."""
    keys = {batch.by_post[(new.source, i)] for i in (new.in_reply_to, new.conversation_id)
            if i and (new.source, i) in batch.by_post}
    threaded = sorted((batch.cases[k] for k in keys), key=lambda c: c.order)
    candidates = list(threaded)
    if new.author_id is not None:
        pool = {c.key: c for a in batch.linked[new.author_id] for c in batch.by_author.get(a, ())}
        candidates += sorted(pool.values(), key=lambda c: c.order, reverse=True)[:5]
    reopen = None
    for case in candidates:
        if case.status == t.CaseStatus.open.value:
            # a thread joins without a window; an author's separate post within one
            if case.key in keys or case.updated_at >= new.at - CASE_WINDOW:
                return case
        elif case.resolved_at is not None and case.resolved_at >= new.at - REOPEN_WINDOW:
            reopen = reopen or case
    return reopen


def _place(batch: _Batch, new: _New, now: datetime) -> _Case:
    case = _choose(batch, new)
    if case is None:
        case = _Case(-(len(batch.started) + 1), "open", new.author_id, new.conversation_id,
                     new.esc_id, 1, new.urgency, new.at, None)
        batch.started.append(case)
        batch.cases[case.key] = case
        if case.author_id is not None:
            batch.by_author.setdefault(case.author_id, []).insert(0, case)
        batch.placed.append((new.esc_id, case))
    else:
        head = batch.heads.get(case.head_escalation_id) if case.head_escalation_id is not None else None
        case.size += 1
        case.urgency = max(case.urgency, new.urgency)
        case.updated_at = max(case.updated_at, new.at)
        if head is not None and head.status in ACTIVE:
            _join(batch, case, head, new)
        else:  # the case was resolved (or its head closed): the new post re-opens it
            batch.audits.append((new.esc_id, "case.reopened", case,
                                 {"previous_head": case.head_escalation_id}))
            case.status, case.resolved_at, case.head_escalation_id = "open", None, new.esc_id
            batch.placed.append((new.esc_id, case))
        if case.key > 0:
            batch.changed[case.key] = case
    # the new escalation is a case's post now: later posts of the batch reply to it,
    # and while it heads its case, they join it
    batch.by_post[(new.source, new.external_id)] = case.key
    batch.heads[new.esc_id] = _Head(new.esc_id, "open", new.priority_rank, new.urgency, new.sla_due)
    if case.head_escalation_id != new.esc_id:
        batch.heads[new.esc_id].status = "resolved"
    return case


def _join(batch: _Batch, case: _Case, head: _Head, new: _New) -> None:
    """Close `new` into the case's active head; raise the head if the follow-up warrants."""
    batch.joined.append((new.esc_id, case, head.id))
    raise_to: dict[str, Any] = {}
    if new.priority_rank > head.priority_rank:
        raise_to |= {"priority": _RANK_PRIORITY[new.priority_rank], "priority_rank": new.priority_rank}
        head.priority_rank = new.priority_rank
    if new.urgency > head.urgency:
        raise_to["urgency"] = head.urgency = new.urgency
    if new.sla_due is not None and (head.sla_due is None or as_utc(new.sla_due) < as_utc(head.sla_due)):
        raise_to["sla_due"] = head.sla_due = new.sla_due
    head.raised |= raise_to
    batch.audits.append((head.id, "case.joined", case, {
        "escalation": new.esc_id,
        "raised": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in raise_to.items()} or None,
    }))


# the writes of every batch, as module constants (storage.bulk caches their plans)
_CASE_CHANGED = _CT.update().where(_CT.c.id == sa.bindparam("cid")).values(
    status=sa.bindparam("st"), head_escalation_id=sa.bindparam("head"), size=sa.bindparam("sz"),
    urgency=sa.bindparam("urg"), updated_at=sa.bindparam("upd"), resolved_at=sa.bindparam("res"))
_PLACED = _ET.update().where(_ET.c.id == sa.bindparam("eid")).values(
    case_id=sa.bindparam("cid"), updated_at=sa.bindparam("now"))
_JOINED = _ET.update().where(_ET.c.id == sa.bindparam("eid")).values(
    case_id=sa.bindparam("cid"), status="resolved", resolved_at=sa.bindparam("now"), updated_at=sa.bindparam("now"),
    follow_up_of=sa.bindparam("head"), resolution=sa.bindparam("why"))


def _write(conn: Connection, batch: _Batch, now: datetime,
           pending: set[int] | frozenset[int] = frozenset()) -> dict[int, dict[str, Any]]:
    """The batch's placements, one statement per kind of change, in the caller's
    transaction; for the `pending` escalations (not inserted yet) their fields instead."""
    fields: dict[int, dict[str, Any]] = {}
    if batch.started:  # inserted in creation order; matched back by head (one case per head)
        rows = [{"status": c.status, "author_id": c.author_id, "conversation_id": c.conversation_id,
                 "head_escalation_id": c.head_escalation_id, "size": c.size, "urgency": c.urgency,
                 "opened_at": now, "updated_at": c.updated_at, "resolved_at": c.resolved_at}
                for c in batch.started]
        # no sort_by_parameter_order: without a sentinel column SQLAlchemy then inserts a row at a time
        ids = {h: i for h, i in conn.execute(_CT.insert().returning(_CT.c.head_escalation_id, _CT.c.id), rows)}
        for case in batch.started:
            case.id = int(ids[case.head_escalation_id])
    if batch.changed:
        execute_many(conn, _CASE_CHANGED, [
            {"cid": c.id, "st": c.status, "head": c.head_escalation_id, "sz": c.size, "urg": c.urgency,
             "upd": c.updated_at, "res": c.resolved_at} for c in batch.changed.values()])
    for esc_id, case in batch.placed:
        if esc_id in pending:
            fields.setdefault(esc_id, {})["case_id"] = case.id
    execute_many(conn, _PLACED, [{"eid": esc_id, "cid": case.id, "now": now}
                                 for esc_id, case in batch.placed if esc_id not in pending])
    joined = []
    for esc_id, case, head_id in batch.joined:
        why = f"Follow-up in case {case.id}: handled with escalation #{head_id}"
        if esc_id in pending:
            fields.setdefault(esc_id, {}).update(case_id=case.id, status="resolved", resolved_at=now,
                                                 updated_at=now, follow_up_of=head_id, resolution=why)
        else:
            joined.append({"eid": esc_id, "cid": case.id, "head": head_id, "now": now, "why": why})
    execute_many(conn, _JOINED, joined)
    raised: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for head in batch.heads.values():
        if head.raised and head.id in pending:
            fields.setdefault(head.id, {}).update(head.raised, updated_at=now)
        elif head.raised:
            raised.setdefault(tuple(sorted(head.raised)), []).append({"hid": head.id, **head.raised})
    for columns, params in raised.items():  # one statement per set of raised columns
        conn.execute(_ET.update().where(_ET.c.id == sa.bindparam("hid")).values(
            updated_at=now, **{c: sa.bindparam(c) for c in columns}), params)
    if batch.audits:
        insert_rows(conn, _AT, [
            {"at": now, "actor": "system", "action": action, "subject_type": "escalation",
             "subject_id": str(esc_id), "details": {"case_id": case.id, **details}}
            for esc_id, action, case, details in batch.audits])
    return fields


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def sync_status(conn: Connection, escalation_id: int, now: datetime) -> None:
    """Keep a case's status with its head's: resolving or dismissing the head resolves
    the case; re-opening it re-opens the case (console actions call this)."""
    row = conn.execute(sa.select(_ET.c.case_id, _ET.c.status).where(
        _ET.c.id == escalation_id)).first()
    if row is None or row.case_id is None:
        return
    case = conn.execute(sa.select(_CT.c.head_escalation_id, _CT.c.status).where(
        _CT.c.id == row.case_id)).first()
    if case is None:
        return
    active = str(row.status) in ACTIVE
    if case.head_escalation_id != escalation_id:
        if not active:
            return
        # a closed-in follow-up re-opened by hand becomes the head, and no longer a follow-up
        conn.execute(_CT.update().where(_CT.c.id == row.case_id).values(
            head_escalation_id=escalation_id, status="open", resolved_at=None))
        conn.execute(_ET.update().where(_ET.c.id == escalation_id).values(follow_up_of=None))
        return
    conn.execute(_CT.update().where(_CT.c.id == row.case_id).values(
        status="open" if active else "resolved", resolved_at=None if active else now))
