"""storage.bulk.insert_rows stores exactly what `conn.execute(table.insert(), rows)` stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage import models as t
from storage.bulk import execute_many, insert_rows
from storage.dialect import table
from storage.types import JsonText


def _author(conn: Any) -> int:
    at = table(t.Author)
    return int(conn.execute(at.insert().returning(at.c.id), {
        "platform": "x", "handle": "h", "followers": 1, "verified": False,
        "first_seen": datetime(2026, 1, 1, tzinfo=UTC), "last_seen": datetime(2026, 1, 1, tzinfo=UTC)}).scalar_one())


def _rows(prefix: str, author_id: int) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    return [
        {
            "source": "s", "platform": "x", "external_id": f"{prefix}{i}", "url": None if i % 2 else f"https://x/{i}",
            "text": f"post {i} ünïcode 😡 'quoted' \"double\"", "title": None, "lang": "en", "rating": None,
            # aware in another zone, aware UTC, and naive (taken as UTC): stored alike
            "created_at": [start.astimezone(timezone(timedelta(hours=-5))), start, start.replace(tzinfo=None)][i % 3]
            + timedelta(minutes=i),
            "fetched_at": start, "author_id": author_id, "brand": "Nimbus" if i % 4 else None,
            "brands": ["Nimbus", "Arcwave"][: i % 3], "competitor": bool(i % 2), "in_reply_to": None,
            "conversation_id": f"c{i}", "engagement": i, "is_repost": False, "sentiment_label": "negative",
            "sentiment_compound": -0.25 * i, "urgency": i, "categories": [] if i % 2 else ["outage"],
            "scoring": {"nested": {"list": [1, 2.5, None, True]}, "text": "é"}, "route": None,
        }
        for i in range(7)
    ]


def _stored(conn: sa.Connection, prefix: str) -> list[tuple[Any, ...]]:
    mt = table(t.Mention)
    cols = [c for c in mt.columns if c.name not in ("id", "external_id")]
    return [tuple(r) for r in conn.execute(
        sa.select(*cols).where(mt.c.external_id.like(f"{prefix}%")).order_by(mt.c.external_id))]


def _raw(conn: sa.Connection, prefix: str) -> list[tuple[Any, ...]]:
    """As the database holds them (SQLite: the text of timestamps and JSON)."""
    names = ", ".join(c.name for c in table(t.Mention).columns if c.name not in ("id", "external_id"))
    return [tuple(r) for r in conn.execute(
        sa.text(f"SELECT {names} FROM mention WHERE external_id LIKE :p ORDER BY external_id"), {"p": f"{prefix}%"})]


def test_insert_rows_stores_what_sqlalchemy_stores(engine: Engine) -> None:
    mt = table(t.Mention)
    with engine.begin() as conn:
        author = _author(conn)
        conn.execute(mt.insert(), _rows("a", author))
        insert_rows(conn, mt, _rows("b", author))
        insert_rows(conn, mt, _rows("c", author))  # the cached plan
        assert _stored(conn, "a") == _stored(conn, "b") == _stored(conn, "c")
        assert len(_stored(conn, "b")) == 7
        assert _raw(conn, "a") == _raw(conn, "b")


def test_insert_rows_applies_python_defaults(engine: Engine) -> None:
    aut = table(t.AuditEvent)
    row = {"actor": "system", "action": "x", "subject_type": "escalation", "subject_id": "1", "details": {}}
    with engine.begin() as conn:
        conn.execute(aut.insert(), [dict(row, subject_id="sa")])
        insert_rows(conn, aut, [dict(row, subject_id="bulk")])
        got = {r.subject_id: r for r in conn.execute(sa.select(aut))}
    assert got["bulk"].at is not None and abs((got["bulk"].at - got["sa"].at).total_seconds()) < 60
    assert got["bulk"].details == got["sa"].details == {}


def test_execute_many_updates_as_sqlalchemy_does(engine: Engine) -> None:
    """Bound values, a constant of the statement, and an omitted column's `onupdate`."""
    at = table(t.Author)
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    stmt = at.update().where(at.c.id == sa.bindparam("aid")).values(
        followers=sa.bindparam("f"), verified=True, last_seen=sa.bindparam("ls"))
    with engine.begin() as conn:
        ids = list(conn.execute(at.insert().returning(at.c.id), [
            {"platform": "x", "handle": f"h{i}", "followers": 1, "verified": False, "first_seen": seen,
             "last_seen": seen} for i in range(4)]).scalars())
        later = seen + timedelta(days=1)
        conn.execute(stmt, [{"aid": ids[0], "f": 10, "ls": later}, {"aid": ids[1], "f": 11, "ls": later}])
        execute_many(conn, stmt, [{"aid": ids[2], "f": 10, "ls": later}, {"aid": ids[3], "f": 11, "ls": later}])
        got = conn.execute(sa.select(at.c.followers, at.c.verified, at.c.last_seen).order_by(at.c.id)).all()
    assert got[:2] == got[2:] and got[0] == (10, True, later)


def test_fetch_tuples_returns_what_all_returns(engine: Engine) -> None:
    """Integer and text columns, sums and grouped rows, with bound (expanding and
    timestamp) parameters: the driver's tuples equal SQLAlchemy's rows."""
    from storage.bulk import fetch_tuples

    with engine.begin() as conn:
        author_id = _author(conn)
        insert_rows(conn, table(t.Mention), _rows("f", author_id))
    mt = table(t.Mention)
    stmt = (sa.select(mt.c.brand, mt.c.platform, sa.func.count(), sa.func.sum(mt.c.engagement))
            .where(mt.c.brand.in_(sa.bindparam("brands", expanding=True)),
                   mt.c.created_at >= sa.bindparam("since", type_=mt.c.created_at.type))
            .group_by(mt.c.brand, mt.c.platform))
    params = {"brands": ["Nimbus", "Arcwave"], "since": datetime(2026, 11, 1, 12, 3, tzinfo=UTC)}
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt, params).all()]
        got = fetch_tuples(conn, stmt, params)
        assert rows and got == rows
        assert fetch_tuples(conn, sa.select(mt.c.id, mt.c.text).order_by(mt.c.id)) == [
            tuple(r) for r in conn.execute(sa.select(mt.c.id, mt.c.text).order_by(mt.c.id)).all()]


def test_encoded_json_is_bound_as_it_is(engine: Engine) -> None:
    """A `JsonText` (JSON the prescoring worker encoded ahead) stores what its dict stores."""
    mt = table(t.Mention)
    with engine.begin() as conn:
        author = _author(conn)
        insert_rows(conn, mt, _rows("d", author))
        encoded = [{**r, **{k: JsonText(json.dumps(r[k])) for k in ("brands", "categories", "scoring")}}
                   for r in _rows("e", author)]
        insert_rows(conn, mt, encoded)
        assert _stored(conn, "d") == _stored(conn, "e")
        if engine.dialect.name == "sqlite":
            assert _raw(conn, "d") == _raw(conn, "e")


def test_sqlite_inserts_are_one_statement_of_few_texts(sqlite_engine: Engine) -> None:
    """SQLite: an insert of n rows is one multi-row statement (FTS5 flushes per statement),
    padded to a power of two so that a handful of statement texts serve every n (the
    driver caches a prepared statement per text); every row stored once, in order."""
    aut = table(t.AuditEvent)
    texts: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("INSERT INTO audit_event"):
            texts.append(statement)

    sa.event.listen(sqlite_engine, "before_cursor_execute", count)
    try:
        with sqlite_engine.begin() as conn:
            total = 0
            for n in range(2, 600, 37):
                before = len(texts)
                insert_rows(conn, aut, [{"actor": "system", "action": "x", "subject_type": "t",
                                         "subject_id": f"{n}:{i}", "details": {"i": i}} for i in range(n)])
                assert len(texts) == before + 1, n
                total += n
            got = conn.execute(sa.select(aut.c.subject_id, aut.c.details).order_by(aut.c.id)).all()
    finally:
        sa.event.remove(sqlite_engine, "before_cursor_execute", count)
    assert len(got) == total
    assert [r.subject_id for r in got] == [f"{n}:{i}" for n in range(2, 600, 37) for i in range(n)]
    assert all(r.details == {"i": int(r.subject_id.split(":")[1])} for r in got)
    assert len(set(texts)) <= 10


def test_repeated_json_values_and_utc_times_store_what_sqlalchemy_stores(engine: Engine) -> None:
    """The values storage.bulk binds without SQLAlchemy's per-value chain (small lists of
    strings, small objects of strings and empty ones, each encoded once; UTC and naive
    timestamps on SQLite) store byte for byte what `conn.execute` stores, next to values
    that take the ordinary path (nested, non-string, other zones)."""
    aut = table(t.AuditEvent)
    at = [datetime(2026, 11, 1, 12, 3, 4, 5, tzinfo=UTC), datetime(2026, 11, 1, 12, 3, 4, tzinfo=UTC),
          datetime(2026, 11, 1, 12, 3, 4, 999999, tzinfo=UTC).replace(tzinfo=None),
          datetime(2026, 11, 1, 7, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))), datetime(9, 1, 2, tzinfo=UTC)]
    details: list[Any] = [{}, {"route": "billing", "queue": "care"}, {"queue": "care", "route": "billing"},
                          {"route": "ünïcode 😡 \"q\""}, {"n": 1}, {"case_id": None}, {"a": {"b": "c"}},
                          {str(i): "x" for i in range(6)}]
    rows = [{"actor": "system", "action": "x", "subject_type": "t", "subject_id": f"{i}", "at": at[i % len(at)],
             "details": details[i % len(details)]} for i in range(2 * len(details))]
    mt = table(t.Mention)
    with engine.begin() as conn:
        conn.execute(aut.insert(), [{**r, "actor": "sa"} for r in rows])
        insert_rows(conn, aut, [{**r, "actor": "bulk"} for r in rows])
        insert_rows(conn, aut, [{**r, "actor": "again"} for r in rows])  # the encoded texts reused
        cols = (aut.c.subject_id, aut.c.at, aut.c.details)
        got = {actor: conn.execute(sa.select(*cols).where(aut.c.actor == actor).order_by(aut.c.id)).all()
               for actor in ("sa", "bulk", "again")}
        assert got["sa"] == got["bulk"] == got["again"] and len(got["sa"]) == len(rows)
        if engine.dialect.name == "sqlite":
            raw = {actor: conn.exec_driver_sql(
                "SELECT subject_id, at, details FROM audit_event WHERE actor = ? ORDER BY id", (actor,)).all()
                for actor in ("sa", "bulk", "again")}
            assert raw["sa"] == raw["bulk"] == raw["again"]
        author = _author(conn)
        lists: list[Any] = [[], ["outage"], ["outage", "billing"], ["é"], [1, "x"], [["x"]], [str(i) for i in range(9)]]
        mention_rows = [{**r, "categories": lists[i % len(lists)], "brands": lists[(i + 1) % len(lists)]}
                        for i, r in enumerate(_rows("g", author) + _rows("gg", author))]
        conn.execute(mt.insert(), [{**r, "external_id": "s" + r["external_id"]} for r in mention_rows])
        insert_rows(conn, mt, mention_rows)
        assert _stored(conn, "sg") == _stored(conn, "g")
        if engine.dialect.name == "sqlite":
            assert _raw(conn, "sg") == _raw(conn, "g")


def test_sqlite_inserts_split_at_the_parameter_limit_store_every_row_once(sqlite_engine: Engine, monkeypatch) -> None:
    """Rows beyond SQLite's parameter limit go in further statements (each padded): with
    the limit set low, every row of every chunk is stored once, in order, with its own
    values in its own columns (the flat parameter list is written a column at a time)."""
    import storage.bulk as bulk

    monkeypatch.setattr(bulk, "_MAX_VARIABLES", [7 * 9])  # audit_event: 6 values and the marker, 9 rows a statement
    aut = table(t.AuditEvent)
    with sqlite_engine.begin() as conn:
        for n in (2, 9, 10, 23, 40):
            insert_rows(conn, aut, [{"actor": f"a{i}", "action": f"x{n}", "subject_type": "t",
                                     "subject_id": f"{n}:{i}", "details": {"i": i}} for i in range(n)])
        got = conn.execute(sa.select(aut.c.actor, aut.c.action, aut.c.subject_id, aut.c.details)
                           .order_by(aut.c.id)).all()
    want = [(f"a{i}", f"x{n}", f"{n}:{i}", {"i": i}) for n in (2, 9, 10, 23, 40) for i in range(n)]
    assert [tuple(r) for r in got] == want
