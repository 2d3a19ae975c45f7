"""A version-scoped run (an event's hand-off) reads its version only: a handful of calls whatever the
number of other versions, counted by the emulators; it acts on that version's accounts through the
same engine and journal; a failed read of its tags is an ERROR that acts on nothing."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from custodian.collect.accounts import collect_inventory
from custodian.collect.version_scope import collect_version, version_scope
from custodian.config import Config, Mode, RegistryConfig, RegistryKind
from custodian.ledger.store import Ledger
from custodian.model import AccountKind, ActionOutcome, Inventory, RunMode, Status
from custodian.providers.wire import CallCounter
from custodian.run import ACCOUNTS, Providers, RunOutcome, RunRequest, RunTuning, run_lifecycle, sources_of
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import parse_scenario
from custodian.service.digest import build_digest
from tests.integration.conftest import Env, bind_config

OTHERS = 60  # versions besides the two under test, each in prod with 3 accounts and 4 tokens
SUB = "11111111-1111-4111-8111-111111111111"
RG = "rg-release-registries"
REGISTRIES = (("qasecure", "secure", "qa"), ("qastandard", "standard", "qa"), ("uatregistry", "standard", "uat"))
REGISTRIES += (("prodregistry", "standard", "prod"),)
HANDOFF = "v9.0.0"  # qa 2h ago, uat 5 min ago: its qa accounts are due (grace 0)
PROD = "v8.0.0"  # in prod, first success 2h ago: its prod accounts are due (L2, grace 0)


def _user(version: str, stage: str, *, active: bool) -> str:
    login = f"{version.replace('.', '-')}-{stage}-gh-sa"
    state = (
        "impersonation_tokens: [{scopes: [repo], created_at: now - 2h, expires_at: now + 7d}],"
        " ssh_keys: [{title: deployer, created_at: now - 2h}]"
        if active
        else "suspended_at: now - 1h"
    )
    common = f"login: {login}, name: {version}-{stage}-gh-sa, created_at: now - 3h, memberships: [{{org: acme}}]"
    return f"    - {{{common}, {state}}}"


def _token(version: str, stage: str, *, active: bool) -> str:
    name = f"{version.replace('.', '-')}-{stage}-acr-sa"
    state = "passwords: [{name: password1, created: now - 2h, expiry: now + 7d}]" if active else "status: disabled"
    return f"                - {{name: {name}, created: now - 3h, {state}}}"


def scenario_text() -> str:
    others = [f"v1.{i}.0" for i in range(OTHERS)]
    tags, deployments, users = [], [], []
    tokens: dict[str, list[str]] = {name: [] for name, _, _ in REGISTRIES}
    for version in [*others, PROD]:
        tags += [f"        - {{name: {version}-qa, at: now - 30h, annotated: true}}"]
        tags += [f"        - {{name: {version}-uat, at: now - 20h, annotated: true}}"]
        tags += [f"        - {{name: {version}, at: now - 10h, annotated: true}}"]
        success = "now - 2h" if version == PROD else "now - 9h"
        deployments.append(
            f"        - {{environment: production, ref: {version}, at: now - 10h,"
            f" statuses: [{{state: success, at: {success}}}]}}"
        )
        for stage in ("qa", "uat", "prod"):
            users.append(_user(version, stage, active=version == PROD and stage == "prod"))
            for registry, _, registry_stage in REGISTRIES:
                if registry_stage == stage:
                    tokens[registry].append(_token(version, stage, active=version == PROD and stage == "prod"))
    tags += [f"        - {{name: {HANDOFF}-qa, at: now - 2h, annotated: true}}"]
    tags += [f"        - {{name: {HANDOFF}-uat, at: now - 5m, annotated: true}}"]
    for stage in ("qa", "uat"):
        users.append(_user(HANDOFF, stage, active=True))
        for registry, _, registry_stage in REGISTRIES:
            if registry_stage == stage:
                tokens[registry].append(_token(HANDOFF, stage, active=True))
    registries = "\n".join(
        f"            - name: {name}\n              kind: {kind}\n              stage: {stage}\n              tokens:\n"
        + "\n".join(tokens[name])
        for name, kind, stage in REGISTRIES
    )
    tag_lines, deployment_lines, user_lines = "\n".join(tags), "\n".join(deployments), "\n".join(users)
    return f"""
stages: [qa, uat, prod]
github:
  orgs: [acme]
  site_admin: octo-admin
  repos:
    - name: acme/product
      tags:
{tag_lines}
      deployments:
{deployment_lines}
  users:
    - {{login: octo-admin, name: Octo Admin, created_at: now - 400d, memberships: [{{org: acme, role: admin}}]}}
{user_lines}
azure:
  subscriptions:
    - id: {SUB}
      resource_groups:
        - name: {RG}
          location: eastus
          registries:
{registries}
"""


@pytest.fixture(scope="module")
def many_versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    scenario = parse_scenario(scenario_text(), "many versions")
    with Sandbox(scenario, workdir=tmp_path_factory.mktemp("sandbox"), with_azurite=False) as sandbox:
        yield sandbox


@pytest.fixture
def env(many_versions: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    registries = [
        RegistryConfig(stage=stage, kind=RegistryKind(kind), subscription=SUB, resource_group=RG, name=name)
        for name, kind, stage in REGISTRIES
    ]
    base = bind_config(many_versions, tmp_path, monkeypatch)
    config = base.model_copy(
        update={
            "mode": Mode.ENFORCE,
            "azure": base.azure.model_copy(update={"registries": registries}),
            "lifecycle": base.lifecycle.model_copy(
                update={"handoff_grace": timedelta(0), "prod_revocation_grace": timedelta(0)}
            ),
        }
    )
    ledger = Ledger.open(config.ledger.url)
    environment = Env(many_versions, config, ledger, tmp_path)
    environment.clear_logs()
    try:
        yield environment
    finally:
        ledger.close()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def github_call(env: Env, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{env.sandbox.env.github_base_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {env.sandbox.env.github_token}", "Content-Type": "application/json"},
        method=method,
    )
    with _NO_PROXY.open(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def scoped(env: Env, version: str, *, apply: bool, config: Config | None = None) -> RunOutcome:
    request = RunRequest(RunMode.ENFORCE, apply=apply, parts=frozenset({ACCOUNTS}), version=version, trigger="event:t")
    return run_lifecycle(config or env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)


def reads(env: Env) -> list[tuple[str, str]]:
    """(path, query) of every GET both emulators answered (the rate-limit probe aside)."""
    out = []
    for server in (env.sandbox.github_server, env.sandbox.arm_server):
        assert server is not None
        out += [(r.path, r.query) for r in server.requests if r.method == "GET" and not r.path.endswith("/rate_limit")]
    return out


def test_a_hand_off_run_reads_a_handful_of_calls_whatever_the_other_versions(env: Env) -> None:
    outcome = scoped(env, HANDOFF, apply=False)  # a dry run: what it reads, and what it would do
    calls = reads(env)
    github = [path for path, _ in calls if path.startswith("/api/v3")]
    arm = [path for path, _ in calls if not path.startswith("/api/v3")]
    # tags: one prefix listing + one tag object per annotated tag (qa, uat); deployments of each tag;
    # three machine users by name (uat and qa with their keys, prod absent: 404); one token per registry
    assert len(github) == 1 + 2 + 2 + 5, github
    assert len(arm) == len(REGISTRIES), arm
    assert len(calls) <= 16  # a handful, with OTHERS other versions in the repository and the registries
    assert any(p.endswith(f"/git/matching-refs/tags/{HANDOFF}") for p in github)
    listings = ("/releases", "/deployments", "/git/matching-refs/tags", "/users", "/admin/keys", "/tokens")
    unfiltered = [p for p, query in calls if p.endswith(listings) and "ref=" not in query]
    assert not unfiltered, "no full listing in a version-scoped run"
    planned = {(a.action.subject.provider_name, a.outcome) for a in outcome.result.actions}
    assert planned and {name for name, _ in planned} == {
        "v9-0-0-qa-gh-sa",
        "v9-0-0-qa-acr-sa",
    }, planned  # only the qa accounts of the version: uat has not handed off, other versions are not read
    assert all(outcome is ActionOutcome.PLANNED for _, outcome in planned)
    assert not [f for f in outcome.result.findings if f.status is Status.ERROR]

    env.clear_logs()  # the steady state: the tag objects are known (ledger), unchanged answers are 304s
    scoped(env, HANDOFF, apply=False)
    again = reads(env)
    assert len([p for p, _ in again if p.startswith("/api/v3")]) == 1 + 2 + 5
    assert not [p for p, _ in again if "/git/tags/" in p]


def test_a_hand_off_run_acts_on_its_version_only(env: Env) -> None:
    outcome = scoped(env, HANDOFF, apply=True)
    done = [r for r in outcome.result.actions if r.outcome is ActionOutcome.DONE]
    assert {r.action.subject.provider_name for r in done} == {"v9-0-0-qa-gh-sa", "v9-0-0-qa-acr-sa"}
    assert int(outcome.exit_code) == 0, outcome.result.incomplete
    record = env.ledger.get_run(outcome.result.run.run_id)
    assert record is not None and record.info.trigger == "event:t"
    assert 'data-trigger="event"' in outcome.reports.report_html.read_text()
    assert "GitHub event (delivery t): hand-off of v9.0.0" in outcome.reports.summary_md.read_text()
    now = env.sandbox.clock.now()
    digest = build_digest(env.ledger, now - timedelta(days=1), now + timedelta(days=1), now)
    by_trigger = digest["revocations"]["by_trigger"]
    assert by_trigger["event"]["accounts"] == 3 and by_trigger["schedule"]["accounts"] == 0  # gh-sa, 2 tokens
    assert env.sandbox.github is not None
    with env.sandbox.github.store.lock:
        user = env.sandbox.github.store.find_user("v9-0-0-qa-gh-sa")
        untouched = env.sandbox.github.store.find_user("v9-0-0-uat-gh-sa")
        assert user is not None and user.suspended_at is not None
        assert untouched is not None and untouched.suspended_at is None


def test_a_prod_revocation_run_reads_the_deployment_and_its_statuses(env: Env) -> None:
    outcome = scoped(env, PROD, apply=False)
    github = [p for p, _ in reads(env) if p.startswith("/api/v3")]
    # tags 1 + 3 objects, the prod tag's release (none: 404), deployments of 3 tags, 1 statuses, 3 users x 2
    assert len(github) == 1 + 3 + 1 + 3 + 1 + 6, github
    due = {r.action.subject.provider_name for r in outcome.result.actions if r.action.rule == "L2"}
    assert due == {"v8-0-0-prod-gh-sa", "v8-0-0-prod-acr-sa"}, due


def test_a_failed_tag_read_is_an_error_that_acts_on_nothing(env: Env) -> None:
    assert env.sandbox.github_server is not None
    env.sandbox.github_server.set_faults(
        FaultPlan(server_error=1.0, error_status=502, path_regex="/git/matching-refs/")
    )
    try:
        outcome = scoped(env, PROD, apply=True)
    finally:
        env.sandbox.github_server.set_faults(FaultPlan())
    errors = [f for f in outcome.result.findings if f.status is Status.ERROR]
    assert errors and any("timeline" in (f.subject.scope or "") or "timeline" in f.message for f in errors), errors
    assert int(outcome.exit_code) == 1
    assert not [r for r in outcome.result.actions if r.outcome is ActionOutcome.DONE]
    assert not [m for m, _, _ in env.requests() if m not in ("GET", "HEAD")], "nothing was changed"
    assert env.sandbox.github is not None
    with env.sandbox.github.store.lock:
        user = env.sandbox.github.store.find_user("v8-0-0-prod-gh-sa")
        assert user is not None and user.suspended_at is None
    kinds = Counter(r.outcome for r in outcome.result.actions)
    assert set(kinds) <= {ActionOutcome.SKIPPED}, kinds


def _view(inventory: Inventory, version: str, names: set[str]) -> tuple[set[Any], set[Any], set[Any]]:
    starts = {
        (s.version, s.stage, s.at, s.evidence, s.actor) for s in inventory.timeline.starts if s.version == version
    }
    deployments = {
        (d.deployment_id, d.environment, d.statuses) for d in inventory.timeline.deployments if d.version == version
    }
    accounts = {
        (a.key, a.enabled, tuple(sorted((c.kind.value, c.credential_id) for c in a.credentials)))
        for a in inventory.accounts
        if a.provider_name in names
    }
    return starts, deployments, accounts


@pytest.mark.parametrize("prod_tag", ["{version}", "release-{version}"])  # a common prefix, or none
def test_a_version_scoped_collection_sees_what_the_full_inventory_sees_of_that_version(
    seed_env: Env, prod_tag: str
) -> None:
    env = seed_env
    sha = github_call(env, "GET", "/repos/acme/product/commits/v0.0.3-qa")["sha"]
    github_call(env, "POST", "/repos/acme/product/git/refs", {"ref": "refs/tags/v0.0.3-uat", "sha": sha})  # lightweight
    github_call(env, "POST", "/repos/acme/product/releases", {"tag_name": "v0.0.3-uat"})
    config = env.config.model_copy(update={"naming": env.config.naming.model_copy(update={"prod_tag": prod_tag})})
    providers = Providers(config, read_only=True, counter=CallCounter(), tuning=RunTuning(github_cache=False))
    try:
        sources, namer, now = sources_of(config, providers), config.namer(), env.sandbox.clock.now()
        full = collect_inventory(sources, namer, now)
        assert not full.errors
        for version in ("v0.0.0", "v0.0.1", "v0.0.2", "v0.0.3", "v9.9.9"):
            scope = version_scope(config, version)
            assert bool(scope.tags.prefix) is (prod_tag == "{version}")
            scoped = collect_version(sources, namer, scope, now)
            assert not scoped.errors, scoped.errors
            names = {namer.provider_name(version, stage, kind) for stage in namer.stages for kind in AccountKind}
            assert _view(scoped, version, names) == _view(full, version, names), version
            if version == "v0.0.1" and prod_tag == "{version}":
                assert scoped.timeline.prod_success(version) is not None
    finally:
        providers.close()
