"""The scheduled service's configuration: jobs, cadences, health endpoint, leader lease."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from custodian.cadence import Cadence, CadenceError, cadence_for
from custodian.config.values import Mode, Span, Strict, format_duration
from custodian.config.webhooks import WebhooksConfig


class JobKind(StrEnum):
    """What a scheduled job does. The `test-*` kinds exist for the test-suite only (see `TEST_JOBS_ENV`)."""

    AUDIT = "audit"  # read-only lifecycle run (rules L1-L3, H1, N1, N2)
    ACCOUNTS = "accounts"  # enforce L1-L3 (applies only when the job's and the config's mode are enforce)
    REAP = "reap"  # the reaper (L4, orphans), when this version has one
    DIGEST = "digest"  # a summary report of the ledger's recent runs
    TEST_NOOP = "test-noop"  # TEST ONLY: does nothing
    TEST_SLEEP = "test-sleep"  # TEST ONLY: sleeps `test.sleep`
    TEST_FAIL = "test-fail"  # TEST ONLY: raises
    TEST_ACTIONS = "test-actions"  # TEST ONLY: `test.actions` synthetic fenced actions through the Executor


TEST_JOBS_ENV = "RELEASE_CUSTODIAN_TEST_JOBS"  # `1` enables the test-* job kinds (set by the test-suite only)


class JobTestParams(Strict):
    """Parameters of the test-only job kinds (never needed in production)."""

    sleep: float = Field(
        default=0.0, ge=0, le=60, description="seconds; test-sleep: how long; test-actions: per action"
    )
    actions: int = Field(default=3, ge=1, le=1000, description="test-actions: how many synthetic actions")
    marker: Path | None = Field(default=None, description="a file each execution appends one JSON line to")


_DEFAULT_MODE = {JobKind.AUDIT: Mode.AUDIT, JobKind.ACCOUNTS: Mode.ENFORCE, JobKind.REAP: Mode.ENFORCE}


class JobConfig(Strict):
    """One scheduled job: what it does, when (a cron expression or an interval) and in which mode."""

    kind: JobKind
    enabled: bool = True
    cron: str | None = Field(default=None, description="crontab expression (5 fields, 0/7 = Sunday) or @daily etc.")
    interval: Span | None = Field(default=None, description="every N (e.g. 15m), aligned on the epoch")
    timezone: str = Field(default="UTC", description="IANA timezone the cron expression is read in")
    mode: Mode | None = Field(
        default=None,
        description="audit or enforce (accounts, reap); enforce applies only when the top-level mode is enforce",
    )
    misfire_grace: Span | None = Field(
        default=None, description="how late a run may still start (default: schedule.misfire_grace)"
    )
    catch_up: bool = Field(default=True, description="after downtime, run the latest missed slot once")
    window: Span = Field(default=timedelta(days=7), description="digest: how far back it looks")
    test: JobTestParams | None = Field(default=None, description="test-only job kinds' parameters")

    @model_validator(mode="after")
    def _check(self) -> JobConfig:
        self.cadence()
        if self.kind.value.startswith("test-") and os.environ.get(TEST_JOBS_ENV) != "1":
            raise ValueError(f"job kind {self.kind.value} is for the test-suite only ({TEST_JOBS_ENV}=1)")
        if self.mode is not None and self.kind not in _DEFAULT_MODE:
            raise ValueError(f"a {self.kind.value} job has no mode")
        if self.kind is JobKind.AUDIT and self.mode is Mode.ENFORCE:
            raise ValueError("the audit job is read-only: enforce with the accounts job")
        return self

    def cadence(self) -> Cadence:
        try:
            return cadence_for(self.cron, self.interval, self.timezone)
        except CadenceError as exc:
            raise ValueError(str(exc)) from exc

    @property
    def effective_mode(self) -> Mode:
        return self.mode or _DEFAULT_MODE.get(self.kind, Mode.AUDIT)


DEFAULT_JOBS: dict[str, dict[str, Any]] = {
    "audit": {"kind": "audit", "cron": "0 * * * *"},  # hourly
    "accounts": {"kind": "accounts", "cron": "*/15 * * * *"},  # every 15 minutes
    "reap": {"kind": "reap", "cron": "0 2 * * *"},  # nightly, 02:00
    "digest": {"kind": "digest", "cron": "0 7 * * 1"},  # weekly, Monday 07:00
}


class ScheduleConfig(Strict):
    """The scheduled service's jobs (`scheduler.py`, `release-custodian schedule`).

    `jobs` maps a job id to its settings. The four standard ids (audit, accounts, reap, digest)
    are always present with their default cadence; an entry for one of them overrides only the keys
    it gives (`audit: {enabled: false}`, `accounts: {interval: 5m}`). Other ids need a `kind`.
    """

    misfire_grace: Span = Field(
        default=timedelta(minutes=10), description="default: how late a run may start before it counts as missed"
    )
    jobs: dict[str, JobConfig] = Field(default_factory=lambda: _merge_jobs({}))

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("jobs", {}), dict):
            return {**data, "jobs": _merge_jobs(data.get("jobs") or {})}
        return data

    @field_validator("jobs")
    @classmethod
    def _ids(cls, jobs: dict[str, JobConfig]) -> dict[str, JobConfig]:
        for job_id in jobs:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", job_id):
                raise ValueError(f"job id {job_id!r} must be lower-case letters, digits, - or _ (at most 64)")
        return jobs

    def enabled_jobs(self) -> dict[str, JobConfig]:
        return {job_id: job for job_id, job in self.jobs.items() if job.enabled}


def _merge_jobs(given: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for job_id, default in DEFAULT_JOBS.items():
        override = given.get(job_id)
        if isinstance(override, dict):
            base = dict(default)
            if "cron" in override or "interval" in override:
                base.pop("cron", None)
            merged[job_id] = {**base, **override}
        elif override is None:
            merged[job_id] = dict(default)
        else:
            merged[job_id] = override  # not a mapping: let validation say so
    merged.update({job_id: value for job_id, value in given.items() if job_id not in DEFAULT_JOBS})
    return merged


class HealthConfig(Strict):
    port: int | None = Field(
        default=None, ge=0, le=65535, description="HTTP port of /healthz and /metrics; off if unset"
    )
    bind: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0 in a container)")


class LeaseConfig(Strict):
    ttl: Span = Field(default=timedelta(seconds=30), description="a dead leader is replaced within this")
    renew_every: Span = Field(default=timedelta(seconds=10), description="renewal (and standby poll) period")

    @model_validator(mode="after")
    def _renew_often_enough(self) -> LeaseConfig:
        if self.renew_every * 2 > self.ttl:
            raise ValueError(
                f"renew_every ({format_duration(self.renew_every)}) must be at most half the ttl "
                f"({format_duration(self.ttl)}), or a healthy leader could lose its lease"
            )
        return self


class ServiceConfig(Strict):
    """How the scheduled service runs: its identity, its health endpoint and its leader lease."""

    replica_id: str | None = Field(
        default=None, max_length=200, description="this replica's name in the lease (default: host:pid:random)"
    )
    health: HealthConfig = Field(default_factory=HealthConfig)
    lease: LeaseConfig = Field(default_factory=LeaseConfig)
    webhooks: WebhooksConfig | None = Field(
        default=None, description="GitHub webhooks at POST /webhooks/github (needs health.port); off when absent"
    )

    @model_validator(mode="after")
    def _webhooks_need_a_port(self) -> ServiceConfig:
        if self.webhooks is not None and self.health.port is None:
            raise ValueError("webhooks are served by the health endpoint: set service.health.port")
        return self
