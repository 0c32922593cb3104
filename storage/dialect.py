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


_IN_SQL: dict[tuple[str, str, int], str] = {}


def _postgres_text(template: str) -> str:
    """A `?`-placeholder template in psycopg's spelling (`%s`, a literal % doubled)."""
    return template.replace("%", "%%").replace("?", "%s")


def select_in(conn: Any, template: str, fixed: Sequence[Any], values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of `template`, a SELECT whose `?` take `fixed` and whose `IN_LIST` stands
    for `IN (values)`, run in chunks of IN_CHUNK values; the values as the driver returns
    them (plain str and int: no type processing).

    Why not `column.in_(values)`: SQLAlchemy expands the list into the statement on every
    execution and processes each value in Python: for the pipeline's per-batch look-ups
    (dedupe, authors, mention ids) that cost several times what the database spent on
    them. Here the text is built once per chunk size: SQLite gets `IN (?, ...)` padded
    with NULLs (which match nothing) to a power of two, so a few statement texts serve
    every batch; PostgreSQL gets `= ANY(%s)` with the list as one array parameter. Both
    use the same index as `IN (...)` (tests/listener/test_cases.py checks the plans)."""
    dialect = conn.dialect.name
    out: list[tuple[Any, ...]] = []
    for chunk in chunks(values):
        if dialect == "postgresql":
            size = 0
            params: tuple[Any, ...] = (*fixed, list(chunk))
        else:
            size = padded_size(len(chunk))
            params = (*fixed, *chunk, *([None] * (size - len(chunk))))
        key = (template, dialect, size)
        sql = _IN_SQL.get(key)
        if sql is None:
            if dialect == "postgresql":
                sql = _postgres_text(template).replace("IN_LIST", "= ANY(%s)")
            else:
                sql = template.replace("IN_LIST", "IN (" + ", ".join(["?"] * size) + ")")
            sql = _IN_SQL[key] = sql
        out += [tuple(r) for r in conn.exec_driver_sql(sql, params).all()]
    return out


def padded_size(n: int) -> int:
    """The power of two that holds `n` rows or values: statements padded to it (with NULL
    rows or values that match nothing) come in a few texts for every batch size, and the
    driver prepares and caches one statement per text (`select_in`, `storage.bulk`)."""
    return 1 << (n - 1).bit_length()


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> list[list[Any]]:
    """`items` in lists of at most `size`: by default one `IN (...)` each, well under
    SQLite's limit of bound parameters (also the deletion sweeps' API lookups, by 100)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def select_by_key(conn: Any, template: str, fixed: Sequence[Any], values: Sequence[str]) -> list[tuple[Any, ...]]:
    """`select_in`'s rows for a `template` that finds at most one row per text value of
    `values` (a look-up by unique key, or an aggregate grouped by that key): the
    pipeline's per-batch look-ups of stored mentions, authors and authors' escalations.

    SQLite: `select_in` (`key IN (...)`). PostgreSQL: one index probe per value, the
    template run as a LATERAL subquery (`key = wanted.v`) over `unnest` of the values
    (its LIMIT keeps the planner from turning it back into a join). `key = ANY(array)` was
    planned from the table's statistics: without them (a new database, a source added
    since the last ANALYZE, a server with autovacuum off) PostgreSQL read every row of the
    prefix (every stored mention of the source, every author of the platform) and
    filtered, so each batch's look-ups grew with history (the dedupe probe: 34 ms a batch
    at 100,000 stored mentions, 3 ms with the probes; tests/storage/test_key_lookups.py
    checks the plans)."""
    if conn.dialect.name != "postgresql":
        return select_in(conn, template, fixed, values)
    key = (template, "lateral", 0)
    sql = _IN_SQL.get(key)
    if sql is None:
        inner = _postgres_text(template).replace("IN_LIST", "= wanted.v")
        sql = _IN_SQL[key] = (f"SELECT found.* FROM unnest(%s::text[]) AS wanted(v) "
                              f"CROSS JOIN LATERAL ({inner} LIMIT 1) AS found")
    out: list[tuple[Any, ...]] = []
    for chunk in chunks(list(dict.fromkeys(values))):  # a value twice would find its row twice
        out += [tuple(r) for r in conn.exec_driver_sql(sql, (chunk, *fixed)).all()]
    return out
