"""The ARM reaper (L4, O1-O5) against the ARM emulator seeded with the `seed` story.

Everything runs the real way: `reap_arm` renders `policies/`, runs `custodian run` in subprocesses
(the launcher, over HTTPS, paging with a page size of 3) and re-reads with the azure-mgmt SDKs.

The story (one emulator for the module, run once by the `story` fixture, each test asserting one
property of it): audit, enforce dry run and enforce --apply at t0 (marks), then enforce dry run and
enforce --apply at t0 + 25h (past the 24h grace: deletes), then a final audit. Held resources of
every type are added to the seed: a held VM (its hold tag written `Custodian-Hold`, another letter
case), disk, NIC, public IP and NSG, all v0.0.1 qa leftovers, plus an unheld leftover NIC attached
to the held VM. Failure modes each get a fresh emulator.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.ledger.store import JournalEntry
from custodian.model import Action, ActionKind, ActionOutcome, ActionRecord, Status, Subject
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.tls import SandboxTLS
from tests.reaper.arm_support import (
    GRACE,
    PROD,
    SUB,
    TOKEN,
    Arm,
    FakeJournal,
    Step,
    make_config,
    mark_value,
    rid,
    start_seeded,
)

pytestmark = pytest.mark.slow

HELD = {  # kind -> (name, hold tag key as written)
    "virtualMachine": ("vm-v001-qa-held", "Custodian-Hold"),
    "disk": ("disk-v001-qa-held", "custodian-hold"),
    "networkInterface": ("nic-v001-qa-held", "custodian-hold"),
    "publicIPAddress": ("pip-v001-qa-held", "custodian-hold"),
    "networkSecurityGroup": ("nsg-v001-qa-held", "CUSTODIAN-HOLD"),
}
NIC_OF_HELD_VM = "nic-v001-qa-heldvm"
L4_TAGS = {"release-version": "v0.0.1", "release-stage": "qa"}

# What each report policy must list in the non-production subscription (held ones included: they
# are reported HELD), and nothing else. The production subscription: nothing at all.
EXPECTED = {
    "l4-vm": {"vm-v001-qa-build", "vm-v001-uat-app", "vm-v001-qa-held"},
    "l4-disk": {
        "disk-v001-qa-cache",
        "vm-v001-qa-build-osdisk",
        "vm-v001-qa-build-data0",
        "vm-v001-uat-app-osdisk",
        "vm-v001-uat-app-data0",
        "vm-v001-uat-app-data1",
        "disk-v001-qa-held",
    },
    "l4-nic": {"nic-v001-qa-build", "nic-v001-uat-app", "nic-v001-uat-app-mgmt", "nic-v001-qa-held", NIC_OF_HELD_VM},
    "l4-pip": {"pip-v001-qa-build", "pip-v001-uat-app", "pip-v001-uat-lb", "pip-v001-qa-held"},
    "l4-nsg": {"nsg-v001-qa", "nsg-v001-uat", "nsg-v001-qa-held"},
    "o1-disk": {"disk-legacy-export-01", "disk-forensics-evidence-01"},
    "o2-nic": {"nic-orphan-01", "nic-v001-qa-held"},
    "o3-pip": {"pip-orphan-01", "pip-v001-uat-lb", "pip-v001-qa-held"},
    "o4-nsg": {"nsg-orphan-01", "nsg-v001-qa-held"},
    "o5-vm": {"vm-legacy-stopped"},
}
# Look-alikes that must never be a finding, marked or deleted.
EXCLUDED = {
    "asrseeddisk-vmlegacy01-osdisk-5c1e2a0f",  # ASR replica disk
    "pvc-3f2b9c1e-7d4a-4e8b-9a61-2c5d8e7f1a90",  # AKS PVC disk
    "disk-export-in-progress",  # ActiveSAS
    "pe-stplatform-blob.nic.7a1c4e2b-91d0-4c55-8f3e-0b6d2a9c7e11",  # private endpoint NIC
    "nic-sqlmi-hosted",  # hostedWorkloads NIC
    "pip-natgw-egress",  # NAT gateway public IP
    "nsg-platform-apps",  # NSG on a subnet
    "nic-legacy-stopped",  # attached to a (stopped) VM
    "vm-legacy-stopped-osdisk",  # attached to a (stopped) VM
}
HELD_NAMES = {name for name, _ in HELD.values()} | {"disk-forensics-evidence-01"}
REAPED = set().union(*(v for k, v in EXPECTED.items() if k != "o5-vm")) - HELD_NAMES - {NIC_OF_HELD_VM}
TIER = {"virtualMachine": 0, "networkInterface": 1, "publicIPAddress": 2, "networkSecurityGroup": 2, "disk": 3}
TYPE_KIND = {
    "virtualmachines": "virtualMachine",
    "disks": "disk",
    "networkinterfaces": "networkInterface",
    "publicipaddresses": "publicIPAddress",
    "networksecuritygroups": "networkSecurityGroup",
}


def _add_held_resources(arm: Arm) -> None:
    store = arm.emulator.store
    vm_name, vm_key = HELD["virtualMachine"]
    nic_of_vm = rid("networkInterface", NIC_OF_HELD_VM)
    store.put({"id": nic_of_vm, "tags": dict(L4_TAGS), "properties": {"ipConfigurations": []}})
    store.put(
        {
            "id": rid("virtualMachine", vm_name),
            "tags": {**L4_TAGS, vm_key: "QA-2231 keep for the load-test audit"},
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "storageProfile": {"osDisk": {"name": f"{vm_name}-os", "createOption": "FromImage"}},
                "networkProfile": {"networkInterfaces": [{"id": nic_of_vm, "properties": {"deleteOption": "Detach"}}]},
            },
        }
    )
    name, key = HELD["disk"]
    store.put(
        {
            "id": rid("disk", name),
            "tags": {**L4_TAGS, key: "INC-5120"},
            "sku": {"name": "Standard_LRS"},
            "properties": {"diskSizeGB": 64, "diskState": "Unattached"},
        }
    )
    name, key = HELD["networkInterface"]
    store.put({"id": rid("networkInterface", name), "tags": {**L4_TAGS, key: "INC-5120"}, "properties": {}})
    name, key = HELD["publicIPAddress"]
    store.put(
        {
            "id": rid("publicIPAddress", name),
            "tags": {**L4_TAGS, key: "allow-listed by a partner"},
            "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static"},
        }
    )
    name, key = HELD["networkSecurityGroup"]
    store.put({"id": rid("networkSecurityGroup", name), "tags": {**L4_TAGS, key: "INC-5120"}, "properties": {}})


@dataclass
class Story:
    arm: Arm
    audit: Step
    dry_mark: Step
    mark: Step
    dry_delete: Step
    delete: Step
    after: Step
    ids_before: dict[str, str]  # name -> id of every resource before the story
    tags_after_mark: dict[str, dict[str, str]]  # name -> tags right after the marking run

    @property
    def steps(self) -> list[Step]:
        return [self.audit, self.dry_mark, self.mark, self.dry_delete, self.delete, self.after]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return SandboxTLS(tmp_path_factory.mktemp("arm-reaper-tls"))


@pytest.fixture(scope="module")
def story(tls: SandboxTLS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    arm = start_seeded(tls, tmp_path_factory.mktemp("arm-reaper-story"))
    try:
        _add_held_resources(arm)
        ids_before = {str(d["name"]): str(d["id"]) for d in arm.emulator.store.list()}
        config = make_config(arm.server.url)
        t0 = arm.t0
        t1 = t0 + GRACE + timedelta(hours=1)
        audit = arm.reap(config, "audit", now=t0)
        dry_mark = arm.reap(config, "dry-mark", now=t0, enforce=True)
        mark = arm.reap(config, "mark", now=t0, enforce=True, apply=True)
        tags_after_mark = {str(d["name"]): dict(d.get("tags") or {}) for d in arm.emulator.store.list()}
        dry_delete = arm.reap(config, "dry-delete", now=t1, enforce=True)
        delete = arm.reap(config, "delete", now=t1, enforce=True, apply=True)
        after = arm.reap(config, "after", now=t1)
        yield Story(arm, audit, dry_mark, mark, dry_delete, delete, after, ids_before, tags_after_mark)
    finally:
        arm.server.stop()


def _listed(step: Step, subscription: str, policy: str) -> set[str]:
    path = step.work_dir / "arm" / subscription / "inventory" / policy / "resources.json"
    return {str(r["name"]) for r in json.loads(path.read_text(encoding="utf-8"))}


def _kind_of(path: str) -> str | None:
    parts = path.lower().split("/")
    return TYPE_KIND.get(parts[-2]) if len(parts) > 2 and "/providers/" in path.lower() else None


def _names(records: list[ActionRecord], kind: ActionKind, outcome: ActionOutcome, resource_kind: str) -> set[str]:
    return {
        r.action.subject.provider_name
        for r in records
        if r.action.kind is kind and r.outcome is outcome and r.action.subject.kind == resource_kind
    }


# -- what the policies find ---------------------------------------------------------------------------
@pytest.mark.parametrize("policy", sorted(EXPECTED))
def test_each_policy_finds_exactly_the_seed_candidates(story: Story, policy: str) -> None:
    assert _listed(story.audit, SUB, policy) == EXPECTED[policy]
    assert _listed(story.audit, PROD, policy) == set()  # production: nothing is a leftover or an orphan


def test_findings_one_per_resource_held_ones_held_nothing_excluded(story: Story) -> None:
    findings = story.audit.findings
    names = [f.subject.provider_name for f in findings]
    assert len(names) == len(set(names))  # deduplicated across rules
    assert set(names) == set().union(*EXPECTED.values())
    assert not set(names) & EXCLUDED
    assert all(f.subject.version not in ("v0.0.2", "v0.0.3") for f in findings)
    assert all(f.subject.scope == f"/subscriptions/{SUB}" for f in findings)
    held = {f.subject.provider_name for f in findings if f.status is Status.HELD}
    assert held == HELD_NAMES
    assert {f.status for f in findings} == {Status.FAIL, Status.HELD, Status.WARN}  # WARN: O5 only
    lb = story.audit.finding("pip-v001-uat-lb")
    assert lb.rule == "L4" and lb.evidence["also_matches"] == "O3"
    vm = story.audit.finding("vm-v001-qa-build")
    assert (vm.subject.kind, vm.subject.version, vm.subject.stage) == ("virtualMachine", "v0.0.1", "qa")
    assert vm.subject.resource_id == story.ids_before["vm-v001-qa-build"]
    assert vm.cost is not None and vm.cost.monthly > 0 and "Standard_D2s_v5" in vm.cost.basis
    deallocated = story.audit.finding("vm-v001-uat-app")
    assert deallocated.cost is not None and deallocated.cost.monthly == 0  # deallocated: no compute charge
    assert "not marked: enforce marks it for deletion at" in vm.message
    for name in ("disk-v001-qa-cache", "pip-orphan-01", "disk-legacy-export-01"):
        assert story.audit.finding(name).cost is not None
    assert TOKEN not in repr(findings)


def test_o5_reports_a_stopped_vm_that_still_bills_and_never_acts(story: Story) -> None:
    finding = story.audit.finding("vm-legacy-stopped")
    assert (finding.rule, finding.status) == ("O5", Status.WARN)  # report only: advice, not a failing finding
    assert "stopped but not deallocated for 20d" in finding.message
    assert "compute is still billed" in finding.message and "Report only" in finding.message
    assert finding.evidence["power_state"] == "stopped"
    assert finding.cost is not None and finding.cost.monthly > 0
    assert not any(r.action.subject.provider_name == "vm-legacy-stopped" for s in story.steps for r in s.records)
    assert story.arm.exists(story.ids_before["vm-legacy-stopped"])


def test_orphan_findings_say_why(story: Story) -> None:
    assert "attached to nothing for 90d (limit 30d; O1 orphan)" in story.audit.finding("disk-legacy-export-01").message
    assert "attached to no VM" in story.audit.finding("nic-orphan-01").message
    assert "associated with nothing" in story.audit.finding("pip-orphan-01").message
    assert "used by no NIC and no subnet" in story.audit.finding("nsg-orphan-01").message


# -- read-only runs -------------------------------------------------------------------------------------
def test_audit_and_dry_runs_are_read_only_on_the_wire(story: Story) -> None:
    for step in (story.audit, story.dry_mark, story.dry_delete, story.after):
        assert step.requests and step.mutations() == [], step.name
    assert story.audit.records == [] and story.after.records == []
    assert {r.outcome for r in story.dry_mark.records} == {ActionOutcome.PLANNED}
    assert story.dry_mark.journal.entries == []  # a dry run journals nothing


def test_the_token_is_in_nothing_the_runs_keep(story: Story) -> None:
    for step in story.steps:
        assert TOKEN not in repr(step.findings) + repr(step.records) + repr(step.journal.entries)
        for path in step.work_dir.rglob("*"):
            if path.is_file():
                assert TOKEN not in path.read_text(encoding="utf-8", errors="replace"), path


def test_the_run_keeps_what_c7n_ran(story: Story) -> None:
    arm_dir = story.delete.work_dir / "arm"
    inputs = json.loads((arm_dir / "reaper-inputs.json").read_text(encoding="utf-8"))
    assert inputs["completed_versions"] == ["v0.0.0", "v0.0.1"] and inputs["leftover_stages"] == ["qa", "uat"]
    rendered = (arm_dir / "policies" / "l4-leftover-vms.yml").read_text(encoding="utf-8")
    assert "hours: 24" in rendered and "${" not in rendered
    for name in ("inventory.yml", "delete-1-virtualMachine.yml", "delete-4-disk.plan.json"):
        assert (arm_dir / SUB / name).is_file(), name
    assert not (arm_dir / PROD / "delete-1-virtualMachine.yml").exists()  # nothing to do there


# -- two phases ------------------------------------------------------------------------------------------
def test_first_apply_only_marks_with_the_configured_grace(story: Story) -> None:
    mutations = story.mark.mutations()
    assert mutations and {r.method for r in mutations} == {"PATCH"}
    assert all(r.path.endswith("/providers/Microsoft.Resources/tags/default") for r in mutations)
    marks = [r for r in story.mark.records if r.action.kind is ActionKind.MARK]
    assert marks and all(r.outcome is ActionOutcome.DONE for r in marks)
    due = (story.mark.now + GRACE).replace(second=0, microsecond=0)
    for record in marks:
        mark = story.tags_after_mark[record.action.subject.provider_name]["custodian-reap"]
        assert mark.endswith(f": delete@{due:%Y/%m/%d %H%M} UTC")
        assert mark.startswith(f"release-custodian {record.action.rule} ")
        assert record.detail == f"marked: deletion due at {due:%Y-%m-%dT%H:%M:%SZ}"
    assert not [r for r in story.mark.records if r.action.kind is ActionKind.DELETE_RESOURCE]
    # once marked, the findings say when the deletion is due
    assert "marked: deletion due at" in story.dry_delete.finding("disk-legacy-export-01").message


def test_past_the_grace_deletes_in_dependency_order_and_confirms(story: Story) -> None:
    deletes = story.delete.mutations()
    assert deletes and {r.method for r in deletes} == {"DELETE"}
    tiers = [TIER[k] for k in (_kind_of(r.path) for r in deletes) if k is not None]
    assert tiers == sorted(tiers), [r.path.rsplit("/", 1)[-1] for r in deletes]  # VMs, NICs, PIPs+NSGs, disks
    records = [r for r in story.delete.records if r.action.kind is ActionKind.DELETE_RESOURCE]
    done = {r.action.subject.provider_name for r in records if r.outcome is ActionOutcome.DONE}
    assert done == REAPED
    assert all(r.detail.startswith("deleted") for r in records if r.outcome is ActionOutcome.DONE)
    for name in REAPED:
        assert not story.arm.exists(story.ids_before[name]), name
    # disks and NICs with deleteOption Delete went with their VM: confirmed gone, no DELETE of their own
    cascaded = {
        r.action.subject.provider_name for r in records if r.detail == "deleted (already gone when the delete ran)"
    }
    assert cascaded == {"nic-v001-uat-app", "vm-v001-qa-build-osdisk", "vm-v001-uat-app-data0"}
    assert not any(r.path.endswith(tuple(f"/{n}" for n in cascaded)) for r in deletes)


def test_a_nic_of_a_held_vm_is_kept_not_failed(story: Story) -> None:
    assert story.delete.records_for(NIC_OF_HELD_VM) == []  # not an action of the run: nothing to delete yet
    assert story.dry_delete.records_for(NIC_OF_HELD_VM) == []
    finding = story.dry_delete.finding(NIC_OF_HELD_VM)
    assert finding.status is Status.FAIL
    assert "(passed), but kept for now: attached to VM vm-v001-qa-held, which is not being deleted" in finding.message
    assert finding.evidence["blocked_by"] == "attached to VM vm-v001-qa-held, which is not being deleted"
    assert story.arm.exists(story.ids_before[NIC_OF_HELD_VM])
    outcomes = {r.outcome for s in story.steps for r in s.records}
    assert outcomes <= {ActionOutcome.PLANNED, ActionOutcome.DONE}  # nothing failed, skipped or unconfirmed


def test_every_action_is_journaled_before_it_reaches_the_wire(story: Story) -> None:
    for step in (story.mark, story.delete):
        intents: dict[str, float] = {}
        for at, what, action, _ in step.journal.entries:
            if what == "intent":
                intents.setdefault(action.subject.resource_id or "", at)
        for request in step.mutations():
            resource = request.path.removesuffix("/providers/Microsoft.Resources/tags/default")
            assert resource in intents, request.path
            assert intents[resource] < request.at
        outcomes = {a.subject.resource_id for _, what, a, _ in step.journal.entries if what != "intent"}
        assert set(intents) <= outcomes  # every intent has its outcome


def test_after_the_story_only_the_kept_remain(story: Story) -> None:
    statuses = {f.subject.provider_name: f.status for f in story.after.findings}
    assert statuses == {
        **dict.fromkeys(HELD_NAMES, Status.HELD),
        "vm-legacy-stopped": Status.WARN,
        NIC_OF_HELD_VM: Status.FAIL,
    }
    for name in EXCLUDED | {"disk-v002-qa-cache", "vm-v002-uat-app", "vm-v001-prod-app", "nsg-v003-qa"}:
        assert story.arm.exists(story.ids_before[name]), name


# -- holds, per resource type -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(HELD))
def test_a_held_resource_survives_mark_and_delete(story: Story, kind: str) -> None:
    name, key = HELD[kind]
    resource_id = story.ids_before[name]
    for step in story.steps:
        assert step.finding(name).status is Status.HELD, step.name
        assert step.records_for(name) == [], step.name
        assert not [r for r in step.mutations() if f"{r.path}/".startswith(f"{resource_id}/")], step.name
    doc = story.arm.emulator.store.get(resource_id)
    assert doc is not None and "custodian-reap" not in doc["tags"] and key in doc["tags"]


# -- dry run == apply, per resource type -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(HELD))
def test_dry_run_set_equals_apply_set(story: Story, kind: str) -> None:
    planned_marks = _names(story.dry_mark.records, ActionKind.MARK, ActionOutcome.PLANNED, kind)
    done_marks = _names(story.mark.records, ActionKind.MARK, ActionOutcome.DONE, kind)
    patched = {
        r.path.split("/providers/Microsoft.Resources/")[0].rsplit("/", 1)[-1]
        for r in story.mark.mutations()
        if _kind_of(r.path.split("/providers/Microsoft.Resources/")[0]) == kind
    }
    assert planned_marks and planned_marks == done_marks == patched
    planned_deletes = _names(story.dry_delete.records, ActionKind.DELETE_RESOURCE, ActionOutcome.PLANNED, kind)
    done_deletes = _names(story.delete.records, ActionKind.DELETE_RESOURCE, ActionOutcome.DONE, kind)
    deleted_on_wire = {r.path.rsplit("/", 1)[-1] for r in story.delete.mutations() if _kind_of(r.path) == kind}
    assert planned_deletes and planned_deletes == done_deletes
    assert deleted_on_wire <= planned_deletes
    skipped = {
        (r.action.kind, r.action.subject.provider_name, r.outcome)
        for r in story.dry_delete.records
        if r.action.subject.kind == kind and r.outcome is ActionOutcome.SKIPPED
    }
    applied_skips = {
        (r.action.kind, r.action.subject.provider_name, r.outcome)
        for r in story.delete.records
        if r.action.subject.kind == kind and r.outcome is ActionOutcome.SKIPPED
    }
    assert skipped == applied_skips


# -- failure modes (a fresh emulator each) ------------------------------------------------------------------------
@pytest.fixture
def fresh(tls: SandboxTLS, tmp_path: Path) -> Iterator[Arm]:
    arm = start_seeded(tls, tmp_path)
    try:
        yield arm
    finally:
        arm.server.stop()


def _mark_due(arm: Arm, *names: str, rule: str = "O1") -> None:
    for name in names:
        arm.set_tags(name, **{"custodian-reap": mark_value(rule, arm.t0 - timedelta(hours=1))})


def test_a_page_cut_short_blocks_deletion_in_its_subscription(fresh: Arm) -> None:
    _mark_due(fresh, "disk-legacy-export-01", "nic-orphan-01")
    fresh.server.set_faults(FaultPlan(truncate=1.0, path_regex=r"Microsoft\.Compute/disks$", methods=("GET",)))
    step = fresh.reap(
        make_config(fresh.server.url, subscriptions=[SUB]), "truncated", now=fresh.t0, enforce=True, apply=True
    )

    assert any(r.fault == "truncate" for r in step.requests)
    errors = [f for f in step.findings if f.status is Status.ERROR]
    assert len(errors) == 1 and errors[0].rule == "COLLECT"
    assert "disk listings disagree (partial inventory)" in errors[0].message
    assert errors[0].subject.scope == f"/subscriptions/{SUB}"
    assert step.mutations() == []  # not even the NIC, whose listing was complete: the scope is blocked
    assert step.records and all(r.outcome is ActionOutcome.SKIPPED for r in step.records)
    assert all("inventory of this subscription is incomplete" in r.detail for r in step.records)
    assert fresh.exists(fresh.find("disk-legacy-export-01")["id"])


def test_a_500_that_outlasts_the_retries_blocks_deletion(fresh: Arm) -> None:
    _mark_due(fresh, "disk-legacy-export-01")
    fresh.server.set_faults(
        FaultPlan(server_error=1.0, path_regex=r"Microsoft\.Network/networkInterfaces$", methods=("GET",))
    )
    config = make_config(fresh.server.url, subscriptions=[SUB])
    step = fresh.reap(config, "500", now=fresh.t0, enforce=True, apply=True, c7n_retry_total=1, c7n_retry_backoff_s=0.1)

    errors = [f for f in step.findings if f.status is Status.ERROR]
    assert [f.rule for f in errors] == ["COLLECT"]
    assert "InternalServerError" in errors[0].evidence["problems"]
    assert step.mutations() == []
    assert all(r.outcome is ActionOutcome.SKIPPED for r in step.records)
    assert TOKEN not in repr(step.findings)


def test_a_subscription_outside_the_allowlist_is_reported_never_acted_on(fresh: Arm) -> None:
    _mark_due(fresh, "disk-legacy-export-01")
    config = make_config(fresh.server.url, subscriptions=[SUB], allowed=[PROD])
    step = fresh.reap(config, "allowlist", now=fresh.t0, enforce=True, apply=True)

    assert step.mutations() == []
    assert step.records and all(r.outcome is ActionOutcome.SKIPPED for r in step.records)
    assert {r.detail for r in step.records} == {"blocked: the subscription is not in enforce.allowed_subscriptions"}
    assert step.finding("disk-legacy-export-01").status is Status.FAIL


def test_a_failed_policy_run_is_an_error_and_other_subscriptions_proceed(fresh: Arm) -> None:
    unknown = "33333333-3333-4333-8333-333333333333"
    step = fresh.reap(make_config(fresh.server.url, subscriptions=[SUB, unknown]), "failed", now=fresh.t0)

    errors = [f for f in step.findings if f.status is Status.ERROR]
    assert [(f.rule, f.subject.provider_name) for f in errors] == [("COLLECT", unknown)]
    assert "SubscriptionNotFound" in errors[0].message and "policies with errors" in errors[0].message
    assert any(f.subject.provider_name == "vm-v001-qa-build" for f in step.findings)  # the other one was judged


def test_an_incomplete_timeline_blocks_l4_while_orphans_proceed(fresh: Arm) -> None:
    _mark_due(fresh, "disk-legacy-export-01")
    _mark_due(fresh, "disk-v001-qa-cache", rule="L4")
    config = make_config(fresh.server.url, subscriptions=[SUB])
    step = fresh.reap(config, "timeline", now=fresh.t0, enforce=True, apply=True, timeline_complete=False)

    timeline_errors = [f for f in step.findings if f.status is Status.ERROR]
    assert [(f.rule, f.subject.kind) for f in timeline_errors] == [("L4", "timeline")]
    l4 = [r for r in step.records if r.action.rule == "L4"]
    assert l4 and all(r.outcome is ActionOutcome.SKIPPED and "timeline is incomplete" in r.detail for r in l4)
    orphan = step.records_for("disk-legacy-export-01")
    assert [(r.action.kind, r.outcome, r.detail) for r in orphan] == [
        (ActionKind.DELETE_RESOURCE, ActionOutcome.DONE, "deleted")
    ]
    assert {r.outcome for r in step.records if r.action.kind is ActionKind.MARK and r.action.rule != "L4"} == {
        ActionOutcome.DONE
    }
    assert fresh.exists(fresh.find("disk-v001-qa-cache")["id"])
    deleted = {r.path.rsplit("/", 1)[-1] for r in step.mutations() if r.method == "DELETE"}
    assert deleted == {"disk-legacy-export-01"}


def test_a_delete_that_does_not_complete_is_unconfirmed(fresh: Arm) -> None:
    _mark_due(fresh, "pip-orphan-01", rule="O3")
    fresh.emulator.lro_polls_in_progress = 10_000  # the operation never finishes while we watch
    fresh.emulator.operations.auto_complete_s = None
    config = make_config(fresh.server.url, subscriptions=[SUB])
    step = fresh.reap(config, "unconfirmed", now=fresh.t0, enforce=True, apply=True, confirm_timeout_s=2.0)

    records = step.records_for("pip-orphan-01")
    assert [(r.action.kind, r.outcome) for r in records] == [(ActionKind.DELETE_RESOURCE, ActionOutcome.UNCONFIRMED)]
    assert records[0].detail.startswith("delete requested, unconfirmed: its operation is still in progress")
    polls = [r for r in step.requests if "/operations/" in r.path]
    assert polls  # the reaper polled the operation c7n started (recorded by the launcher)
    assert fresh.exists(fresh.find("pip-orphan-01")["id"])


def test_the_cap_aborts_before_the_first_action_and_crashed_intents_are_settled(fresh: Arm) -> None:
    gone = rid("disk", "disk-deleted-by-a-crashed-run", "rg-platform-shared")
    crashed = Action(
        ActionKind.DELETE_RESOURCE,
        Subject("azure", "disk", "disk-deleted-by-a-crashed-run", resource_id=gone, scope=f"/subscriptions/{SUB}"),
        "O1",
        "deletion was due",
    )
    journal = FakeJournal(
        pending=[JournalEntry(7, "run-crashed", ActionRecord(crashed, ActionOutcome.INTENT, fresh.t0))]
    )
    config = make_config(fresh.server.url, subscriptions=[SUB], max_actions_per_run=3)
    step = fresh.reap(config, "cap", now=fresh.t0, enforce=True, apply=True, journal=journal)

    safety = [f for f in step.findings if f.rule == "SAFETY"]
    assert len(safety) == 1 and "exceed enforce.max_actions_per_run=3" in safety[0].message
    assert step.mutations() == []
    settled = step.records_for("disk-deleted-by-a-crashed-run")
    assert [(r.outcome, r.detail) for r in settled] == [
        (ActionOutcome.DONE, "taken by crashed run run-crashed; confirmed by re-read")
    ]
    assert all(r.outcome is ActionOutcome.SKIPPED for r in step.records if r not in settled)


def test_policies_that_fail_their_checks_are_an_error_and_nothing_runs(fresh: Arm, tmp_path: Path) -> None:
    broken = tmp_path / "policies"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policies", broken)
    path = broken / "o3-unassociated-public-ips.yml"
    path.write_text(path.read_text(encoding="utf-8").replace('        hours: "${mark_grace_hours}"\n', ""))
    config = make_config(fresh.server.url, subscriptions=[SUB], policies_dir=broken)
    step = fresh.reap(config, "broken", now=fresh.t0, enforce=True, apply=True)

    assert [(f.rule, f.status) for f in step.findings] == [("REAPER", Status.ERROR)]
    assert "o3-pip-mark: mark-for-op must say hours" in step.findings[0].message
    assert step.requests == [] and step.records == []
