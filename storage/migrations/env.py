"""Alembic environment, driven by `storage.migrate` (there is no alembic.ini).

`storage.migrate` hands over an open connection in `config.attributes["connection"]`
and owns the transaction, the SQLite foreign-key switch and the PostgreSQL advisory lock.
Without one (offline `--sql` rendering, or a hand-made Config) the URL comes from the
`sqlalchemy.url` option or $SOCIALEAR_DATABASE_URL.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from storage.migrate import object_filter, target_metadata

config = context.config
metadata = target_metadata()


def _configure(dialect_name: str, **kw: Any) -> None:
    context.configure(
        target_metadata=metadata,
        include_object=object_filter(dialect_name),
        render_as_batch=True,  # SQLite cannot ALTER most things: rebuild the table instead
        compare_type=True,
        **kw,
    )


def run_offline() -> None:
    from storage.engine import database_url

    url = config.get_main_option("sqlalchemy.url") or database_url()
    _configure(url.split(":", 1)[0].split("+", 1)[0], url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from storage.engine import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
        with engine.begin() as connection:
            _configure(connection.dialect.name, connection=connection)
            context.run_migrations()
        engine.dispose()
        return
    _configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
