"""Storage: SQLModel tables, engine/session, Alembic migrations and every query.

Storage owns the SQL: the console, listener and responders call the typed functions of
its modules (one per concern: `queue`, `audit`, `mentions`, `outbox`, `sources`,
`tickets`, `replies`, `users`, ...) and never import SQLAlchemy or SQLModel themselves
(an import-linter contract in pyproject.toml checks it; docs/architecture.md, Storage).

Importing any `storage` module installs one constraint naming convention on
`SQLModel.metadata`, so every table (ours and the console's) gets deterministic
constraint names. Alembic needs names to alter or drop a constraint later, and SQLite's
batch mode needs them to rebuild a table; unnamed constraints make the second migration
painful. Define tables only after importing `storage` (e.g. `from storage.models import
Mention`), so the convention is in place when their constraints are created.
"""

from __future__ import annotations

from sqlmodel import SQLModel

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata.naming_convention = NAMING_CONVENTION
