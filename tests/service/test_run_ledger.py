"""The run ledger and the lease on SQLite and on the real PostgreSQL: insert-or-skip per (job, slot),
the lease's epoch, and the database's clock."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from custodian.ledger import ClaimResult, JobStatus, LeaseToken, Ledger
from tests.service.conftest import T0

SLOT = T0


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    with Ledger.open(ledger_url) as opened:
        yield opened


def claim(ledger: Ledger, holder: str = "a", **kw: object) -> ClaimResult:
    return ledger.claim_job_slot("audit", SLOT, "audit", holder=holder, epoch=1, at=T0, **kw)  # type: ignore[arg-type]


def test_a_slot_is_claimed_once_and_finished_by_its_holder(ledger: Ledger) -> None:
    assert claim(ledger) is ClaimResult.CLAIMED
    assert claim(ledger, "b") is ClaimResult.TAKEN
    assert not ledger.finish_job_slot("audit", SLOT, holder="b", status=JobStatus.SUCCEEDED, at=T0, detail="x")
    assert ledger.finish_job_slot(
        "audit", SLOT, holder="a", status=JobStatus.SUCCEEDED, at=T0, detail="ok", run_id="r1", summary={"k": 1}
    )
    run = ledger.get_job_run("audit", SLOT)
    assert run is not None and run.status is JobStatus.SUCCEEDED and run.run_id == "r1" and run.summary == {"k": 1}
    assert ledger.latest_job_run("audit") == run
    assert ledger.latest_job_run("audit", JobStatus.FAILED) is None


def test_racing_claims_of_one_slot_give_exactly_one_winner(ledger: Ledger) -> None:
    barrier = threading.Barrier(8)
    results: list[ClaimResult] = []

    def race(index: int) -> None:
        barrier.wait()
        results.append(claim(ledger, f"h{index}"))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(results) == {ClaimResult.CLAIMED: 1, ClaimResult.TAKEN: 7}


def test_a_claim_checks_the_lease_in_the_same_transaction(ledger: Ledger) -> None:
    state = ledger.acquire_lease("scheduler", "a", timedelta(seconds=30), at=T0)
    stale = LeaseToken("scheduler", "a", state.epoch + 5)
    assert claim(ledger, lease=stale) is ClaimResult.NOT_LEADER
    assert ledger.get_job_run("audit", SLOT) is None
    assert claim(ledger, lease=LeaseToken("scheduler", "a", state.epoch)) is ClaimResult.CLAIMED


def test_missed_and_skipped_slots_are_rows_and_the_next_leader_abandons_orphans(ledger: Ledger) -> None:
    claim(ledger, "gone")
    ledger.claim_job_slot(
        "audit", SLOT + timedelta(hours=1), "audit", holder="b", epoch=2, at=T0, status=JobStatus.MISSED, detail="m"
    )
    abandoned = ledger.abandon_job_runs(except_holder="b", at=T0 + timedelta(hours=2))
    assert [(r.holder, r.slot) for r in abandoned] == [("gone", SLOT)]
    statuses = {r.slot: r.status for r in ledger.list_job_runs("audit")}
    assert statuses == {SLOT: JobStatus.ABANDONED, SLOT + timedelta(hours=1): JobStatus.MISSED}
    # the gone holder, if it was only cut off, still records how its run really ended
    assert ledger.finish_job_slot("audit", SLOT, holder="gone", status=JobStatus.FENCED, at=T0, detail="fenced")
    assert ledger.list_job_runs(since=SLOT + timedelta(minutes=1))[0].status is JobStatus.MISSED


def test_lease_epoch_grows_only_when_the_holder_changes(ledger: Ledger) -> None:
    ttl = timedelta(seconds=30)
    first = ledger.acquire_lease("scheduler", "a", ttl, at=T0)
    assert first.held_by("a") and first.epoch == 1
    if ledger.backend == "sqlite":
        later = T0 + timedelta(seconds=10)
        assert ledger.acquire_lease("scheduler", "a", ttl, at=later).epoch == 1  # renewal
        refused = ledger.acquire_lease("scheduler", "b", ttl, at=later)
        assert refused.holder == "a" and not refused.held_by("b")
        taken = ledger.acquire_lease("scheduler", "b", ttl, at=T0 + timedelta(seconds=41))  # a expired
        assert taken.held_by("b") and taken.epoch == 2
        forced = ledger.acquire_lease("scheduler", "c", ttl, at=T0 + timedelta(seconds=42), takeover=True)
        assert forced.held_by("c") and forced.epoch == 3  # SQLite: under the replica lock
    else:
        assert ledger.acquire_lease("scheduler", "a", ttl, at=T0).epoch == 1
        assert not ledger.acquire_lease("scheduler", "b", ttl, at=T0).held_by("b")
        assert ledger.release_lease("scheduler", "a", at=T0)
        taken = ledger.acquire_lease("scheduler", "b", ttl, at=T0)
        assert taken.held_by("b") and taken.epoch == 2


def test_postgresql_lease_times_come_from_the_database_clock(pg_url: str) -> None:
    with Ledger.open(pg_url) as ledger:
        far_past = datetime(2001, 1, 1, tzinfo=UTC)  # a replica with a wildly wrong clock
        state = ledger.acquire_lease("scheduler", "a", timedelta(seconds=30), at=far_past)
        engine = create_engine(pg_url)
        try:
            with engine.connect() as conn:
                db_now = conn.execute(text("SELECT now()")).scalar_one()
        finally:
            engine.dispose()
        assert abs((state.renewed_at - db_now).total_seconds()) < 5
        assert state.expires_at - state.renewed_at == timedelta(seconds=30)
        # the wrong clock does not let another replica take an unexpired lease either
        assert not ledger.acquire_lease(
            "scheduler", "b", timedelta(seconds=30), at=far_past + timedelta(days=9000)
        ).held_by("b")
