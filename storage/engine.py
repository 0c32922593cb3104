"""Engines and sessions for the two supported databases.

* SQLite (the embedded default, `sqlite:///./data/socialear.db`): one file, WAL so the
  console can read while the pipeline writes, a 5 s busy timeout so concurrent writers
  wait instead of failing, foreign keys on (SQLite leaves them off by default).
* PostgreSQL (`postgresql+psycopg://user:pass@host/db`): for several replicas; the pool
  pings connections so a restarted server does not surface as a random failed request.

Anything wrong with the URL becomes one `UserError` line at start-up, with the password
masked, rather than a driver traceback half-way through the first poll.

The handles the layers above pass around (`Engine`, `Connection`, `Session`) and the
one database error they may catch (`DatabaseError`) are re-exported here, so the
console, listener and responders never import SQLAlchemy or SQLModel themselves: storage
owns the SQL (an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from socialear.errors import UserError

ENV_VAR = "SOCIALEAR_DATABASE_URL"
DEFAULT_URL = "sqlite:///./data/socialear.db"
SUPPORTED = "use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/db"


def database_url(explicit: str | None = None) -> str:
    """The URL to use: `explicit`, else $SOCIALEAR_DATABASE_URL, else the default file.

    Only for the default is `./data/` created: a missing directory in a URL someone
    typed is more likely a typo than a wish.
    """
    url = explicit or os.environ.get(ENV_VAR) or ""
    if url.strip():
        return url.strip()
    Path("data").mkdir(parents=True, exist_ok=True)
    return DEFAULT_URL


def mask_url(url: str | URL) -> str:
    """`url` as text with any password replaced by `***` (safe for logs and errors)."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except ArgumentError:  # still hide anything that looks like `user:password@`
        return re.sub(r":[^:@/]*@", ":***@", str(url))
    return parsed.render_as_string(hide_password=True)


def _parse(url: str | URL) -> URL:
    """Parse and normalise: bare `postgresql://`/`postgres://` use psycopg 3."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except ArgumentError:
        raise UserError(f"not a database URL: {mask_url(str(url))!r}; {SUPPORTED}") from None
    backend = parsed.get_backend_name()
    if backend == "postgres" or (backend == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg")):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "postgresql":
        raise UserError(f"unsupported PostgreSQL driver in {mask_url(parsed)}; {SUPPORTED}")
    elif backend != "sqlite":
        raise UserError(f"unsupported database {backend!r} in {mask_url(parsed)}; {SUPPORTED}")
    return parsed


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """Per-connection SQLite settings; PRAGMAs are not persistent (except WAL)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout = 5000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        # SQLite's default page cache is 2 MiB: once the mention table and its indexes
        # outgrow it, every insert pays syscalls for index pages. 32 MiB per connection
        # keeps a multi-GB database fast at a bounded memory cost (bench/pipeline.py);
        # no mmap, which would count the whole mapped file against the process's memory.
        cur.execute("PRAGMA cache_size = -32768")
        # Checkpoint the WAL at 64 MiB instead of SQLite's 4 MiB: a batch rewrites the same
        # hot index pages again and again, and a checkpoint copies each page once however
        # often the WAL holds it, with one fsync pair; at a million stored mentions the
        # 4 MiB checkpoints were a third of the pipeline's wall time (bench/pipeline.py
        # --prefill). The WAL file is reused, not grown, past that size.
        cur.execute("PRAGMA wal_autocheckpoint = 16384")
        cur.execute("PRAGMA temp_store = MEMORY")
    finally:
        cur.close()


def _reason(exc: BaseException, password: str | None) -> str:
    """The driver's complaint reduced to its last informative clause, password removed."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    text = lines[0] if lines else type(orig).__name__
    if " failed: " in text:  # libpq: 'connection to server at "h", port p failed: why'
        text = text.rsplit(" failed: ", 1)[1]
    text = re.sub(r"^(connection failed|FATAL|ERROR):\s*", "", text)
    text = " ".join(text.split())
    if text[1:2].islower():
        text = text[:1].lower() + text[1:]
    if password:
        text = text.replace(password, "***")
    return text


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory and not url.query.get("uri"):
        parent = Path(database).expanduser().resolve().parent
        if not parent.is_dir():
            raise UserError(
                f"cannot open {mask_url(url)}: directory {parent} does not exist"
            )
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:  # one shared connection, or every checkout sees an empty database
        kwargs["poolclass"] = StaticPool
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def make_engine(url: str | URL | None = None, *, probe: bool = True) -> Engine:
    """An Engine for `url` (default: `database_url()`), checked by connecting once.

    Raises `UserError` (one line, password masked) for an unsupported URL, a missing
    SQLite directory or an unreachable server, so start-up fails with a clear reason.
    """
    parsed = _parse(database_url(url) if url is None or isinstance(url, str) else url)
    try:
        engine = (
            _sqlite_engine(parsed)
            if parsed.get_backend_name() == "sqlite"
            else _postgres_engine(parsed)
        )
    except NoSuchModuleError:
        raise UserError(f"no driver installed for {mask_url(parsed)}; {SUPPORTED}") from None
    if probe:
        try:
            with engine.connect():
                pass
        except DBAPIError as exc:
            engine.dispose()
            reason = _reason(exc, parsed.password and str(parsed.password))
            raise UserError(f"cannot connect to {mask_url(parsed)}: {reason}") from None
    return engine


def ping(engine: Engine) -> None:
    """One round trip (`SELECT 1`); raises DatabaseError when the database is unreachable."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A Session that commits when the block ends and rolls back if it raises.

    `expire_on_commit=False` so objects read inside stay readable after the block;
    they are snapshots, though: pass ids between jobs, not objects.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


__all__ = [
    "DEFAULT_URL", "ENV_VAR", "SUPPORTED", "Connection", "DatabaseError", "Engine", "Session",
    "database_url", "make_engine", "mask_url", "ping", "session_scope",
]
