"""The few statements whose spelling differs between PostgreSQL and SQLite.

Both support `INSERT ... ON CONFLICT` and `RETURNING` (SQLite since 3.35), but
SQLAlchemy exposes them on per-dialect `insert()` constructs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

IN_CHUNK = 500  # values per `IN (...)`: well under SQLite's bound-parameter limit


def dialect_name(session: Session) -> str:
    """"postgresql" or "sqlite" for the engine `session` is bound to."""
    return session.get_bind().dialect.name


def insert_for(session: Session, model: Any) -> Any:
    """A dialect-specific INSERT for `model`, offering `on_conflict_do_*` and `returning`."""
    name = dialect_name(session)
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"storage supports sqlite and postgresql, not {name}")


def table(model: Any) -> sa.Table:
    """The Core Table behind a SQLModel class (typed, unlike `Model.__table__`)."""
    found = model.__table__
    if not isinstance(found, sa.Table):
        raise TypeError(f"{model!r} is not a table model")
    return found


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE matched (the Result type hides `rowcount` from mypy)."""
    return int(getattr(result, "rowcount", -1))


def pairs_in(first: Any, second: Any, pairs: Iterable[tuple[Any, Any]], size: int = 500) -> list[Any]:
    """WHERE clauses that together match rows whose (first, second) is one of `pairs`:
    `first = ? AND second IN (...)` per value of `first`, in chunks of `size`; run one
    query per clause.

    Why not `tuple_(first, second).in_(pairs)`: SQLite plans a row-value IN over a list
    as a scan of the whole table (EXPLAIN QUERY PLAN: "SCAN author"), so with a million
    stored rows every batch's author or thread look-up read them all; this spelling uses
    the (first, second) index on both databases."""
    by_first: dict[Any, list[Any]] = {}
    for a, b in pairs:
        by_first.setdefault(a, []).append(b)
    out = []
    for a, seconds in sorted(by_first.items(), key=lambda kv: str(kv[0])):
        values = sorted(set(seconds), key=str)
        out += [sa.and_(first == a, second.in_(values[i : i + size])) for i in range(0, len(values), size)]
    return out


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> list[list[Any]]:
    """`items` in lists of at most `size`: by default one `IN (...)` each, well under
    SQLite's limit of bound parameters (also the deletion sweeps' API lookups, by 100)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
