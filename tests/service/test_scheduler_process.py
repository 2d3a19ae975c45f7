"""`python scheduler.py` as real processes (APScheduler, signals, the lease on the real PostgreSQL):
two replicas run each slot once and a standby takes over after `kill -9`; SIGTERM finishes the
current action and exits 0; a restart after downtime catches up once; overlaps are skipped and
recorded; a second replica on one SQLite file is refused. Jobs are the test-only kinds, with
second-long intervals; the tests wait on conditions, never for long."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from custodian.ledger import JobRun, JobStatus, Ledger
from custodian.ledger.scheduling import LeaseState
from custodian.model import ActionOutcome
from tests.service.conftest import SchedulerProcess, read_marker, wait_for, write_config

TTL = 3.0
RENEW = 1.0
Spawn = Callable[[Path, str], SchedulerProcess]


def lease(ledger: Ledger) -> LeaseState | None:
    from datetime import UTC, datetime

    return ledger.read_lease("scheduler", at=datetime.now(UTC))


def held_by(ledger: Ledger, process: SchedulerProcess) -> LeaseState | None:
    state = lease(ledger)
    return state if state is not None and f":{process.pid}:" in state.holder and state.expires_at > state.now else None


def contiguous(rows: list[JobRun], step: timedelta) -> bool:
    slots = sorted(r.slot for r in rows)
    return all(b - a == step for a, b in itertools.pairwise(slots))


def test_two_replicas_run_each_slot_once_and_a_standby_takes_over_after_kill_9(
    pg_url: str, tmp_path: Path, spawn: Spawn
) -> None:
    marker = tmp_path / "marker.jsonl"
    config = write_config(
        tmp_path / "ha.yaml", pg_url, {"tick": {"kind": "test-noop", "interval": "1s", "test": {"marker": str(marker)}}}
    )
    with Ledger.open(pg_url) as ledger:
        first = spawn(config, "first")
        first_lease = wait_for(lambda: held_by(ledger, first), 15, "the first replica to lead")
        second = spawn(config, "second")
        wait_for(lambda: "starting on" in second.output(), 15, "the second replica to start")
        wait_for(lambda: len(read_marker(marker)) >= 4, 10, "a few slots on the leader")
        assert held_by(ledger, first) is not None  # the second one stands by

        first.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        second_lease = wait_for(lambda: held_by(ledger, second), TTL + RENEW + 3, "the standby to take over")
        takeover = time.monotonic() - killed_at
        assert takeover <= TTL + RENEW + 0.5, f"takeover took {takeover:.1f}s"
        assert second_lease.epoch == first_lease.epoch + 1

        wait_for(lambda: any(m["pid"] == second.pid for m in read_marker(marker)), 10, "a slot run by the new leader")
        second.signal(signal.SIGTERM)
        assert second.wait(15) == 0
        rows = ledger.list_job_runs("tick")

    ran = read_marker(marker)
    slots = [m["slot"] for m in ran]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    assert {m["pid"] for m in ran} == {first.pid, second.pid}
    succeeded = {r.slot.isoformat() for r in rows if r.status is JobStatus.SUCCEEDED}
    assert succeeded == set(slots)
    assert contiguous(rows, timedelta(seconds=1)), "every slot has exactly one row: run, missed or caught up"
    # SKIPPED: a 1s slot may come while the previous run still goes on a loaded machine (overlap, recorded)
    assert {r.status for r in rows} <= {JobStatus.SUCCEEDED, JobStatus.MISSED, JobStatus.ABANDONED, JobStatus.SKIPPED}
    if takeover > 1.0:  # a slot came while no one led (a dead holder on this host is taken over at once)
        assert [r for r in rows if r.catch_up], "the new leader caught up the slot missed during the takeover"
    assert all(r.epoch == second_lease.epoch for r in rows if f":{second.pid}:" in r.holder)


def test_sigterm_lets_the_current_action_finish_and_exits_0(sqlite_url: str, tmp_path: Path, spawn: Spawn) -> None:
    marker = tmp_path / "marker.jsonl"
    config = write_config(
        tmp_path / "term.yaml",
        sqlite_url,
        {
            "act": {
                "kind": "test-actions",
                "interval": "1s",
                "test": {"actions": 3, "sleep": 1.0, "marker": str(marker)},
            }
        },
    )
    process = spawn(config, "term")
    wait_for(lambda: any(m["event"] == "acting" for m in read_marker(marker)), 15, "the first action to start")
    process.signal(signal.SIGTERM)
    assert process.wait(10) == 0

    events = [(m["event"], m.get("account")) for m in read_marker(marker)]
    assert events[-2:] == [("acting", events[-1][1]), ("acted", events[-1][1])]  # it finished, then stopped
    with Ledger.open(sqlite_url) as ledger:
        rows = ledger.list_job_runs("act")
        interrupted = [r for r in rows if r.status is JobStatus.INTERRUPTED]
        assert len(interrupted) == 1 and "SIGTERM" in interrupted[0].detail
        assert interrupted[0].run_id is not None
        journal = ledger.actions_for_run(interrupted[0].run_id)
    outcomes = [r.outcome for r in journal]
    assert outcomes[0] is ActionOutcome.DONE and ActionOutcome.SKIPPED in outcomes
    assert "stopped after SIGTERM" in process.output()


def test_a_restart_after_downtime_catches_up_once(sqlite_url: str, tmp_path: Path, spawn: Spawn) -> None:
    marker = tmp_path / "marker.jsonl"
    config = write_config(
        tmp_path / "restart.yaml",
        sqlite_url,
        {"tick": {"kind": "test-noop", "interval": "1s", "test": {"marker": str(marker)}}},
    )
    before = spawn(config, "before")
    wait_for(lambda: len(read_marker(marker)) >= 2, 15, "slots before the downtime")
    before.signal(signal.SIGTERM)
    assert before.wait(10) == 0
    time.sleep(2.5)  # downtime: about two slots pass with no scheduler
    after = spawn(config, "after")
    wait_for(lambda: any(m["catch_up"] for m in read_marker(marker)), 15, "the catch-up run")
    wait_for(lambda: len([m for m in read_marker(marker) if m["pid"] == after.pid]) >= 2, 10, "slots after it")
    after.signal(signal.SIGTERM)
    assert after.wait(10) == 0
    with Ledger.open(sqlite_url) as ledger:
        rows = ledger.list_job_runs("tick")
    catch_ups = [r for r in rows if r.catch_up]
    assert len(catch_ups) == 1 and catch_ups[0].status is JobStatus.SUCCEEDED
    assert [r for r in rows if r.status is JobStatus.MISSED], "the other slots of the downtime are recorded missed"
    assert contiguous(rows, timedelta(seconds=1))
    assert len([m for m in read_marker(marker) if m["catch_up"]]) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_overlap_is_skipped_and_recorded_and_metrics_are_served(sqlite_url: str, tmp_path: Path, spawn: Spawn) -> None:
    marker = tmp_path / "marker.jsonl"
    port = free_port()
    config = write_config(
        tmp_path / "overlap.yaml",
        sqlite_url,
        {"slow": {"kind": "test-sleep", "interval": "1s", "test": {"sleep": 2.2, "marker": str(marker)}}},
        health={"port": port},
    )
    process = spawn(config, "overlap")
    with Ledger.open(sqlite_url) as ledger:
        wait_for(
            lambda: [r for r in ledger.list_job_runs("slow") if r.status is JobStatus.SKIPPED], 15, "a skipped slot"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = json.loads(response.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        process.signal(signal.SIGTERM)
        assert process.wait(10) == 0
        rows = ledger.list_job_runs("slow")
    assert health["healthy"] and health["role"] == "leader" and health["ledger_reachable"]
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    skipped = [s for s in families["release_custodian_job_runs"].samples if s.labels.get("outcome") == "skipped"]
    assert skipped and skipped[0].value >= 1
    assert families["release_custodian_lease_leader"].samples[0].value == 1
    skipped_rows = [r for r in rows if r.status is JobStatus.SKIPPED]
    assert all("still running" in r.detail for r in skipped_rows)
    events = [m["event"] for m in read_marker(marker)]
    assert "start,start" not in ",".join(events), "runs were stacked"


def test_a_second_replica_on_one_sqlite_ledger_refuses_to_start(sqlite_url: str, tmp_path: Path, spawn: Spawn) -> None:
    config = write_config(tmp_path / "one.yaml", sqlite_url, {"tick": {"kind": "test-noop", "interval": "1s"}})
    first = spawn(config, "first")
    with Ledger.open(sqlite_url) as ledger:
        wait_for(lambda: held_by(ledger, first), 15, "the first replica to lead")
    second = spawn(config, "second")
    assert second.wait(15) == 2
    (refusal,) = [line["msg"] for line in second.lines() if line["level"] == "error"]
    assert "another scheduler already runs on this SQLite ledger" in refusal
    assert f'"pid": {first.pid}' in refusal  # who holds it
    first.signal(signal.SIGINT)
    assert first.wait(10) == 0


def test_a_paused_leader_is_fenced_when_it_resumes(pg_url: str, tmp_path: Path, spawn: Spawn) -> None:
    """The leader freezes (SIGSTOP: a long GC pause, a VM stall) in the middle of a run; the standby
    takes the lease; when the old leader resumes, the action it was in finishes but its next one is
    refused by the fence, journaled SKIPPED, and its slot recorded `fenced`."""
    marker = tmp_path / "marker.jsonl"
    actions = 6
    config = write_config(
        tmp_path / "fence.yaml",
        pg_url,
        {
            "act": {
                "kind": "test-actions",
                "interval": "2s",
                "test": {"actions": actions, "sleep": 1.0, "marker": str(marker)},
            }
        },
    )
    with Ledger.open(pg_url) as ledger:
        first = spawn(config, "first")
        wait_for(lambda: held_by(ledger, first), 15, "the first replica to lead")
        second = spawn(config, "second")
        wait_for(lambda: "starting on" in second.output(), 15, "the standby to start")
        wait_for(lambda: any(m["event"] == "acting" for m in read_marker(marker)), 15, "an action on the leader")
        first.signal(signal.SIGSTOP)
        try:
            stale_slot = read_marker(marker)[0]["slot"]
            wait_for(lambda: held_by(ledger, second), TTL + RENEW + 3, "the standby to take over")
        finally:
            first.signal(signal.SIGCONT)
        wait_for(
            lambda: (row := _row(ledger, "act", stale_slot)) is not None and row.status is JobStatus.FENCED,
            20,
            "the stale leader to record its run fenced",
        )
        row = _row(ledger, "act", stale_slot)
        assert row is not None and row.run_id is not None and "lease lost" in row.detail
        journal = ledger.actions_for_run(row.run_id)
        for process in (first, second):
            process.signal(signal.SIGTERM)
        assert first.wait(15) == 0 and second.wait(15) == 0
    stale = [(m["event"], m["account"]) for m in read_marker(marker) if m["pid"] == first.pid]
    started = [account for event, account in stale if event == "acting"]
    assert stale == [(event, account) for account in started for event in ("acting", "acted")]  # each one finished
    assert 1 <= len(started) < actions
    outcomes = [r.outcome for r in journal]
    assert outcomes == [ActionOutcome.DONE] * len(started) + [ActionOutcome.SKIPPED] * (actions - len(started))
    assert all("lease lost" in r.detail for r in journal[len(started) :])


def _row(ledger: Ledger, job_id: str, slot: str) -> JobRun | None:
    from datetime import datetime

    return ledger.get_job_run(job_id, datetime.fromisoformat(slot))
