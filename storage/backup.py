"""`socialear db backup FILE`: a consistent copy of a live SQLite database.

SQLite's online backup API copies the database page by page while the service keeps
writing (each step sees one consistent snapshot; pages changed meanwhile are copied
again), so a backup needs no downtime and never catches a half-written batch. It is
written next to FILE and renamed into place, so FILE is either the old backup or the
complete new one. Restoring is copying FILE back over the database file with the
service stopped (README, *Backup and restore*).

PostgreSQL has its own, better tool: `pg_dump` (README); the command says so instead of
reimplementing it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine

from socialear.errors import UserError

PAGES_PER_STEP = 1024  # ~4 MiB at a time: writers wait on the copy only between steps


def backup(engine: Engine, target: Path) -> int:
    """Copy the database behind `engine` to `target`; the number of pages copied."""
    if engine.dialect.name != "sqlite":
        raise UserError(
            f"db backup copies SQLite databases; for {engine.dialect.name} use pg_dump "
            "(pg_dump --format=custom --file=FILE DATABASE_URL, restore with pg_restore)"
        )
    target = target.resolve()
    if not target.parent.is_dir():
        raise UserError(f"no such directory: {target.parent}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest, pages=PAGES_PER_STEP)
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
            check = dest.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise UserError(f"the backup failed its integrity check: {check}")
        finally:
            dest.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
    os.replace(partial, target)
    return pages
