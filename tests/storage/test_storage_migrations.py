"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

import storage
from storage.engine import make_engine
from storage.migrate import (
    MIGRATIONS_DIR,
    current_revision,
    downgrade,
    head_revision,
    schema_diff,
    upgrade,
)
from storage.models import Escalation, Mention, OutboxItem, OutboxState

TABLES = {
    "author", "mention", "source_state", "escalation", "outbox", "audit_event", "quarantine",
}


def test_upgrade_creates_every_table_and_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine, "0001") == "0001"
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        assert upgrade(engine) == head_revision()
        assert TABLES | {"alembic_version"} <= set(sa.inspect(engine).get_table_names())
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op_and_downgrade_to_base_drops_everything(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert upgrade(engine) == head_revision()
        assert downgrade(engine, "base") is None
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        assert upgrade(db_url) == head_revision()  # a URL works too
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_initial_migration_spells_out_its_tables() -> None:
    text = (MIGRATIONS_DIR / "versions" / "0001_initial.py").read_text()
    assert ".create_all(" not in text
    assert "import storage" not in text and "from storage" not in text  # frozen, not app code
    for table in TABLES:
        assert f'"{table}",' in text


def test_no_alembic_ini_is_needed() -> None:
    root = Path(storage.__file__).resolve().parents[1]
    assert not (root / "alembic.ini").exists()
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_console_queue_index_sorts_priority_descending(engine: Engine) -> None:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_escalation_status_priority_sla'"
            ).scalar_one()
            assert "priority_rank DESC" in sql
        else:
            index = {i["name"]: i for i in sa.inspect(conn).get_indexes("escalation")}
            found = index["ix_escalation_status_priority_sla"]
            assert found["column_names"] == ["status", "priority_rank", "sla_due"]
            assert found["column_sorting"] == {"priority_rank": ("desc",)}


def test_0014_drops_the_unread_index_and_guards_the_care_triggers(db_url: str) -> None:
    """0014 drops `ix_mention_conversation_id` (read by no query) and, on SQLite,
    re-creates the care rollup's triggers with a WHEN; its downgrade restores both as 0013
    left them, and the care rollup stays exact either way
    (tests/storage/test_rollups.py checks every kind of escalation write at head)."""
    engine = make_engine(db_url)

    def state() -> tuple[bool, list[str]]:
        inspector = sa.inspect(engine)
        indexes = {ix["name"] for name in ("escalation", "mention") for ix in inspector.get_indexes(name)}
        with engine.connect() as conn:
            triggers = [] if conn.dialect.name != "sqlite" else sorted(conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rollup_care_span_%'").scalars())
        assert "ix_escalation_status_priority_sla" in indexes  # kept: the queue's priority filter
        return "ix_mention_conversation_id" in indexes, triggers

    try:
        upgrade(engine, "0013")
        had_index, before = state()
        assert had_index
        assert all(" WHEN " not in sql.split(" BEGIN ")[0] for sql in before)
        upgrade(engine)
        has_index, after = state()
        assert not has_index
        assert all(" WHEN " in sql.split(" BEGIN ")[0] for sql in after)
        assert len(after) == len(before)
        assert schema_diff(engine) == []
        downgrade(engine, "0013")
        assert state() == (had_index, before)
    finally:
        engine.dispose()


def test_0015_guards_the_care_trigger_on_postgresql(db_url: str) -> None:
    """0015 replaces PostgreSQL's one care-rollup trigger (no WHEN possible across INSERT,
    DELETE and UPDATE) by one trigger per event, each with a WHEN, calling the same
    function; its downgrade restores 0014's; nothing changes on SQLite. The rollup stays
    exact (tests/storage/test_rollups.py checks every kind of escalation write at head)."""
    engine = make_engine(db_url)

    def triggers() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                return sorted(conn.exec_driver_sql(  # type: ignore[arg-type]
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rollup_care_span_%'"))
            return sorted(conn.exec_driver_sql(  # type: ignore[arg-type]
                "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relname = 'escalation' AND c.relnamespace = current_schema()::regnamespace "
                "AND NOT t.tgisinternal AND position('rollup_care_span' in t.tgname) = 1"))

    try:
        upgrade(engine, "0014")
        before = triggers()
        upgrade(engine)
        after = triggers()
        if engine.dialect.name == "sqlite":
            assert after == before
        else:
            assert [name for name, _ in before] == ["rollup_care_span_apply"] and " WHEN " not in before[0][1]
            assert [name for name, _ in after] == [
                "rollup_care_span_apply_del", "rollup_care_span_apply_ins", "rollup_care_span_apply_upd"]
            assert all(" WHEN " in sql and "rollup_care_span_apply()" in sql for _, sql in after)
        assert schema_diff(engine) == []
        downgrade(engine, "0014")
        assert triggers() == before
    finally:
        engine.dispose()


def test_check_constraint_refuses_an_unknown_state(engine: Engine, factory) -> None:
    with Session(engine) as s:
        row = factory.outbox(s)
        s.commit()
        with pytest.raises(sa.exc.IntegrityError):  # noqa: PT012 - wherever the check fires, execute or flush
            s.execute(sa.text("UPDATE outbox SET state = 'bogus' WHERE id = :id"), {"id": row.id})
            s.flush()
        s.rollback()


def test_states_load_as_enum_members(session: Session, factory) -> None:
    row = factory.outbox(session)
    session.commit()
    session.expire_all()
    loaded = session.get(OutboxItem, row.id)
    assert loaded is not None
    assert loaded.state is OutboxState.pending
    assert loaded.state == "pending"


def test_timestamps_come_back_as_aware_utc(session: Session, factory) -> None:
    local = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    mention = factory.mention(session, created_at=local)
    naive = datetime(2026, 3, 1, 7, 30)  # noqa: DTZ001 - naive on purpose: taken to be UTC
    other = factory.mention(session, created_at=naive)
    session.commit()
    session.expire_all()
    for m in (session.get(Mention, mention.id), session.get(Mention, other.id)):
        assert m is not None
        assert m.created_at.tzinfo is not None
        assert m.created_at.utcoffset() == timedelta(0)
        assert m.created_at == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    # ...and SQL comparisons agree with Python's on both databases.
    stmt = sa.select(sa.func.count()).where(
        Mention.created_at < datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    )
    assert session.execute(stmt).scalar_one() == 0


def test_json_columns_track_in_place_changes(session: Session, factory) -> None:
    esc = factory.escalation(session, tags=["refund"], decision={"rule": "complaints"})
    session.commit()
    session.expire_all()  # rows loaded from the database track edits in place
    esc = session.get(Escalation, esc.id)
    assert esc is not None
    esc.tags.append("vip")
    esc.decision["score"] = 71
    session.commit()
    session.expire_all()
    loaded = session.get(Escalation, esc.id)
    assert loaded is not None
    assert loaded.tags == ["refund", "vip"]
    assert loaded.decision == {"rule": "complaints", "score": 71}


def test_0010_marks_existing_follow_ups_from_their_resolution(engine: Engine) -> None:
    """Rows closed into a case before 0010 (pipeline follow-ups, merged heads) get
    `follow_up_of` from the resolution text; worked items keep NULL."""
    from storage.migrate import downgrade
    from tests.console.conftest import add_escalation

    ids = [add_escalation(engine, f"post {n}", status=status) for n, status in
           enumerate(("open", "resolved", "resolved", "resolved"))]
    texts = [None, f"Follow-up in case 7: handled with escalation #{ids[0]}",
             f"Merged into case 7: handled with escalation #{ids[0]}", "Fixed the bill, customer happy"]
    et = Escalation.__table__
    with engine.begin() as conn:
        for eid, text in zip(ids, texts, strict=True):
            conn.execute(et.update().where(et.c.id == eid).values(resolution=text, case_id=7))
    downgrade(engine, "0009")
    upgrade(engine)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(et.c.id, et.c.follow_up_of).where(et.c.id.in_(ids))).all())
    assert got == {ids[0]: None, ids[1]: ids[0], ids[2]: ids[0], ids[3]: None}
