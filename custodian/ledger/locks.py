"""Exclusive locks that die with their holder: one applied run per ledger, one scheduler per SQLite file.

- `FileLock`: a non-blocking `flock` on a sidecar file of a SQLite ledger; the file says who holds it.
  The kernel releases it when the process dies (even by `kill -9`).
- `ApplyLock`: the applied-run lock. On PostgreSQL a session advisory lock (keyed by the ledger's
  schema) on a connection of its own, named by that connection's `application_name` (released when
  the connection ends, a crashed process included); on a SQLite file a `FileLock` beside it; for an
  in-memory database, a lock of its `Ledger`. A second applied run refuses at once (`LockHeldError`,
  naming the first: its run id, host, pid and since when), or with `acquire(wait=True)` waits for it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

APPLY_LOCK_KEY: Final = 0x5C0DA991  # first key of the two-key advisory lock (an int4); the second: the schema
PG_PREFIX: Final = "rc-apply "  # application_name of the lock's connection: `rc-apply <run id> <pid>@<host>`


def describe_holder(run_id: str, host: str, pid: object, since: str) -> str:
    return f"run {run_id} (host {host}, pid {pid}, since {since})"


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LockHeldError(Exception):
    """Somebody else holds the lock; the message names them."""

    def __init__(self, what: str, owner: str) -> None:
        super().__init__(f"{what} is held by {owner}")
        self.owner = owner


def sidecar_path(ledger_url: str, suffix: str) -> Path | None:
    """`<ledger file><suffix>` for a SQLite ledger file; None for PostgreSQL or an in-memory database."""
    url = make_url(ledger_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database).expanduser().with_name(Path(database).name + suffix)


class FileLock:
    """An exclusive, non-blocking `flock` on `path`; the file records `holder`."""

    def __init__(self, path: Path, holder: str, what: str) -> None:
        self.path = path
        self.holder = holder
        self.what = what
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = _owner_of(handle.read()) or "another process"
            handle.close()
            raise LockHeldError(self.what, owner) from None
        handle.seek(0)
        handle.truncate()
        record = {"holder": self.holder, "pid": os.getpid(), "host": socket.gethostname(), "since": _now_text()}
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _owner_of(text: str) -> str:
    """The holder a lock file names (its JSON `holder`, or the raw text of an older format)."""
    try:
        record = json.loads(text)
    except ValueError:
        return text.strip()
    return str(record.get("holder") or "").strip() if isinstance(record, dict) else text.strip()


def _pg_owner(name: str | None, since: datetime | None) -> str:
    """The holder named by the lock connection's application_name and its backend_start."""
    words = (name or "").removeprefix(PG_PREFIX).split()
    when = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if since is not None else "?"
    if len(words) >= 2 and "@" in words[1]:
        pid, _, host = words[1].partition("@")
        return describe_holder(words[0], host, pid, when)
    return f"{name or 'another process'} (since {when})"


class ApplyLock:
    """Held for the whole of an applied run; see the module docstring."""

    def __init__(self, engine: Engine, ledger_url: str, run_id: str, local: threading.Lock) -> None:
        self._engine = engine
        self._url = ledger_url
        self._local = local  # an in-memory database lives in one Ledger: its lock too
        self.run_id = run_id
        self.holder = describe_holder(run_id, socket.gethostname(), os.getpid(), _now_text())
        self._connection: Connection | None = None
        self._file: FileLock | None = None
        self._memory = False

    def acquire(
        self, *, wait: bool = False, poll_s: float = 1.0, on_wait: Callable[[LockHeldError], None] | None = None
    ) -> None:
        """Take the lock; held: raise `LockHeldError` at once, or (`wait`) try again every `poll_s`."""
        told = False
        while True:
            try:
                self._acquire()
                return
            except LockHeldError as exc:
                if not wait:
                    raise
                if on_wait is not None and not told:
                    on_wait(exc)
                    told = True
            time.sleep(poll_s)

    def _acquire(self) -> None:
        what = "the ledger's apply lock (one applied run at a time)"
        if self._engine.dialect.name == "postgresql":
            self.holder = describe_holder(self.run_id, socket.gethostname(), os.getpid(), _now_text())
            connection = self._engine.connect()
            name = f"{PG_PREFIX}{self.run_id} {os.getpid()}@{socket.gethostname()}"[:63]
            connection.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"), {"key": APPLY_LOCK_KEY}
            ).scalar()
            connection.commit()
            if not got:
                row = connection.execute(
                    text(
                        "SELECT a.application_name, a.backend_start "
                        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted "
                        "AND l.classid::bigint = (:key)::int::oid::bigint "
                        "AND l.objid::bigint = (hashtext(current_schema()))::oid::bigint "
                        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
                    ),
                    {"key": APPLY_LOCK_KEY},
                ).first()
                connection.close()
                raise LockHeldError(what, _pg_owner(row[0], row[1]) if row is not None else "another process")
            self._connection = connection
            return
        path = sidecar_path(self._url, ".apply.lock")
        self.holder = describe_holder(self.run_id, socket.gethostname(), os.getpid(), _now_text())
        if path is not None:
            lock = FileLock(path, self.holder, what)
            lock.acquire()
            self._file = lock
            return
        if not self._local.acquire(blocking=False):
            raise LockHeldError(what, "another run on this in-memory ledger")
        self._memory = True

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(
                text("SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"), {"key": APPLY_LOCK_KEY}
            )
            self._connection.commit()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.release()
            self._file = None
        if self._memory:
            self._local.release()
            self._memory = False
