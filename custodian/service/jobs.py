"""The bodies of the scheduled jobs: `audit`, `accounts`, `reap` and `digest`.

A body gets a `JobContext` (its slot, the config, the ledger, a clock, the HA `fence` and a progress
sink) and returns a `JobResult`; raising means the job failed (recorded, counted; the other jobs
go on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from custodian.config import Config, JobConfig, JobKind, Mode
from custodian.errors import ExitCode
from custodian.ledger.scheduling import JobStatus
from custodian.ledger.store import Ledger
from custodian.model import RunMode
from custodian.progress import Progress
from custodian.service.digest import revokes

if TYPE_CHECKING:
    from custodian.run import RunOutcome
    from custodian.service.digest_notices import DigestSent


@dataclass(frozen=True)
class JobContext:
    job_id: str
    job: JobConfig
    slot: datetime
    catch_up: bool
    config: Config
    ledger: Ledger
    clock: Callable[[], datetime]
    fence: Callable[[], None]  # call before every destructive action; raises ActingRefused
    progress: Progress

    @property
    def applying(self) -> bool:
        """Enforce with apply: the job's mode and the configuration's top-level mode are both enforce."""
        return self.job.effective_mode is Mode.ENFORCE and self.config.mode is Mode.ENFORCE


@dataclass(frozen=True)
class JobResult:
    status: JobStatus  # SUCCEEDED or INCOMPLETE
    detail: str
    run_id: str | None = None
    findings: Mapping[str, int] = field(default_factory=dict)  # "RULE/STATUS" -> count
    actions: Mapping[str, int] = field(default_factory=dict)  # "kind/outcome" -> count
    api_calls: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # provider -> method -> count
    extra: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON kept on the run-ledger row (digest and metrics read it)."""
        return {
            "findings": dict(self.findings),
            "actions": dict(self.actions),
            "api_calls": {provider: dict(methods) for provider, methods in self.api_calls.items()},
            **dict(self.extra),
        }


JobBody = Callable[[JobContext], JobResult]


def result_of_run(outcome: RunOutcome) -> JobResult:
    """A lifecycle-shaped run (`RunOutcome`) as a job result."""
    result = outcome.result
    findings = Counter(f"{f.rule}/{f.status.value}" for f in result.findings)
    actions = Counter(f"{r.action.kind.value}/{r.outcome.value}" for r in result.actions)
    code = ExitCode(outcome.exit_code)
    status = JobStatus.SUCCEEDED if code in (ExitCode.OK, ExitCode.FAILING_FINDINGS) else JobStatus.INCOMPLETE
    counts = ", ".join(f"{k} {v}" for k, v in result.counts().items() if v)
    done = ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))
    detail = (
        f"run {result.run.run_id} ({result.run.mode.value}{' --apply' if result.run.applied else ''}): "
        f"exit {int(code)} ({code.name.lower()}); findings: {counts or 'none'}" + (f"; actions: {done}" if done else "")
    )
    return JobResult(
        status=status,
        detail=detail,
        run_id=result.run.run_id,
        findings=dict(findings),
        actions=dict(actions),
        api_calls={p: dict(m) for p, m in outcome.api_calls.items()},
        extra={
            "exit_code": int(code),
            "reports": str(outcome.reports.directory),
            "counts": result.counts(),
            "revocations": sum(1 for r in result.actions if revokes(r)),  # L1/L2 steps done (digest, metrics)
        },
    )


def _run(ctx: JobContext, mode: RunMode, apply: bool, parts: frozenset[str]) -> JobResult:
    from custodian.run import RunRequest, run_lifecycle

    outcome = run_lifecycle(
        ctx.config,
        RunRequest(mode, apply=apply, parts=parts, trigger=f"schedule:{ctx.job_id}"),
        ledger=ctx.ledger,
        clock=ctx.clock,
        progress=ctx.progress,
        fence=ctx.fence,
    )
    return result_of_run(outcome)


def audit_job(ctx: JobContext) -> JobResult:
    """Read-only audit of everything: accounts (L1-L3, H1, N1, N2) and, when configured, the reaper."""
    from custodian.run import ACCOUNTS, REAPER

    return _run(ctx, RunMode.AUDIT, False, frozenset({ACCOUNTS, REAPER}))


def accounts_job(ctx: JobContext) -> JobResult:
    """Enforce L1-L3: applies when the job's and the configuration's mode are enforce, else plans only."""
    from custodian.run import ACCOUNTS

    if ctx.job.effective_mode is Mode.AUDIT:
        return _run(ctx, RunMode.AUDIT, False, frozenset({ACCOUNTS}))
    return _run(ctx, RunMode.ENFORCE, ctx.applying, frozenset({ACCOUNTS}))


def reap_job(ctx: JobContext) -> JobResult:
    """The reaper (L4, O1-O6): marks, then deletes what is due; applies like `accounts`."""
    from custodian.run import REAPER

    if ctx.config.reaper is None:
        return JobResult(JobStatus.SUCCEEDED, "no reaper section in the configuration: nothing to reap")
    if ctx.job.effective_mode is Mode.AUDIT:
        return _run(ctx, RunMode.AUDIT, False, frozenset({REAPER}))
    return _run(ctx, RunMode.ENFORCE, ctx.applying, frozenset({REAPER}))


def digest_job(ctx: JobContext) -> JobResult:
    """A summary report of the ledger's recent runs, written under `reports/digests/`."""
    from custodian.service.digest import write_digest

    digest = write_digest(ctx.ledger, ctx.config.reports.directory, ctx.job_id, ctx.slot, ctx.job.window, ctx.clock())
    sent = _send_digests(ctx, digest.since, digest.until)
    failed = [s for s in sent if not s.ok]
    return JobResult(
        JobStatus.INCOMPLETE if failed else JobStatus.SUCCEEDED,
        f"digest of {digest.runs} run(s) and {digest.slots} slot(s) since {digest.since:%Y-%m-%d %H:%MZ}: "
        f"{digest.markdown}" + (f"; sent {len(sent) - len(failed)}, failed {len(failed)}" if sent else ""),
        extra={
            "digest": str(digest.markdown),
            "digest_json": str(digest.json),
            "digests_sent": [f"{s.digest} {s.recipient} {s.channel}: {s.detail}" for s in sent],
        },
    )


def _send_digests(ctx: JobContext, since: datetime, until: datetime) -> list[DigestSent]:
    """The finance and security digests on the notification channels (none configured: nothing)."""
    settings = ctx.config.notifications
    if settings is None or not (settings.digests.finance or settings.digests.security):
        return []
    from custodian.providers.wire import CallCounter
    from custodian.run.context import Providers, RunTuning
    from custodian.service.digest_notices import send_digests

    providers = Providers(ctx.config, read_only=False, counter=CallCounter(), tuning=RunTuning())
    try:
        return send_digests(ctx.config, ctx.ledger, providers, since, until)
    finally:
        providers.close()


def job_bodies() -> dict[JobKind, JobBody]:
    """The product's job kinds' bodies (the test-only kinds' bodies live in the test-suite)."""
    return {
        JobKind.AUDIT: audit_job,
        JobKind.ACCOUNTS: accounts_job,
        JobKind.REAP: reap_job,
        JobKind.DIGEST: digest_job,
    }
