"""Composition root of the scheduled custodian service (APScheduler lives only here).

    python scheduler.py -c release-custodian.yaml [--log-format json] [--show]
    release-custodian schedule -c release-custodian.yaml      # the same code path

Reads the configuration's `schedule` (jobs, cadences) and `service` (health endpoint, lease)
sections and runs the jobs with APScheduler 3's `BlockingScheduler`: jobs defined in code from the
config in the memory job store, `coalesce=True`, `max_instances=1` and an explicit
`misfire_grace_time` per job. Everything that is not APScheduler lives in `custodian.service`:

- slots come from `custodian.cadence` (crontab semantics, 0 = Sunday; intervals aligned on
  the epoch) through `SlotTrigger`, so every replica and restart agrees on them;
- `SchedulerService.fire` runs a slot at most once (run ledger), on the leader only (lease), and
  records missed, skipped (overlap), failed, fenced and interrupted slots;
- APScheduler's "maximum instances reached" and "missed" events are passed to the service;
- with `service.webhooks`, the health server also answers `POST /webhooks/github`
  (`custodian.service.webhooks`) and the leader runs the recorded events when due
  (`custodian.service.events`, its own thread polling the ledger).

SIGTERM/SIGINT: no new run starts; a running job finishes the action it is taking (journaled), its
fence refuses the next one, the lease is released (a standby takes over at once), exit status 0.

Exit status: 0 after a requested stop, 2 on a bad configuration or when another scheduler already
runs on the same SQLite ledger, 1 on any other error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger

from custodian import __version__
from custodian.cadence import Cadence
from custodian.config import Config, ConfigError, JobKind, Mode, load_config
from custodian.errors import ExitCode
from custodian.ledger.store import Ledger
from custodian.logs import configure
from custodian.service.events import EventRunner
from custodian.service.health import HealthServer
from custodian.service.jobs import JobBody, job_bodies
from custodian.service.lease import (
    LeaseKeeper,
    ReplicaConflictError,
    SqliteReplicaLock,
    replica_holder,
    sqlite_lock_path,
)
from custodian.service.metrics import ServiceMetrics
from custodian.service.runner import SchedulerService, scheduled_jobs
from custodian.service.webhooks import WebhookReceiver

DEFAULT_CONFIG = Path("release-custodian.yaml")
_LOG = logging.getLogger("release_custodian.scheduler")


class SlotTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type hints
    """An APScheduler trigger that fires at a `custodian.cadence` cadence's slots."""

    __slots__ = ("cadence",)

    def __init__(self, cadence: Cadence) -> None:
        self.cadence = cadence

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        return self.cadence.next_after(now if previous_fire_time is None else previous_fire_time)

    def __str__(self) -> str:
        return self.cadence.describe()

    def __repr__(self) -> str:
        return f"<SlotTrigger {self.cadence.describe()}>"


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_scheduler(service: SchedulerService, keeper: LeaseKeeper) -> BlockingScheduler:
    """The BlockingScheduler with one job per enabled config job, wired to the service."""
    scheduler = BlockingScheduler(
        timezone=UTC,
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=len(service.jobs) + 2)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    for job in service.jobs.values():
        scheduler.add_job(
            service.fire,
            trigger=SlotTrigger(job.cadence),
            args=[job.job_id],
            id=job.job_id,
            name=f"{job.job_id} ({job.config.kind.value}, {job.cadence.describe()})",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(job.misfire_grace.total_seconds())),
            replace_existing=True,
        )

    def kick(job_id: str) -> None:
        try:
            scheduler.modify_job(job_id, next_run_time=utcnow())
        except Exception as exc:  # noqa: BLE001 - e.g. the scheduler is shutting down
            _LOG.debug(f"{job_id}: not started now ({exc})")

    def on_event(event: SchedulerEvent) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            keeper.start()
        elif event.code == EVENT_JOB_MAX_INSTANCES and isinstance(event, JobSubmissionEvent):
            service.record_overlap(event.job_id, event.scheduled_run_times)
        elif event.code == EVENT_JOB_MISSED and isinstance(event, JobExecutionEvent):
            service.record_misfire(event.job_id)

    service.kick = kick
    service.alive = lambda: bool(scheduler.state == STATE_RUNNING)
    scheduler.add_listener(on_event, EVENT_SCHEDULER_STARTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    return scheduler


def show(config: Config) -> int:
    """Print each enabled job, its cadence, mode and next slots; run nothing."""
    now = utcnow()
    for job_id, job in scheduled_jobs(config).items():
        mode = job.config.effective_mode
        applying = mode is Mode.ENFORCE and config.mode is Mode.ENFORCE
        slots, cursor = [], now
        for _ in range(3):
            upcoming = job.cadence.next_after(cursor)
            if upcoming is None:
                break
            slots.append(upcoming.strftime("%Y-%m-%dT%H:%M:%SZ"))
            cursor = upcoming
        kind = job.config.kind.value
        if job.config.kind.value in ("accounts", "reap"):
            kind += f" ({mode.value}{', applies' if applying else ', plans only' if mode is Mode.ENFORCE else ''})"
        print(f"{job_id:<12} {kind:<30} {job.cadence.describe():<34} next: {', '.join(slots) or 'never'}")
    return 0


class _Stopper:
    """SIGTERM/SIGINT: stop taking new runs and shut the scheduler loop down from another thread."""

    def __init__(self, service: SchedulerService, scheduler: BlockingScheduler) -> None:
        self.service = service
        self.scheduler = scheduler
        self.signal_name: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.service.stopping.is_set():
            _LOG.info(f"{name}: already stopping (waiting for the running job to reach a safe point)")
            return
        self.signal_name = name
        self.service.request_stop()
        _LOG.info(f"{name}: stopping: no new run starts; a running job finishes its current action")
        threading.Thread(target=self._shutdown, name="shutdown", daemon=True).start()

    def _shutdown(self) -> None:
        try:
            self.scheduler.shutdown(wait=False)
        except Exception as exc:  # noqa: BLE001 - already stopped
            _LOG.debug(f"scheduler shutdown: {exc}")


def run(config: Config, bodies: Mapping[JobKind, JobBody] | None = None) -> int:
    """Run the scheduled service until SIGTERM/SIGINT; returns the exit status.

    `bodies` adds or replaces job bodies (the test-suite's test-only kinds); None: the product's.
    """
    holder = replica_holder(config.service.replica_id)
    lock_path = sqlite_lock_path(config.ledger.url)
    lock = SqliteReplicaLock(lock_path, holder) if lock_path is not None else None
    if lock is not None:
        lock.acquire()  # ReplicaConflictError: another scheduler runs on this SQLite file
    ledger: Ledger | None = None
    health: HealthServer | None = None
    keeper: LeaseKeeper | None = None
    events: EventRunner | None = None
    try:
        ledger = Ledger.open(config.ledger.url)
        keeper = LeaseKeeper(
            ledger,
            holder=holder,
            ttl=config.service.lease.ttl,
            renew_every=config.service.lease.renew_every,
            clock=utcnow,
            takeover=lock is not None,
        )
        metrics = ServiceMetrics(replica=holder, version=__version__, ledger_backend=ledger.backend)
        all_bodies = {**job_bodies(), **(bodies or {})}
        service = SchedulerService(config, ledger, keeper, metrics, clock=utcnow, bodies=all_bodies)
        scheduler = build_scheduler(service, keeper)
        receiver: WebhookReceiver | None = None
        hooks = config.service.webhooks
        if hooks is not None:  # deliveries recorded by any replica, run by the leader (custodian.service.events)
            receiver = WebhookReceiver(config, ledger, utcnow, hooks.secret.resolve().encode(), hooks.max_body)
            events = EventRunner(
                config,
                ledger,
                keeper,
                clock=utcnow,
                stopping=service.stopping,
                poll_every=hooks.poll_every,
                metrics=metrics,
            )
        if config.service.health.port is not None:
            health = HealthServer(
                config.service.health.bind, config.service.health.port, service.health, metrics.render, receiver
            )
            health.start()
        if events is not None:
            events.start()
        stopper = _Stopper(service, scheduler)
        signal.signal(signal.SIGTERM, stopper)
        signal.signal(signal.SIGINT, stopper)
        jobs = ", ".join(f"{j.job_id} ({j.cadence.describe()})" for j in service.jobs.values()) or "none"
        _LOG.info(f"scheduler {holder} starting on {ledger.url}; jobs: {jobs}")
        scheduler.start()  # blocks until the stopper shuts it down
        _LOG.info("scheduler loop stopped; waiting for running jobs")
        service.wait_idle()
        if events is not None:
            events.join()  # `stopping` is set: it ends after the run it may be in (its fence refuses the next action)
        _LOG.info(f"stopped after {stopper.signal_name or 'shutdown'}")
        return ExitCode.OK
    finally:
        if events is not None:
            events.stopping.set()  # also when the loop failed: no poll after the ledger is closed
        if keeper is not None:
            keeper.stop(release=True)
        if health is not None:
            health.stop()
        if ledger is not None:
            ledger.close()
        if lock is not None:
            lock.release()


def serve(
    config_path: Path,
    *,
    log_format: str = "text",
    show_only: bool = False,
    bodies: Mapping[JobKind, JobBody] | None = None,
) -> int:
    """Load the configuration and run (or `show_only`: print) the scheduled service."""
    logger = configure(log_format)
    aps = logging.getLogger("apscheduler")
    aps.handlers = list(logger.handlers)
    aps.setLevel(logging.WARNING)
    aps.propagate = False
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"error: {config_path}: invalid configuration:\n" + "\n".join(exc.problems), file=sys.stderr)
        return ExitCode.BAD_INPUT
    if show_only:
        return show(config)
    try:
        return run(config, bodies)
    except ReplicaConflictError as exc:
        _LOG.error(f"refusing to start: {exc}")
        return ExitCode.BAD_INPUT
    except ConfigError as exc:  # e.g. the webhook secret's variable or file is missing
        _LOG.error("refusing to start: " + "; ".join(exc.problems))
        return ExitCode.BAD_INPUT
    except Exception:  # noqa: BLE001 - logged with its traceback; exit status 1
        _LOG.exception("the scheduler failed")
        return ExitCode.INCOMPLETE


def add_arguments(parser: argparse.ArgumentParser, *, with_config: bool = True) -> None:
    if with_config:
        parser.add_argument(
            "--config", "-c", type=Path, default=DEFAULT_CONFIG, help=f"configuration file (default: {DEFAULT_CONFIG})"
        )
        parser.add_argument(
            "--log-format", choices=("text", "json"), default="text", help="json: one JSON object per line on stderr"
        )
    parser.add_argument("--show", action="store_true", help="print the jobs and their next slots, then exit")


def main(argv: Sequence[str] | None = None, bodies: Mapping[JobKind, JobBody] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scheduler.py",
        description="The scheduled release-custodian service (same as `release-custodian schedule`).",
    )
    add_arguments(parser)
    args: Any = parser.parse_args(argv)
    return serve(args.config, log_format=args.log_format, show_only=args.show, bodies=bodies)


if __name__ == "__main__":
    raise SystemExit(main())
