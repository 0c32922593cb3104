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

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert, Update

from storage.dialect import padded_size
from storage.types import JsonText, UTCDateTime


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # bind names, in the statement's order
    keys: tuple[str | None, ...]  # the row key each bind reads (None: a Python-side default)
    defaults: tuple[Callable[[], Any] | None, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    values: tuple[str, str, str] | None = None  # SQLite INSERT as padded multi-row VALUES (_values_form)


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
        impl = bind.type.dialect_impl(dialect)
        processor: Callable[[Any], Any] | None = impl.bind_processor(dialect)
        if isinstance(impl, sa.JSON) and processor is not None:
            processor = _encoded_as_is(processor, cache=getattr(dialect, "_json_serializer", None) is None)
        elif isinstance(bind.type, UTCDateTime) and processor is not None and dialect.name == "sqlite":
            processor = _sqlite_utc_text(processor)
        processors.append(processor)
    values = None if update else _values_form(dialect.name, compiled.string, names)
    plan = _Plan(compiled.string, names, tuple(row_keys), tuple(defaults), tuple(processors), compiled.positional,
                 values)
    _PLANS[memo] = (stmt, plan)
    return plan


# a short list of strings (as a tuple), or a small object of strings ((dict, *items)) -> its JSON text
_JSON_TEXTS: dict[tuple[Any, ...], str] = {}


def _encoded_as_is(processor: Callable[[Any], Any], cache: bool = True) -> Callable[[Any], Any]:
    """A JSON column's processor that binds a `JsonText` (encoded already) as plain text:
    SQLite stores the text; PostgreSQL's statement casts it (`::JSONB`), as it does the
    driver's own JSON wrapper.

    And the values a batch repeats in every row (an empty object or list, a mention's few
    categories, an escalation's tags) bound as their text, encoded once: `json.dumps` of
    a small list costs a few microseconds, most of it the call, and a batch had tens of
    thousands (bench/pipeline.py). The text is `json.dumps`' own, made on first sight
    (`cache` False: the engine has a JSON serializer of its own, so none of this)."""
    texts = _JSON_TEXTS

    def process(value: Any) -> Any:
        kind = value.__class__
        if kind is JsonText:
            return str(value)
        if not cache:
            return processor(value)
        key: tuple[Any, ...] | None = None
        if kind is list and len(value) <= 8 and all(v.__class__ is str for v in value):
            key = tuple(value)
        elif kind is dict and len(value) <= 4:  # {}, an audit event's details: a few names
            items = tuple(value.items())
            if all(k.__class__ is str and v.__class__ is str for k, v in items):
                key = (dict, *items)
        if key is None:
            return processor(value)
        text = texts.get(key)
        if text is None:
            if len(texts) >= 4096:  # bounded: many distinct values (a rules reload's new tags)
                texts.clear()
            text = texts[key] = json.dumps(value)
        return text
    return process


_UTC_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # SQLAlchemy's SQLite DATETIME storage format


def _sqlite_utc_text(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A `UTCDateTime`'s processor on SQLite for the values the pipeline binds (UTC or
    naive datetimes): the stored text made in one step, instead of the type's conversion
    then SQLAlchemy's formatting (two calls and a dict a value). Anything else, and any
    dialect whose text would differ (checked once, on a few values), takes `processor`."""
    def process(value: Any) -> Any:
        if value.__class__ is datetime and (value.tzinfo is UTC or value.tzinfo is None):
            return _UTC_TEXT % (value.year, value.month, value.day, value.hour, value.minute, value.second,
                                value.microsecond)
        return processor(value)
    probes = [datetime(2026, 11, 1, 12, 3, 4, 5, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC).replace(tzinfo=None),
              datetime(2026, 1, 2, 3, 4, 5, 0, UTC)]
    return process if all(process(v) == processor(v) for v in probes) else processor


def _values_form(dialect: str, sql: str, names: tuple[str, ...]) -> tuple[str, str, str] | None:
    """SQLite: the INSERT as `INSERT ... SELECT column1, ... FROM (VALUES ...) WHERE
    <marker> IS NOT NULL`, in three parts (before the rows, one row, after them), for
    `_insert_values`; None when the statement is not the plain INSERT ... VALUES (?, ...)
    SQLAlchemy compiles. Not on PostgreSQL: psycopg's executemany pipelines the rows
    already, and one statement of 500 rows cost its client more (measured,
    bench/pipeline.py)."""
    head, sep, group = sql.rpartition(" VALUES ")
    if dialect != "sqlite" or not sep or group != "(" + ", ".join(["?"] * len(names)) + ")":
        return None
    n = len(names)
    selected = ", ".join(f"column{i + 1}" for i in range(n))
    return (f"{head} SELECT {selected} FROM (VALUES ", "(" + ", ".join(["?"] * (n + 1)) + ")",
            f") WHERE column{n + 1} IS NOT NULL")


def execute_many(conn: Connection, stmt: Insert | Update, rows: Sequence[dict[str, Any]]) -> None:
    """`conn.execute(stmt, rows)` (an executemany), without SQLAlchemy's per-row work.
    Every row has the same keys, as an executemany requires anyway.

    The parameters are built a column at a time (one C-level `map` to read a column, one
    loop to process it), then zipped into rows: about half the Python work of building
    each row value by value, on the pipeline's hottest path."""
    if not rows:
        return
    plan = _plan(conn, stmt, tuple(rows[0]))
    columns = []
    for key, default, processor in zip(plan.keys, plan.defaults, plan.processors, strict=True):
        if key is not None:
            values = list(map(itemgetter(key), rows))
        else:
            values = [default() for _ in rows]  # type: ignore[misc]  # _plan sets a default exactly where key is None
        columns.append(_processed(values, processor) if processor is not None else values)
    if plan.values is not None and len(rows) > 1:
        _insert_values(conn, plan.values, columns, len(rows))
        return
    params: list[Any] = list(zip(*columns, strict=True))
    if not plan.positional:
        params = [dict(zip(plan.names, values, strict=True)) for values in params]
    conn.exec_driver_sql(plan.sql, params)


_MAX_VARIABLES: list[int] = []  # SQLite's limit on a statement's parameters, read once


def _insert_values(conn: Connection, sql: tuple[str, str, str], columns: list[list[Any]], n: int) -> None:
    """SQLite: the `n` rows (given as `columns`, each a list of `n` values) in one
    statement (per ~1,300 rows, SQLite's parameter limit) instead of one statement a row;
    each row ends with a marker 1.

    Why: SQLite runs each row of an executemany as a statement of its own, and FTS5 (the
    mention table's search index, kept by an AFTER INSERT trigger) writes its pending
    terms out as a new index segment at every statement's savepoint, so a batch of 500
    mentions wrote 500 tiny segments and merged them again: the search index cost more
    than the mention row itself. In one statement the trigger still indexes every row,
    but FTS5 buffers the batch and writes one segment (measured: the index's cost per
    mention 5x lower; the rows, ids and search index stored are the same).

    The rows are padded with NULL rows (marker NULL, filtered out by the statement's
    WHERE) to a power of two: the driver prepares and caches a statement per distinct
    text (sqlite3 keeps 128 per connection, over a megabyte each at this size), so a few
    texts serve every batch size, and a batch still costs one statement per table.

    The flat parameter list is written a column at a time by slice assignment (every
    `width`-th slot, at C speed) into a list of NULLs, instead of zipping the columns
    into row tuples and flattening those again: the same values in the same order,
    without two Python-level passes over every value (tests/storage/test_bulk.py)."""
    if not _MAX_VARIABLES:
        getlimit = getattr(conn.connection.dbapi_connection, "getlimit", None)
        _MAX_VARIABLES.append(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit else 999)
    head, group, tail = sql
    width = len(columns) + 1  # the row's values, then its marker
    per = max(1, _MAX_VARIABLES[0] // width)
    for lo in range(0, n, per):
        m = min(per, n - lo)
        size = min(per, padded_size(m))
        statement = head + ", ".join([group] * size) + tail
        flat: list[Any] = [None] * (size * width)  # the padding rows stay NULL, marker too
        end = m * width
        for i, values in enumerate(columns):
            flat[i:end:width] = values[lo:lo + m] if lo or m < len(values) else values
        flat[width - 1:end:width] = [1] * m
        conn.exec_driver_sql(statement, tuple(flat))


def _processed(values: list[Any], processor: Callable[[Any], Any]) -> list[Any]:
    """`processor` applied to each value (None too, as SQLAlchemy does); a value that is
    the same object as the one before is processed once (a batch's rows share their `now`)."""
    out = []
    last: Any = _UNSET
    done: Any = None
    for value in values:
        if value is not last:
            done = processor(value)
            last = value
        out.append(done)
    return out


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
    AUTOINCREMENT (socialear's tables); call it in the transaction that inserts them.
    Once it has written, it holds SQLite's one write lock; before, the largest id is read
    in its snapshot, and in WAL mode (socialear's engines) its first write fails with
    SQLITE_BUSY if any other writer committed since that snapshot, exactly as a plain
    INSERT after the transaction's first read would: no two writers take the same ids."""
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
