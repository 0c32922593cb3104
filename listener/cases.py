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

from storage import cases as store
from storage import models as t
from storage.audit import Event, audit_many
from storage.engine import Connection
from storage.types import as_utc

# Both windows are measured in post time (care_case.updated_at is the case's latest post),
# so a backfill groups old posts as they were written.
CASE_WINDOW = timedelta(hours=48)  # an author's posts this close together are one matter
REOPEN_WINDOW = timedelta(days=3)  # a new post re-opens a case resolved this recently
ACTIVE = (t.EscalationStatus.open.value, t.EscalationStatus.claimed.value)
_RANK_PRIORITY = {rank: name for name, rank in t.PRIORITY_RANK.items()}


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
    directory = store.has_directory(conn)
    authors = {n.author_id for n in news if n.author_id is not None}
    customers: dict[int, str] = {}
    linked = store.linked_authors(conn, authors, customers) if directory else {a: [a] for a in authors}
    if conn.dialect.name == "postgresql":
        store.lock(conn, _lock_keys(news, linked, customers))
        if customers:  # a replica we waited for may have committed a linked identity's author row
            linked = store.linked_authors(conn, authors)
    by_post = store.thread_cases(conn, {(n.source, i) for n in news for i in (n.in_reply_to, n.conversation_id) if i})
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
    out = [_New(*r[:6], int(r[6]), int(r[7] or 0), r[8], as_utc(r[9]))
           for r in store.new_escalations(conn, escalation_ids)]
    out.sort(key=lambda n: (n.at, n.esc_id))
    return out


def _stored_cases(conn: Connection, case_ids: set[int], author_ids: set[int]) -> dict[int, _Case]:
    """The cases the batch's threads point at, and each author's five newest cases (the
    candidates one post at a time would read), by id."""
    return {int(r.id): _Case(int(r.id), str(r.status), r.author_id, r.conversation_id,
                             r.head_escalation_id, int(r.size), int(r.urgency or 0),
                             as_utc(r.updated_at), r.resolved_at and as_utc(r.resolved_at), int(r.id))
            for r in store.stored_cases(conn, case_ids, author_ids)}


def _heads(conn: Connection, head_ids: set[int]) -> dict[int, _Head]:
    return {r.id: _Head(r.id, r.status, r.priority_rank, int(r.urgency or 0), r.sla_due)
            for r in store.heads(conn, head_ids)}


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory-lock key for a case key (("author", id), ("customer",
    id) or ("thread", source, post id)): the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256("\x1f".join(map(str, ("case", *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_keys(news: list[_New], linked: dict[int, list[int]], customers: dict[int, str]) -> set[int]:
    """The advisory locks that serialise case placement per author, customer and thread
    across transactions (module docstring), taken before the candidate cases are read, so
    the second replica reads the first one's committed case."""
    keys: set[int] = set()
    for n in news:
        if n.author_id is not None:
            keys.update(lock_key("author", a) for a in linked.get(n.author_id, [n.author_id]))
            if n.author_id in customers:  # the same person on another platform, maybe a new row
                keys.add(lock_key("customer", customers[n.author_id]))
        for post in {n.external_id, n.in_reply_to, n.conversation_id} - {None, ""}:
            keys.add(lock_key("thread", n.source, post))
    return keys


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
        ids = store.insert_cases(conn, rows)
        for case in batch.started:
            case.id = ids[case.head_escalation_id]  # type: ignore[index]
    if batch.changed:
        store.update_cases(conn, [
            {"cid": c.id, "st": c.status, "head": c.head_escalation_id, "sz": c.size, "urg": c.urgency,
             "upd": c.updated_at, "res": c.resolved_at} for c in batch.changed.values()])
    for esc_id, case in batch.placed:
        if esc_id in pending:
            fields.setdefault(esc_id, {})["case_id"] = case.id
    store.place(conn, [{"eid": esc_id, "cid": case.id, "now": now}
                                 for esc_id, case in batch.placed if esc_id not in pending])
    joined = []
    for esc_id, case, head_id in batch.joined:
        why = f"Follow-up in case {case.id}: handled with escalation #{head_id}"
        if esc_id in pending:
            fields.setdefault(esc_id, {}).update(case_id=case.id, status="resolved", resolved_at=now,
                                                 updated_at=now, follow_up_of=head_id, resolution=why)
        else:
            joined.append({"eid": esc_id, "cid": case.id, "head": head_id, "now": now, "why": why})
    store.join(conn, joined)
    raised: list[dict[str, Any]] = []
    for head in batch.heads.values():
        if head.raised and head.id in pending:
            fields.setdefault(head.id, {}).update(head.raised, updated_at=now)
        elif head.raised:
            raised.append({"hid": head.id, **head.raised})
    if raised:  # one statement, in id order (the lock order the outbox recorder keeps too)
        store.raise_heads(conn, raised, now)
    audit_many(conn, [Event("system", action, "escalation", esc_id, now, {"case_id": case.id, **details})
                      for esc_id, action, case, details in batch.audits])
    return fields


def sync_status(conn: Connection, escalation_id: int, now: datetime) -> None:
    """Keep a case's status with its head's: resolving or dismissing the head resolves
    the case; re-opening it re-opens the case (console actions call this)."""
    found = store.case_of(conn, escalation_id)
    if found is None:
        return
    case_id, status = found
    case = store.case_head(conn, case_id)
    if case is None:
        return
    active = status in ACTIVE
    if case.head_escalation_id != escalation_id:
        if active:  # a closed-in follow-up re-opened by hand becomes the head, and no longer a follow-up
            store.make_head(conn, case_id, escalation_id)
        return
    store.set_status(conn, case_id, active, now)
