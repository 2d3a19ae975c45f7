"""Who may run jobs: the leader lease (PostgreSQL), fencing, and the single-replica lock (SQLite).

PostgreSQL: every replica runs a `LeaseKeeper`. It takes or renews the lease row every
`renew_every` with the database's clock (see `Ledger.acquire_lease`); the holder is the leader and
the only replica that runs jobs. A leader that cannot renew stops starting jobs once `ttl` has
passed since its last successful renewal began (measured on its own monotonic clock, so never later
than the database's expiry), and a standby takes the lease as soon as it expires (it polls at the
expiry, not only every `renew_every`): after a leader dies, a standby leads within `ttl` plus one
poll. Every change of holder increases the epoch. A run remembers the epoch it started under; its
`RunFence`, called before every destructive action, asks the database whether that epoch is still
the current, unexpired one and refuses the action otherwise.

SQLite: one replica only. `SqliteReplicaLock` takes an exclusive `flock` on a sidecar file next to
the database (released by the kernel when the process dies, even by `kill -9`); a second scheduler
on the same file fails at start with a clear error. The lease row is still kept (the epoch grows on
every start), with the process clock, so runs and metrics look the same on both backends.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy.engine import make_url

from custodian.engine.execute import ActingRefused
from custodian.ledger.scheduling import LeaseState, LeaseToken
from custodian.ledger.store import Ledger

LEASE_NAME: Final = "scheduler"
_LOG = logging.getLogger("release_custodian.lease")


class ReplicaConflictError(Exception):
    """Another scheduler already runs on this SQLite ledger (the message names it)."""


def replica_holder(replica_id: str | None = None) -> str:
    """This process's name in the lease: `replica_id` (or the host name), the pid and a random part."""
    return f"{replica_id or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def sqlite_lock_path(ledger_url: str) -> Path | None:
    """The sidecar lock file of a SQLite ledger file; None for PostgreSQL or an in-memory database."""
    url = make_url(ledger_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database).expanduser().with_name(Path(database).name + ".scheduler.lock")


class SqliteReplicaLock:
    """An exclusive, non-blocking `flock` on a file; the file says who holds it."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
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
        holder = {"holder": self.holder, "pid": os.getpid(), "host": socket.gethostname()}
        handle.write(json.dumps(holder) + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class LeaseKeeper:
    """Takes and renews the lease; says whether this replica leads, and at which epoch."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        holder: str,
        ttl: timedelta,
        renew_every: timedelta,
        clock: Callable[[], datetime],
        takeover: bool = False,
        name: str = LEASE_NAME,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.holder = holder
        self.name = name
        self.ttl = ttl
        self.renew_every = renew_every
        self._clock = clock
        self._takeover = takeover
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: LeaseToken | None = None
        self._deadline = 0.0
        self._state: LeaseState | None = None
        self._last_ok: float | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_elected: Callable[[LeaseToken], None] = lambda token: None
        self.on_demoted: Callable[[str], None] = lambda reason: None
        self.on_state: Callable[[LeaseState | None, bool], None] = lambda state, leader: None

    # -- one round ---------------------------------------------------------------------------------

    def tick(self) -> LeaseToken | None:
        """Take or renew the lease once; returns this replica's token if it leads."""
        started = self._monotonic()
        previous = self.current()
        try:
            state = self.ledger.acquire_lease(
                self.name, self.holder, self.ttl, at=self._clock(), takeover=self._takeover
            )
        except Exception as exc:  # noqa: BLE001 - the database is unreachable: lead until the deadline
            with self._lock:
                self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            _LOG.warning(f"lease: cannot reach the ledger: {self._last_error}")
            token = self.current()
            if previous is not None and token is None:
                self.on_demoted("the lease could not be renewed in time")
            self.on_state(self._state, token is not None)
            return token
        self._takeover = False  # only the first acquisition under the replica lock may take over
        held = state.held_by(self.holder)
        with self._lock:
            self._state = state
            self._last_ok = started
            self._last_error = None
            self._token = LeaseToken(self.name, self.holder, state.epoch) if held else None
            self._deadline = started + self.ttl.total_seconds() if held else 0.0
        token = self.current()
        if token is not None and (previous is None or previous.epoch != token.epoch):
            _LOG.info(f"lease: this replica ({self.holder}) leads, epoch {token.epoch}")
            self.on_elected(token)
        elif token is None and previous is not None:
            _LOG.warning(f"lease: this replica lost the lease to {state.holder} (epoch {state.epoch})")
            self.on_demoted(f"the lease is held by {state.holder} at epoch {state.epoch}")
        self.on_state(state, token is not None)
        return token

    def current(self) -> LeaseToken | None:
        """This replica's token while its lease is surely valid, else None."""
        with self._lock:
            if self._token is not None and self._monotonic() < self._deadline:
                return self._token
            return None

    def check(self, token: LeaseToken) -> str | None:
        """Why `token` may no longer act (None if it may): asks the database, by its clock."""
        local = self.current()
        if local is None or local.epoch != token.epoch:
            return (
                f"lease lost: this run started under epoch {token.epoch} and this replica "
                "no longer holds the lease at that epoch"
            )
        state = self.ledger.read_lease(self.name, at=self._clock())
        if state is None or not state.held_by(token.holder, token.epoch):
            held = "nobody" if state is None else f"{state.holder} at epoch {state.epoch}"
            return f"lease lost: this run started under epoch {token.epoch}; the lease is now held by {held}"
        return None

    # -- the thread --------------------------------------------------------------------------------

    def _wait_seconds(self) -> float:
        with self._lock:
            state, leading = self._state, self._token is not None
        period = self.renew_every.total_seconds()
        if leading or state is None:
            return period
        until_expiry = (state.expires_at - state.now).total_seconds() + 0.05  # a standby polls at the expiry
        return max(0.05, min(period, until_expiry))

    def start(self) -> None:
        """Renew (leader) or poll (standby) in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a callback failed: keep renewing regardless
                _LOG.exception("lease: a round failed")
            self._stop.wait(self._wait_seconds())

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with `release`, let the lease expire now so a standby takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        token = self.current()
        with self._lock:
            self._token = None
        if release and token is not None:
            try:
                self.ledger.release_lease(self.name, self.holder, at=self._clock())
            except Exception as exc:  # noqa: BLE001 - it expires by itself after ttl
                _LOG.warning(f"lease: could not release the lease ({exc}); it expires after its ttl")

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What /healthz shows: role, the lease as last seen, and when the ledger last answered."""
        with self._lock:
            state, last_ok, error = self._state, self._last_ok, self._last_error
        token = self.current()
        age = None if last_ok is None else round(self._monotonic() - last_ok, 3)
        return {
            "role": "leader" if token is not None else "standby",
            "replica": self.holder,
            "epoch": token.epoch if token is not None else None,
            "lease": None
            if state is None
            else {"holder": state.holder, "epoch": state.epoch, "expires_at": state.expires_at.isoformat()},
            "ledger_answered_seconds_ago": age,
            "ledger_error": error,
        }

    def ledger_reachable(self) -> bool:
        """The ledger answered the last lease round, recently (within three renewal periods)."""
        with self._lock:
            last_ok, error = self._last_ok, self._last_error
        if last_ok is None or error is not None:
            return False
        return self._monotonic() - last_ok <= 3 * self.renew_every.total_seconds() + 1

    def alive(self) -> bool:
        return self._thread is None or self._thread.is_alive()

    @property
    def last_state(self) -> LeaseState | None:
        with self._lock:
            return self._state


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
