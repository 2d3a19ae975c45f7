"""GitHub organization mode (github.com as a GitHub App): PAT grants and membership, end to end."""

from __future__ import annotations

from custodian.config import GithubMode
from custodian.model import ActionKind, ActionOutcome, RunMode, Status
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from tests.integration.conftest import Env


def run(env: Env, request: RunRequest) -> RunOutcome:
    return run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)


def organization(env: Env) -> None:
    github = env.config.github.model_copy(update={"mode": GithubMode.ORGANIZATION})
    env.config = env.config.model_copy(update={"github": github})


def test_org_mode_revokes_pat_grants_and_removes_membership(seed_env: Env) -> None:
    organization(seed_env)
    store = seed_env.sandbox.github.store  # type: ignore[union-attr]
    assert any(g["owner"] == "v0-0-1-prod-gh-sa" for g in store.pat_grants("acme"))

    audit = run(seed_env, RunRequest(RunMode.AUDIT))
    prod = [f for f in audit.result.findings if f.subject.provider_name == "v0-0-1-prod-gh-sa"]
    assert {f.rule: f.status for f in prod if f.rule in ("L2", "L3")} == {"L2": Status.FAIL, "L3": Status.FAIL}
    assert {m for m, _, _ in seed_env.requests()} <= {"GET", "HEAD", "GRAPHQL"}  # GraphQL: queries only
    # the PAT grant (with expiry) is seen as a credential; H1 is satisfied by its 20-day expiry
    assert any(f.rule == "H1" and f.status is Status.PASS for f in prod)

    applied = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    kinds = {r.action.kind for r in applied.result.actions if r.action.subject.provider == "github"}
    assert kinds <= {ActionKind.REVOKE_PAT_GRANTS, ActionKind.REMOVE_MEMBERSHIP}
    assert ActionKind.DELETE_ACCOUNT not in kinds and ActionKind.DISABLE not in kinds  # an App cannot
    assert {r.outcome for r in applied.result.actions} == {ActionOutcome.DONE}
    assert not any(g["owner"] == "v0-0-1-prod-gh-sa" for g in store.pat_grants("acme"))
    members = {m.lower() for m in store.members("acme")}
    assert "v0-0-1-prod-gh-sa" not in members
    # v0.0.0 is held: a hold bars deletion, never revocation. In organization mode an App cannot suspend
    # a user, so revoking (L2) the held prod account means removing its membership too.
    assert "v0-0-0-prod-gh-sa" not in members
    held = [f for f in applied.result.findings if f.subject.provider_name == "v0-0-0-prod-gh-sa"]
    assert {f.rule: f.status for f in held if f.rule in ("L2", "L3")} == {"L2": Status.FIXED, "L3": Status.HELD}
    assert "kept, but revoked" in next(f.message for f in held if f.rule == "L2")

    after = run(seed_env, RunRequest(RunMode.AUDIT))
    assert not [f for f in after.result.findings if f.status is Status.FAIL and f.rule in ("L1", "L2", "L3")]
