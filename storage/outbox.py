"""Outbox queries: claim due rows for delivery and record how delivery went.

State machine (see `OutboxState`)::

    pending ──claim──► sending ──mark_sent──► sent
    retry ───claim──►    │  ├──mark_retry──► retry (next_attempt_at)
                         │  └──mark_dead───► dead ──requeue──► pending
                         └─ worker died: locked_until passes, the row is claimable again

Claims are short leases (30 s) that the claiming worker renews while it delivers
(`renew`), so a dead replica's rows move to another within a minute; a restarted
replica with the same (stable) instance id takes its own `sending` rows back at once
(`resume_own`). Rows of a sink whose circuit breaker is open are not claimed at all
(`exclude_sinks`); the one probing row is claimed with `only_sink`. A claim counts one
attempt (`attempts` += 1); a claimed row the worker skips because its sink's breaker
opened mid-round is handed back without the attempt (`release`). Delivery is at-least-once; sinks de-duplicate with the
row's `idempotency_key`.

Claiming differs per database, both ways giving a row to exactly one claimer:
* PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` then UPDATE the rows it locked;
  concurrent workers skip each other's rows instead of waiting.
* SQLite: one `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING id` statement,
  atomic under SQLite's single-writer lock.

The caller commits right after `claim_outbox` (jobs pass ids, not rows), so the claim
is visible to other workers before the slow network call starts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from storage.dialect import dialect_name, rowcount, table
from storage.models import Escalation, OutboxItem, OutboxState
from storage.types import as_utc, utcnow

DEFAULT_LEASE_S = 30.0
ERROR_TEXT_LIMIT = 4000

S = OutboxState
_T = table(OutboxItem)  # Core table: these are bulk statements, not ORM object edits
_c = _T.c


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Rows a worker may take now: due for (re)delivery, or abandoned mid-send."""
    return sa.or_(
        sa.and_(_c.state.in_([S.pending, S.retry]), _c.next_attempt_at <= now),
        sa.and_(_c.state == S.sending, _c.locked_until < now),
    )


def claim_outbox(
    session: Session,
    worker_id: str,
    limit: int,
    now: datetime | None = None,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    exclude_sinks: Collection[str] = (),
    only_sink: str | None = None,
) -> list[int]:
    """Claim up to `limit` due rows for `worker_id`; ids, most urgent first.

    Claimed rows are `sending`, locked by `worker_id` until now + `lease_s`. Rows of
    `exclude_sinks` are left alone. With `only_sink` (a breaker's probe) the row need not
    be due: the breaker decided when to try the sink again, so its most urgent waiting
    row goes, whatever its own backoff said.
    """
    if limit <= 0:
        return []
    now = as_utc(now or utcnow())
    claim = {
        "state": S.sending,
        "locked_by": worker_id,
        "locked_until": now + timedelta(seconds=lease_s),
        "attempts": _c.attempts + 1,
        "updated_at": now,
    }
    order = (_c.priority_rank.desc(), _c.id)
    if only_sink is not None:
        where = sa.and_(_c.sink == only_sink, sa.or_(
            _c.state.in_([S.pending, S.retry]), sa.and_(_c.state == S.sending, _c.locked_until < now)))
    else:
        where = _due(now)
        if exclude_sinks:
            where = sa.and_(where, _c.sink.not_in(list(exclude_sinks)))
    pick = sa.select(_c.id).where(where).order_by(*order).limit(limit)
    if dialect_name(session) == "postgresql":
        ids = list(session.execute(pick.with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        stmt = sa.update(_T).where(_c.id.in_(ids))
    else:
        stmt = sa.update(_T).where(_c.id.in_(pick.scalar_subquery()))
    rows = session.execute(stmt.values(**claim).returning(_c.id, _c.priority_rank)).all()
    _expire_cached(session, [r.id for r in rows])
    return [r.id for r in sorted(rows, key=lambda r: (-r.priority_rank, r.id))]


def resume_own(session: Session, worker_id: str, now: datetime | None = None) -> int:
    """At start-up: rows this instance was sending when it died are due again now.

    Only safe before this worker claims anything (a running worker's `sending` rows are
    in flight); the worker calls it once, first thing.
    """
    now = as_utc(now or utcnow())
    return _set(session, sa.and_(_c.state == S.sending, _c.locked_by == worker_id), {
        "state": S.retry, "next_attempt_at": now, "updated_at": now, "locked_by": None, "locked_until": None,
    })


def any_due(conn: Session | Connection, now: datetime | None = None, *, exclude_sinks: Collection[str] = ()) -> bool:
    """Whether `claim_outbox` would find a row, read-only.

    A claim is a write. On SQLite a write queues for the database's one write lock, which
    the pipeline holds for most of each batch; SQLite's busy wait polls with sleeps of up
    to 100 ms, so a claim can miss the short gaps between back-to-back batches for a second
    or more, and the rows the pipeline hands over wait behind it (bench/latency.py's tail).
    A read never waits (WAL), so the worker looks first and claims only when there is
    something to take.
    """
    where = _due(as_utc(now or utcnow()))
    if exclude_sinks:
        where = sa.and_(where, _c.sink.not_in(list(exclude_sinks)))
    return conn.execute(sa.select(_c.id).where(where).limit(1)).first() is not None


def renew(session: Session, worker_id: str, now: datetime | None = None, *, lease_s: float = DEFAULT_LEASE_S) -> int:
    """Heartbeat: extend the claims `worker_id` still holds (the rows it is delivering)."""
    now = as_utc(now or utcnow())
    return _set(session, sa.and_(_c.state == S.sending, _c.locked_by == worker_id),
                {"locked_until": now + timedelta(seconds=lease_s)})


def release(session: Session, ids: Iterable[int], worker_id: str, now: datetime | None = None) -> int:
    """Hand claimed rows back unattempted (their sink's breaker opened mid-round): due again
    when the breaker lets them, their claim's attempt not counted, last_error kept."""
    now = as_utc(now or utcnow())
    wanted = list(ids)
    if not wanted:
        return 0
    return _set(session, sa.and_(_c.id.in_(wanted), _c.state == S.sending, _c.locked_by == worker_id), {
        "state": S.retry, "attempts": sa.case((_c.attempts > 0, _c.attempts - 1), else_=0),
        "next_attempt_at": now, "updated_at": now, "locked_by": None, "locked_until": None,
    })


def _expire_cached(session: Session, ids: Iterable[int]) -> None:
    """Core UPDATEs bypass the identity map: drop stale copies of these rows."""
    wanted = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, OutboxItem) and obj.id in wanted:
            session.expire(obj)


def _set(session: Session, where: sa.ColumnElement[bool], values: dict[str, Any]) -> int:
    result = session.execute(sa.update(_T).where(where).values(**values).returning(_c.id))
    ids = list(result.scalars())
    _expire_cached(session, ids)
    return len(ids)


def mark_sent(
    session: Session, refs: Mapping[int, str | None], *, now: datetime | None = None
) -> int:
    """Delivered: each row id with the sink's reference, in one executemany (the
    worker records a whole round at once). From any state but `sent` (a delivery that
    succeeded is a fact even if the row was meanwhile given up on); returns how many
    rows moved (a row already sent keeps its first reference)."""
    if not refs:
        return 0
    now = as_utc(now or utcnow())
    result = session.connection().execute(
        sa.update(_T).where(_c.id == sa.bindparam("oid"), _c.state != S.sent).values(
            state=S.sent, external_ref=sa.bindparam("ref"), sent_at=now, updated_at=now,
            locked_by=None, locked_until=None, last_error=None),
        [{"oid": oid, "ref": ref} for oid, ref in refs.items()],
    )
    _expire_cached(session, refs)
    return rowcount(result)


def defer(session: Session, waiting: Mapping[int, str], due: datetime) -> None:
    """Put `sending` rows back until `due` without spending their attempt (waiting is not
    failing); each keeps why it waits as its last error."""
    for oid, why in waiting.items():
        session.execute(sa.update(_T).where(_c.id == oid, _c.state == S.sending).values(
            state=S.retry, attempts=sa.case((_c.attempts > 0, _c.attempts - 1), else_=0),
            next_attempt_at=due, locked_by=None, locked_until=None, last_error=why,
            updated_at=utcnow()))


@dataclass(frozen=True)
class Row:
    """A claimed row as the worker delivers it."""

    id: int
    sink: str
    kind: str
    attempts: int
    escalation_id: int
    idempotency_key: str
    payload: dict[str, Any]  # frozen payload ({} = build it from the escalation now)
    created_at: datetime | None


def load(conn: Connection, ids: Collection[int]) -> list[Row]:
    rows = conn.execute(
        sa.select(_c.id, _c.sink, _c.attempts, _c.payload, _c.escalation_id, _c.kind, _c.idempotency_key,
                  _c.created_at)
        .where(_c.id.in_(list(ids)))
    ).all()
    return [Row(r.id, r.sink, str(getattr(r.kind, "value", r.kind)), r.attempts or 1, r.escalation_id,
                r.idempotency_key, dict(r.payload or {}), r.created_at) for r in rows]


def in_sinks(conn: Connection, ids: Collection[int], sinks: Collection[str]) -> list[int]:
    """Those of rows `ids` that belong to one of `sinks`."""
    if not sinks:
        return []
    return [int(i) for i in conn.execute(
        sa.select(_c.id).where(_c.id.in_(list(ids)), _c.sink.in_(list(sinks)))).scalars()]


@dataclass(frozen=True)
class Head:
    """The earliest live escalation row of a case for one sink (it makes the ticket)."""

    id: int
    state: str
    external_ref: str | None


def case_head(conn: Connection, case_id: int, sink: str) -> Head | None:
    et = table(Escalation)
    first = conn.execute(
        sa.select(_c.id, _c.state, _c.external_ref)
        .select_from(_T.join(et, et.c.id == _c.escalation_id))
        .where(et.c.case_id == case_id, _c.sink == sink, _c.kind == "escalation", _c.state != S.dead)
        .order_by(_c.id).limit(1)).first()
    if first is None:
        return None
    return Head(int(first.id), str(getattr(first.state, "value", first.state)), first.external_ref)


def mark_retry(
    session: Session,
    outbox_id: int,
    error: str,
    next_attempt_at: datetime,
    *,
    worker_id: str | None = None,
) -> bool:
    """Failed retryably: try again at `next_attempt_at`. Only a row still `sending`
    (and, with `worker_id`, still locked by that worker) moves; returns whether it did."""
    where = sa.and_(_c.id == outbox_id, _c.state == S.sending)
    if worker_id is not None:
        where = sa.and_(where, _c.locked_by == worker_id)
    return bool(_set(session, where, {
        "state": S.retry, "last_error": str(error)[:ERROR_TEXT_LIMIT],
        "next_attempt_at": as_utc(next_attempt_at), "updated_at": utcnow(),
        "locked_by": None, "locked_until": None,
    }))


def mark_dead(session: Session, outbox_id: int, error: str) -> bool:
    """Give up: a permanent error or out of attempts; `error` says why. Not from `sent`."""
    return bool(_set(session, sa.and_(_c.id == outbox_id, _c.state != S.sent), {
        "state": S.dead, "last_error": str(error)[:ERROR_TEXT_LIMIT], "updated_at": utcnow(),
        "locked_by": None, "locked_until": None,
    }))


def requeue(
    session: Session,
    ids: Iterable[int] | None = None,
    *,
    all_dead: bool = False,
    now: datetime | None = None,
) -> int:
    """Send `dead`/`retry` rows again now, with a fresh attempt budget. Returns the count.

    Pass the ids to requeue, or `all_dead=True` for the whole dead-letter queue.
    `last_error` is kept so the console still shows why it had failed.
    """
    if ids is None and not all_dead:
        raise ValueError("requeue(): pass ids or all_dead=True")
    now = as_utc(now or utcnow())
    if all_dead:
        where = _c.state == S.dead
    else:
        where = sa.and_(_c.id.in_(list(ids or [])), _c.state.in_([S.dead, S.retry]))
    return _set(session, where, {
        "state": S.pending, "next_attempt_at": now, "attempts": 0, "updated_at": now,
        "locked_by": None, "locked_until": None,
    })


NOTIFY_CHANNEL = "socialear_outbox"


def notify_new_rows(conn: Any) -> None:
    """PostgreSQL: wake every replica's worker when this transaction commits (LISTEN/NOTIFY
    is transactional: nothing is sent if it rolls back). A no-op on SQLite, where the
    in-process hand-over and the idle poll cover it."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")


def listen_for_rows(engine: Engine, stopped: Callable[[], bool], on_rows: Callable[[], None]) -> None:
    """PostgreSQL: LISTEN on the channel `notify_new_rows` signals and call `on_rows` for
    each notification until `stopped()` (checked every second). Raises when the
    connection fails or is lost; the caller decides when to listen again."""
    import psycopg

    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        while not stopped():
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                on_rows()


def outbox_counts(session: Session) -> dict[str, int]:
    """Rows per state (every state present, zero if none): for health and metrics."""
    rows = session.execute(sa.select(_c.state, sa.func.count()).group_by(_c.state)).all()
    counts = {state.value: 0 for state in OutboxState}
    counts.update({str(getattr(s, "value", s)): n for s, n in rows})
    return counts


def recent_items(conn: Session | Connection, *, include_sent: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """The newest outbox rows (all but the sent ones unless `include_sent`), for
    `socialear outbox`: id, escalation, sink, kind, state, attempts, next attempt, error."""
    ot = table(OutboxItem)
    q = sa.select(
        ot.c.id, ot.c.escalation_id, ot.c.sink, ot.c.kind, ot.c.state,
        ot.c.attempts, ot.c.next_attempt_at, ot.c.last_error,
    )
    if not include_sent:
        q = q.where(ot.c.state != "sent")
    rows = conn.execute(q.order_by(ot.c.id.desc()).limit(limit)).mappings().all()
    return [
        {**r, "state": getattr(r["state"], "value", r["state"]), "kind": getattr(r["kind"], "value", r["kind"])}
        for r in rows
    ]
