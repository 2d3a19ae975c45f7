"""The seed story end to end: audit finds every seeded violation, enforce fixes them, holds win.

Everything runs over real HTTP(S) through PyGithub and azure-mgmt-containerregistry against the
emulators seeded from `seed.yaml`.
"""

from __future__ import annotations

import json
from collections import Counter

from custodian.model import ActionOutcome, Finding, RunMode, Status
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from tests.integration.conftest import Env

MUTATING = {"PUT", "PATCH", "POST", "DELETE"}


def run(env: Env, request: RunRequest) -> RunOutcome:
    return run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)


def statuses(findings: tuple[Finding, ...], rule: str) -> dict[tuple[str, str], Status]:
    """(registry-or-org, logical-or-provider name) -> status for one rule."""
    out = {}
    for f in findings:
        if f.rule == rule:
            where = (f.subject.scope or "").rsplit("/", 1)[-1].removeprefix("github:")
            out[(where, f.subject.logical_name or f.subject.provider_name)] = f.status
    return out


def test_first_audit_reports_each_seeded_violation(seed_env: Env) -> None:
    outcome = run(seed_env, RunRequest(RunMode.AUDIT))
    findings = outcome.result.findings
    l1, l2, l3 = statuses(findings, "L1"), statuses(findings, "L2"), statuses(findings, "L3")

    # L1: v0.0.2's qa ACR token is still enabled in the secure registry 2h after uat started...
    assert l1[("qasecureregistry", "v0.0.2-qa-acr-sa")] is Status.FAIL
    # ... but revoked in the standard registry, and its GitHub account is suspended without keys.
    assert l1[("qaregistry", "v0.0.2-qa-acr-sa")] is Status.PASS
    assert l1[("acme", "v0.0.2-qa-gh-sa")] is Status.PASS
    # current stages are compliant: v0.0.2 uat, v0.0.3 qa
    assert l1[("acme", "v0.0.2-uat-gh-sa")] is Status.PASS
    assert l1[("acme", "v0.0.3-qa-gh-sa")] is Status.PASS
    # L2: v0.0.1's prod accounts still enabled 30h after the production success
    assert l2[("acme", "v0.0.1-prod-gh-sa")] is Status.FAIL
    assert l2[("prodsecureregistry", "v0.0.1-prod-acr-sa")] is Status.FAIL
    # L3: every v0.0.1 account is past the 24h retention; v0.0.2 and v0.0.3 are not in prod yet
    assert {k: v for k, v in l3.items() if "v0.0.1" in k[1]} and all(
        v is Status.FAIL for k, v in l3.items() if "v0.0.1" in k[1]
    )
    assert all(v is Status.PASS for k, v in l3.items() if "v0.0.2" in k[1] or "v0.0.3" in k[1])
    # held version v0.0.0: HELD, never FAIL
    assert {v for k, v in l3.items() if "v0.0.0" in k[1]} == {Status.HELD}
    # H1, N1, N2 warnings
    h1 = statuses(findings, "H1")
    assert h1[("qasecureregistry", "v0.0.3-qa-acr-sa")] is Status.WARN
    n1 = {f.subject.provider_name for f in findings if f.rule == "N1"}
    assert {"release-gh-sa", "v0-9-9-qa-gh-sa", "v0-0-x-qa-acr-sa"} <= n1
    assert {f.subject.logical_name for f in findings if f.rule == "N2"} == {"v0.0.3-prod-acr-sa"}
    # humans and foreign tokens are not service accounts: never in the findings
    names = {f.subject.provider_name for f in findings}
    assert "octo-admin" not in names and "ci-pull-token" not in names
    # the expired hold is reported
    assert any(f.rule == "HOLD" and f.status is Status.WARN for f in findings)
    assert int(outcome.exit_code) == 3


def test_audit_is_read_only_on_the_wire(seed_env: Env) -> None:
    run(seed_env, RunRequest(RunMode.AUDIT))
    methods = Counter(method for method, _, _ in seed_env.requests())
    assert methods and set(methods) <= {"GET", "HEAD", "GRAPHQL"}, methods  # GraphQL: queries only (the guard)


def test_enforce_fixes_l1_to_l3_and_leaves_held_accounts_untouched(seed_env: Env) -> None:
    arm = seed_env.sandbox.arm.store  # type: ignore[union-attr]
    github = seed_env.sandbox.github.store  # type: ignore[union-attr]
    held_before = {login: github.user(login) for login in ("v0-0-0-uat-gh-sa", "v0-0-0-prod-gh-sa")}
    held_tokens_before = [t for t in arm.list("Microsoft.ContainerRegistry/registries/tokens") if "v0-0-0" in t["name"]]

    applied = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    outcomes = Counter(r.outcome for r in applied.result.actions)
    assert outcomes and set(outcomes) == {ActionOutcome.DONE}, outcomes
    assert not any(r.action.subject.version == "v0.0.0" for r in applied.result.actions)

    after = run(seed_env, RunRequest(RunMode.AUDIT))
    failing = [f for f in after.result.findings if f.status is Status.FAIL and f.rule in ("L1", "L2", "L3")]
    assert failing == []
    assert int(after.exit_code) == 0
    # the held accounts still exist, unchanged
    assert {login: github.user(login) for login in held_before} == held_before
    held_tokens_after = [t for t in arm.list("Microsoft.ContainerRegistry/registries/tokens") if "v0-0-0" in t["name"]]
    assert held_tokens_after == held_tokens_before
    # v0.0.1 accounts are gone; v0.0.2 qa token in the secure registry is disabled without passwords
    assert github.user("v0-0-1-qa-gh-sa") is None
    token = next(
        t
        for t in arm.list("Microsoft.ContainerRegistry/registries/tokens")
        if t["name"] == "v0-0-2-qa-acr-sa" and "qasecureregistry" in t["id"]
    )
    assert token["properties"]["status"] == "disabled"
    assert not token["properties"].get("credentials", {}).get("passwords")


def test_dry_run_plans_exactly_what_apply_does_and_changes_nothing(seed_env: Env) -> None:
    dry = run(seed_env, RunRequest(RunMode.ENFORCE))
    assert {m for m, _, _ in seed_env.requests()} <= {"GET", "HEAD", "GRAPHQL"}
    assert all(r.outcome is ActionOutcome.PLANNED for r in dry.result.actions)
    applied = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    assert {r.action.key for r in dry.result.actions} == {r.action.key for r in applied.result.actions}


def test_findings_json_contract(seed_env: Env) -> None:
    outcome = run(seed_env, RunRequest(RunMode.AUDIT))
    document = json.loads(outcome.reports.findings_json.read_text())
    assert set(document) >= {"run", "findings", "actions"}
    assert set(document["run"]) >= {
        "id",
        "started_at",
        "finished_at",
        "mode",
        "applied",
        "config_digest",
        "tool_version",
        "counts",
    }
    assert document["run"]["mode"] == "audit" and document["run"]["applied"] is False
    first = document["findings"][0]
    assert set(first) >= {"rule", "status", "severity", "subject", "message", "evidence", "remediation"}
    assert sum(document["run"]["counts"].values()) == len(document["findings"])


def test_secrets_never_reach_reports_or_ledger(seed_env: Env) -> None:
    run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    secrets = [seed_env.sandbox.github_token, seed_env.sandbox.azure_token]
    for path in seed_env.tmp.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv", ".md", ".html", ".xml", ".sqlite"):
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path
