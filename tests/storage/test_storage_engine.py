"""Engine set-up: SQLite pragmas, URL handling, clear errors with masked passwords."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from socialear.errors import UserError
from storage.engine import (
    DEFAULT_URL,
    database_url,
    make_engine,
    mask_url,
    session_scope,
)
from storage.models import AuditEvent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_url_prefers_explicit_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOCIALEAR_DATABASE_URL", raising=False)
    assert database_url() == DEFAULT_URL
    assert (tmp_path / "data").is_dir()
    monkeypatch.setenv("SOCIALEAR_DATABASE_URL", "sqlite:///env.db")
    assert database_url() == "sqlite:///env.db"
    assert database_url("sqlite:///explicit.db") == "sqlite:///explicit.db"


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 5000
        assert pragma("synchronous") == 1  # NORMAL


def test_sqlite_refuses_a_dangling_foreign_key(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as s, pytest.raises(sa.exc.IntegrityError):
        s.execute(sa.text(
            "INSERT INTO outbox (escalation_id, sink, kind, state, attempts, next_attempt_at,"
            " idempotency_key, priority_rank, payload, created_at, updated_at)"
            " VALUES (999, 'x', 'alert', 'pending', 0, '2026-01-01', 'k', 1, '{}',"
            " '2026-01-01', '2026-01-01')"
        ))


def test_postgres_urls_use_psycopg3() -> None:
    url = "postgresql://u:pw@127.0.0.1:1/db"
    engine = make_engine(url, probe=False)
    assert engine.url.drivername == "postgresql+psycopg"
    assert make_engine("postgres://u@h/db", probe=False).url.drivername == "postgresql+psycopg"


def _user_error(url: str) -> UserError:
    with pytest.raises(UserError) as info:
        make_engine(url)
    err = info.value
    assert err.__cause__ is None  # no chained driver traceback
    assert err.__context__ is None or err.__suppress_context__
    assert "\n" not in str(err)
    assert "s3cret" not in str(err)
    return err


def test_unreachable_postgres_is_one_line_with_the_password_masked() -> None:
    port = _free_port()
    err = _user_error(f"postgresql://postgres:s3cret@127.0.0.1:{port}/test")
    assert str(err) == (
        f"cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:{port}/test: "
        "connection refused"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root:s3cret@db/app", "unsupported database 'mysql' in mysql://root:***@db/app"),
        ("postgresql+asyncpg://u:s3cret@h/d", "unsupported PostgreSQL driver"),
        ("not a url u:s3cret@h", "not a database URL"),
    ],
)
def test_unsupported_urls_say_what_is_supported(url: str, expected: str) -> None:
    err = _user_error(url)
    assert expected in str(err)
    assert "sqlite:///" in str(err)


def test_sqlite_in_a_missing_directory_names_it(tmp_path: Path) -> None:
    err = _user_error(f"sqlite:///{tmp_path}/nope/socialear.db")
    assert f"{tmp_path}/nope does not exist" in str(err)


def test_mask_url_hides_passwords() -> None:
    assert mask_url("postgresql+psycopg://u:s3cret@h/db") == "postgresql+psycopg://u:***@h/db"
    assert "s3cret" not in repr(make_engine("postgresql://u:s3cret@h/db", probe=False))


def test_session_scope_commits_or_rolls_back(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as s:
        s.add(AuditEvent(actor="ann", action="a.kept", subject_type="t", subject_id="1"))
    with pytest.raises(RuntimeError), session_scope(sqlite_engine) as s:  # noqa: PT012 - the rollback on the raise is the test
        s.add(AuditEvent(actor="ann", action="a.lost", subject_type="t", subject_id="1"))
        s.flush()
        raise RuntimeError("boom")
    with session_scope(sqlite_engine) as s:
        actions = s.execute(sa.select(AuditEvent.action)).scalars().all()
    assert actions == ["a.kept"]
