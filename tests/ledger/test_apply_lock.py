"""One applied run per ledger at a time (SQLite file and PostgreSQL): the second refuses at once, naming
the first; the lock dies with its holder, even by `kill -9`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from custodian.ledger.locks import LockHeldError
from custodian.ledger.store import Ledger


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
            deadline = time.monotonic() + 10
            while True:  # PostgreSQL ends the killed session's backend promptly, not instantly
                try:
                    lock = ledger.apply_lock("run-three")
                    lock.acquire()
                    break
                except LockHeldError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
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
