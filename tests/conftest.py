"""Fixtures shared by every test.

* `no_network` (autouse): any connection to a non-loopback address fails the test, even
  if the code under test swallows the exception. Loopback stays open: PostgreSQL and the
  test servers live there.
* `db_url`: an empty database, parametrised `sqlite` (a fresh file) and, when
  $SOCIALEAR_TEST_POSTGRES_URL is set, `postgresql` (a fresh schema, see `_pg_schema`).
* `engine` / `session`: that database built by the production migrations.
* `sqlite_engine`: the same, SQLite only, for tests that need just one database.

PostgreSQL isolation: each test gets its own schema `socialear_t_<random>` in the
database of $SOCIALEAR_TEST_POSTGRES_URL, made the connection's only search_path entry
through the URL (`?options=-csearch_path=...`). Every table, index, sequence and the
alembic_version table land in that schema, and any engine or subprocess given
`db_url` sees only it. The schema is dropped (CASCADE) afterwards. Creating a schema
takes milliseconds, where CREATE DATABASE takes ~100 ms and needs no open connections.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.engine import make_engine
from storage.migrate import upgrade

PG_ENV = "SOCIALEAR_TEST_POSTGRES_URL"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "network_attempt_expected: the test checks that a connection is refused"
    )


class NetworkBlocked(RuntimeError):
    """A test tried to reach a non-loopback address."""


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse non-loopback connections and DNS look-ups; fail the test if any was tried."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            attempts.append(repr(address))
            sock.close()  # socket.create_connection closes only on OSError: never leak it
            raise NetworkBlocked(f"network access attempted in a test: {address!r}")

    def connect(sock: socket.socket, address: Any) -> Any:
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            try:  # a numeric address needs no DNS; `connect` judges it
                ipaddress.ip_address(str(host).strip("[]"))
            except ValueError:
                attempts.append(f"DNS {host!r}")
                raise NetworkBlocked(f"DNS look-up attempted in a test: {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    if attempts and not request.node.get_closest_marker("network_attempt_expected"):
        pytest.fail(f"test tried to reach the network: {', '.join(attempts)}", pytrace=False)


def _db_params() -> list[Any]:
    params = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get(PG_ENV):
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


def _with_search_path(url: str, schema: str) -> str:
    parsed = sa.make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    return parsed.set(query=query).render_as_string(hide_password=False)


@pytest.fixture
def _pg_schema() -> Iterator[str]:
    """A fresh schema in the $SOCIALEAR_TEST_POSTGRES_URL database; yields its db URL."""
    with pg_schema() as url:
        yield url


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema in the $SOCIALEAR_TEST_POSTGRES_URL database, dropped afterwards;
    yields its db URL (a test that needs two databases takes a second one here)."""
    base = os.environ[PG_ENV]
    schema = f"socialear_t_{secrets.token_hex(6)}"
    admin = make_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield _with_search_path(base, schema)
        try:  # a test that leaked an open transaction must not hang the whole run
            with admin.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except sa.exc.OperationalError as exc:
            warnings.warn(f"left schema {schema} behind: {exc.orig}", stacklevel=1)
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test copies it instead of re-migrating."""
    path = tmp_path_factory.mktemp("template") / "socialear.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:  # fold the WAL into the main file before copying
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=_db_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: `sqlite` always, `postgresql` when configured."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("_pg_schema"))
    return f"sqlite:///{tmp_path / 'socialear.db'}"


@pytest.fixture
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    """`db_url` migrated to head by the production migrations."""
    if db_url.startswith("sqlite"):
        template = request.getfixturevalue("_sqlite_template")
        shutil.copyfile(template, sa.make_url(db_url).database or "")
        eng = make_engine(db_url)
    else:
        eng = make_engine(db_url)
        upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A Session on `engine`; commit explicitly when the test needs it."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def sqlite_engine(tmp_path: Path, _sqlite_template: Path) -> Iterator[Engine]:
    """A migrated SQLite database, for tests that need only one kind."""
    path = tmp_path / "socialear-sqlite.db"
    shutil.copyfile(_sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`install_plugin(package, source, entry_points)`: a third-party distribution as pip
    leaves it (the package and its `.dist-info` with METADATA and entry_points.txt) in a
    temporary site directory put on `sys.path`; socialear's registries are reloaded so
    they see its entry points, and again after the test so they forget them."""
    import sys
    import textwrap

    from socialear.components import reload_all

    installed: list[str] = []

    def install(package: str, source: str, entry_points: str) -> Path:
        site = tmp_path / f"site-{package}"
        (site / package).mkdir(parents=True)
        (site / package / "__init__.py").write_text(textwrap.dedent(source))
        info = site / f"{package}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        monkeypatch.syspath_prepend(str(site))
        installed.append(package)
        reload_all()
        return site

    yield install
    monkeypatch.undo()
    for package in installed:
        sys.modules.pop(package, None)
    reload_all()
