"""The scheduler and a manual `enforce --apply` never act at once: a scheduled applied run takes the
same apply lock (a lease row beside the scheduler's own lease) and, while a manual run holds it, acts
on nothing and is recorded failed, naming the holder; once it is released, the next slot applies."""

from __future__ import annotations

from datetime import timedelta

from custodian.config import JobConfig, JobKind, Mode, ScheduleConfig
from custodian.ledger import JobStatus
from custodian.service.lease import LeaseKeeper
from custodian.service.metrics import ServiceMetrics
from custodian.service.runner import SchedulerService
from tests.integration.conftest import Env, seed_env  # noqa: F401 - the seed sandbox fixture
from tests.service.conftest import FakeClock

MUTATING = ("PUT", "PATCH", "POST", "DELETE")
MANUAL = "20261201T090000Z-enforce-manual"


def test_a_scheduled_applied_run_waits_its_turn_behind_a_manual_one(seed_env: Env) -> None:  # noqa: F811
    minute = seed_env.sandbox.clock.now().replace(second=0, microsecond=0)
    schedule = ScheduleConfig(
        jobs={
            "audit": JobConfig(kind=JobKind.AUDIT, cron="0 2 * * *", enabled=False),
            "accounts": JobConfig(kind=JobKind.ACCOUNTS, cron="* * * * *"),
            "reap": JobConfig(kind=JobKind.REAP, cron="0 2 * * *", enabled=False),
            "digest": JobConfig(kind=JobKind.DIGEST, cron="0 7 * * 1", enabled=False),
        }
    )
    config = seed_env.config.model_copy(update={"schedule": schedule, "mode": Mode.ENFORCE})
    clock = FakeClock(minute + timedelta(seconds=1))
    ledger = seed_env.ledger
    keeper = LeaseKeeper(
        ledger,
        holder="sandbox-replica",
        ttl=timedelta(seconds=30),
        renew_every=timedelta(seconds=10),
        clock=clock.now,
        monotonic=clock.monotonic,
    )
    service = SchedulerService(
        config,
        ledger,
        keeper,
        ServiceMetrics(replica="r", version="test", ledger_backend=ledger.backend),
        clock=clock.now,
    )
    assert keeper.tick() is not None  # the scheduler leads

    manual = ledger.apply_lock(MANUAL)  # what `enforce --apply` holds for its whole length
    manual.acquire()
    try:
        assert service.fire("accounts") is JobStatus.FAILED
        refused = ledger.latest_job_run("accounts")
        assert refused is not None and refused.run_id is None
        assert "apply lock (one applied run at a time) is held by run " + MANUAL in refused.detail
        assert not [r for r in seed_env.requests() if r[0] in MUTATING]  # it acted on nothing
        assert manual.check() is None  # and the manual run's lock is still its own
    finally:
        manual.release()

    clock.advance(timedelta(minutes=1))
    keeper.tick()
    assert service.fire("accounts") is JobStatus.SUCCEEDED  # its turn: it applies
    applied = ledger.latest_job_run("accounts")
    assert applied is not None and "--apply" in applied.detail and "exit 0 (ok)" in applied.detail
    assert [r for r in seed_env.requests() if r[0] in MUTATING]
    assert not [run for run in ledger.list_runs() if run.info.run_id == MANUAL]
