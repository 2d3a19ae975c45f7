"""Can the ledger be opened? A read-only look at its URL, for `config validate --check-connections`.

Nothing is created or migrated (that is `Ledger.open`'s job, at the first run):

- SQLite: an existing file is opened read-only and must be a SQLite database (a garbage file is
  named); the file and its directory must be writable (SQLite writes `-wal`/`-shm` beside it); a
  file that does not exist yet needs a writable directory to be created in;
- PostgreSQL: one connection within `timeout_s` (`connect_timeout`), the server's version.

Either way the schema's revision is read when there is one. Problems raise `LedgerInputError`
with the cause.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from custodian.ledger.rows import LedgerInputError


def probe_ledger(url: str, timeout_s: float = 5.0) -> str:
    """What the ledger at `url` is ("SQLite 3.45.1, schema 0009, ..."); `LedgerInputError` if it cannot be used."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise LedgerInputError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite(parsed)
    if backend == "postgresql":
        return _postgresql(parsed, timeout_s)
    raise LedgerInputError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql+psycopg://...")


def _revision(found: str | None) -> str:
    return f"schema {found}" if found else "no schema yet (the first run creates it)"


def _sqlite(parsed: URL) -> str:
    database = parsed.database or ""
    version = f"SQLite {sqlite3.sqlite_version}"
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return f"{version}, {database or 'in memory'} (nothing to check)"
    path = Path(database).expanduser()
    if not path.exists():
        directory = path.parent
        while not directory.exists() and directory.parent != directory:
            directory = directory.parent
        if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
            raise LedgerInputError(f"cannot create {path}: {directory} is not a writable directory")
        return f"{version}, {path} does not exist yet: the first run creates it (in {directory})"
    if not path.is_file():
        raise LedgerInputError(f"{path} is not a file")
    for where in (path, path.parent):
        if not os.access(where, os.W_OK):
            raise LedgerInputError(f"{where} is not writable by this user")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            found = None
            if "alembic_version" in tables:
                found = next(iter(conn.execute("SELECT version_num FROM alembic_version")), (None,))[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise LedgerInputError(f"{path} is not a SQLite database the ledger can read: {exc}") from exc
    return f"{version}, {path}, {_revision(found)}"


def _postgresql(parsed: URL, timeout_s: float) -> str:
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, connect_args={"connect_timeout": max(1, round(timeout_s))})
    try:
        with engine.connect() as conn:
            server = str(conn.execute(text("SELECT version()")).scalar_one())
            found = None
            if inspect(conn).has_table("alembic_version"):
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LedgerInputError(f"cannot connect: {cause}") from exc
    finally:
        engine.dispose()
    return f"{' '.join(server.split()[:2])}, {_revision(found)}"
