"""The apply lock names its holder (run id, host, pid, since when) and can be waited for; an applied
run that died unfinished is closed as `crashed` by the next one (SQLite file and PostgreSQL)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from custodian import __version__
from custodian.ledger.locks import LockHeldError
from custodian.ledger.store import Ledger
from custodian.model import RunInfo, RunMode

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_refusal_names_run_host_pid_and_since(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as one, Ledger.open(ledger_url) as two:
        first = one.apply_lock("20261201T100000Z-enforce-aaaaaa")
        first.acquire()
        try:
            with pytest.raises(LockHeldError) as refused:
                two.apply_lock("20261201T100001Z-enforce-bbbbbb").acquire()
        finally:
            first.release()
    message = str(refused.value)
    assert f"is held by run 20261201T100000Z-enforce-aaaaaa (host {socket.gethostname()}"[:60] in message
    assert f"pid {os.getpid()}" in message
    assert re.search(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", message), message


def test_a_waiting_run_takes_the_lock_once_it_is_released(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as one, Ledger.open(ledger_url) as two:
        first = one.apply_lock("run-first")
        first.acquire()
        told: list[str] = []
        got = threading.Event()
        second = two.apply_lock("run-second")

        def wait() -> None:
            second.acquire(wait=True, poll_s=0.05, on_wait=lambda exc: told.append(str(exc)))
            got.set()

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.5)
        assert not got.is_set() and len(told) == 1 and "run-first" in told[0]
        first.release()
        thread.join(timeout=10)
        assert got.is_set()
        second.release()


def test_unfinished_applied_runs_are_closed_as_crashed(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        for run_id, applied in (("dead-apply", True), ("running-audit", False), ("current", True)):
            ledger.start_run(RunInfo(run_id, T0, None, RunMode.ENFORCE, applied, "", __version__))
        ledger.start_run(RunInfo("finished", T0, None, RunMode.ENFORCE, True, "", __version__))
        ledger.finish_run("finished", T0 + timedelta(minutes=1), {}, "ok")
        at = T0 + timedelta(hours=1)
        assert ledger.close_crashed_runs(at, current="current") == ["dead-apply"]
        dead = ledger.get_run("dead-apply")
        assert dead is not None and dead.outcome == "crashed" and dead.info.finished_at == at
        audit, current, done = (ledger.get_run(r) for r in ("running-audit", "current", "finished"))
        assert audit is not None and audit.outcome is None  # an audit holds no lock: it may be running
        assert current is not None and current.outcome is None
        assert done is not None and done.outcome == "ok"
        assert ledger.close_crashed_runs(at, current="current") == []
