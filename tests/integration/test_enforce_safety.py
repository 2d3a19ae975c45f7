"""Safety of enforce against the seed sandbox: caps, allowlist, partial inventory, crash resume, forecast."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custodian.config import EnforceConfig
from custodian.model import ActionOutcome, RunMode, Status
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.faults import FaultPlan
from tests import reliability
from tests.integration.conftest import Env

MUTATING = {"PUT", "PATCH", "POST", "DELETE"}


def run(env: Env, request: RunRequest) -> RunOutcome:
    return run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)


def mutations(env: Env) -> list[tuple[str, str, int]]:
    return [r for r in env.requests() if r[0] in MUTATING]


def with_enforce(env: Env, **changes: object) -> None:
    env.config = env.config.model_copy(update={"enforce": env.config.enforce.model_copy(update=changes)})


def test_max_actions_per_run_aborts_before_the_first_action(seed_env: Env) -> None:
    with_enforce(seed_env, max_actions_per_run=3)
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    assert outcome.plan is not None and outcome.plan.aborted
    assert outcome.result.actions and {r.outcome for r in outcome.result.actions} == {ActionOutcome.SKIPPED}
    assert all("max_actions_per_run=3" in r.detail for r in outcome.result.actions)
    assert mutations(seed_env) == []
    assert not [
        r
        for r in seed_env.ledger.actions_for_run(outcome.result.run.run_id, journal=True)
        if r.outcome is ActionOutcome.INTENT
    ]
    safety = [f for f in outcome.result.findings if f.rule == "SAFETY"]
    assert safety and "max_actions_per_run=3" in safety[-1].message


def test_max_actions_percent_aborts(seed_env: Env) -> None:
    with_enforce(seed_env, max_actions_percent=5)
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    assert outcome.plan is not None and outcome.plan.aborted and mutations(seed_env) == []
    assert any("max_actions_percent=5" in f.message for f in outcome.result.findings if f.rule == "SAFETY")


def test_targets_outside_the_allowlist_are_refused(seed_env: Env) -> None:
    seed_env.config = seed_env.config.model_copy(
        update={"enforce": EnforceConfig(allowed_subscriptions=[], allowed_orgs=["acme"])}
    )
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    acted = {r.action.subject.provider for r in outcome.result.actions if r.outcome is ActionOutcome.DONE}
    assert acted == {"github"}  # ACR tokens live in a subscription that is not allowlisted
    refused_records = [r for r in outcome.result.actions if r.action.subject.provider == "azure"]
    assert refused_records and all(r.outcome is ActionOutcome.SKIPPED for r in refused_records)
    assert all(not path.lower().count("containerregistry") for _, path, _ in mutations(seed_env))
    refused = [f for f in outcome.result.findings if f.rule == "SAFETY" and "allowlist" in f.message]
    assert len(refused) == 1  # one SAFETY finding per scope and reason
    assert (
        refused[0].status is Status.ERROR
        and refused[0].subject.scope == "/subscriptions/11111111-1111-4111-8111-111111111111"
    )
    assert int(outcome.exit_code) == 1  # refused actions: an incomplete run


def test_partial_inventory_blocks_actions_in_its_scope(seed_env: Env) -> None:
    server = seed_env.sandbox.arm_server
    assert server is not None
    # the token listing of one registry fails every time (500 outlasts the retries)
    server.set_faults(FaultPlan(server_error=1.0, path_regex="registries/qasecureregistry/tokens", methods=("GET",)))
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    errors = [f for f in outcome.result.findings if f.status is Status.ERROR and f.rule == "COLLECT"]
    reliability.record(
        "fault",
        fault="server_error (500, every retry)",
        where="ARM ACR token listing",
        injected=sum(r.fault == "server_error" for r in server.requests),
        outcome="COLLECT ERROR, registry blocked" if errors else "not detected",
        survived=len(errors) == 1,
    )
    reliability.record_requests(
        "ACR token listing failing with 500", server.requests, wrong=lambda r: "qasecureregistry" in r.path.lower()
    )
    assert len(errors) == 1 and "qasecureregistry" in (errors[0].subject.scope or "")
    assert not any("qasecureregistry" in (r.action.subject.scope or "") for r in outcome.result.actions)
    assert int(outcome.exit_code) == 1  # incomplete run
    # other scopes were still handled
    assert any(r.outcome is ActionOutcome.DONE for r in outcome.result.actions)


def test_timeline_failure_blocks_every_account_action(seed_env: Env) -> None:
    server = seed_env.sandbox.github_server
    assert server is not None
    server.set_faults(FaultPlan(server_error=1.0, path_regex="/repos/acme/product/(tags|git/)|/graphql$"))
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    # no version is known, so no account parses (N1) and nothing is proposed; whatever was would be refused
    reliability.record(
        "fault",
        fault="server_error (500, every retry)",
        where="GitHub tags (the release timeline)",
        injected=sum(r.fault == "server_error" for r in server.requests),
        outcome="COLLECT ERROR, every account action skipped",
        survived=mutations(seed_env) == [],
    )
    assert all(r.outcome is ActionOutcome.SKIPPED for r in outcome.result.actions)
    assert mutations(seed_env) == []
    assert any(f.rule == "COLLECT" and f.subject.provider_name == "timeline" for f in outcome.result.findings)


def test_a_rerun_after_a_crash_does_not_act_twice(seed_env: Env) -> None:
    ledger = seed_env.ledger
    original = ledger.journal_outcome
    calls = {"n": 0}

    def crash_after_first_action(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        raise RuntimeError("simulated crash after the first action was taken")

    ledger.journal_outcome = crash_after_first_action  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    ledger.journal_outcome = original  # type: ignore[method-assign]
    first_mutations = mutations(seed_env)
    assert len(first_mutations) >= 1
    pending = ledger.pending_intents()
    assert len(pending) == 1  # the first change's intent journaled, its outcome lost in the crash

    seed_env.clear_logs()
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    crashed_key = pending[0].record.action.key
    resumed = next(r for r in outcome.result.actions if r.action.key == crashed_key)
    assert resumed.outcome is ActionOutcome.DONE
    assert "crashed run" in resumed.detail or "already" in resumed.detail
    # the crashed action's target received no second mutation
    target = pending[0].record.action.subject.provider_name
    assert not [m for m in mutations(seed_env) if target in m[1] and m in first_mutations]
    assert ledger.pending_intents() == []


def test_as_of_forecasts_what_will_be_due(seed_env: Env) -> None:
    now = seed_env.sandbox.clock.now()
    today = run(seed_env, RunRequest(RunMode.AUDIT))
    later = run(seed_env, RunRequest(RunMode.AUDIT, as_of=now + timedelta(days=2)))
    assert {m for m, _, _ in seed_env.requests()} <= {"GET", "HEAD", "GRAPHQL"}  # GraphQL: queries only

    def l1(outcome: RunOutcome) -> dict[str, Status]:
        return {f.subject.provider_name: f.status for f in outcome.result.findings if f.rule == "L1"}

    # v0.0.3 is in qa; nothing hands it off, so its qa accounts stay compliant in the forecast too
    assert l1(later)["v0-0-3-qa-gh-sa"] is Status.PASS
    # the expired-hold warning and held findings are evaluated at the forecast time
    assert later.result.run.as_of is not None
    assert sum(1 for f in later.result.findings if f.status is Status.FAIL) >= sum(
        1 for f in today.result.findings if f.status is Status.FAIL
    )


def test_a_second_applied_run_on_the_ledger_refuses_at_once_and_writes_nothing(seed_env: Env) -> None:
    from custodian.ledger.locks import LockHeldError
    from custodian.ledger.store import Ledger

    with Ledger.open(seed_env.config.ledger.url) as other:
        first = other.apply_lock("20261201T090000Z-enforce-first1")
        first.acquire()
        try:
            before = seed_env.ledger.list_runs()
            with pytest.raises(LockHeldError, match="20261201T090000Z-enforce-first1"):
                run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
            assert seed_env.ledger.list_runs() == before
            assert mutations(seed_env) == []
            dry = run(seed_env, RunRequest(RunMode.ENFORCE))  # a dry run needs no lock
            assert dry.plan is not None
        finally:
            first.release()
