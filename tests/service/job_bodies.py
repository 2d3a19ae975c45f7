"""The test-only job kinds' bodies (`test-noop`, `test-sleep`, `test-fail`, `test-actions`), kept out of
the product: the configuration accepts those kinds only when `RELEASE_CUSTODIAN_TEST_JOBS=1` is set,
and only the test-suite hands these bodies to the service (in-process, or to `python scheduler.py`
through `tests/service/run_scheduler.py`). They let process-level tests of the scheduler (two
replicas, `kill -9`, SIGTERM, overlap, catch-up) run without the emulators; they touch nothing
outside the ledger and the optional marker file; `test-actions` drives the real `Executor` (journal,
gate, fence) over synthetic actions whose gateway only sleeps.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

from custodian import __version__
from custodian.config import JobKind, JobTestParams
from custodian.engine.execute import Executor, Operation
from custodian.engine.gate import Gate, GateContext
from custodian.engine.holds import HoldIndex, Target
from custodian.ledger.scheduling import JobStatus
from custodian.model import (
    AccountKind,
    Action,
    ActionKind,
    Provider,
    ResourceKind,
    RunInfo,
    RunMode,
    Scope,
    ServiceAccount,
    Subject,
)
from custodian.service.jobs import JobBody, JobContext, JobResult


def _params(ctx: JobContext) -> JobTestParams:
    return ctx.job.test or JobTestParams()


def mark(path: Path | None, ctx: JobContext, event: str, **extra: object) -> None:
    """Append one JSON line to the marker file (several processes may append to one file)."""
    if path is None:
        return
    line = {"job": ctx.job_id, "slot": ctx.slot.isoformat(), "pid": os.getpid(), "event": event, **extra}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def noop_job(ctx: JobContext) -> JobResult:
    mark(_params(ctx).marker, ctx, "ran", catch_up=ctx.catch_up)
    return JobResult(JobStatus.SUCCEEDED, "test-noop")


def sleep_job(ctx: JobContext) -> JobResult:
    params = _params(ctx)
    mark(params.marker, ctx, "start")
    time.sleep(params.sleep)
    mark(params.marker, ctx, "end")
    return JobResult(JobStatus.SUCCEEDED, f"test-sleep {params.sleep}s")


def fail_job(ctx: JobContext) -> JobResult:
    mark(_params(ctx).marker, ctx, "fail")
    raise RuntimeError("test-fail: this job always fails")


class _SleepyGateway:
    """A gateway over nothing: `perform` sleeps, then the account reads as disabled."""

    def __init__(self, ctx: JobContext, pause: float) -> None:
        self.ctx = ctx
        self.pause = pause
        self.disabled: set[str] = set()

    def read(self, action: Action) -> Target | None:
        name = action.subject.provider_name
        return ServiceAccount(
            provider=Provider.GITHUB,
            kind=AccountKind.GH,
            provider_name=name,
            unit="github:test",
            scope=_SCOPE,
            enabled=name not in self.disabled,
        )

    def satisfied(self, action: Action, target: Target | None) -> bool | None:
        return isinstance(target, ServiceAccount) and not target.enabled

    def blocked(self, action: Action, target: Target) -> str | None:
        return None

    def in_progress(self, action: Action, target: Target) -> Operation | None:
        return None

    def perform(self, action: Action, target: Target) -> Operation | None:
        name = action.subject.provider_name
        mark(_params(self.ctx).marker, self.ctx, "acting", account=name)
        time.sleep(self.pause)
        self.disabled.add(name)
        mark(_params(self.ctx).marker, self.ctx, "acted", account=name)
        return None


_SCOPE = Scope.github("test")


def synthetic_action(name: str) -> Action:
    """A synthetic revocation (rule L1) of the account `name` in the org `test`."""
    return Action(
        ActionKind.DISABLE,
        Subject("github", "gh-sa", name, scope="github:test"),
        "L1",
        "test-actions job",
        _SCOPE,
        ResourceKind.GITHUB_ACCOUNT,
        f"github:test|{name}",
    )


def open_gate(ctx: JobContext) -> Gate:
    """A gate that lets the synthetic actions through (allowlisted, complete, not held)."""
    now = ctx.clock()
    holds = HoldIndex.build([], now, hold_tag=None, version_tag_key="v", stage_tag_key="s", known_versions=())
    return Gate(
        GateContext(now, frozenset({_SCOPE}), frozenset(), True, holds, frozenset(), "prod", "v", "s", frozenset())
    )


def actions_job(ctx: JobContext) -> JobResult:
    """A run with `test.actions` synthetic DISABLE actions, journaled and fenced like real ones."""
    params = _params(ctx)
    started = ctx.clock()
    run_id = f"{started:%Y%m%dT%H%M%S%fZ}-test-{os.getpid()}"
    info = RunInfo(run_id, started, None, RunMode.ENFORCE, True, "", __version__)
    ctx.ledger.start_run(info)
    gateway = _SleepyGateway(ctx, params.sleep)
    actions = [synthetic_action(f"test-{ctx.slot:%H%M%S}-{index}") for index in range(params.actions)]
    executor = Executor(run_id, ctx.ledger, lambda action: gateway, open_gate(ctx), ctx.clock, ctx.fence)
    records = executor.run(actions)
    outcomes = Counter(f"{r.action.kind.value}/{r.outcome.value}" for r in records)
    ctx.ledger.finish_run(run_id, ctx.clock(), {}, "ok" if len(gateway.disabled) == len(actions) else "incomplete")
    done = len(gateway.disabled)
    status = JobStatus.SUCCEEDED if done == len(actions) else JobStatus.INCOMPLETE
    return JobResult(status, f"test-actions: {done} of {len(actions)} done", run_id=run_id, actions=dict(outcomes))


TEST_JOB_BODIES: dict[JobKind, JobBody] = {
    JobKind.TEST_NOOP: noop_job,
    JobKind.TEST_SLEEP: sleep_job,
    JobKind.TEST_FAIL: fail_job,
    JobKind.TEST_ACTIONS: actions_job,
}
