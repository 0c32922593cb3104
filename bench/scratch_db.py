"""A throw-away PostgreSQL schema for one benchmark run (bench/faults.py, bench/latency.py).

Benchmarks run against the database in `SOCIALEAR_DATABASE_URL` / `--database-url`
without touching what is there: each run creates a schema of its own, points every
connection at it through the URL (`options=-csearch_path=...`, so child processes
given the URL see only it too) and drops it afterwards.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from storage.engine import make_engine


def pg_schema(url: str, prefix: str = "socialear_bench") -> tuple[str, Callable[[], None]]:
    """A fresh schema in the database at `url`; returns (a URL scoped to it, drop)."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    parsed = sa.make_url(url)
    scoped = parsed.set(query={**dict(parsed.query), "options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()

    return scoped, drop
