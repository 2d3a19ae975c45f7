"""The scheduled service's core: fire a job's slot at most once, record what became of it.

`scheduler.py` (APScheduler) calls `fire(job_id)` when a job's slot comes, `record_overlap` when
APScheduler skipped a run because the previous one still runs (`max_instances=1`) and
`record_misfire` when a run came later than its misfire grace. Everything else is here, testable
with an injected clock:

- Only the leader runs jobs (`LeaseKeeper.current()`); a standby's fire does nothing.
- `fire` computes the slot (the latest one at or before now), then claims `(job, slot)` in the
  run ledger with an insert-or-skip that also checks the lease in the same transaction: a slot
  another replica or an earlier process already has is left alone.
- Missed slots: slots between the job's last row and this slot are recorded `missed`. After
  downtime (at start, or when a replica becomes leader) each job is *caught up once*: its latest
  slot, if it has no row, runs now flagged `catch_up` and the older missed slots are recorded
  `missed` (a job that never ran before has nothing to catch up, unless its latest slot is within
  its misfire grace: then that slot runs; `catch_up: false` records the slot `missed` instead).
- Overlap: a run that comes while the job's previous run still runs is recorded `skipped`, never
  stacked (APScheduler's `max_instances=1`, and a per-job lock here as well).
- A job that raises is recorded `failed` and counted; the other jobs go on.
- Stopping (`request_stop`): no new run starts; a running one finishes its current action, its
  fence refuses the next (journaled SKIPPED) and the slot is recorded `interrupted`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from custodian import __version__
from custodian.cadence import Cadence, slots_between
from custodian.config import Config, JobConfig, JobKind
from custodian.ledger.scheduling import ClaimResult, JobStatus, LeaseToken
from custodian.ledger.store import Ledger
from custodian.progress import LogProgress
from custodian.service.jobs import JobBody, JobContext, JobResult, job_bodies
from custodian.service.lease import LeaseKeeper, RunFence
from custodian.service.metrics import ServiceMetrics

MAX_MISSED_ROWS: Final = 500  # after a long outage, only the latest missed slots get a row each
_LOG = logging.getLogger("release_custodian.scheduler")


@dataclass(frozen=True)
class ScheduledJob:
    job_id: str
    config: JobConfig
    cadence: Cadence
    misfire_grace: timedelta


def scheduled_jobs(config: Config) -> dict[str, ScheduledJob]:
    """The enabled jobs of the configuration, with their cadence and misfire grace."""
    return {
        job_id: ScheduledJob(job_id, job, job.cadence(), job.misfire_grace or config.schedule.misfire_grace)
        for job_id, job in config.schedule.enabled_jobs().items()
    }


class SchedulerService:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        keeper: LeaseKeeper,
        metrics: ServiceMetrics,
        *,
        clock: Callable[[], datetime],
        kick: Callable[[str], None] = lambda job_id: None,
        bodies: Mapping[JobKind, JobBody] | None = None,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.keeper = keeper
        self.metrics = metrics
        self.clock = clock
        self.kick = kick  # run the job as soon as possible (scheduler.py: modify_job(next_run_time=now))
        self.alive = alive
        self.jobs = scheduled_jobs(config)
        self.bodies = dict(bodies) if bodies is not None else job_bodies()
        self.stopping = threading.Event()
        self._locks = {job_id: threading.Lock() for job_id in self.jobs}
        self._catch_up: set[str] = set()
        self._catch_up_lock = threading.Lock()
        self._idle = threading.Condition()
        self._active = 0
        keeper.on_elected = self.on_elected
        keeper.on_state = metrics.lease_seen

    # -- leadership --------------------------------------------------------------------------------

    def on_elected(self, token: LeaseToken) -> None:
        """This replica leads now: settle the runs of the gone leader, then catch each job up once."""
        now = self.clock()
        for run in self.ledger.abandon_job_runs(except_holder=token.holder, at=now):
            _LOG.warning(f"{run.job_id}: slot {run.slot:%Y-%m-%dT%H:%M:%SZ} was running on {run.holder}: abandoned")
            self.metrics.slot_recorded(run.job_id, JobStatus.ABANDONED)
        for job_id in self.jobs:
            last = self.ledger.latest_job_run(job_id, JobStatus.SUCCEEDED)
            if last is not None:
                self.metrics.seed_last_success([last])
        with self._catch_up_lock:
            self._catch_up.update(self.jobs)
        for job_id in self.jobs:
            self.kick(job_id)

    # -- firing ------------------------------------------------------------------------------------

    def fire(self, job_id: str) -> JobStatus | None:
        """Run the job's current slot if this replica leads and nobody has it; returns what was recorded."""
        job = self.jobs[job_id]
        with self._catch_up_lock:
            catch_up = job_id in self._catch_up
            self._catch_up.discard(job_id)
        with self._activity():  # counted before the stop check: `wait_idle` cannot miss this run
            if self.stopping.is_set():
                return None
            token = self.keeper.current()
            if token is None:
                return None  # standby: the leader runs it
            lock = self._locks[job_id]
            if not lock.acquire(blocking=False):
                return self._overlap(job, [self.clock()], token)
            try:
                return self._fire(job, token, catch_up)
            except Exception:  # noqa: BLE001 - the ledger itself failed: nothing could be recorded
                _LOG.exception(f"{job_id}: could not run or record the slot")
                self.metrics.runs.labels(job_id, "error").inc()
                return None
            finally:
                lock.release()

    def _overlap(self, job: ScheduledJob, run_times: Iterable[datetime], token: LeaseToken) -> JobStatus | None:
        recorded = None
        for run_time in run_times:
            slot = job.cadence.latest_at_or_before(run_time)
            if slot is not None:
                recorded = self._record(job, slot, JobStatus.SKIPPED, token, "the previous run was still running")
        return recorded

    def _fire(self, job: ScheduledJob, token: LeaseToken, catch_up: bool) -> JobStatus | None:
        now = self.clock()
        slot = job.cadence.latest_at_or_before(now)
        if slot is None:
            return None
        previous = self.ledger.latest_job_run(job.job_id)
        if previous is not None and previous.slot >= slot:
            return None  # this slot (or a later one) is already in the ledger
        if catch_up and previous is None:
            if now - slot > job.misfire_grace:
                return None  # never ran before: nothing to catch up with; the next slot runs on time
            catch_up = False  # a first start just after a slot: that slot runs, on time
        missed: list[datetime] = []
        truncated = False
        if previous is not None:
            missed, truncated = slots_between(job.cadence, previous.slot, slot, MAX_MISSED_ROWS)
        for missed_slot in missed:
            self._record(job, missed_slot, JobStatus.MISSED, token, "not run: no scheduler was leading at this time")
        if catch_up and not job.config.catch_up:
            return self._record(job, slot, JobStatus.MISSED, token, "not run: missed during downtime (catch_up is off)")
        detail = ""
        if catch_up:
            count = len(missed) + 1
            detail = (
                f"catch-up after downtime, run once for {'more than ' if truncated else ''}{count} missed slot(s)"
                + (f" since {missed[0]:%Y-%m-%dT%H:%M:%SZ}" if missed else "")
            )
        claim = self.ledger.claim_job_slot(
            job.job_id,
            slot,
            job.config.kind.value,
            holder=token.holder,
            epoch=token.epoch,
            at=now,
            catch_up=catch_up,
            detail=detail,
            lease=token,
        )
        if claim is not ClaimResult.CLAIMED:
            return None
        return self._run(job, slot, token, catch_up, detail)

    def _run(self, job: ScheduledJob, slot: datetime, token: LeaseToken, catch_up: bool, note: str) -> JobStatus:
        started = time.monotonic()
        fence = RunFence(self.keeper, token, self.stopping)
        logger = logging.getLogger(f"release_custodian.job.{job.job_id}")
        context = JobContext(
            job_id=job.job_id,
            job=job.config,
            slot=slot,
            catch_up=catch_up,
            config=self.config,
            ledger=self.ledger,
            clock=self.clock,
            fence=fence,
            progress=LogProgress(logger),
        )
        label = f"{job.job_id}: slot {slot:%Y-%m-%dT%H:%M:%SZ}" + (" (catch-up)" if catch_up else "")
        _LOG.info(f"{label}: started (epoch {token.epoch})")
        result: JobResult | None = None
        try:
            result = self.bodies[job.config.kind](context)
            status, detail = result.status, result.detail
        except Exception as exc:  # noqa: BLE001 - recorded and counted; the other jobs go on
            _LOG.exception(f"{label}: failed")
            status, detail = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        if fence.refused == "lease":
            status, detail = JobStatus.FENCED, f"{fence.reason}; {detail}"
        elif fence.refused == "stopping":
            status, detail = JobStatus.INTERRUPTED, f"{fence.reason}; {detail}"
        if note:
            detail = f"{note}; {detail}"
        self.ledger.finish_job_slot(
            job.job_id,
            slot,
            holder=token.holder,
            status=status,
            at=self.clock(),
            detail=detail,
            run_id=result.run_id if result else None,
            summary=result.summary() if result else None,
        )
        duration = time.monotonic() - started
        self.metrics.run_finished(
            job.job_id,
            status,
            ended=time.time(),
            duration=duration,
            catch_up=catch_up,
            findings=result.findings if result else None,
            actions=result.actions if result else None,
            api_calls=result.api_calls if result else None,
        )
        if result is not None:
            self.metrics.revoked(f"schedule:{job.job_id}", int(result.extra.get("revocations", 0)))
        _LOG.log(
            logging.INFO if status is JobStatus.SUCCEEDED else logging.WARNING,
            f"{label}: {status.value} in {duration:.1f}s: {detail}",
        )
        return status

    def _record(
        self, job: ScheduledJob, slot: datetime, status: JobStatus, token: LeaseToken, detail: str
    ) -> JobStatus | None:
        """Record a slot that does not run (missed, skipped); None if the slot already had a row."""
        claim = self.ledger.claim_job_slot(
            job.job_id,
            slot,
            job.config.kind.value,
            holder=token.holder,
            epoch=token.epoch,
            at=self.clock(),
            status=status,
            detail=detail,
            lease=token,
        )
        if claim is not ClaimResult.CLAIMED:
            return None
        self.metrics.slot_recorded(job.job_id, status)
        _LOG.warning(f"{job.job_id}: slot {slot:%Y-%m-%dT%H:%M:%SZ} {status.value}: {detail}")
        return status

    # -- what APScheduler reports --------------------------------------------------------------------

    def record_overlap(self, job_id: str, run_times: Iterable[datetime]) -> None:
        """APScheduler did not start a run: the previous one still runs. Record each slot `skipped`."""
        with self._catch_up_lock:
            self._catch_up.discard(job_id)
        token = self.keeper.current()
        if token is None or self.stopping.is_set():
            return
        try:
            self._overlap(self.jobs[job_id], run_times, token)
        except Exception:  # noqa: BLE001 - logged; the scheduler loop goes on
            _LOG.exception(f"{job_id}: could not record a skipped run")

    def record_misfire(self, job_id: str) -> None:
        """A run came later than its misfire grace (the process was stalled): catch up once, now."""
        with self._catch_up_lock:
            self._catch_up.add(job_id)
        self.kick(job_id)

    # -- stopping ----------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stopping.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def _activity(self) -> _Activity:
        return _Activity(self)

    @property
    def running_jobs(self) -> int:
        with self._idle:
            return self._active

    # -- health ------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        status = self.keeper.status()
        alive = self.alive() and self.keeper.alive()
        reachable = self.keeper.ledger_reachable()
        problems = []
        if not self.alive():
            problems.append("the scheduler loop is not running")
        if not self.keeper.alive():
            problems.append("the lease keeper stopped")
        if not reachable:
            problems.append(f"the ledger did not answer recently ({status['ledger_error'] or 'no answer yet'})")
        if self.stopping.is_set():
            problems.append("stopping")
        now = self.clock()
        return {
            "healthy": alive and reachable and not self.stopping.is_set(),
            "scheduler_alive": alive,
            "ledger_reachable": reachable,
            "ledger": self.ledger.url,
            "version": __version__,
            "running_jobs": self.running_jobs,
            "jobs": {
                job_id: {"cadence": job.cadence.describe(), "next_slot": job.cadence.next_after(now)}
                for job_id, job in self.jobs.items()
            },
            "problems": problems,
            **status,
        }


class _Activity:
    def __init__(self, service: SchedulerService) -> None:
        self.service = service

    def __enter__(self) -> None:
        with self.service._idle:
            self.service._active += 1

    def __exit__(self, *exc: object) -> None:
        with self.service._idle:
            self.service._active -= 1
            self.service._idle.notify_all()
