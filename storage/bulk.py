"""INSERT or UPDATE many rows at driver speed, with exactly the values SQLAlchemy would bind.

Why: an executemany through SQLAlchemy Core processes every parameter of every row in
Python (construct_params, then one bind processor call per value); for the pipeline's
few thousand rows a batch that was a sixth of its CPU (bench/pipeline.py profile), more
than SQLite's own work for the same rows. `insert_rows` / `execute_many` compile the
statement once (per statement object, columns and dialect), take each parameter's own
bind processor (JSON serialiser, UTC timestamps, booleans) and each omitted column's
Python-side default (`default` for an INSERT, `onupdate` for an UPDATE) once, and hand
the driver plain tuples (or dicts, for a named paramstyle) in one `executemany`. The
stored values are those `conn.execute(stmt, rows)` stores (tests/storage/test_bulk.py).
Keep UPDATE statements in module constants: the plan is cached by the statement object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert, Update


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # bind names, in the statement's order
    keys: tuple[str | None, ...]  # the row key each bind reads (None: a Python-side default)
    defaults: tuple[Callable[[], Any] | None, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool


_PLANS: dict[tuple[int, tuple[str, ...], str], tuple[Any, _Plan]] = {}
_INSERTS: dict[int, tuple[sa.Table, Insert]] = {}
_UNSET = object()


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _default(column: Any, update: bool) -> Callable[[], Any]:
    default = column.onupdate if update else column.default
    if default is None:
        return lambda: None
    arg = getattr(default, "arg", None)
    if getattr(default, "is_scalar", False):
        return lambda: arg
    if getattr(default, "is_callable", False) and callable(arg):
        return lambda: arg(None)  # SQLAlchemy wraps a no-argument default to take a context
    raise NotImplementedError(f"{column}: a SQL default cannot be bound by storage.bulk")


def _plan(conn: Connection, stmt: Insert | Update, keys: tuple[str, ...]) -> _Plan:
    memo = (id(stmt), keys, conn.dialect.name)
    found = _PLANS.get(memo)
    if found is not None and found[0] is stmt:
        return found[1]
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    update = isinstance(stmt, Update)
    prefetch = {c.key: c for c in [*compiled.insert_prefetch, *compiled.update_prefetch]}
    row_keys: list[str | None] = []
    defaults: list[Callable[[], Any] | None] = []
    processors = []
    for name in names:
        bind = compiled.binds[name]
        if name in keys:
            row_keys.append(name)
            defaults.append(None)
        elif name in prefetch:  # an omitted column with a Python-side default
            row_keys.append(None)
            defaults.append(_default(prefetch[name], update))
        elif not bind.required:  # a constant of the statement (`.values(status="resolved")`)
            row_keys.append(None)
            defaults.append(_constant(bind.effective_value))
        else:
            raise NotImplementedError(f"storage.bulk: no value for bind {name!r}")
        processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    plan = _Plan(compiled.string, names, tuple(row_keys), tuple(defaults), tuple(processors), compiled.positional)
    _PLANS[memo] = (stmt, plan)
    return plan


def execute_many(conn: Connection, stmt: Insert | Update, rows: Sequence[dict[str, Any]]) -> None:
    """`conn.execute(stmt, rows)` (an executemany), without SQLAlchemy's per-row work.
    Every row has the same keys, as an executemany requires anyway."""
    if not rows:
        return
    plan = _plan(conn, stmt, tuple(rows[0]))
    columns = list(zip(plan.keys, plan.defaults, plan.processors, strict=True))
    # the last value each column processed: a batch's rows share objects (its `now`), processed once
    last: list[tuple[Any, Any]] = [(_UNSET, None)] * len(columns)
    params: list[Any] = []
    for row in rows:
        values = []
        for i, (key, default, processor) in enumerate(columns):
            value = row[key] if key is not None else default()  # type: ignore[misc]  # _plan sets a default exactly where key is None
            if processor is not None:  # None too, as SQLAlchemy does
                seen, done = last[i]
                if seen is not value:
                    done = processor(value)
                    last[i] = (value, done)
                value = done
            values.append(value)
        params.append(tuple(values) if plan.positional else dict(zip(plan.names, values, strict=True)))
    conn.exec_driver_sql(plan.sql, params)


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """`conn.execute(table.insert(), rows)`, through `execute_many`."""
    found = _INSERTS.get(id(table))
    if found is None or found[0] is not table:
        found = _INSERTS[id(table)] = (table, table.insert())
    execute_many(conn, found[1], rows)


def allocate_ids(conn: Connection, table: sa.Table, n: int) -> list[int]:
    """`n` new ids for `table`'s integer `id`, in increasing order, for rows the caller
    inserts later in this transaction (so other rows can name them first).

    PostgreSQL: from the column's sequence, as an insert would take them. SQLite: the ids
    after the largest stored one, as SQLite itself assigns them to a table without
    AUTOINCREMENT (socialear's tables); call it only once this transaction has written
    (it then holds SQLite's one write lock, so no other writer can take the same ids)."""
    if n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        return sorted(conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n}).scalars())
    top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
    return list(range(top + 1, top + 1 + n))


def fetch_tuples(conn: Connection, stmt: Any, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """`conn.execute(stmt, params).all()` as the driver's plain tuples, for statements
    whose columns need no result processing (integers, text: no JSON, no timestamps).
    Why: SQLAlchemy builds a Row per result row; for the report's thousands of rollup
    rows that cost more CPU than the database's read (tests/storage/test_bulk.py checks
    the values equal `.all()`'s)."""
    result = conn.execute(stmt, params or {})
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()
