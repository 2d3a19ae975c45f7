"""Leases: the one mechanism of mutual exclusion on a ledger (the scheduler's leader, the apply lock).

A lease is a row of `leases` (`custodian.ledger.scheduling`: taken, renewed and released in one
statement each, with the database's clock on PostgreSQL; the epoch grows on every change of holder).
`LeaseKeeper` takes and renews one lease in a thread every `renew_every`, and knows whether its
holder may still act: not once `ttl` has passed since its last successful renewal began (on its own
monotonic clock, so never later than the database's expiry), nor once the row names somebody else.

Its holder is `Holder.encode()` (`custodian.ledger.processes`: label, pid, host, process start). A
lease whose holder ran on this host (the same host name) and whose process is gone (no such pid, a
zombie, a pid reused since: another start time or boot) is taken at once (compare-and-swap on that
holder), without waiting for its expiry: a process killed by `kill -9` blocks nobody on its host.
Otherwise a holder on another host is replaced after its expiry (`ttl` since its last heartbeat). Two
containers given the same host name on one ledger would be taken for one host: give them their own.

- the scheduler's leader lease (name `scheduler`: `custodian.service.lease`);
- `ApplyLock`, the applied-run lock (name `apply`, default ttl 60 s, heartbeat every ttl/3): one
  applied run per ledger at a time, on SQLite (the host's clock) and PostgreSQL (the database's). A
  second applied run refuses at once (`LockHeldError`, naming the holder: run id, host, pid, since
  when, heartbeat age), or with `acquire(wait=True)` waits for it (bounded by `timeout` when given).
  Its `check`, called before every destructive action, refuses once the lock is no longer surely
  ours. An in-memory database lives in one process: its lock has no heartbeat and never expires.

On PostgreSQL an apply-lock holder also keeps a session advisory lock named after it, on a
connection of its own (`processes.SessionLock`, taken before the row): the database drops it the
moment that connection ends, so a holder killed on another host is replaced at once too (as the
advisory lock this lease replaced was released), not after its expiry; a host that vanishes without
closing its connections is replaced after the expiry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.engine import URL, make_url

from custodian.ledger.processes import Holder, SessionLock
from custodian.ledger.scheduling import LeaseState, LeaseToken, SchedulingLedger

APPLY_LEASE: Final = "apply"
APPLY_WHAT: Final = "the ledger's apply lock (one applied run at a time)"
DEFAULT_APPLY_TTL: Final = timedelta(seconds=60)
_MEMORY_TTL: Final = timedelta(days=3650)  # an in-memory ledger dies with its process: no heartbeat needed
_LOG = logging.getLogger("release_custodian.lease")


def wall_clock() -> datetime:
    return datetime.now(UTC)


def describe_holder(holder: str, state: LeaseState | None = None) -> str:
    """`run <id> (host H, pid P, heartbeat 3s ago, since T)`, from a lease's holder and state."""
    parsed = Holder.parse(holder)
    facts = [] if parsed is None else [f"host {parsed.host}", f"pid {parsed.pid}"]
    if state is not None:
        facts.append(f"heartbeat {max(0.0, (state.now - state.renewed_at).total_seconds()):.0f}s ago")
        facts.append(f"since {state.acquired_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}")
    return f"run {parsed.label if parsed else holder} ({', '.join(facts)})"


def process_gone(holder: str) -> bool:
    """Whether the process a lease row names surely ended (on this host; see `Holder.gone`)."""
    parsed = Holder.parse(holder)
    return parsed is not None and parsed.gone()


class LockHeldError(Exception):
    """Somebody else holds the lock; the message names them."""

    def __init__(self, what: str, owner: str) -> None:
        super().__init__(f"{what} is held by {owner}")
        self.owner = owner


class LeaseKeeper:
    """Takes and renews one lease; says whether its holder holds it, and at which epoch."""

    def __init__(
        self,
        ledger: SchedulingLedger,
        *,
        holder: str,
        ttl: timedelta,
        renew_every: timedelta,
        clock: Callable[[], datetime],
        takeover: bool = False,
        name: str = "scheduler",
        monotonic: Callable[[], float] = time.monotonic,
        quiet: bool = False,
        gone: Callable[[str], bool] | None = None,
        retake: bool = True,
    ) -> None:
        self.ledger = ledger
        self._retake = retake  # False: once held, only renewed; lost once, never taken again
        self._held_epoch: int | None = None
        self._gone = gone or process_gone  # whether a holder (as its row names it) surely ended
        self._level = logging.DEBUG if quiet else logging.INFO  # taking and takeovers (losing: a warning)
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

    def _acquire(self) -> LeaseState:
        at = self._clock()
        if not self._retake and self._held_epoch is not None:
            renewed = self.ledger.renew_lease(self.name, self.holder, self._held_epoch, self.ttl, at=at)
            if renewed is None:
                raise LookupError(f"the lease {self.name} is gone from the ledger")
            return renewed
        state = self.ledger.acquire_lease(self.name, self.holder, self.ttl, at=at, takeover=self._takeover)
        other = not state.held_by(self.holder) and state.expires_at > state.now
        if other and self._gone(state.holder):
            _LOG.log(self._level, f"lease {self.name}: its holder {state.holder} is gone (no such process)")
            state = self.ledger.acquire_lease(self.name, self.holder, self.ttl, at=at, replacing=state.holder)
        return state

    def tick(self, *, strict: bool = False) -> LeaseToken | None:
        """Take or renew the lease once; returns the token if held. `strict`: a ledger error raises."""
        started = self._monotonic()
        previous = self.current()
        try:
            state = self._acquire()
        except Exception as exc:  # the database is unreachable: hold until the deadline
            if strict:
                raise
            with self._lock:
                self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            _LOG.warning(f"lease {self.name}: cannot reach the ledger: {self._last_error}")
            token = self.current()
            if previous is not None and token is None:
                self.on_demoted("the lease could not be renewed in time")
            self.on_state(self._state, token is not None)
            return token
        self._takeover = False  # only the first acquisition under the replica lock may take over
        held = state.held_by(self.holder)
        if held and self._held_epoch is None:
            self._held_epoch = state.epoch
        with self._lock:
            self._state = state
            self._last_ok = started
            self._last_error = None
            self._token = LeaseToken(self.name, self.holder, state.epoch) if held else None
            self._deadline = started + self.ttl.total_seconds() if held else 0.0
        token = self.current()
        if token is not None and (previous is None or previous.epoch != token.epoch):
            _LOG.log(self._level, f"lease {self.name}: held by {self.holder}, epoch {token.epoch}")
            self.on_elected(token)
        elif token is None and previous is not None:
            _LOG.warning(f"lease {self.name}: {self.holder} lost it to {state.holder} (epoch {state.epoch})")
            self.on_demoted(f"the lease is held by {state.holder} at epoch {state.epoch}")
        self.on_state(state, token is not None)
        return token

    def current(self) -> LeaseToken | None:
        """The token while the lease is surely held (renewed within `ttl`), else None."""
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

    def _wait_seconds(self) -> float:
        with self._lock:
            state, leading = self._state, self._token is not None
        period = self.renew_every.total_seconds()
        if leading or state is None:
            return period
        until_expiry = (state.expires_at - state.now).total_seconds() + 0.05  # a standby polls at the expiry
        return max(0.05, min(period, until_expiry))

    def start(self) -> None:
        """Renew (holder) or poll (standby) in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a callback failed: keep renewing regardless
                _LOG.exception(f"lease {self.name}: a round failed")
            if not self._retake and self._held_epoch is not None and self.current() is None:
                return  # lost, and never taken again: nothing left to renew
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
                _LOG.warning(f"lease {self.name}: could not release it ({exc}); it expires after its ttl")

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


def in_memory(url: URL | str) -> bool:
    """Whether a ledger URL is an in-memory SQLite database (one process: nobody else to exclude)."""
    parsed = make_url(url)
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    )


class ApplyLock:
    """Held for the whole of an applied run (lease `apply`); see the module docstring."""

    def __init__(
        self,
        ledger: SchedulingLedger,
        run_id: str,
        *,
        ttl: timedelta = DEFAULT_APPLY_TTL,
        memory: bool = False,
        session: SessionLock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_id = run_id
        self._heartbeat = not memory
        self._monotonic = monotonic
        self._session = session  # PostgreSQL: the database tells when a holder's process ended
        ttl = _MEMORY_TTL if memory else ttl
        self.keeper = LeaseKeeper(
            ledger,
            holder=Holder.this_process(run_id, session=session is not None).encode(),
            ttl=ttl,
            renew_every=ttl / 3,
            clock=wall_clock,
            name=APPLY_LEASE,
            monotonic=monotonic,
            quiet=True,
            gone=self._holder_gone,
            retake=False,  # a run that lost its lock never gets it back: its fence has stopped it
        )
        self.token: LeaseToken | None = None

    def _holder_gone(self, holder: str) -> bool:
        if process_gone(holder):
            return True
        parsed = Holder.parse(holder)
        return self._session is not None and parsed is not None and parsed.session and self._session.holder_gone(holder)

    def acquire(
        self,
        *,
        wait: bool = False,
        timeout: float | None = None,
        poll_s: float = 1.0,
        on_wait: Callable[[LockHeldError], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Take the lock; held: raise `LockHeldError` at once, or (`wait`) try again (until `timeout` s)."""
        if self._session is not None:
            self._session.hold(self.keeper.holder)  # first: from now on the database knows we live
        try:
            self._take(wait, timeout, poll_s, on_wait, sleep)
        except BaseException:
            if self._session is not None:
                self._session.release()
            raise

    def _take(
        self,
        wait: bool,
        timeout: float | None,
        poll_s: float,
        on_wait: Callable[[LockHeldError], None] | None,
        sleep: Callable[[float], None],
    ) -> None:
        clock = self._monotonic
        deadline = None if timeout is None else clock() + timeout
        told = False
        while True:
            token = self.keeper.tick(strict=True)
            if token is not None:
                self.token = token
                if self._heartbeat:
                    self.keeper.start()
                return
            state = self.keeper.last_state
            held = LockHeldError(APPLY_WHAT, describe_holder(state.holder, state) if state else "another run")
            if not wait:
                raise held
            left = None if deadline is None else deadline - clock()
            if left is not None and left <= 0:
                raise LockHeldError(APPLY_WHAT, f"{held.owner}; gave up after waiting {timeout:g}s")
            if on_wait is not None and not told:
                on_wait(held)
                told = True
            pause = poll_s
            if state is not None:  # poll at its expiry too, not only every poll_s
                pause = min(pause, max(0.05, (state.expires_at - state.now).total_seconds() + 0.05))
            sleep(pause if left is None else max(0.0, min(pause, left)))

    def check(self) -> str | None:
        """Why this run may no longer act (None if it may): the lock is no longer surely ours."""
        if self.token is None:
            return "the apply lock is not held"
        reason = self.keeper.check(self.token)
        return None if reason is None else reason.replace("lease lost", "apply lock lost", 1)

    def release(self) -> None:
        if self.token is not None:
            self.keeper.stop(release=True)
            self.token = None
        if self._session is not None:
            self._session.release()
