"""Per-sink circuit breakers in the database (table `sink_breaker`), so every replica
agrees that a sink is down and only one of them probes it.

Why a breaker at all: during an outage every due row would otherwise be attempted and
fail, burning an attempt each, hammering a sink that is trying to come back and, with
a count-based limit, dead-lettering escalations that only needed patience. With the
breaker the worker stops claiming a down sink's rows; one row at a time probes it.

    closed ──open_after consecutive retryable failures, or a 429──► open
    open ──next_probe_at passed: one replica takes the probe──────► half_open
    half_open ──the probe row was delivered──► closed (its backlog is due at once)
              └─the probe failed──────────────► open (next probe later, doubling, ≥ Retry-After)
    half_open whose prober died (probe_until passed) ─► probed again by anyone

Functions work on the caller's Session and never commit. A sink with no row is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage.dialect import dialect_name, insert_for, table
from storage.models import OutboxItem, OutboxState, SinkBreaker
from storage.types import as_utc

ERROR_TEXT_LIMIT = 2000
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

_T = table(SinkBreaker)
_c = _T.c
_o = table(OutboxItem).c

ProbeDelay = Callable[[int, float | None], float]  # (consecutive opens, Retry-After) -> seconds


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What one worker round saw of one sink (the in-memory gate's summary)."""

    succeeded: bool  # at least one delivery got through after the last failure
    failures: int  # consecutive retryable failures at the end of the round
    tripped: bool  # the round opened the breaker (threshold reached, a 429, or a failed probe)
    error: str | None = None
    retry_after: float | None = None  # the longest Retry-After the sink asked for


def blocked_sinks(session: Session | Connection) -> set[str]:
    """Sinks whose rows nobody claims in the normal way: open or being probed."""
    return set(session.execute(sa.select(_c.sink).where(_c.state != CLOSED)).scalars())


def failures(session: Session | Connection) -> dict[str, int]:
    """Consecutive failures so far of closed sinks that have some (the threshold counts them)."""
    rows = session.execute(sa.select(_c.sink, _c.failures).where(_c.state == CLOSED, _c.failures > 0))
    return dict(rows.all())


def _probe_due(now: datetime) -> sa.ColumnElement[bool]:
    """Breakers whose sink may be probed now: open and due, or half-open with a dead prober."""
    now = as_utc(now)
    return sa.or_(
        sa.and_(_c.state == OPEN, _c.next_probe_at <= now),
        sa.and_(_c.state == HALF_OPEN, _c.probe_until < now),
    )


def probes_due(conn: Session | Connection, now: datetime) -> bool:
    """Whether `take_probes` would find a sink to probe, read-only (see storage.outbox.any_due)."""
    return conn.execute(sa.select(_c.sink).where(_probe_due(now)).limit(1)).first() is not None


def take_probes(session: Session, owner: str, now: datetime, ttl_s: float) -> list[str]:
    """Sinks whose probe `owner` won: open and due, or half-open with a dead prober.

    One conditional UPDATE: on PostgreSQL a racing replica re-checks the WHERE after the
    winner commits and finds the row half-open; SQLite serialises writers.
    """
    now = as_utc(now)
    stmt = (
        sa.update(_T).where(_probe_due(now))
        .values(state=HALF_OPEN, probe_owner=owner, probe_until=now + timedelta(seconds=ttl_s), updated_at=now)
        .returning(_c.sink)
    )
    return list(session.execute(stmt).scalars())


def close(session: Session, sink: str, now: datetime) -> bool:
    """The sink answered: closed, counters cleared. True if it had been open or half-open."""
    now = as_utc(now)
    was = session.execute(sa.select(_c.state, _c.failures).where(_c.sink == sink)).first()
    if was is None or (was.state == CLOSED and was.failures == 0):
        return False
    session.execute(
        sa.update(_T).where(_c.sink == sink).values(
            state=CLOSED, failures=0, opens=0, opened_at=None, next_probe_at=None,
            probe_owner=None, probe_until=None, updated_at=now,
        )
    )
    return bool(was.state != CLOSED)  # a Row's columns are typed Any


def record_round(
    session: Session,
    sink: str,
    report: RoundReport,
    now: datetime,
    *,
    open_after: int,
    probe_delay: ProbeDelay,
) -> str:
    """Fold one round's outcome for `sink` into its breaker; returns the new state.

    `probe_delay(opens, retry_after)` gives the seconds until the next probe.
    """
    now = as_utc(now)
    if report.succeeded and not report.tripped and report.failures == 0:
        close(session, sink, now)
        return CLOSED
    session.execute(
        insert_for(session, SinkBreaker)
        .values(sink=sink, state=CLOSED, failures=0, opens=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["sink"])
    )
    pick = sa.select(_T).where(_c.sink == sink)
    if dialect_name(session) == "postgresql":
        pick = pick.with_for_update()
    row = session.execute(pick).one()
    error = (report.error or row.last_error or "")[:ERROR_TEXT_LIMIT] or None
    total = report.failures if report.succeeded else row.failures + report.failures
    if report.tripped or row.state != CLOSED or total >= open_after:
        opens = row.opens + 1
        delay = probe_delay(opens, report.retry_after)
        session.execute(
            sa.update(_T).where(_c.sink == sink).values(
                state=OPEN, failures=total, opens=opens, opened_at=row.opened_at or now,
                next_probe_at=now + timedelta(seconds=delay), probe_owner=None, probe_until=None,
                last_error=error, updated_at=now,
            )
        )
        return OPEN
    session.execute(
        sa.update(_T).where(_c.sink == sink).values(failures=total, last_error=error, updated_at=now)
    )
    return CLOSED


def release_backlog(session: Session, sink: str, now: datetime) -> int:
    """A sink is back: its rows waiting out a backoff are due now (claimed by priority)."""
    now = as_utc(now)
    stmt = (
        sa.update(table(OutboxItem))
        .where(_o.sink == sink, _o.state == OutboxState.retry, _o.next_attempt_at > now)
        .values(next_attempt_at=now, updated_at=now)
        .returning(_o.id)
    )
    return len(session.execute(stmt).all())


def breaker_rows(session: Session | Connection) -> list[dict[str, object]]:
    """Every recorded breaker, for `socialear outbox` and the console's health."""
    rows = session.execute(sa.select(_T).order_by(_c.sink)).mappings().all()
    return [dict(r) for r in rows]
