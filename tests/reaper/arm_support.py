"""Shared helpers of the ARM reaper tests: a seeded ARM emulator, a config bound to it, a journal.

Everything goes through the real path: `reap_arm` renders the policies, runs `custodian run` in a
subprocess (the launcher) against the emulator over HTTPS, and re-reads with the azure-mgmt SDKs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custodian.config import Config, parse_config
from custodian.ledger.store import JournalEntry
from custodian.model import (
    Action,
    ActionOutcome,
    ActionRecord,
    DeploymentFact,
    Finding,
    ReleaseTimeline,
)
from custodian.pricing.table import PriceTable
from custodian.progress import NullProgress
from custodian.providers.wire import CallCounter
from custodian.reaper.arm import reap_arm
from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer, RequestRecord
from custodian.sandbox.scenario import load_scenario, scenario_clock, seed_all
from custodian.sandbox.tls import SandboxTLS

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
SUB = "11111111-1111-4111-8111-111111111111"  # the seed's non-production subscription
PROD = "22222222-2222-4222-8222-222222222222"  # the seed's production subscription
TOKEN = "canary-arm-reaper-token-3c9e1f77"  # must never show up in findings, records or c7n output we keep
GRACE = timedelta(hours=24)
PRICES = PriceTable.load()
GITHUB_TOKEN_ENV = "REAPER_TEST_GITHUB_TOKEN"

KIND_TYPE = {
    "virtualMachine": "Microsoft.Compute/virtualMachines",
    "disk": "Microsoft.Compute/disks",
    "networkInterface": "Microsoft.Network/networkInterfaces",
    "publicIPAddress": "Microsoft.Network/publicIPAddresses",
    "networkSecurityGroup": "Microsoft.Network/networkSecurityGroups",
}


def rid(kind: str, name: str, group: str = "rg-release-qa", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{KIND_TYPE[kind]}/{name}"


def make_config(
    endpoint: str,
    *,
    subscriptions: Iterable[str] = (SUB, PROD),
    max_actions_per_run: int = 100,
    allowed: Iterable[str] | None = None,
    policies_dir: Path = POLICIES,
    **reaper: object,
) -> Config:
    """A config bound to the emulator; `reaper` adds keys to the reaper section (YAML values)."""
    os.environ.setdefault(GITHUB_TOKEN_ENV, "unused")
    subs = list(subscriptions)
    allow = list(subs if allowed is None else allowed)
    extra = "".join(f"\n  {k}: {v}" for k, v in reaper.items())
    return parse_config(
        f"""
github:
  mode: enterprise-server
  base_url: https://github.invalid/api/v3
  org: acme
  release_repos: [acme/product]
  token: {{env: {GITHUB_TOKEN_ENV}}}
azure:
  arm_endpoint: "{endpoint}"
  subscriptions: [{", ".join(subs)}]
enforce:
  allowed_subscriptions: [{", ".join(allow)}]
  max_actions_per_run: {max_actions_per_run}
  max_actions_percent: 80
reaper:
  policies_dir: {policies_dir}
  mark_grace: 24h
  c7n_timeout: 2m{extra}
""",
        "reaper-test-config",
    )


def seed_timeline(t0: datetime) -> ReleaseTimeline:
    """What the seed's repository says: v0.0.0 and v0.0.1 succeeded in production, v0.0.2 did not."""
    return ReleaseTimeline(
        ("qa", "uat", "prod"),
        (),
        (
            DeploymentFact("v0.0.0", 1, "production", t0 - timedelta(days=10), (("success", t0 - timedelta(days=9)),)),
            DeploymentFact(
                "v0.0.1", 2, "production", t0 - timedelta(hours=32), (("failure", t0 - timedelta(hours=32)),)
            ),
            DeploymentFact(
                "v0.0.1",
                3,
                "production",
                t0 - timedelta(hours=30, minutes=30),
                (("success", t0 - timedelta(hours=30)),),
            ),
        ),
    )


@dataclass
class FakeJournal:
    """The ledger's journal protocol, recording (wall time, what) so tests can check the order."""

    entries: list[tuple[float, str, Action, str]] = field(default_factory=list)
    pending: list[JournalEntry] = field(default_factory=list)

    def journal_intent(self, run_id: str, action: Action, at: datetime, snapshot: Mapping[str, object]) -> int:
        self.entries.append((time.time(), "intent", action, ""))
        return len(self.entries)

    def journal_outcome(
        self,
        run_id: str,
        action: Action,
        outcome: ActionOutcome,
        at: datetime,
        detail: str = "",
        snapshot: Mapping[str, object] | None = None,
    ) -> int:
        self.entries.append((time.time(), outcome.value, action, detail))
        return len(self.entries)

    def pending_intents(self) -> list[JournalEntry]:
        return list(self.pending)


@dataclass
class Step:
    """One `reap_arm` call and what it did."""

    name: str
    now: datetime
    findings: list[Finding]
    records: list[ActionRecord]
    journal: FakeJournal
    requests: list[RequestRecord]
    work_dir: Path
    seconds: float

    def mutations(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.method not in ("GET", "HEAD", "OPTIONS")]

    def finding(self, name: str) -> Finding:
        matches = [f for f in self.findings if f.subject.provider_name == name]
        assert len(matches) == 1, (name, [(f.rule, f.status) for f in matches])
        return matches[0]

    def records_for(self, name: str) -> list[ActionRecord]:
        return [r for r in self.records if r.action.subject.provider_name == name]


@dataclass
class Arm:
    """A running ARM emulator seeded with the seed story."""

    tls: SandboxTLS
    emulator: ArmEmulator
    server: EmulatorServer
    clock: SandboxClock
    tmp: Path

    @property
    def t0(self) -> datetime:
        return self.clock.now()

    def exists(self, resource_id: str) -> bool:
        return self.emulator.store.get(resource_id) is not None

    def find(self, name: str) -> dict[str, Any]:
        matches = [d for d in self.emulator.store.list() if str(d.get("name", "")).lower() == name.lower()]
        assert len(matches) == 1, (name, len(matches))
        return matches[0]

    def set_tags(self, name: str, **tags: str) -> None:
        with self.emulator.store.lock:
            doc = self.emulator.store.raw(self.find(name)["id"])
            assert doc is not None
            doc.setdefault("tags", {}).update(tags)
            self.emulator.store.touch()

    def reap(
        self,
        config: Config,
        name: str,
        *,
        now: datetime,
        enforce: bool = False,
        apply: bool = False,
        timeline: ReleaseTimeline | None = None,
        timeline_complete: bool = True,
        journal: FakeJournal | None = None,
        **options: Any,
    ) -> Step:
        journal = journal or FakeJournal()
        self.server.clear_log()
        started = time.monotonic()
        work_dir = self.tmp / name
        findings, records = reap_arm(
            config,
            run_id=f"run-{name}",
            timeline=timeline or seed_timeline(self.t0),
            timeline_complete=timeline_complete,
            now=now,
            enforce=enforce,
            apply=apply,
            journal=journal,
            clock=lambda: datetime.now(UTC),
            progress=NullProgress(),
            counter=CallCounter(),
            prices=PRICES,
            arm_endpoint=self.server.url,
            access_token=TOKEN,
            ca_bundle=str(self.tls.ca_bundle_path),
            work_dir=work_dir,
            **options,
        )
        return Step(name, now, findings, records, journal, self.server.requests, work_dir, time.monotonic() - started)


def start_seeded(tls: SandboxTLS, tmp: Path, *, page_size: int = 3, faults: FaultPlan | None = None) -> Arm:
    scenario = load_scenario("seed")
    clock = scenario_clock(scenario)
    emulator, server = start_arm(tls, clock=clock, page_size=page_size, faults=faults)
    seed_all(scenario, clock=clock, arm_store=emulator.store, github_store=None, blob_connection_string=None)
    return Arm(tls, emulator, server, clock, tmp)


def mark_value(rule: str, due: datetime) -> str:
    """A mark as c7n-azure's mark-for-op writes it (our policies' message)."""
    return f"release-custodian {rule} test mark, planned deletion: delete@{due.astimezone(UTC):%Y/%m/%d %H%M} UTC"
