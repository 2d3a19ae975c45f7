"""Shared helpers of the reaper tests: the sandbox (GitHub, ARM, optionally Azurite) seeded with a
scenario, a config bound to it, a ledger, and runs through the real path (`run_lifecycle`).

Everything runs the real way: the release timeline is read from the GitHub emulator, c7n runs the
committed policies in subprocesses against the ARM emulator over HTTPS, and the engine acts through
the azure-mgmt SDKs and azure-storage-blob, journaling in a real SQLite ledger.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custodian.commands.demo import SANDBOX_CONFIG
from custodian.config import Config, LedgerConfig, ReportsConfig, load_config
from custodian.ledger.store import Ledger
from custodian.model import ActionOutcome, ActionRecord, Finding, HoldTarget, RunMode, Status
from custodian.providers.azure.blobs import BlobSettings
from custodian.run import REAPER, RunOutcome, RunRequest, RunTuning, run_lifecycle
from custodian.sandbox.httpserver import RequestRecord
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import Scenario, load_scenario, resolved_holds

SUB = "11111111-1111-4111-8111-111111111111"  # the seed's non-production subscription
PROD = "22222222-2222-4222-8222-222222222222"  # the seed's production subscription
GRACE = timedelta(hours=24)
TUNING = RunTuning(
    c7n_retry_total=1,
    c7n_retry_backoff_s=0.1,
    blob=BlobSettings(retry_total=1, initial_backoff_s=0, increment_base=1, jitter_s=0, results_per_page=3),
    confirm_timeout_s=30.0,
    poll_cap_s=1.0,
)
KIND_TYPE = {
    "virtualMachine": "Microsoft.Compute/virtualMachines",
    "disk": "Microsoft.Compute/disks",
    "networkInterface": "Microsoft.Network/networkInterfaces",
    "publicIPAddress": "Microsoft.Network/publicIPAddresses",
    "networkSecurityGroup": "Microsoft.Network/networkSecurityGroups",
}


def rid(kind: str, name: str, group: str = "rg-release-qa", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{KIND_TYPE[kind]}/{name}"


@dataclass
class Step:
    """One run and what the emulators saw during it."""

    name: str
    outcome: RunOutcome
    requests: list[RequestRecord]

    @property
    def findings(self) -> list[Finding]:
        return list(self.outcome.result.findings)

    @property
    def records(self) -> list[ActionRecord]:
        return list(self.outcome.result.actions)

    @property
    def work_dir(self) -> Path:
        return self.outcome.reports.directory

    def mutations(self) -> list[RequestRecord]:
        # GitHub's GraphQL endpoint is POSTed for reads (the timeline's paged queries); it is no change
        return [r for r in self.requests if r.method not in ("GET", "HEAD", "OPTIONS") and r.path != "/api/graphql"]

    def finding(self, name: str) -> Finding:
        matches = [f for f in self.findings if f.subject.provider_name == name]
        assert len(matches) == 1, (name, [(f.rule, f.status, f.message) for f in matches])
        return matches[0]

    def records_for(self, name: str) -> list[ActionRecord]:
        return [r for r in self.records if r.action.subject.provider_name == name]

    def outcomes(self, outcome: ActionOutcome) -> set[tuple[str, str]]:
        return {(r.action.kind.value, r.action.subject.provider_name) for r in self.records if r.outcome is outcome}

    def statuses(self, status: Status) -> set[str]:
        return {f.subject.provider_name for f in self.findings if f.status is status}


@dataclass
class Reaper:
    """A started sandbox, a config bound to it, a ledger; `run` runs the reaper part for real."""

    sandbox: Sandbox
    config: Config
    ledger: Ledger
    tmp: Path
    steps: list[Step] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return self.sandbox.clock.now()

    @property
    def store(self) -> Any:
        assert self.sandbox.arm is not None
        return self.sandbox.arm.store

    def servers(self) -> list[Any]:
        return [s for s in (self.sandbox.arm_server, self.sandbox.github_server) if s is not None]

    def run(
        self,
        name: str,
        mode: RunMode = RunMode.AUDIT,
        *,
        apply: bool = False,
        config: Config | None = None,
        parts: frozenset[str] = frozenset({REAPER}),
        tuning: RunTuning = TUNING,
    ) -> Step:
        for server in self.servers():
            server.clear_log()
        outcome = run_lifecycle(
            config or self.config,
            RunRequest(mode, apply=apply, parts=parts),
            ledger=self.ledger,
            clock=self.sandbox.clock.now,
            tuning=tuning,
        )
        requests = [r for s in self.servers() for r in s.requests]
        step = Step(name, outcome, requests)
        self.steps.append(step)
        return step

    def advance(self, delta: timedelta) -> None:
        self.sandbox.clock.advance(delta)

    def find(self, name: str) -> dict[str, Any]:
        matches = [d for d in self.store.list() if str(d.get("name", "")).lower() == name.lower()]
        assert len(matches) == 1, (name, len(matches))
        return dict(matches[0])

    def exists(self, name: str) -> bool:
        return any(str(d.get("name", "")).lower() == name.lower() for d in self.store.list())

    def set_tags(self, name: str, **tags: str) -> None:
        with self.store.lock:
            doc = self.store.raw(self.find(name)["id"])
            assert doc is not None
            doc.setdefault("tags", {}).update(tags)
            self.store.touch()

    def put(self, doc: Mapping[str, Any]) -> None:
        self.store.put(dict(doc))

    def with_config(self, **updates: Any) -> Config:
        return self.config.model_copy(update=updates)

    def enforce(self, **updates: Any) -> Config:
        return self.with_config(enforce=self.config.enforce.model_copy(update=updates))

    def reaper_config(self, **updates: Any) -> Config:
        assert self.config.reaper is not None
        return self.with_config(reaper=self.config.reaper.model_copy(update=updates))


def bind(sandbox: Sandbox, tmp: Path, *, blobs: bool) -> Config:
    for key, value in sandbox.env.as_env().items():
        os.environ[key] = value
    config = load_config(SANDBOX_CONFIG)
    assert config.reaper is not None
    reaper = config.reaper if blobs else config.reaper.model_copy(update={"storage_accounts": []})
    return config.model_copy(
        update={
            "ledger": LedgerConfig(url=f"sqlite:///{tmp / 'ledger.sqlite'}"),
            "reports": ReportsConfig(directory=tmp / "reports"),
            "reaper": reaper,
        }
    )


@contextmanager
def reaper_sandbox(
    tmp: Path, *, scenario: Scenario | None = None, blobs: bool = False, page_size: int = 3
) -> Iterator[Reaper]:
    scenario = scenario or load_scenario("seed")
    with Sandbox(scenario, workdir=tmp / "sandbox", with_azurite=blobs, page_size=page_size) as sandbox:
        config = bind(sandbox, tmp, blobs=blobs)
        ledger = Ledger.open(config.ledger.url)
        for hold in resolved_holds(scenario, sandbox.clock.now()):
            ledger.place_hold(
                HoldTarget.VERSION if hold.version else HoldTarget.ACCOUNT,
                hold.version or hold.account or "",
                hold.reason,
                hold.by,
                hold.placed_at,
                hold.until,
                config.holds.max_duration,
            )
        try:
            yield Reaper(sandbox, config, ledger, tmp)
        finally:
            ledger.close()


def due_mark(now: datetime, rule: str = "O1") -> str:
    """A mark whose deletion was due an hour ago (as the engine writes it)."""
    return f"{(now - timedelta(hours=1)).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} {rule}"
