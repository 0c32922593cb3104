"""Run the Alembic migrations in `storage/migrations/` from code.

There is no alembic.ini: the Config is built here with `script_location` pointing inside
the installed package, so `socialear db upgrade` works from a wheel or a container.

Adding a table elsewhere (e.g. the console's `user`): define it as a SQLModel table in a
module listed in `MODEL_MODULES`, then write `NNNN_<what>.py` in `versions/` with
`down_revision` set to the current head (`make_revision()` drafts one). The migration
test compares the models with the migrated schema and fails until they agree.

Safety for the two databases:
* PostgreSQL: replicas starting together serialise on an advisory lock, so only one
  runs each revision; DDL is transactional, so a failed upgrade leaves nothing half-done.
* SQLite: foreign keys are switched off while batch mode rebuilds tables (as SQLite's
  ALTER TABLE recipe requires), then switched on and checked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from socialear.errors import UserError
from storage.engine import make_engine, mask_url

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# Modules whose SQLModel tables the migrations must create. Add yours here.
MODEL_MODULES: list[str] = ["storage.models", "storage.console_models", "storage.rollups",
                           "storage.alert_models"]
# Any fixed number; identifies "socialear schema upgrade" among PostgreSQL advisory locks.
_PG_LOCK_KEY = 0x50C1A1EA


def target_metadata() -> sa.MetaData:
    """SQLModel.metadata after importing every module in `MODEL_MODULES`."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata


def _expression_index_names(metadata: sa.MetaData) -> set[str]:
    """Indexes with SQL expressions (e.g. `priority_rank DESC`) in them."""
    return {
        str(index.name)
        for table in metadata.tables.values()
        for index in table.indexes
        if any(not isinstance(e, sa.Column) for e in index.expressions)
    }


# Search objects migration 0003 creates that the models cannot describe: SQLite's FTS5
# table (and the shadow tables FTS5 keeps its index in) and PostgreSQL's GIN expression
# index. They exist only in the database, so the comparison leaves them out.
DATABASE_ONLY_TABLES = ("mention_fts",)  # and "mention_fts_<shadow>"
DATABASE_ONLY_INDEXES = ("ix_mention_search",)


def _database_only(name: str | None, type_: str) -> bool:
    if name is None:
        return False
    if type_ == "table":
        return any(name == t or name.startswith(f"{t}_") for t in DATABASE_ONLY_TABLES)
    return type_ == "index" and name in DATABASE_ONLY_INDEXES


def object_filter(dialect_name: str) -> Callable[..., bool]:
    """An autogenerate `include_object` hook for `dialect_name`.

    SQLite reflects an index on `priority_rank DESC` as one on plain `priority_rank`, so
    comparing expression indexes there reports a false drop/create. They are skipped on
    SQLite only; PostgreSQL reflects the sort order and still compares them. The search
    objects in `DATABASE_ONLY_*` are skipped on both.
    """
    skipped = _expression_index_names(target_metadata()) if dialect_name == "sqlite" else set()

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if reflected and other is None and _database_only(name, type_):
            return False
        return not (type_ == "index" and name in skipped)

    return include


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """A Config for our script directory, optionally bound to an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The newest revision in `versions/`."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def _engine(engine_or_url: Engine | str | None) -> Iterator[Engine]:
    """Use the given engine, or make one for a URL and dispose of it afterwards."""
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _run(engine: Engine, fn: Any, *args: Any) -> None:
    """Run an alembic command on one connection, with the per-dialect guards."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # must happen outside a transaction, or SQLite ignores it
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        try:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            fn(alembic_config(conn), *args)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        if sqlite:
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise UserError(
                    f"migration left {len(broken)} rows with dangling foreign keys in "
                    f"{mask_url(engine.url)}; first: {tuple(broken[0])}"
                )


def upgrade(engine_or_url: Engine | str | None = None, revision: str = "head") -> str | None:
    """Migrate the database up to `revision` (default: newest). Returns the new revision.

    Safe to call on every start: at head it does nothing.
    """
    with _engine(engine_or_url) as engine:
        _run(engine, command.upgrade, revision)
        return current_revision(engine)


def downgrade(engine_or_url: Engine | str | None, revision: str) -> str | None:
    """Migrate down to `revision` ("base" drops everything). Returns the new revision."""
    with _engine(engine_or_url) as engine:
        _run(engine, command.downgrade, revision)
        return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the models and the database (empty when they agree).

    The same comparison `alembic check` makes; the console can show it and tests
    assert it is empty after `upgrade()`.
    """
    metadata = target_metadata()
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": object_filter(conn.dialect.name)}
        ctx = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(ctx, metadata))


def make_revision(engine: Engine, message: str, rev_id: str | None = None) -> Sequence[Any]:
    """Draft a new revision file by autogenerate against an up-to-date database.

    Review the draft before committing it: autogenerate misses renames and data moves.
    """
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        scripts = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    return scripts if isinstance(scripts, list) else [scripts]
