"""Prometheus metrics of the scheduled service, in a registry of its own (never the global one).

- `release_custodian_job_last_success_timestamp_seconds{job}` (gauge): end of the job's last
  `succeeded` run (seeded from the ledger when a replica starts leading)
- `release_custodian_job_last_duration_seconds{job}` (gauge): duration of its last run, any outcome
- `release_custodian_job_runs_total{job,outcome}` (counter): slots by outcome: succeeded,
  incomplete, failed, fenced, interrupted, abandoned, missed, skipped (overlap), error (no record)
- `release_custodian_job_catch_up_runs_total{job}` (counter): runs made once, late, after downtime
- `release_custodian_findings{job,rule,status}` (gauge): findings of the job's last run
- `release_custodian_actions_total{job,kind,outcome}` (counter): actions of the jobs' runs
- `release_custodian_revocations_total{trigger}` (counter): revocation steps (L1/L2) done, by what
  triggered their run: `event` (a GitHub webhook's hand-off), `schedule` (a job), `manual`
- `release_custodian_api_calls_total{job,provider,method}` (counter): provider API calls
- `release_custodian_lease_leader` (gauge): 1 if this replica holds the leader lease
- `release_custodian_lease_epoch` (gauge): the lease's epoch (fencing token) as last seen
- `release_custodian_lease_holder{holder}` (gauge): 1 for the lease holder as last seen
- `release_custodian_scheduler_info{replica,version,ledger}` (gauge): 1; who this replica is
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from custodian.ledger.scheduling import JobRun, JobStatus, LeaseState
from custodian.model.run import TRIGGER_KINDS, trigger_kind

PREFIX = "release_custodian"


class ServiceMetrics:
    """The metrics of one service instance; `render()` gives the text exposition format."""

    def __init__(self, *, replica: str, version: str, ledger_backend: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.last_success = Gauge(
            f"{PREFIX}_job_last_success_timestamp_seconds",
            "Unix time at which the job's last succeeded run ended",
            ["job"],
            registry=r,
        )
        self.last_duration = Gauge(
            f"{PREFIX}_job_last_duration_seconds",
            "Duration of the job's last run, whatever its outcome",
            ["job"],
            registry=r,
        )
        self.runs = Counter(f"{PREFIX}_job_runs", "Scheduled slots by outcome", ["job", "outcome"], registry=r)
        self.catch_ups = Counter(
            f"{PREFIX}_job_catch_up_runs",
            "Runs made once, late, for a slot missed during downtime",
            ["job"],
            registry=r,
        )
        self.findings = Gauge(
            f"{PREFIX}_findings",
            "Findings of the job's last run by rule and status",
            ["job", "rule", "status"],
            registry=r,
        )
        self.actions = Counter(
            f"{PREFIX}_actions", "Actions of the jobs by kind and outcome", ["job", "kind", "outcome"], registry=r
        )
        self.revocations = Counter(
            f"{PREFIX}_revocations",
            "Revocation steps (L1/L2) done, by what triggered their run: event, schedule or manual",
            ["trigger"],
            registry=r,
        )
        for kind in TRIGGER_KINDS:  # every label from the start: a rate over 0 is 0, not missing
            self.revocations.labels(kind)
        self.api_calls = Counter(
            f"{PREFIX}_api_calls", "Provider API calls of the jobs", ["job", "provider", "method"], registry=r
        )
        self.leader = Gauge(f"{PREFIX}_lease_leader", "1 if this replica holds the leader lease", registry=r)
        self.epoch = Gauge(f"{PREFIX}_lease_epoch", "The leader lease's epoch (fencing token) as last seen", registry=r)
        self.holder = Gauge(f"{PREFIX}_lease_holder", "1 for the lease holder as last seen", ["holder"], registry=r)
        info = Gauge(f"{PREFIX}_scheduler_info", "This scheduler replica", ["replica", "version", "ledger"], registry=r)
        info.labels(replica, version, ledger_backend).set(1)
        self._lock = threading.Lock()
        self._finding_labels: dict[str, set[tuple[str, str]]] = {}
        self._holder: str | None = None

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- jobs --------------------------------------------------------------------------------------

    def slot_recorded(self, job: str, status: JobStatus, *, catch_up: bool = False, count: int = 1) -> None:
        """A slot reached a final outcome (or `count` slots were recorded missed/skipped)."""
        self.runs.labels(job, status.value).inc(count)
        if catch_up:
            self.catch_ups.labels(job).inc()

    def run_finished(
        self,
        job: str,
        status: JobStatus,
        *,
        ended: float,
        duration: float,
        catch_up: bool,
        findings: Mapping[str, int] | None = None,
        actions: Mapping[str, int] | None = None,
        api_calls: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        """A run ended: outcome, timing and its figures (`findings` keyed `RULE/STATUS`,
        `actions` keyed `kind/outcome`, `api_calls` by provider then method)."""
        self.slot_recorded(job, status, catch_up=catch_up)
        self.last_duration.labels(job).set(duration)
        if status is JobStatus.SUCCEEDED:
            self.last_success.labels(job).set(ended)
        if findings is not None:
            self._set_findings(job, findings)
        for key, count in (actions or {}).items():
            kind, _, outcome = key.partition("/")
            self.actions.labels(job, kind, outcome).inc(count)
        for provider, methods in (api_calls or {}).items():
            for method, count in methods.items():
                self.api_calls.labels(job, provider, method).inc(count)

    def revoked(self, trigger: str | None, steps: int) -> None:
        """A run triggered by `trigger` (`event:...`, `schedule:...`, None) did `steps` revocation steps."""
        if steps:
            self.revocations.labels(trigger_kind(trigger)).inc(steps)

    def _set_findings(self, job: str, findings: Mapping[str, int]) -> None:
        with self._lock:
            current = {tuple(key.split("/", 1)) for key in findings if "/" in key}
            for rule, status in self._finding_labels.get(job, set()) - current:
                self.findings.remove(job, rule, status)
            for key, count in findings.items():
                rule, _, status = key.partition("/")
                self.findings.labels(job, rule, status).set(count)
            self._finding_labels[job] = {(a, b) for a, b in current}

    def seed_last_success(self, runs: list[JobRun]) -> None:
        """Last success times from the ledger (so a new leader shows the previous leader's)."""
        for run in runs:
            if run.status is JobStatus.SUCCEEDED and run.finished_at is not None:
                self.last_success.labels(run.job_id).set(run.finished_at.timestamp())

    # -- lease -------------------------------------------------------------------------------------

    def lease_seen(self, state: LeaseState | None, leader: bool) -> None:
        self.leader.set(1 if leader else 0)
        if state is None:
            return
        self.epoch.set(state.epoch)
        with self._lock:
            if self._holder is not None and self._holder != state.holder:
                self.holder.remove(self._holder)
            self._holder = state.holder
        self.holder.labels(state.holder).set(1)
