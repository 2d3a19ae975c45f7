"""Two real `enforce --apply` processes on one ledger (SQLite and PostgreSQL): only one acts.

The first run is held at its first mutating request (an ARM emulator hook) while a second one
starts: the second exits at once (exit 1) naming the holder (run id, host, pid, since when) and
writes nothing; a third, started with `--wait`, waits for the first and then finds nothing left
to do. From the emulator's request log: no mutating request reached any path twice.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from custodian.ledger.store import Ledger
from custodian.sandbox.httpserver import Request, Response
from tests.ledger.conftest import pg_database, pg_url  # noqa: F401 - fixtures
from tests.reaper.processes import ArmHook, enforce, make_due, mutations_twice, resource_deletes, write_config
from tests.reaper.support import reaper_sandbox

pytestmark = pytest.mark.slow
MUTATING = ("PUT", "PATCH", "POST", "DELETE")


@pytest.fixture(params=("sqlite", "postgresql"))
def shared_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'ledger.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_a_second_applied_run_refuses_at_once_and_a_waiting_one_acts_after(tmp_path: Path, shared_ledger: str) -> None:
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
                time.sleep(3)
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
        assert "refused:" in text and f"is held by run {holder}" in text
        assert f"host {socket.gethostname()}" in text and f"pid {first.process.pid}" in text and "since 20" in text
        assert "waiting: " in waiting.output and holder in waiting.output
        assert refused_in < 30
        assert mutations_twice(arm.requests) == {}
        assert len(resource_deletes(arm.requests)) == 3
