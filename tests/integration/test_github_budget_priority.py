"""Revocations first under GitHub's rate limit (issue 12, item 4): a run near exhaustion revokes what is known due.

An audit finds five machine accounts due (their next stage started days ago); the token then has only
a few core requests left in its hour. The applied enforce run that follows reads the budget (free),
revokes the five first, and reports what it could not read afterwards as a COLLECT error, without
sleeping towards the reset. Real PyGithub over HTTP against the emulator; nothing is patched.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custodian.config import Config, parse_config
from custodian.ledger.store import Ledger
from custodian.model import ActionKind, ActionOutcome, RunMode, Status
from custodian.providers.github.budget import budget_lines
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.arm import start_arm
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS

SUB = "11111111-1111-4111-8111-111111111111"
REPO = "acme/product"
DUE = 5  # qa accounts whose uat tag was pushed days ago
NOT_DUE = 20  # accounts of versions still in qa (nothing to do), the rest of the inventory
ACCOUNTS_ONLY = frozenset({"accounts"})


@dataclass
class World:
    github: GithubEmulator
    server: EmulatorServer
    arm_url: str
    ca: Path
    clock: SandboxClock
    tmp: Path

    def config(self) -> Config:
        os.environ["PRIORITY_TEST_TOKEN"] = "t0ken"
        return parse_config(
            f"""
github: {{mode: enterprise-server, base_url: "{self.server.url}/api/v3", org: acme, release_repos: [{REPO}],
          token: {{env: PRIORITY_TEST_TOKEN}}}}
azure: {{arm_endpoint: "{self.arm_url}", ca_bundle: "{self.ca}", subscriptions: [{SUB}],
         access_token: {{env: PRIORITY_TEST_TOKEN}}, registries: []}}
enforce: {{allowed_orgs: [acme], max_actions_percent: 100}}
ledger: {{url: "sqlite:///{self.tmp / "ledger.sqlite"}"}}
reports: {{directory: "{self.tmp / "reports"}"}}
""",
            "test",
        )

    def run(self, ledger: Ledger, mode: RunMode, apply: bool = False) -> RunOutcome:
        request = RunRequest(mode, apply=apply, parts=ACCOUNTS_ONLY)
        return run_lifecycle(self.config(), request, ledger=ledger, clock=self.clock.now)

    def leave(self, requests: int) -> None:
        """A fresh hour of which another client of the token already spent all but `requests`."""
        self.github.reset()
        self.github._used = self.github.rate_limit - requests
        self.github.enforce_rate_limit = True


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    clock = SandboxClock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    tls = SandboxTLS(tmp_path / "tls")
    arm, arm_server = start_arm(tls, page_size=100, clock=clock)
    github, server = start_github(clock=clock)
    arm.store.add_subscription(SUB, "test")
    store = github.store
    store.add_org("acme")
    store.add_user("octo-admin", site_admin=True)
    store.add_repo(REPO)
    now = clock.now()
    for i in range(DUE + NOT_DUE):
        version, start = f"v1.0.{i}", now - timedelta(days=30 - i)
        store.add_tag(REPO, f"{version}-qa", date=start, annotated=True)
        if i < DUE:
            store.add_tag(REPO, f"{version}-uat", date=start + timedelta(days=1), annotated=True)
        login = f"v1-0-{i}-qa-gh-sa"
        store.add_user(login, name=f"{version}-qa-gh-sa")
        store.add_member("acme", login)
    try:
        yield World(github, server, arm_server.url, tls.ca_bundle_path, clock, tmp_path)
    finally:
        server.stop()
        arm_server.stop()


def test_a_run_near_exhaustion_revokes_the_known_due_first(world: World) -> None:
    with Ledger.open(f"sqlite:///{world.tmp / 'ledger.sqlite'}") as ledger:
        audit = world.run(ledger, RunMode.AUDIT)
        due = sorted(f.subject.provider_name for f in audit.result.findings if f.status is Status.FAIL)
        assert due == [f"v1-0-{i}-qa-gh-sa" for i in range(DUE)]

        for i in range(DUE + NOT_DUE, DUE + NOT_DUE + 3):  # since then: new versions and their accounts
            world.github.store.add_tag(REPO, f"v1.0.{i}-qa", date=world.clock.now(), annotated=True)
            world.github.store.add_user(f"v1-0-{i}-qa-gh-sa", name=f"v1.0.{i}-qa-gh-sa")
        left = 21  # 5 x (a keys read, suspend, the changed user read, delete tokens) + the last confirmation
        world.leave(left)
        world.server.clear_log()
        started = time.monotonic()
        outcome = world.run(ledger, RunMode.ENFORCE, apply=True)
        assert time.monotonic() - started < 60  # the reset is an hour away: nothing slept towards it

    store = world.github.store
    assert all(store.users[login].suspended_at is not None for login in due)  # all five revoked
    assert all(store.users[f"v1-0-{i}-qa-gh-sa"].suspended_at is None for i in range(DUE, DUE + NOT_DUE))
    suspended = [r for r in outcome.result.actions if r.action.kind is ActionKind.DISABLE]
    assert sorted(r.action.subject.provider_name for r in suspended) == due
    assert len(outcome.result.actions) == 2 * DUE  # suspend, delete the impersonation tokens: each confirmed
    assert all(r.outcome is ActionOutcome.DONE for r in outcome.result.actions)
    # the revocations came before any audit read of the accounts: the first suspension precedes the users' listing
    log = [(r.method, r.path) for r in world.server.requests]
    first_change = next(i for i, (method, _) in enumerate(log) if method == "PUT")
    listing = [i for i, (method, path) in enumerate(log) if (method, path) == ("GET", "/api/v3/users")]
    assert not listing or first_change < listing[0]
    # what the budget could not cover afterwards is a COLLECT error of its scope, refused before sending
    errors = [f for f in outcome.result.findings if f.rule == "COLLECT" and f.status is Status.ERROR]
    assert [f.subject.scope for f in errors] == ["github:acme"]
    assert "rate limit exhausted" in errors[0].message.lower()
    assert [s for s in world.server.requests if s.status == 403] == []
    # the report shows the budget used and left
    budget = outcome.github_budget
    assert budget["remaining"] == 0 and budget["limit"] == world.github.rate_limit
    assert budget["cost"] == left  # every request that counted, as the emulator counted them
    assert any("the revocations go first" in w for w in budget["warnings"])
    summary = budget_lines(budget)  # the terminal summary's lines
    assert f"0 of {world.github.rate_limit} left" in summary[0] and "GraphQL" in summary[0]
    assert any("the revocations go first" in line for line in summary[1:])
    document = json.loads(outcome.reports.findings_json.read_text())
    assert document["api"]["github"]["remaining"] == 0
    assert document["api"]["github"]["graphql"]["cost"] >= 1  # the timeline: GraphQL points, not core requests


def test_with_enough_budget_nothing_is_put_first(world: World) -> None:
    with Ledger.open(f"sqlite:///{world.tmp / 'ledger.sqlite'}") as ledger:
        world.run(ledger, RunMode.AUDIT)
        world.server.clear_log()
        outcome = world.run(ledger, RunMode.ENFORCE, apply=True)
    assert not any("go first" in w for w in outcome.github_budget["warnings"])
    assert not [f for f in outcome.result.findings if f.rule == "COLLECT"]
    assert all(world.github.store.users[f"v1-0-{i}-qa-gh-sa"].suspended_at is not None for i in range(DUE))
    log = [(r.method, r.path) for r in world.server.requests]
    assert log.index(("GET", "/api/v3/users")) < next(i for i, (m, _) in enumerate(log) if m == "PUT")
