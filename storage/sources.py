"""Per-source state: cursor, replica lease, health and counters (table `source_state`).

All functions work inside the caller's Session and never commit: the pipeline stores a
batch of mentions and advances the cursor in ONE transaction, so a crash re-reads at
most that batch (invariant 1). Rows are created on first use.

Leases keep one poller per source across replicas. `acquire_lease` is a single
conditional UPDATE, so two replicas racing for an expired lease cannot both win:
PostgreSQL re-checks the WHERE clause after the first writer commits, SQLite serialises
writers. The cursor itself moves in one place, `storage.ingest.advance`, with the batch
it covers: a compare-and-set on the cursor, fenced by this lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage.dialect import insert_for, rowcount, table
from storage.models import SourceState
from storage.types import as_utc, utcnow

ERROR_LOG_SIZE = 20
ERROR_TEXT_LIMIT = 2000  # an HTML error page is not an error message
# Not settable here: the key, the cursor (storage.ingest.advance), the lease (acquire/release),
# and the error log (append_error keeps it capped).
_HEALTH_FIELDS = frozenset(SourceState.model_fields) - {
    "source", "cursor", "lease_owner", "lease_until", "error_log",
}
_c = table(SourceState).c


def _update(source: str) -> sa.Update:
    return (
        sa.update(SourceState)
        .where(_c.source == source)
        .execution_options(synchronize_session="fetch")
    )


def ensure_source(session: Session, source: str) -> None:
    """Create the source's row if missing; safe when replicas race to do it."""
    stmt = (
        insert_for(session, SourceState)
        .values(source=source)
        .on_conflict_do_nothing(index_elements=["source"])
    )
    session.execute(stmt)


def get_state(session: Session, source: str) -> SourceState | None:
    """The source's row as an ORM object (for display), or None if never seen."""
    return session.get(SourceState, source, populate_existing=True)


def all_states(session: Session) -> dict[str, SourceState]:
    """Every row of source_state by name (sources and job leases; a small table), for
    the health pages, `socialear sources` and the per-source gauges."""
    return {s.source: s for s in session.execute(sa.select(SourceState)).scalars()}


def get_cursor(session: Session | Connection, source: str) -> str | None:
    """Where the next fetch should start; None means "from the beginning"."""
    stmt = sa.select(_c.cursor).where(_c.source == source)
    return session.execute(stmt).scalar_one_or_none()


def acquire_lease(
    session: Session, source: str, owner: str, ttl_s: float, *, now: datetime | None = None
) -> bool:
    """Take or renew the lease on `source` for `ttl_s` seconds. True if `owner` holds it.

    Succeeds when nobody holds it, it expired, or `owner` already holds it (renewal).
    The caller commits; until then other replicas wait on (PG) or cannot see the claim.
    """
    now = as_utc(now or utcnow())
    ensure_source(session, source)
    free = sa.or_(
        _c.lease_owner.is_(None),
        _c.lease_until.is_(None),
        _c.lease_until < now,
        _c.lease_owner == owner,
    )
    stmt = _update(source).where(free).values(
        lease_owner=owner, lease_until=now + timedelta(seconds=ttl_s)
    )
    return rowcount(session.execute(stmt)) == 1


def renew_lease(session: Session, source: str, owner: str, ttl_s: float, *, now: datetime | None = None) -> bool:
    """Extend `owner`'s lease by `ttl_s` from now, only while it still holds it (the
    heartbeat of a running poll; never takes a free or foreign lease). True if renewed."""
    now = as_utc(now or utcnow())
    stmt = _update(source).where(_c.lease_owner == owner).values(lease_until=now + timedelta(seconds=ttl_s))
    return rowcount(session.execute(stmt)) == 1


def release_lease(session: Session, source: str, owner: str) -> bool:
    """Give the lease up early (clean shutdown). False if `owner` did not hold it."""
    stmt = (
        _update(source)
        .where(_c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
    return rowcount(session.execute(stmt)) == 1


def record_health(session: Session, source: str, **fields: Any) -> None:
    """Set health columns, e.g. `last_success=now, healthy=True, next_run=...`.

    Field names are checked against the table: a typo raises TypeError instead of
    being silently dropped.
    """
    unknown = set(fields) - _HEALTH_FIELDS
    if unknown:
        raise TypeError(f"record_health(): unknown field(s) {sorted(unknown)}; "
                        f"known: {sorted(_HEALTH_FIELDS)}")
    ensure_source(session, source)
    fields.setdefault("updated_at", utcnow())
    session.execute(_update(source).values(**fields))


def append_error(
    session: Session, source: str, error: str | BaseException, *, at: datetime | None = None
) -> None:
    """Record an error: last_error/last_error_at, plus the capped log of the last 20."""
    at = as_utc(at or utcnow())
    text = str(error) if not isinstance(error, BaseException) else (
        f"{type(error).__name__}: {error}"
    )
    text = text[:ERROR_TEXT_LIMIT]
    ensure_source(session, source)
    stmt = (
        sa.select(_c.error_log)
        .where(_c.source == source)
        .with_for_update()
    )
    log = list(session.execute(stmt).scalar_one() or [])
    log.append({"at": at.isoformat(), "error": text})
    session.execute(
        _update(source).values(
            error_log=log[-ERROR_LOG_SIZE:], last_error=text, last_error_at=at, updated_at=at
        )
    )


def bump_counters(
    session: Session,
    source: str,
    *,
    fetched: int = 0,
    quarantined: int = 0,
    budget_used: int = 0,
    stats: Mapping[str, int] | None = None,
) -> None:
    """Add to the running totals, and to named counters in `stats` (e.g. "dropped/spam").

    The totals are incremented in SQL (no lost updates); `stats` is merged under a row
    lock on PostgreSQL.
    """
    ensure_source(session, source)
    values: dict[str, Any] = {
        "fetched_total": _c.fetched_total + fetched,
        "quarantined_total": _c.quarantined_total + quarantined,
        "budget_used": _c.budget_used + budget_used,
    }
    if stats:
        stmt = (
            sa.select(_c.stats)
            .where(_c.source == source)
            .with_for_update()
        )
        merged = dict(session.execute(stmt).scalar_one() or {})
        for key, n in stats.items():
            merged[key] = int(merged.get(key, 0)) + int(n)
        values["stats"] = merged
    session.execute(_update(source).values(**values))


# --------------------------------------------------------------------------- cluster jobs

JOB_PREFIX = "job:"


def job_key(name: str) -> str:
    """The `source_state` row that holds a background job's lease ("job:deletion-check").

    Jobs use the very rows and conditional UPDATE that keep one poller per source, so
    "once per cluster" has one implementation; readers of source health skip these rows."""
    return f"{JOB_PREFIX}{name}"


def is_job(source: str) -> bool:
    return source.startswith(JOB_PREFIX)
