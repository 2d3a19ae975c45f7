"""Two real `enforce --apply` processes on one ledger (SQLite and PostgreSQL): only one acts.

The first run is held at its first mutating request (an ARM emulator hook) while a second one
starts: the second exits at once (exit 1) naming the holder (run id, host, pid, since when) and
writes nothing; a third, started with `--wait`, waits for the first and then finds nothing left
to do. From the emulator's request log: no mutating request reached any path twice. A run whose
lock row is taken over while it acts sends nothing after the request it was in (its fence).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custodian.ledger.locks import APPLY_LEASE
from custodian.ledger.store import Ledger
from custodian.model import ActionOutcome
from custodian.sandbox.httpserver import Request, Response
from tests import reliability
from tests.ledger.conftest import pg_database, pg_url  # noqa: F401 - fixtures
from tests.reaper.processes import ArmHook, enforce, make_due, mutations_twice, resource_deletes, write_config
from tests.reaper.support import reaper_sandbox

pytestmark = pytest.mark.slow
MUTATING = ("PUT", "PATCH", "POST", "DELETE")
TRIALS = int(os.environ.get("RC_CONCURRENT_TRIALS", "0") or 0) or 1


@pytest.fixture(params=("sqlite", "postgresql"))
def shared_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'ledger.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_second_applied_run_refuses_at_once_and_a_waiting_one_acts_after(
    tmp_path: Path, shared_ledger: str, trial: int
) -> None:
    with reaper_sandbox(tmp_path) as reaper:
        make_due(reaper)
        config = write_config(reaper, shared_ledger)
        arm = reaper.sandbox.arm_server
        assert arm is not None
        arm.clear_log()
        held, release = threading.Event(), threading.Event()

        def hold_first_mutation(request: Request, handle: Callable[[Request], Response]) -> Response:
            if request.method in MUTATING and not held.is_set():
                held.set()
                release.wait(timeout=240)
            return handle(request)

        with ArmHook(arm, hold_first_mutation):
            first = enforce(config, cwd=tmp_path)
            try:
                assert held.wait(timeout=180), first.output
                started = time.monotonic()
                second = enforce(config, cwd=tmp_path)
                assert second.wait(timeout=60) == 1, second.output
                refused_in = time.monotonic() - started
                waiting = enforce(config, "--wait", cwd=tmp_path)
                deadline = time.monotonic() + 120
                while "waiting: " not in waiting.output and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1)
                assert waiting.process.poll() is None, waiting.output  # it waits for the first
            finally:
                release.set()
            assert first.wait() in (0, 3), first.output
            assert waiting.wait() in (0, 3), waiting.output

        with Ledger.open(shared_ledger) as ledger:
            runs = sorted(ledger.list_runs(), key=lambda r: r.info.started_at)
        assert len(runs) == 2  # the refused run wrote nothing, not even its run row
        holder = runs[0].info.run_id
        text = " ".join(second.output.split())
        twice = mutations_twice(arm.requests)
        refused = "refused:" in text and f"is held by run {holder}" in text
        reliability.record(
            "concurrent",
            trial=trial,
            backend=shared_ledger.split(":", 1)[0],
            runs=len(runs),
            refused_in_s=round(refused_in, 2),
            deletes=len(resource_deletes(arm.requests)),
            twice=sum(n - 1 for n in twice.values()),
            wrong=0,
            outcome="second refused, third waited then acted" if refused and len(runs) == 2 else "both acted",
        )
        assert "refused:" in text and f"is held by run {holder}" in text
        assert f"host {socket.gethostname()}" in text and f"pid {first.process.pid}" in text and "since 20" in text
        assert "waiting: " in waiting.output and holder in waiting.output
        assert refused_in < 30
        assert mutations_twice(arm.requests) == {}
        assert len(resource_deletes(arm.requests)) == 3


def test_a_run_whose_apply_lock_was_taken_over_stops_acting(tmp_path: Path, shared_ledger: str) -> None:
    """The first run is held at its first mutating request; meanwhile its lock row is taken over (as
    another run would once it judged the holder dead or expired). When it resumes, the request it was
    in finishes, and every later action is refused by its fence: nothing more is sent."""
    with reaper_sandbox(tmp_path) as reaper:
        make_due(reaper)
        config = write_config(reaper, shared_ledger)
        arm = reaper.sandbox.arm_server
        assert arm is not None
        arm.clear_log()
        held, release = threading.Event(), threading.Event()

        def hold_first_mutation(request: Request, handle: Callable[[Request], Response]) -> Response:
            if request.method in MUTATING and not held.is_set():
                held.set()
                release.wait(timeout=240)
            return handle(request)

        with ArmHook(arm, hold_first_mutation), Ledger.open(shared_ledger) as ledger:
            first = enforce(config, cwd=tmp_path)
            try:
                assert held.wait(timeout=180), first.output
                lease = ledger.read_lease(APPLY_LEASE, at=datetime.now(UTC))
                assert lease is not None and str(first.process.pid) in lease.holder
                taken = ledger.acquire_lease(
                    APPLY_LEASE, "intruder", timedelta(minutes=5), at=datetime.now(UTC), replacing=lease.holder
                )
                assert taken.holder == "intruder" and taken.epoch == lease.epoch + 1
            finally:
                release.set()
            assert first.wait() == 1, first.output  # incomplete: actions refused
            (run,) = ledger.list_runs()
            records = ledger.actions_for_run(run.info.run_id)
        mutations = [r for r in arm.requests if r.method in MUTATING]
        assert len(mutations) == 1, mutations  # only the one already under way when the lock was lost
        refused = [r for r in records if "apply lock lost" in r.detail]
        assert refused and all(r.outcome is ActionOutcome.SKIPPED for r in refused)
        assert len(refused) == len(records) - 1
