"""Holds stop deletion, never revocation: a held version's accounts are disabled and their credentials
invalidated at every hand-off, and kept (not deleted) for as long as the hold lasts."""

from __future__ import annotations

from datetime import timedelta

from custodian.model import ActionKind, ActionOutcome, HoldTarget, RunMode, Status
from custodian.run import RunRequest, run_lifecycle
from tests.integration.conftest import Env


def test_a_held_version_is_revoked_and_kept(seed_env: Env) -> None:
    now = seed_env.sandbox.clock.now()
    hold = seed_env.ledger.place_hold(
        HoldTarget.VERSION,
        "v0.0.1",
        "CAB-77 post-release review",
        "maria",
        now,
        now + timedelta(days=2),
        timedelta(days=14),
    )
    outcome = run_lifecycle(
        seed_env.config,
        RunRequest(RunMode.ENFORCE, apply=True),
        ledger=seed_env.ledger,
        clock=seed_env.sandbox.clock.now,
    )
    findings = {(f.subject.provider_name, f.rule): f for f in outcome.result.findings}
    l2 = findings[("v0-0-1-prod-gh-sa", "L2")]
    assert l2.status is Status.FIXED and "kept, but revoked" in l2.message and l2.evidence["hold_id"] == hold.hold_id
    assert findings[("v0-0-1-prod-gh-sa", "L3")].status is Status.HELD
    prod = [r for r in outcome.result.actions if r.action.subject.provider_name == "v0-0-1-prod-gh-sa"]
    assert {r.action.kind for r in prod} >= {ActionKind.DISABLE, ActionKind.DELETE_IMPERSONATION_TOKENS}
    assert ActionKind.DELETE_ACCOUNT not in {r.action.kind for r in prod}
    assert {r.outcome for r in prod} == {ActionOutcome.DONE}
    store = seed_env.sandbox.github.store  # type: ignore[union-attr]
    user = store.user("v0-0-1-prod-gh-sa")
    assert user is not None and user["suspended_at"] is not None  # kept, and revoked
    assert not store.impersonation_tokens("v0-0-1-prod-gh-sa")
    deleted = [r for r in outcome.result.actions if r.action.kind is ActionKind.DELETE_ACCOUNT]
    assert deleted == []  # v0.0.0 and v0.0.1, the only versions past retention, are both held
