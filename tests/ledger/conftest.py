"""Ledger fixtures: a SQLite file in tmp_path, and a fresh schema on the local PostgreSQL.

PostgreSQL is reached at 127.0.0.1:5432 (trust auth) as `postgres` or `root` on database `test`
(else over its Unix socket in /var/run/postgresql, e.g. under `unshare -n`), or at
`CUSTODIAN_TEST_PG_URL` when set. Each test session creates its own database
(`rc_test_<random>`, dropped at the end) and each test its own schema in it, so nothing collides.
When the server is unreachable, PostgreSQL tests skip, or fail when `CI` is set.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

BACKENDS = ("sqlite", "postgresql")
_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
    # the same server over its Unix socket: reachable in a network namespace without loopback
    "postgresql+psycopg://postgres@/test?host=/var/run/postgresql",
    "postgresql+psycopg://root@/test?host=/var/run/postgresql",
)
_START_HINT = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _reachable_server() -> tuple[URL | None, list[str]]:
    override = os.environ.get("CUSTODIAN_TEST_PG_URL")
    candidates = (override,) if override else _CANDIDATES
    problems: list[str] = []
    for candidate in candidates:
        url = make_url(candidate)
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url, problems
        except OperationalError as exc:
            problems.append(f"{url.render_as_string(hide_password=True)}: {str(exc.orig).strip().splitlines()[0]}")
        finally:
            engine.dispose()
    return None, problems


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    server, problems = _reachable_server()
    if server is None:
        reason = "PostgreSQL is not reachable (" + "; ".join(problems) + "); " + _START_HINT
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"rc_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def pg_url(pg_database: URL) -> str:
    """A URL whose connections see only a new, empty schema of the session database."""
    schema = f"t_{secrets.token_hex(6)}"
    engine = create_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    url = pg_database.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL of an empty ledger database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ledger')}/nested/dir/ledger.sqlite"
    url: str = request.getfixturevalue("pg_url")
    return url
