"""One applied run per ledger at a time (SQLite file and PostgreSQL): the second refuses at once, naming
the first, or waits (bounded); the lock is a row of the lease table (the scheduler's too), renewed by a
heartbeat; a holder killed by `kill -9` on this host is replaced at once, one on another host after its
expiry; a run whose lock was taken over, or whose heartbeat failed past its ttl, stops acting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from custodian.engine.execute import ActingRefused, fence_of
from custodian.ledger.locks import APPLY_LEASE, ApplyLock, LeaseKeeper, LockHeldError
from custodian.ledger.processes import Holder
from custodian.ledger.store import Ledger
from custodian.service.lease import replica_holder


def test_a_second_applied_run_refuses_naming_the_first(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as one, Ledger.open(ledger_url) as two:
        first = one.apply_lock("20261201T100000Z-enforce-aaaaaa")
        first.acquire()
        try:
            with pytest.raises(LockHeldError, match="20261201T100000Z-enforce-aaaaaa"):
                two.apply_lock("20261201T100001Z-enforce-bbbbbb").acquire()
        finally:
            first.release()
        second = two.apply_lock("20261201T100002Z-enforce-cccccc")
        second.acquire()  # free again once released
        second.release()


def test_the_lock_dies_with_its_holder(ledger_url: str) -> None:
    code = (
        "import sys, time\n"
        "from custodian.ledger.store import Ledger\n"
        "ledger = Ledger.open(sys.argv[1])\n"
        "lock = ledger.apply_lock('run-of-a-killed-process')\n"
        "lock.acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, ledger_url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with Ledger.open(ledger_url) as ledger:
            with pytest.raises(LockHeldError, match="run-of-a-killed-process"):
                ledger.apply_lock("run-two").acquire()
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            started = time.monotonic()
            lock = ledger.apply_lock("run-three")
            lock.acquire()  # its process is gone: taken at once, not after the lock's 60 s expiry
            assert time.monotonic() - started < 5
            print(f"taken over {time.monotonic() - started:.2f}s after the kill")
            lock.release()
    finally:
        if child.poll() is None:
            child.kill()


def test_an_in_memory_ledger_has_its_own_lock() -> None:
    with Ledger.open("sqlite://") as ledger:
        lock = ledger.apply_lock("a")
        lock.acquire()
        with pytest.raises(LockHeldError):
            ledger.apply_lock("b").acquire()
        lock.release()
        ledger.apply_lock("c").acquire()


# -- the apply lock is a lease row: heartbeat, expiry, takeover, fencing ------------------------------


def test_the_apply_lock_is_a_row_of_the_lease_table_renewed_by_its_heartbeat(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        lock = ledger.apply_lock("run-beating", ttl=timedelta(seconds=1.5))
        lock.acquire()
        try:
            first = ledger.read_lease(APPLY_LEASE, at=datetime.now(UTC))
            assert first is not None and first.held_by(lock.keeper.holder)
            holder = Holder.parse(first.holder)
            assert holder is not None and (holder.label, holder.pid) == ("run-beating", os.getpid())
            time.sleep(2.2)  # longer than the ttl: only the heartbeat (every ttl/3) keeps it
            later = ledger.read_lease(APPLY_LEASE, at=datetime.now(UTC))
            assert later is not None and later.held_by(lock.keeper.holder, first.epoch)
            assert later.renewed_at > first.renewed_at and later.expires_at > first.expires_at
            assert lock.check() is None
        finally:
            lock.release()
        released = ledger.read_lease(APPLY_LEASE, at=datetime.now(UTC))
        assert released is not None and released.expires_at <= released.now  # free at once


def test_a_waiting_run_gives_up_after_its_timeout(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as one, Ledger.open(ledger_url) as two:
        first = one.apply_lock("run-long")
        first.acquire()
        try:
            started = time.monotonic()
            with pytest.raises(LockHeldError, match=r"run-long .*gave up after waiting 0.5s"):
                two.apply_lock("run-impatient").acquire(wait=True, timeout=0.5, poll_s=0.1)
            assert 0.4 < time.monotonic() - started < 5
        finally:
            first.release()


def _foreign_holder(label: str) -> str:
    """A holder on another host (its process cannot be looked at from here)."""
    return Holder(label, 4242, "elsewhere.example", "", "abcdef").encode()


def test_a_holder_on_another_host_is_replaced_only_after_its_expiry(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        taken = ledger.acquire_lease(
            APPLY_LEASE, _foreign_holder("run-elsewhere"), timedelta(seconds=1.5), at=datetime.now(UTC)
        )
        with pytest.raises(LockHeldError) as refused:
            ledger.apply_lock("run-here").acquire()
        message = str(refused.value)
        assert "run run-elsewhere (host elsewhere.example, pid 4242, heartbeat 0s ago, since 20" in message
        time.sleep(1.7)
        lock = ledger.apply_lock("run-here")
        lock.acquire()  # expired: taken, with a new epoch
        try:
            assert lock.token is not None and lock.token.epoch == taken.epoch + 1
        finally:
            lock.release()


def test_a_waiting_run_takes_an_expired_lock_at_its_expiry(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        ledger.acquire_lease(
            APPLY_LEASE, _foreign_holder("run-dead-elsewhere"), timedelta(seconds=1), at=datetime.now(UTC)
        )
        told: list[str] = []
        started = time.monotonic()
        lock = ledger.apply_lock("run-patient")
        lock.acquire(wait=True, poll_s=30, on_wait=lambda exc: told.append(str(exc)))  # polls at the expiry
        lock.release()
        assert time.monotonic() - started < 5 and len(told) == 1 and "run-dead-elsewhere" in told[0]


def test_a_run_whose_lock_was_taken_over_stops_acting(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as one, Ledger.open(ledger_url) as two:
        lock = one.apply_lock("run-stalled")
        lock.acquire()
        try:
            fence = fence_of(lock.check)
            fence()  # ours: acting allowed
            # somebody took it over (as after an expiry, or judging its process gone)
            two.acquire_lease(
                APPLY_LEASE, "intruder", timedelta(minutes=1), at=datetime.now(UTC), replacing=lock.keeper.holder
            )
            with pytest.raises(ActingRefused, match=r"apply lock lost: .* now held by intruder"):
                fence()
        finally:
            lock.release()
        state = two.read_lease(APPLY_LEASE, at=datetime.now(UTC))
        assert (
            state is not None and state.holder == "intruder" and state.expires_at > state.now
        )  # not released by the loser


def test_a_run_whose_heartbeat_failed_past_its_ttl_stops_acting(ledger_url: str) -> None:
    now = [100.0]
    with Ledger.open(ledger_url) as ledger:
        lock = ApplyLock(ledger, "run-cut-off", ttl=timedelta(seconds=30), monotonic=lambda: now[0])
        lock.acquire()
        try:
            lock.keeper.stop(release=False)  # the heartbeat stops (the ledger unreachable, the thread stuck)
            lock.keeper._token = lock.token
            now[0] += 29
            assert lock.check() is None
            now[0] += 2  # past the ttl since its last successful renewal: no longer surely ours
            reason = lock.check()
            assert reason is not None and reason.startswith("apply lock lost")
        finally:
            lock.keeper._token = None
            ledger.release_lease(APPLY_LEASE, lock.keeper.holder, at=datetime.now(UTC))


def test_a_holder_whose_process_is_gone_is_replaced_at_once(ledger_url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)  # its pid is free now
    gone = Holder(label="run-exited", pid=child.pid, host=socket.gethostname()[:64], start="", nonce="000000")
    reused = replace(Holder.this_process("run-before-a-reboot"), start="0000000000ff.1")  # a live pid, another boot
    with Ledger.open(ledger_url) as ledger:
        for dead in (gone, reused):
            ledger.acquire_lease(APPLY_LEASE, dead.encode(), timedelta(minutes=10), at=datetime.now(UTC))
            lock = ledger.apply_lock(f"run-after-{dead.label}")
            lock.acquire()  # no wait for the ten minutes
            lock.release()
        alive = Holder.this_process("run-alive")  # this very process: alive, so refused
        ledger.acquire_lease(APPLY_LEASE, alive.encode(), timedelta(minutes=10), at=datetime.now(UTC))
        with pytest.raises(LockHeldError, match="run-alive"):
            ledger.apply_lock("run-next").acquire()


def test_the_scheduler_lease_and_the_apply_lock_are_rows_of_one_table(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        keeper = LeaseKeeper(
            ledger,
            holder=replica_holder("r1"),
            ttl=timedelta(seconds=30),
            renew_every=timedelta(seconds=10),
            clock=lambda: datetime.now(UTC),
        )
        assert keeper.tick() is not None
        lock = ledger.apply_lock("run-scheduled")
        lock.acquire()
        try:
            now = datetime.now(UTC)
            leader, apply = ledger.read_lease("scheduler", at=now), ledger.read_lease(APPLY_LEASE, at=now)
            assert leader is not None and apply is not None and {leader.name, apply.name} == {"scheduler", "apply"}
            assert Holder.parse(leader.holder) is not None and Holder.parse(leader.holder).label == "r1"  # type: ignore[union-attr]
        finally:
            lock.release()
            keeper.stop()


def test_a_holder_killed_on_another_host_is_replaced_at_once_on_postgresql_only(ledger_url: str) -> None:
    """The child names another host in its lease row, so its pid cannot be looked at from here. On
    PostgreSQL its session lock (its own connection) ends with it: the next run takes over at once. On
    SQLite nothing but the expiry can tell: the next run is still refused right after the kill."""
    code = (
        "import socket, sys, time\n"
        "socket.gethostname = lambda: 'elsewhere.example'\n"  # this process pretends to run elsewhere
        "from custodian.ledger.store import Ledger\n"
        "ledger = Ledger.open(sys.argv[1])\n"
        "ledger.apply_lock('run-on-another-host').acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, ledger_url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with Ledger.open(ledger_url) as ledger:
            with pytest.raises(LockHeldError, match=r"run-on-another-host \(host elsewhere.example"):
                ledger.apply_lock("run-two").acquire()
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            lock = ledger.apply_lock("run-three")
            if ledger.backend == "sqlite":
                with pytest.raises(LockHeldError, match="run-on-another-host"):
                    lock.acquire()
                return
            started = time.monotonic()
            lock.acquire(wait=True, timeout=10, poll_s=0.1)  # the server notices the closed connection promptly
            print(f"taken over {time.monotonic() - started:.2f}s after the kill")
            lock.release()
    finally:
        if child.poll() is None:
            child.kill()


def test_a_run_that_lost_its_lock_never_takes_it_back(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as one, Ledger.open(ledger_url) as two:
        lock = one.apply_lock("run-resumed")
        lock.acquire()
        try:
            at = datetime.now(UTC)
            two.acquire_lease(APPLY_LEASE, "intruder", timedelta(minutes=1), at=at, replacing=lock.keeper.holder)
            assert two.release_lease(APPLY_LEASE, "intruder", at=datetime.now(UTC))  # done: free again
            assert lock.keeper.tick() is None  # its heartbeat only renews: the free lock is not taken again
            state = one.read_lease(APPLY_LEASE, at=datetime.now(UTC))
            assert state is not None and state.holder == "intruder"
            reason = lock.check()
            assert reason is not None and reason.startswith("apply lock lost")
        finally:
            lock.release()
        nxt = two.apply_lock("run-next")
        nxt.acquire()  # free for the next run
        nxt.release()
