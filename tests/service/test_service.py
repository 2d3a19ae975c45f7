"""The service core with an injected clock (no APScheduler, no waiting): slots run once, catch-up
after downtime runs once, overlaps are skipped and recorded, failures are isolated, a stale leader's
action is fenced, a stop interrupts between actions, and the digest shows all of it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from custodian.config import Config, JobKind, Mode
from custodian.engine.execute import Executor
from custodian.ledger import JobStatus, Ledger
from custodian.model import Action, ActionOutcome, RunInfo, RunMode
from custodian.service.jobs import JobContext, JobResult, job_bodies
from custodian.service.lease import LeaseKeeper, RunFence
from custodian.service.metrics import ServiceMetrics
from custodian.service.runner import SchedulerService
from tests.service.conftest import T0, FakeClock, make_config, read_marker
from tests.service.job_bodies import TEST_JOB_BODIES, _SleepyGateway, open_gate, synthetic_action

HOUR = timedelta(hours=1)


@dataclass
class Replica:
    service: SchedulerService
    keeper: LeaseKeeper
    metrics: ServiceMetrics
    kicks: list[str]

    def fire(self, job_id: str) -> JobStatus | None:
        self.keeper.tick()
        return self.service.fire(job_id)

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        out = {}
        for family in text_string_to_metric_families(self.metrics.render().decode()):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out


def replica(
    config: Config, ledger: Ledger, clock: FakeClock, holder: str, *, ttl: timedelta = timedelta(seconds=30), **kw: Any
) -> Replica:
    keeper = LeaseKeeper(
        ledger,
        holder=holder,
        ttl=ttl,
        renew_every=ttl / 3,
        clock=clock.now,
        monotonic=clock.monotonic,
        takeover=ledger.backend == "sqlite",
    )
    metrics = ServiceMetrics(replica=holder, version="test", ledger_backend=ledger.backend)
    kicks: list[str] = []
    kw.setdefault("bodies", {**job_bodies(), **TEST_JOB_BODIES})
    kw["bodies"] = {**job_bodies(), **TEST_JOB_BODIES, **kw["bodies"]}
    service = SchedulerService(config, ledger, keeper, metrics, clock=clock.now, kick=kicks.append, **kw)
    return Replica(service, keeper, metrics, kicks)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url) as opened:
        yield opened


def hourly(marker: Path, kind: str = "test-noop", **test: Any) -> dict[str, Any]:
    return {"kind": kind, "cron": "0 * * * *", "test": {"marker": str(marker), **test}}


def test_two_replicas_on_one_postgresql_ledger_run_each_slot_once(pg_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker.jsonl"
    config = make_config(pg_url, tmp_path, {"tick": hourly(marker)})
    clock = FakeClock(T0 + timedelta(seconds=5))
    with Ledger.open(pg_url) as ledger_a, Ledger.open(pg_url) as ledger_b:
        a, b = replica(config, ledger_a, clock, "a"), replica(config, ledger_b, clock, "b")
        a.keeper.tick()
        b.keeper.tick()
        for _ in range(4):
            outcomes = {a.fire("tick"), b.fire("tick")}
            assert outcomes == {JobStatus.SUCCEEDED, None}
            assert {a.fire("tick"), b.fire("tick")} == {None}  # fired again: the slot is already in the ledger
            clock.advance(HOUR)
        rows = ledger_a.list_job_runs("tick")
    assert [r.slot for r in rows] == [T0 + i * HOUR for i in range(4)]
    assert {r.holder for r in rows} == {"a"} and {r.status for r in rows} == {JobStatus.SUCCEEDED}
    assert [line["slot"] for line in read_marker(marker)] == [(T0 + i * HOUR).isoformat() for i in range(4)]


def test_a_restart_after_downtime_runs_the_missed_slot_exactly_once(ledger: Ledger, tmp_path: Path) -> None:
    marker = tmp_path / "marker.jsonl"
    config = make_config(ledger.url if ledger.backend == "sqlite" else _url(ledger), tmp_path, {"tick": hourly(marker)})
    clock = FakeClock(T0 + timedelta(seconds=5))
    first = replica(config, ledger, clock, "first")
    assert first.fire("tick") is JobStatus.SUCCEEDED  # 10:00 on time
    first.keeper.stop(release=True)  # the service stops; it is down from 10:01 to 13:30

    clock.set(T0 + timedelta(hours=3, minutes=30))
    second = replica(config, ledger, clock, "second")
    second.keeper.tick()  # elected: catch up every job once
    assert second.kicks == ["tick"]
    assert second.service.fire("tick") is JobStatus.SUCCEEDED
    assert second.service.fire("tick") is None  # a second kick, or the 13:00 trigger, finds the row
    second.keeper.stop(release=True)

    third = replica(config, ledger, clock, "third")  # and another restart without downtime
    third.keeper.tick()
    assert third.service.fire("tick") is None

    rows = {r.slot: r for r in ledger.list_job_runs("tick")}
    assert {slot - T0: r.status for slot, r in rows.items()} == {
        timedelta(0): JobStatus.SUCCEEDED,
        HOUR: JobStatus.MISSED,
        2 * HOUR: JobStatus.MISSED,
        3 * HOUR: JobStatus.SUCCEEDED,
    }
    caught = rows[T0 + 3 * HOUR]
    assert caught.catch_up and "run once for 3 missed slot(s)" in caught.detail
    assert [line["catch_up"] for line in read_marker(marker)] == [False, True]
    samples = second.samples()
    assert samples[("release_custodian_job_catch_up_runs_total", (("job", "tick"),))] == 1
    assert samples[("release_custodian_job_runs_total", (("job", "tick"), ("outcome", "missed")))] == 2


def test_catch_up_off_records_the_slot_missed_and_a_new_job_has_nothing_to_catch_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker.jsonl"
    config = make_config(
        sqlite_url, tmp_path, {"tick": {**hourly(marker), "catch_up": False}, "fresh": hourly(tmp_path / "f.jsonl")}
    )
    clock = FakeClock(T0 + timedelta(seconds=5))
    with Ledger.open(sqlite_url) as ledger:
        first = replica(config, ledger, clock, "first")
        first.fire("tick")
        clock.set(T0 + 2 * HOUR + timedelta(minutes=5))
        second = replica(config, ledger, clock, "second")
        second.keeper.tick()
        assert second.service.fire("tick") is JobStatus.MISSED
        assert second.service.fire("fresh") is None  # never ran: waits for its next slot
        assert [r.status for r in ledger.list_job_runs("tick")] == [JobStatus.SUCCEEDED] + [JobStatus.MISSED] * 2
        assert ledger.list_job_runs("fresh") == []
    assert len(read_marker(marker)) == 1


def test_an_overlapping_run_is_skipped_and_recorded_not_stacked(ledger: Ledger, tmp_path: Path) -> None:
    marker = tmp_path / "marker.jsonl"
    config = make_config(_url(ledger), tmp_path, {"slow": {**hourly(marker, "test-sleep", sleep=1.0)}})
    clock = FakeClock(T0 + timedelta(seconds=5))
    one = replica(config, ledger, clock, "one")
    one.keeper.tick()
    results: list[JobStatus | None] = []
    runner = threading.Thread(target=lambda: results.append(one.service.fire("slow")))
    runner.start()
    time.sleep(0.3)  # the 10:00 run is sleeping
    clock.advance(HOUR)  # 11:00 comes while it still runs
    assert one.fire("slow") is JobStatus.SKIPPED
    one.service.record_overlap("slow", [T0 + 2 * HOUR])  # what APScheduler reports (max_instances=1)
    runner.join()
    assert results == [JobStatus.SUCCEEDED]
    statuses = [(r.slot - T0, r.status) for r in ledger.list_job_runs("slow")]
    assert statuses == [(timedelta(0), JobStatus.SUCCEEDED), (HOUR, JobStatus.SKIPPED), (2 * HOUR, JobStatus.SKIPPED)]
    assert [line["event"] for line in read_marker(marker)] == ["start", "end"]
    assert one.samples()[("release_custodian_job_runs_total", (("job", "slow"), ("outcome", "skipped")))] == 2


def test_a_failing_job_is_recorded_and_does_not_stop_the_others(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(
        _url(ledger),
        tmp_path,
        {
            "bad": {"kind": "test-fail", "interval": "1m"},
            "good": {"kind": "test-noop", "interval": "1m"},
            "reap": {"cron": "0 * * * *"},
        },
    )
    clock = FakeClock(T0 + timedelta(seconds=5))
    one = replica(config, ledger, clock, "one")
    assert one.fire("bad") is JobStatus.FAILED
    assert one.fire("good") is JobStatus.SUCCEEDED
    assert one.fire("reap") is JobStatus.SUCCEEDED  # no reaper section: nothing to reap, not a failure
    bad = ledger.latest_job_run("bad")
    reap = ledger.latest_job_run("reap")
    assert bad is not None and bad.detail == "RuntimeError: test-fail: this job always fails"
    assert reap is not None and "no reaper section" in reap.detail
    samples = one.samples()
    assert samples[("release_custodian_job_runs_total", (("job", "bad"), ("outcome", "failed")))] == 1
    assert samples[("release_custodian_job_runs_total", (("job", "reap"), ("outcome", "succeeded")))] == 1
    assert ("release_custodian_job_last_success_timestamp_seconds", (("job", "good"),)) in samples
    assert ("release_custodian_job_last_success_timestamp_seconds", (("job", "bad"),)) not in samples


def test_the_reap_job_runs_the_reaper_part_with_the_fence(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import custodian.run as lifecycle

    calls: list[dict[str, Any]] = []

    class Recorded(Exception):
        pass

    def recording_run(config: Config, request: Any, **kwargs: Any) -> Any:
        calls.append({"request": request, **kwargs})
        kwargs["fence"]()  # the HA check works from inside the run
        raise Recorded

    monkeypatch.setattr(lifecycle, "run_lifecycle", recording_run)
    config = make_config(sqlite_url, tmp_path, {"reap": {"interval": "1h"}}).model_copy(
        update={"mode": Mode.ENFORCE, "reaper": _reaper_section()}
    )
    clock = FakeClock(T0 + timedelta(seconds=1))
    with Ledger.open(sqlite_url) as ledger:
        assert replica(config, ledger, clock, "one").fire("reap") is JobStatus.FAILED  # Recorded, on purpose
    assert len(calls) == 1
    request = calls[0]["request"]
    assert request.mode is RunMode.ENFORCE and request.apply and request.parts == frozenset({lifecycle.REAPER})
    assert isinstance(calls[0]["fence"], RunFence)


def test_a_stale_leaders_action_is_refused_by_the_fence(pg_url: str) -> None:
    """Leader a stalls (a pause, a partition) mid-run; b takes the lease; a's next action is refused."""
    clock = FakeClock(T0)  # a's own monotonic clock does not move: a still believes it leads
    with Ledger.open(pg_url) as ledger_a, Ledger.open(pg_url) as ledger_b:
        config = make_config(pg_url, Path("."), {})
        ttl = timedelta(seconds=1)
        a = replica(config, ledger_a, clock, "a", ttl=ttl)
        b = replica(config, ledger_b, clock, "b", ttl=ttl)
        token = a.keeper.tick()
        assert token is not None and b.keeper.tick() is None
        ledger_a.start_run(RunInfo("run-a", T0, None, RunMode.ENFORCE, True, "", "test"))
        context = _context(config, ledger_a, clock)
        performed: list[str] = []

        class Stalling(_SleepyGateway):
            def perform(self, action: Action, account: Any) -> None:
                performed.append(account.provider_name)
                super().perform(action, account)
                if len(performed) == 1:  # a stalls past its lease; b takes over
                    time.sleep(1.2)
                    assert b.keeper.tick() is not None

        fence = RunFence(a.keeper, token, threading.Event())
        stalling = Stalling(context, 0.0)
        executor = Executor("run-a", ledger_a, lambda action: stalling, open_gate(context), clock.now, fence)
        actions = [synthetic_action(f"acct-{i}") for i in range(3)]
        records = executor.run(actions)
        assert a.keeper.current() is not None  # a's local view is stale: only the database knows
        epoch_b = ledger_b.read_lease("scheduler", at=T0)
    assert performed == ["acct-0"]
    assert [r.outcome for r in records] == [ActionOutcome.DONE, ActionOutcome.SKIPPED, ActionOutcome.SKIPPED]
    assert epoch_b is not None and epoch_b.epoch == token.epoch + 1
    assert (
        f"started under epoch {token.epoch}" in records[1].detail and f"b at epoch {epoch_b.epoch}" in records[1].detail
    )
    assert fence.refused == "lease"


def test_a_stop_lets_the_current_action_finish_and_records_the_slot_interrupted(ledger: Ledger, tmp_path: Path) -> None:
    config = make_config(_url(ledger), tmp_path, {"act": {"kind": "test-actions", "interval": "1h"}})
    clock = FakeClock(T0 + timedelta(seconds=1))
    service_ref: list[SchedulerService] = []

    def body(ctx: JobContext) -> JobResult:
        ctx.ledger.start_run(RunInfo("run-stop", T0, None, RunMode.ENFORCE, True, "", "test"))

        class Stopping(_SleepyGateway):
            def perform(self, action: Action, account: Any) -> None:
                service_ref[0].request_stop()  # SIGTERM arrives while this action runs
                super().perform(action, account)

        actions = [synthetic_action(f"x-{i}") for i in range(3)]
        gateway = Stopping(ctx, 0.0)
        records = Executor("run-stop", ctx.ledger, lambda a: gateway, open_gate(ctx), ctx.clock, ctx.fence).run(actions)
        return JobResult(JobStatus.SUCCEEDED, ",".join(r.outcome.value for r in records))

    one = replica(config, ledger, clock, "one", bodies={JobKind.TEST_ACTIONS: body})
    service_ref.append(one.service)
    assert one.fire("act") is JobStatus.INTERRUPTED
    assert one.service.fire("act") is None  # no new run once stopping
    journal = [(r.action.subject.provider_name, r.outcome) for r in ledger.actions_for_run("run-stop", journal=True)]
    assert journal == [
        ("x-0", ActionOutcome.INTENT),
        ("x-0", ActionOutcome.DONE),
        ("x-1", ActionOutcome.SKIPPED),
        ("x-2", ActionOutcome.SKIPPED),
    ]
    row = ledger.latest_job_run("act")
    assert row is not None and row.status is JobStatus.INTERRUPTED and "stopping" in row.detail


def test_the_digest_reports_catch_ups_missed_skipped_and_failures(sqlite_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "m.jsonl"
    config = make_config(
        sqlite_url,
        tmp_path,
        {"tick": hourly(marker), "bad": {"kind": "test-fail", "cron": "0 * * * *"}, "digest": {"cron": "0 7 * * 1"}},
    )
    clock = FakeClock(T0 + timedelta(seconds=5))
    with Ledger.open(sqlite_url) as ledger:
        first = replica(config, ledger, clock, "first")
        first.fire("tick")
        first.fire("bad")
        first.keeper.stop()
        clock.set(T0 + timedelta(hours=4, minutes=2))
        second = replica(config, ledger, clock, "second")
        second.keeper.tick()
        second.service.fire("tick")
        clock.set(T0 + timedelta(days=7, hours=-3))  # Monday 07:00 the next week
        assert second.fire("digest") is JobStatus.SUCCEEDED
        row = ledger.latest_job_run("digest")
    assert row is not None
    document = json.loads(Path(row.summary["digest_json"]).read_text())
    assert document["jobs"]["tick"]["catch_ups"] == [{"slot": "2025-03-03T14:00:00Z", "status": "succeeded"}]
    assert len(document["jobs"]["tick"]["missed"]) == 3
    assert document["jobs"]["bad"]["problems"][0]["detail"].startswith("RuntimeError")
    markdown = Path(row.summary["digest"]).read_text()
    assert "Catch-up runs (once each, after downtime)" in markdown and "- tick slot 2025-03-03T14:00:00Z" in markdown


# -- helpers -----------------------------------------------------------------------------------------


def _url(ledger: Ledger) -> str:
    """The ledger's URL with its password (tests use trust auth: there is none)."""
    return ledger._engine.url.render_as_string(hide_password=False)


def _reaper_section() -> Any:
    from custodian.config import ReaperConfig

    return ReaperConfig(mark_grace=timedelta(days=1))


def _context(config: Config, ledger: Ledger, clock: FakeClock) -> JobContext:
    from custodian.progress import NullProgress

    return JobContext(
        job_id="t",
        job=config.schedule.jobs["audit"],
        slot=T0,
        catch_up=False,
        config=config,
        ledger=ledger,
        clock=clock.now,
        fence=lambda: None,
        progress=NullProgress(),
    )


def test_a_run_apscheduler_reports_missed_is_caught_up_once(sqlite_url: str, tmp_path: Path) -> None:
    """The process stalled past a slot's misfire grace (APScheduler's EVENT_JOB_MISSED): the slot
    runs once, flagged catch-up, as soon as the service is told."""
    marker = tmp_path / "marker.jsonl"
    config = make_config(sqlite_url, tmp_path, {"tick": hourly(marker)})
    clock = FakeClock(T0 + timedelta(seconds=5))
    with Ledger.open(sqlite_url) as ledger:
        one = replica(config, ledger, clock, "one", ttl=3 * HOUR)  # the lease outlives the stall
        assert one.fire("tick") is JobStatus.SUCCEEDED
        one.kicks.clear()
        clock.advance(HOUR + timedelta(minutes=20))  # 11:00 came and went while the process was stalled
        assert one.keeper.tick() is not None and one.kicks == []  # a renewal, not an election
        one.service.record_misfire("tick")
        assert one.kicks == ["tick"]
        assert one.service.fire("tick") is JobStatus.SUCCEEDED
        assert one.service.fire("tick") is None
        caught = ledger.latest_job_run("tick")
    assert caught is not None and caught.slot == T0 + HOUR and caught.catch_up
