"""Who may run jobs: the leader lease, fencing, and the single-replica lock (SQLite).

The lease itself is `custodian.ledger.locks.LeaseKeeper`, the same keeper (and the same lease table)
as the applied-run lock: one mechanism. Every replica runs a keeper of the lease `scheduler`. It
takes or renews the lease row every `renew_every` (with the database's clock on PostgreSQL, see
`Ledger.acquire_lease`); the holder is the leader and the only replica that runs jobs. A leader that
cannot renew stops starting jobs once `ttl` has passed since its last successful renewal began
(measured on its own monotonic clock, so never later than the database's expiry), and a standby
takes the lease as soon as it expires (it polls at the expiry, not only every `renew_every`), or at
once when the leader ran on its host and its process is gone: after a leader dies, a standby leads
within `ttl` plus one poll. Every change of holder increases the epoch. A run remembers the epoch it
started under; its `RunFence`, called before every destructive action, asks the database whether
that epoch is still the current, unexpired one and refuses the action otherwise. An applied job
also takes the apply lock (`run_lifecycle`), so a scheduled run and a manual `enforce --apply` never
act at once; its fence then checks both.

SQLite: one replica only. `SqliteReplicaLock` takes an exclusive `flock` on a sidecar file next to
the database; a second scheduler on the same file fails at start with a clear error. It stays beside
the lease because the kernel knows at once whether the other process lives, even one in another
container (another host name) sharing the file, where the lease alone would only make the second a
silent standby (or wait out a dead one's `ttl`). Under it, the lease row is taken over at start
(the epoch grows on every start), with the process clock, so runs and metrics look the same on both
backends.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import IO, Final

from sqlalchemy.engine import make_url

from custodian.engine.execute import ActingRefused
from custodian.ledger.locks import LeaseKeeper, in_memory
from custodian.ledger.processes import Holder
from custodian.ledger.scheduling import LeaseToken

__all__ = ["LEASE_NAME", "LeaseKeeper", "ReplicaConflictError", "RunFence", "SqliteReplicaLock", "replica_holder"]

LEASE_NAME: Final = "scheduler"
_LOG = logging.getLogger("release_custodian.lease")


class ReplicaConflictError(Exception):
    """Another scheduler already runs on this SQLite ledger (the message names it)."""


def replica_holder(replica_id: str | None = None) -> str:
    """This process's name in the lease: `replica_id` (or the host name), the pid, a random part, the
    host and the process's start (so that a replica on the same host can tell it is gone)."""
    return Holder.this_process(replica_id or socket.gethostname()).encode()


def sqlite_lock_path(ledger_url: str) -> Path | None:
    """The sidecar lock file of a SQLite ledger file; None for PostgreSQL or an in-memory database."""
    url = make_url(ledger_url)
    if url.get_backend_name() != "sqlite" or in_memory(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database).expanduser().with_name(Path(database).name + ".scheduler.lock")


class SqliteReplicaLock:
    """An exclusive, non-blocking `flock` on a file (released by the kernel when its process dies);
    the file says who holds it."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise ReplicaConflictError(
                f"another scheduler already runs on this SQLite ledger: {self.path} is locked by {owner}. "
                "A SQLite ledger allows one scheduler replica; for several (high availability) use a "
                "PostgreSQL ledger (ledger.url: postgresql+psycopg://...)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"holder": self.holder, "pid": os.getpid(), "host": socket.gethostname()}) + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class RunFence:
    """The `Executor.fence` of one run: refuses every action once the run's lease epoch is stale, or
    the service is stopping. `refused` then says which (`lease` or `stopping`)."""

    def __init__(self, keeper: LeaseKeeper, token: LeaseToken, stopping: threading.Event) -> None:
        self.keeper = keeper
        self.token = token
        self.stopping = stopping
        self.refused: str | None = None
        self.reason = ""

    def __call__(self) -> None:
        if self.stopping.is_set():
            self.refused, self.reason = "stopping", "the service is stopping (SIGTERM/SIGINT): no new action starts"
            raise ActingRefused(self.reason)
        reason = self.keeper.check(self.token)
        if reason is not None:
            self.refused, self.reason = "lease", reason
            _LOG.warning(f"fence: action refused: {reason}")
            raise ActingRefused(reason)
