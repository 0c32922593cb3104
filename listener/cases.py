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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import models as t
from storage.dialect import table
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
    in_reply_to: str | None
    conversation_id: str | None
    priority_rank: int
    urgency: int
    sla_due: datetime | None
    at: datetime  # the mention's time


def group_new(conn: Connection, escalation_ids: list[int], now: datetime) -> dict[int, int]:
    """Put each new escalation in a case (joining, re-opening or starting one), oldest
    post first so a batch's own follow-ups join the case its first post started.
    Returns {escalation id: case id}."""
    if not escalation_ids:
        return {}
    rows = conn.execute(
        sa.select(_ET.c.id, _MT.c.author_id, _MT.c.source, _MT.c.in_reply_to,
                  _MT.c.conversation_id, _ET.c.priority_rank, _ET.c.urgency, _ET.c.sla_due,
                  _MT.c.created_at, _MT.c.external_id)
        .select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
        .where(_ET.c.id.in_(escalation_ids))
        .order_by(_MT.c.created_at, _ET.c.id)
    ).all()
    # Without a customer directory no author is linked to another: skip two look-ups per
    # post (bench/pipeline.py: case grouping was most of the pipeline's time).
    directory = conn.execute(sa.select(table(t.CustomerIdentity).c.customer_id).limit(1)).first() is not None
    if conn.dialect.name == "postgresql":
        _lock_keys(conn, rows, directory)
    out: dict[int, int] = {}
    for r in rows:
        new = _New(r.id, r.author_id, r.source, r.in_reply_to, r.conversation_id,
                   int(r.priority_rank), int(r.urgency or 0), r.sla_due, as_utc(r.created_at))
        out[new.esc_id] = _place(conn, new, now, directory)
    return out


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory-lock key for a case key (("author", id), ("customer",
    id) or ("thread", source, post id)): the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256("\x1f".join(map(str, ("case", *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_keys(conn: Connection, rows: Sequence[Any], directory: bool) -> None:
    """Serialise case placement per author and per thread across transactions (module
    docstring): one `pg_advisory_xact_lock` per key, sorted, released at commit."""
    keys: set[int] = set()
    for r in rows:
        if r.author_id is not None:
            keys.add(lock_key("author", r.author_id))
            customer = _customer(conn, r.author_id)[0] if directory else None
            if customer is not None:  # the same person on another platform, maybe a new row
                keys.add(lock_key("customer", customer))
                keys.update(lock_key("author", a) for a in _linked_authors(conn, r.author_id, customer))
        for post in {r.external_id, r.in_reply_to, r.conversation_id} - {None, ""}:
            keys.add(lock_key("thread", r.source, post))
    if keys:  # one round trip; the ordered subquery takes them in key order
        conn.execute(sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                             "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered"),
                     {"keys": sorted(keys)})


def _find_case(conn: Connection, new: _New, directory: bool = True) -> Any | None:
    """The case `new` belongs to, open ones first; None for a new matter."""
    cols = (_CT.c.id, _CT.c.status, _CT.c.head_escalation_id, _CT.c.size, _CT.c.urgency,
            _CT.c.updated_at, _CT.c.resolved_at)
    thread_ids = [i for i in (new.in_reply_to, new.conversation_id) if i]
    candidates: list[Any] = []
    threaded: set[int] = set()
    if thread_ids:
        in_thread = (sa.select(_ET.c.case_id)
                     .select_from(_ET.join(_MT, _MT.c.id == _ET.c.mention_id))
                     .where(_MT.c.source == new.source, _MT.c.external_id.in_(thread_ids),
                            _ET.c.case_id.is_not(None)))
        candidates += conn.execute(sa.select(*cols).where(_CT.c.id.in_(in_thread))).all()
        threaded = {c.id for c in candidates}
    if new.author_id is not None:
        candidates += conn.execute(
            sa.select(*cols).where(_CT.c.author_id.in_(
                _linked_authors(conn, new.author_id) if directory else [new.author_id]))
            .order_by(_CT.c.id.desc()).limit(5)).all()
    reopen = None
    for case in candidates:
        if case.status == t.CaseStatus.open.value:
            # a thread joins without a window; an author's separate post within one
            if case.id in threaded or as_utc(case.updated_at) >= new.at - CASE_WINDOW:
                return case
        elif case.resolved_at is not None and as_utc(case.resolved_at) >= new.at - REOPEN_WINDOW:
            reopen = reopen or case
    return reopen


def _customer(conn: Connection, author_id: int) -> tuple[str | None, Any]:
    """(customer id, (platform, lower-case handle)) of an author row; no customer when
    the directory does not link the identity."""
    ci, au = table(t.CustomerIdentity), table(t.Author)
    me = conn.execute(sa.select(au.c.platform, sa.func.lower(au.c.handle)).where(
        au.c.id == author_id)).first()
    if me is None:
        return None, None
    return conn.execute(sa.select(ci.c.customer_id).where(
        ci.c.platform == me[0], ci.c.handle == me[1])).scalar(), me


def _linked_authors(conn: Connection, author_id: int, customer: str | None = None) -> list[int]:
    """The author and, when the customer directory links them to a customer, every author
    row of that customer's other identities (the same person on another platform)."""
    ci, au = table(t.CustomerIdentity), table(t.Author)
    if customer is None:
        customer = _customer(conn, author_id)[0]
    if customer is None:
        return [author_id]
    idents = conn.execute(sa.select(ci.c.platform, ci.c.handle).where(
        ci.c.customer_id == customer)).all()
    linked = conn.execute(sa.select(au.c.id).where(
        sa.tuple_(au.c.platform, sa.func.lower(au.c.handle)).in_([tuple(i) for i in idents])
    )).scalars().all()
    return sorted({author_id, *linked})


def _place(conn: Connection, new: _New, now: datetime, directory: bool = True) -> int:
    case = _find_case(conn, new, directory)
    if case is None:
        case_id = int(conn.execute(_CT.insert().returning(_CT.c.id).values(
            status="open", author_id=new.author_id, conversation_id=new.conversation_id,
            head_escalation_id=new.esc_id, size=1, urgency=new.urgency, opened_at=now,
            updated_at=new.at)).scalar_one())
        conn.execute(_ET.update().where(_ET.c.id == new.esc_id).values(case_id=case_id))
        return case_id
    head = conn.execute(
        sa.select(_ET.c.id, _ET.c.status, _ET.c.priority_rank, _ET.c.urgency, _ET.c.sla_due)
        .where(_ET.c.id == case.head_escalation_id)).first()
    values: dict[str, Any] = {"size": case.size + 1, "urgency": max(case.urgency, new.urgency),
                              "updated_at": max(as_utc(case.updated_at), new.at)}
    if head is not None and str(head.status) in ACTIVE:
        _join(conn, case.id, head, new, now)
    else:  # the case was resolved (or its head closed): the new post re-opens it
        values |= {"status": "open", "resolved_at": None, "head_escalation_id": new.esc_id}
        conn.execute(_ET.update().where(_ET.c.id == new.esc_id).values(case_id=case.id))
        _audit(conn, now, new.esc_id, "case.reopened", case_id=case.id,
               previous_head=case.head_escalation_id)
    conn.execute(_CT.update().where(_CT.c.id == case.id).values(**values))
    return int(case.id)


def _join(conn: Connection, case_id: int, head: Any, new: _New, now: datetime) -> None:
    """Close `new` into the case's active head; raise the head if the follow-up warrants."""
    conn.execute(_ET.update().where(_ET.c.id == new.esc_id).values(
        case_id=case_id, status="resolved", resolved_at=now, updated_at=now, follow_up_of=head.id,
        resolution=f"Follow-up in case {case_id}: handled with escalation #{head.id}"))
    raise_to: dict[str, Any] = {}
    if new.priority_rank > head.priority_rank:
        raise_to |= {"priority": _RANK_PRIORITY[new.priority_rank],
                     "priority_rank": new.priority_rank}
    if new.urgency > (head.urgency or 0):
        raise_to["urgency"] = new.urgency
    if new.sla_due is not None and (head.sla_due is None
                                    or as_utc(new.sla_due) < as_utc(head.sla_due)):
        raise_to["sla_due"] = new.sla_due
    if raise_to:
        conn.execute(_ET.update().where(_ET.c.id == head.id).values(updated_at=now, **raise_to))
    _audit(conn, now, head.id, "case.joined", case_id=case_id, escalation=new.esc_id,
           raised={k: (v.isoformat() if isinstance(v, datetime) else v)
                   for k, v in raise_to.items()} or None)


def _audit(conn: Connection, now: datetime, esc_id: int, action: str, **details: Any) -> None:
    conn.execute(_AT.insert().values(at=now, actor="system", action=action,
                                     subject_type="escalation", subject_id=str(esc_id),
                                     details=details))


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
