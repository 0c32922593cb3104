"""`socialear db backup` and a restore from it (issue 14, deliverable 10)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import models as t
from storage.backup import backup
from storage.dialect import table
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.types import utcnow

ROOT = Path(__file__).resolve().parents[2]


def add_quarantine(engine: sa.Engine, n: int, tag: str) -> None:
    with engine.begin() as conn:
        conn.execute(table(t.Quarantine).insert(), [
            {"source": tag, "payload": f"{tag}-{i}", "error": "x", "at": utcnow(), "resolved": False}
            for i in range(n)
        ])


def count(engine: sa.Engine, tag: str | None = None) -> int:
    q = table(t.Quarantine)
    stmt = sa.select(sa.func.count()).select_from(q)
    if tag:
        stmt = stmt.where(q.c.source == tag)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_backup_while_writing_then_restore(tmp_path: Path) -> None:
    db = tmp_path / "socialear.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    add_quarantine(engine, 2000, "before")
    stop = threading.Event()

    def writer() -> None:  # the service keeps storing batches during the backup
        while not stop.is_set():
            add_quarantine(engine, 50, "during")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        pages = backup(engine, tmp_path / "copy.db")
    finally:
        stop.set()
        thread.join()
    assert pages > 0
    during = count(engine, "during")
    add_quarantine(engine, 10, "after")
    engine.dispose()

    # restore: stop the service, put the copy in place, start again
    shutil.copy(tmp_path / "copy.db", db)
    restored = make_engine(f"sqlite:///{db}")
    try:
        assert count(restored, "before") == 2000
        assert count(restored, "after") == 0
        assert count(restored, "during") % 50 == 0 and count(restored, "during") <= during  # whole batches only
        with restored.connect() as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
        assert upgrade(restored)  # at the current revision already
    finally:
        restored.dispose()


def test_cli_backup_and_its_errors(tmp_path: Path) -> None:
    env = {**os.environ, "SOCIALEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "console.cli", "db", *args], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=120,
    )
    assert run("upgrade").returncode == 0
    res = run("backup", str(tmp_path / "b.db"))
    assert res.returncode == 0 and "backed up" in res.stdout, res.stderr
    assert (tmp_path / "b.db").stat().st_size > 0 and not (tmp_path / "b.db.partial").exists()
    res = run("backup", str(tmp_path / "nowhere" / "b.db"))
    assert res.returncode != 0 and "no such directory" in res.stderr and "Traceback" not in res.stderr


def test_backup_on_each_database(engine: sa.Engine, tmp_path: Path) -> None:
    """SQLite: copied; PostgreSQL: a clear pointer to pg_dump, not a half-made file."""
    from socialear.errors import UserError

    if engine.dialect.name == "postgresql":
        with pytest.raises(UserError, match="pg_dump"):
            backup(engine, tmp_path / "x.db")
        assert not list(tmp_path.glob("x.db*"))
    else:
        assert backup(engine, tmp_path / "x.db") > 0
