"""Failure modes of the reaper's Azure part, one fresh seed sandbox each: fail closed, one refusal shape."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.model import Action as EngineAction
from custodian.model import ActionKind, ActionOutcome, ResourceKind, RunInfo, RunMode, Scope, Status, Subject
from custodian.run import ACCOUNTS, REAPER
from custodian.sandbox.faults import FaultPlan
from tests import reliability
from tests.reaper.support import PROD, SUB, Reaper, due_mark, reaper_sandbox, rid

pytestmark = pytest.mark.slow
BOTH = frozenset({ACCOUNTS, REAPER})


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Reaper]:
    with reaper_sandbox(tmp_path) as reaper:
        yield reaper


def _due(reaper: Reaper, *names: str, rule: str = "O1") -> None:
    for name in names:
        reaper.set_tags(name, **{"custodian-reap": due_mark(reaper.now, rule)})


def test_a_page_cut_short_blocks_every_action_in_its_subscription(fresh: Reaper) -> None:
    _due(fresh, "disk-legacy-export-01", "nic-orphan-01")
    assert fresh.sandbox.arm_server is not None
    fresh.sandbox.arm_server.set_faults(
        FaultPlan(truncate=1.0, path_regex=rf"{SUB}/providers/Microsoft\.Compute/disks$", methods=("GET",))
    )
    step = fresh.run("truncated", RunMode.ENFORCE, apply=True)

    errors = [f for f in step.findings if f.status is Status.ERROR and f.rule == "COLLECT"]
    _, wrong = reliability.record_requests("a disk page cut short", step.requests, wrong=bool)
    reliability.record(
        "fault",
        fault="truncate",
        where="ARM disks listing",
        injected=sum(r.fault == "truncate" for r in step.requests),
        outcome="COLLECT ERROR, subscription blocked" if errors else "not detected",
        survived=bool(errors) and not wrong,
    )
    assert any(r.fault == "truncate" for r in step.requests)
    assert [f.subject.scope for f in errors] == [f"/subscriptions/{SUB}"]
    assert "disk listings disagree (partial inventory)" in errors[0].message
    assert step.mutations() == []  # not even the NIC, whose listing was complete: the subscription is blocked
    sub_records = [r for r in step.records if r.action.scope == Scope.subscription(SUB)]
    assert sub_records and all(r.outcome is ActionOutcome.SKIPPED for r in sub_records)
    assert all("inventory of /subscriptions/" in r.detail for r in sub_records)
    assert fresh.exists("disk-legacy-export-01")
    assert int(step.outcome.exit_code) == 1


def test_a_500_that_outlasts_the_retries_blocks_deletion(fresh: Reaper) -> None:
    _due(fresh, "disk-legacy-export-01")
    assert fresh.sandbox.arm_server is not None
    fresh.sandbox.arm_server.set_faults(
        FaultPlan(server_error=1.0, path_regex=r"Microsoft\.Network/networkInterfaces$", methods=("GET",))
    )
    step = fresh.run("500", RunMode.ENFORCE, apply=True)
    errors = [f for f in step.findings if f.status is Status.ERROR]
    _, wrong = reliability.record_requests("a NIC listing failing with 500", step.requests, wrong=bool)
    reliability.record(
        "fault",
        fault="server_error (500, every retry)",
        where="ARM NIC listing",
        injected=sum(r.fault == "server_error" for r in step.requests),
        outcome="COLLECT ERROR, deletion blocked" if errors else "not detected",
        survived=bool(errors) and not wrong,
    )
    assert {f.rule for f in errors} == {"COLLECT", "SAFETY"}
    assert any("InternalServerError" in (f.evidence.get("problems") or "") for f in errors)
    assert step.mutations() == []
    assert fresh.sandbox.azure_token not in repr(step.findings)


def test_a_subscription_outside_the_allowlist_gets_one_safety_finding_and_no_promise(fresh: Reaper) -> None:
    _due(fresh, "disk-legacy-export-01")
    step = fresh.run("allowlist", RunMode.ENFORCE, apply=True, config=fresh.enforce(allowed_subscriptions=[PROD]))
    assert step.mutations() == []
    safety = [f for f in step.findings if f.rule == "SAFETY"]
    assert [(f.subject.scope, f.status) for f in safety] == [(f"/subscriptions/{SUB}", Status.ERROR)]
    assert "is not in enforce.allowed_subscriptions" in safety[0].message
    finding = step.finding("disk-legacy-export-01")
    assert (
        finding.status is Status.FAIL and "not acted on" in finding.message and "enforce deletes" not in finding.message
    )
    audit = fresh.run("allowlist-audit", config=fresh.enforce(allowed_subscriptions=[PROD]))
    forecast = audit.finding("disk-legacy-export-01")
    assert "enforce" not in forecast.message.split("; not acted on")[0].split(";")[-1]
    assert [f.status for f in audit.findings if f.rule == "SAFETY"] == [Status.WARN]  # an audit only forecasts


def test_a_failed_c7n_run_is_an_error_and_the_other_subscription_proceeds(fresh: Reaper) -> None:
    unknown = "33333333-3333-4333-8333-333333333333"
    config = fresh.with_config(azure=fresh.config.azure.model_copy(update={"subscriptions": [SUB, unknown]}))
    step = fresh.run("failed", config=config)
    errors = [f for f in step.findings if f.status is Status.ERROR]
    assert [(f.rule, f.subject.scope) for f in errors] == [("COLLECT", f"/subscriptions/{unknown}")]
    assert "SubscriptionNotFound" in errors[0].message
    assert any(f.subject.provider_name == "vm-v001-qa-build" for f in step.findings)


def test_an_incomplete_timeline_blocks_release_tagged_resources_while_untagged_orphans_proceed(fresh: Reaper) -> None:
    _due(fresh, "disk-legacy-export-01")
    _due(fresh, "disk-v001-qa-cache", rule="L4")
    assert fresh.sandbox.github_server is not None
    deployments = r"/repos/acme/product/deployments|/graphql$"  # read over REST or GraphQL
    fresh.sandbox.github_server.set_faults(FaultPlan(server_error=1.0, path_regex=deployments))
    step = fresh.run("timeline", RunMode.ENFORCE, apply=True)
    assert any(f.rule == "COLLECT" and f.subject.scope == "timeline" for f in step.findings)
    assert [r.outcome for r in step.records_for("disk-legacy-export-01")] == [ActionOutcome.DONE]
    assert not fresh.exists("disk-legacy-export-01")
    assert fresh.exists("disk-v001-qa-cache")
    deleted = {r.path.rsplit("/", 1)[-1] for r in step.mutations() if r.method == "DELETE"}
    assert deleted == {"disk-legacy-export-01"}
    tagged = [r for r in step.records if r.action.subject.version is not None]
    assert all(r.outcome is ActionOutcome.SKIPPED and "release timeline" in r.detail for r in tagged)


def test_a_delete_that_does_not_complete_is_unconfirmed(fresh: Reaper) -> None:
    from dataclasses import replace

    from tests.reaper.support import TUNING

    _due(fresh, "pip-orphan-01", rule="O3")
    assert fresh.sandbox.arm is not None
    fresh.sandbox.arm.lro_polls_in_progress = 10_000  # the operation never finishes while we watch
    fresh.sandbox.arm.operations.auto_complete_s = None
    step = fresh.run("unconfirmed", RunMode.ENFORCE, apply=True, tuning=replace(TUNING, confirm_timeout_s=3.0))
    (record,) = step.records_for("pip-orphan-01")
    assert (record.action.kind, record.outcome) == (ActionKind.DELETE_RESOURCE, ActionOutcome.UNCONFIRMED)
    assert "still in progress" in record.detail
    assert [r for r in step.requests if "/operations/" in r.path or "/operationResults/" in r.path.lower()]
    # the rerun finds it still deleting: it watches the operation, it never deletes twice
    fresh.sandbox.arm.operations.auto_complete_s = 0.0
    again = fresh.run("again", RunMode.ENFORCE, apply=True)
    assert [r for r in again.mutations() if r.method == "DELETE" and "pip-orphan-01" in r.path] == []
    assert not fresh.exists("pip-orphan-01")


def test_a_run_wide_cap_aborts_every_part_before_its_first_action(fresh: Reaper) -> None:
    _due(fresh, "disk-legacy-export-01", "nic-orphan-01")
    step = fresh.run("cap", RunMode.ENFORCE, apply=True, config=fresh.enforce(max_actions_per_run=25), parts=BOTH)
    accounts = [
        r for r in step.records if r.action.target_kind in (ResourceKind.GITHUB_ACCOUNT, ResourceKind.ACR_TOKEN)
    ]
    resources = [r for r in step.records if r.action.target_kind.is_arm]
    assert 0 < len(accounts) < 25 and 0 < len(resources) < 25  # each part alone fits the cap; together they do not
    assert {r.outcome for r in step.records} == {ActionOutcome.SKIPPED}
    assert step.mutations() == []
    (safety,) = [f for f in step.findings if f.rule == "SAFETY"]
    assert safety.status is Status.ERROR and "exceed enforce.max_actions_per_run=25" in safety.message


def test_intents_a_crashed_run_left_open_are_settled_by_re_reading(fresh: Reaper) -> None:
    gone = rid("disk", "disk-deleted-by-a-crashed-run", "rg-platform-shared")
    crashed = EngineAction(
        ActionKind.DELETE_RESOURCE,
        Subject("azure", "disk", "disk-deleted-by-a-crashed-run", resource_id=gone, scope=f"/subscriptions/{SUB}"),
        "O1",
        "deletion was due",
        Scope.subscription(SUB),
        ResourceKind.DISK,
        gone.lower(),
    )
    still = fresh.find("nsg-orphan-01")
    marked = EngineAction(
        ActionKind.MARK,
        Subject(
            "azure", "networkSecurityGroup", "nsg-orphan-01", resource_id=still["id"], scope=f"/subscriptions/{SUB}"
        ),
        "O4",
        "mark",
        Scope.subscription(SUB),
        ResourceKind.NETWORK_SECURITY_GROUP,
        str(still["id"]).lower(),
        params=(("mark_tag", "custodian-reap"), ("due", "2099-01-01T00:00:00Z O4")),
    )
    started = fresh.now - timedelta(hours=2)
    fresh.ledger.start_run(RunInfo("run-crashed", started, None, RunMode.ENFORCE, True, "", "test"))
    fresh.ledger.journal_intent("run-crashed", crashed, started, {})
    fresh.ledger.journal_intent("run-crashed", marked, started, {})
    step = fresh.run("resume", RunMode.ENFORCE, apply=True, config=fresh.enforce(max_actions_per_run=1))
    settled = {r.action.subject.provider_name: r for r in step.records if "crashed run" in r.detail}
    assert settled["disk-deleted-by-a-crashed-run"].outcome is ActionOutcome.DONE
    assert settled["nsg-orphan-01"].outcome is ActionOutcome.UNCONFIRMED  # the mark never reached ARM
    assert fresh.ledger.pending_intents() == []
    assert step.mutations() == []  # the cap aborted this run's own plan; the settling only read


def test_policies_that_fail_their_checks_are_an_error_and_nothing_runs(fresh: Reaper, tmp_path: Path) -> None:
    broken = tmp_path / "policies"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policies", broken)
    path = broken / "o3-unassociated-public-ips.yml"
    path.write_text(path.read_text(encoding="utf-8") + "    actions: [delete]\n", encoding="utf-8")
    step = fresh.run("broken", RunMode.ENFORCE, apply=True, config=fresh.reaper_config(policies_dir=broken))
    errors = [f for f in step.findings if f.rule == "COLLECT"]
    assert len(errors) == 2 and all("policies only select" in f.message for f in errors)
    assert [r for r in step.requests if r.path.startswith("/subscriptions/")] == []  # c7n never ran
    assert step.records == []
