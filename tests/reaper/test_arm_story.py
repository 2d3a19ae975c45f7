"""The reaper's Azure-resource part (L4, O1-O5) through the real path, against the seed sandbox.

One sandbox for the module; the `story` fixture runs it once and each test asserts one property:
audit, enforce (dry run) and enforce --apply (marks) now; then, past the 24h mark grace, enforce
(dry run) and enforce --apply (deletes); then a final audit. Held resources of every kind are added
to the seed (v0.0.1 qa leftovers, their hold tag written in several letter cases), plus an unheld
leftover NIC attached to the held VM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from custodian.model import ActionKind, ActionOutcome, RunMode, Status
from custodian.rules.reaping import parse_mark
from tests.reaper.support import GRACE, PROD, SUB, Reaper, Step, reaper_sandbox, rid

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
L4 = {  # every v0.0.1 qa/uat resource of the non-production subscription (held ones included)
    "vm-v001-qa-build",
    "vm-v001-uat-app",
    "disk-v001-qa-cache",
    "vm-v001-qa-build-osdisk",
    "vm-v001-qa-build-data0",
    "vm-v001-uat-app-osdisk",
    "vm-v001-uat-app-data0",
    "vm-v001-uat-app-data1",
    "nic-v001-qa-build",
    "nic-v001-uat-app",
    "nic-v001-uat-app-mgmt",
    "pip-v001-qa-build",
    "pip-v001-uat-app",
    "pip-v001-uat-lb",
    "nsg-v001-qa",
    "nsg-v001-uat",
    NIC_OF_HELD_VM,
    *(name for name, _ in HELD.values()),
}
SELECTED = {  # what each c7n select policy lists in the non-production subscription
    "o1-disk": {"disk-legacy-export-01", "disk-forensics-evidence-01"},
    "o2-nic": {"nic-orphan-01", "nic-v001-qa-held"},
    "o3-pip": {"pip-orphan-01", "pip-v001-uat-lb", "pip-v001-qa-held"},
    "o4-nsg": {"nsg-orphan-01", "nsg-v001-qa-held"},
    "o5-vm": {"vm-legacy-stopped"},
}
EXCLUDED = {  # look-alikes that are never a finding, never marked or deleted
    "asrseeddisk-vmlegacy01-osdisk-5c1e2a0f",
    "pvc-3f2b9c1e-7d4a-4e8b-9a61-2c5d8e7f1a90",
    "disk-export-in-progress",
    "pe-stplatform-blob.nic.7a1c4e2b-91d0-4c55-8f3e-0b6d2a9c7e11",
    "nic-sqlmi-hosted",
    "pip-natgw-egress",
    "nsg-platform-apps",
    "nic-legacy-stopped",
    "vm-legacy-stopped-osdisk",
}
HELD_NAMES = {name for name, _ in HELD.values()} | {"disk-forensics-evidence-01"}
REAPED = (L4 | set().union(*(v for k, v in SELECTED.items() if k != "o5-vm"))) - HELD_NAMES - {NIC_OF_HELD_VM}


def _add_held_resources(reaper: Reaper) -> None:
    vm_name, vm_key = HELD["virtualMachine"]
    nic_of_vm = rid("networkInterface", NIC_OF_HELD_VM)
    reaper.put({"id": nic_of_vm, "tags": dict(L4_TAGS), "properties": {"ipConfigurations": []}})
    reaper.put(
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
    for kind, extra in (
        ("disk", {"sku": {"name": "Standard_LRS"}, "properties": {"diskSizeGB": 64, "diskState": "Unattached"}}),
        ("networkInterface", {"properties": {}}),
        ("publicIPAddress", {"sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}),
        ("networkSecurityGroup", {"properties": {}}),
    ):
        name, key = HELD[kind]
        reaper.put({"id": rid(kind, name), "tags": {**L4_TAGS, key: "INC-5120"}, **extra})


@dataclass
class Story:
    reaper: Reaper
    audit: Step
    dry_mark: Step
    mark: Step
    dry_delete: Step
    delete: Step
    after: Step
    ids_before: dict[str, str]
    docs_before: dict[str, dict[str, Any]]
    tags_after_mark: dict[str, dict[str, str]]
    intents: list[tuple[float, str]]  # (wall time, action target) of every intent journaled


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with reaper_sandbox(tmp_path_factory.mktemp("arm-story")) as reaper:
        _add_held_resources(reaper)
        docs = {str(d["name"]): dict(d) for d in reaper.store.list()}
        intents: list[tuple[float, str]] = []
        journal_intent = reaper.ledger.journal_intent

        def spy(run_id: str, action: Any, at: Any, snapshot: Any) -> int:
            intents.append((time.time(), action.subject.provider_name))
            return journal_intent(run_id, action, at, snapshot)

        reaper.ledger.journal_intent = spy  # type: ignore[method-assign]
        audit = reaper.run("audit")
        dry_mark = reaper.run("dry-mark", RunMode.ENFORCE)
        mark = reaper.run("mark", RunMode.ENFORCE, apply=True)
        tags_after_mark = {str(d["name"]): dict(d.get("tags") or {}) for d in reaper.store.list()}
        reaper.advance(GRACE + timedelta(hours=1))
        dry_delete = reaper.run("dry-delete", RunMode.ENFORCE)
        delete = reaper.run("delete", RunMode.ENFORCE, apply=True)
        after = reaper.run("after")
        yield Story(
            reaper,
            audit,
            dry_mark,
            mark,
            dry_delete,
            delete,
            after,
            {n: str(d["id"]) for n, d in docs.items()},
            docs,
            tags_after_mark,
            intents,
        )


def _selected(step: Step, subscription: str, policy: str) -> set[str]:
    path = step.work_dir / "arm" / subscription / policy / "resources.json"
    return {str(r["name"]) for r in json.loads(path.read_text(encoding="utf-8"))}


def _azure(step: Step) -> list[Any]:
    return [f for f in step.findings if f.subject.provider == "azure"]


@pytest.mark.parametrize("policy", sorted(SELECTED))
def test_each_select_policy_lists_exactly_the_seed_candidates(story: Story, policy: str) -> None:
    assert _selected(story.audit, SUB, policy) == SELECTED[policy]
    assert _selected(story.audit, PROD, policy) == set()


def test_one_finding_per_resource_l4_first_held_ones_held_nothing_excluded(story: Story) -> None:
    findings = _azure(story.audit)
    names = [f.subject.provider_name for f in findings]
    assert len(names) == len(set(names))
    by_name = {f.subject.provider_name: f for f in findings}
    assert {n for n, f in by_name.items() if f.rule == "L4"} == L4
    assert by_name["pip-v001-uat-lb"].evidence["also_matches"] == "O3"
    assert {n for n, f in by_name.items() if f.status is Status.HELD} == HELD_NAMES
    assert not EXCLUDED & set(names)
    for name in HELD_NAMES:
        assert "never marked or deleted" in by_name[name].message


def test_o5_reports_a_stopped_vm_and_never_acts(story: Story) -> None:
    o5 = story.audit.finding("vm-legacy-stopped")
    assert (o5.rule, o5.status) == ("O5", Status.WARN)
    assert o5.cost is not None and o5.cost.monthly > 0
    assert not any(r.action.subject.provider_name == "vm-legacy-stopped" for s in story.reaper.steps for r in s.records)


def test_audits_and_dry_runs_are_read_only_on_the_wire(story: Story) -> None:
    for step in (story.audit, story.dry_mark, story.dry_delete, story.after):
        assert step.mutations() == [], step.name
        assert step.requests


def test_the_token_is_in_nothing_the_runs_keep(story: Story) -> None:
    token = story.reaper.sandbox.azure_token
    for step in story.reaper.steps:
        assert token not in repr(step.findings) and token not in repr(step.records)
        for path in step.work_dir.rglob("*"):
            if path.is_file():
                assert token not in path.read_text(encoding="utf-8", errors="replace"), path


def test_the_run_keeps_the_policies_c7n_ran(story: Story) -> None:
    kept = story.audit.work_dir / "arm" / "policies.yml"
    assert kept.is_file() and "o1-disk" in kept.read_text(encoding="utf-8")


def test_the_first_apply_only_marks_with_the_configured_grace(story: Story) -> None:
    records = story.mark.records
    assert records and {r.action.kind for r in records} == {ActionKind.MARK}
    # the NIC of the held VM is a leftover too: it is marked; its deletion waits for its VM
    assert story.mark.outcomes(ActionOutcome.DONE) == {("mark", n) for n in REAPED | {NIC_OF_HELD_VM}}
    marked_at = story.mark.outcome.result.run.started_at
    for name in REAPED:
        due = parse_mark(story.tags_after_mark[name]["custodian-reap"])
        assert due is not None and abs(due - (marked_at + GRACE)) < timedelta(minutes=1), name
    assert {(m.method, m.path.rsplit("/providers/", 1)[-1]) for m in story.mark.mutations()} == {
        ("PATCH", "Microsoft.Resources/tags/default")
    }
    for name in HELD_NAMES:
        assert "custodian-reap" not in story.tags_after_mark[name]


def test_the_dry_runs_plan_exactly_what_the_applied_runs_do(story: Story) -> None:
    def planned(step: Step) -> set[tuple[str, str]]:
        return step.outcomes(ActionOutcome.PLANNED)

    def done(step: Step) -> set[tuple[str, str]]:
        return step.outcomes(ActionOutcome.DONE)

    assert planned(story.dry_mark) == done(story.mark) and planned(story.dry_mark)
    assert planned(story.dry_delete) == done(story.delete) and planned(story.dry_delete)


def test_past_the_grace_everything_due_is_deleted_and_confirmed(story: Story) -> None:
    assert story.delete.outcomes(ActionOutcome.DONE) == {("delete_resource", n) for n in REAPED}
    assert {r.outcome for r in story.delete.records} == {ActionOutcome.DONE}
    for name in REAPED:
        assert not story.reaper.exists(name), name
    for name in HELD_NAMES | EXCLUDED | {NIC_OF_HELD_VM, "vm-legacy-stopped"}:
        assert story.reaper.exists(name), name


def test_deletions_follow_dependencies_on_the_wire(story: Story) -> None:
    deleted_at = {r.path.rsplit("/", 1)[-1]: r.at for r in story.delete.mutations() if r.method == "DELETE"}
    docs = story.docs_before
    for name, doc in docs.items():
        if name not in deleted_at:
            continue
        props = doc.get("properties") or {}
        owners = [doc.get("managedBy"), (props.get("virtualMachine") or {}).get("id")]
        owners += ["/".join(str((props.get("ipConfiguration") or {}).get("id", "")).split("/")[:-2])]
        owners += [nic.get("id") for nic in props.get("networkInterfaces") or []]
        for owner in filter(None, owners):
            owner_name = str(owner).rsplit("/", 1)[-1]
            if owner_name in deleted_at:
                assert deleted_at[owner_name] < deleted_at[name], (owner_name, name)


def test_a_nic_of_a_held_vm_is_kept_for_now_not_refused(story: Story) -> None:
    finding = story.dry_delete.finding(NIC_OF_HELD_VM)
    assert finding.status is Status.FAIL
    assert "kept for now: attached to VM vm-v001-qa-held, which is not deleted in this run" in finding.message
    assert not story.delete.records_for(NIC_OF_HELD_VM)


def test_every_change_is_journaled_before_it_reaches_the_wire(story: Story) -> None:
    for step in (story.mark, story.delete):
        for request in step.mutations():
            name = request.path.split("/providers/Microsoft.Resources/tags")[0].rsplit("/", 1)[-1]
            journaled = [at for at, target in story.intents if target == name and at <= request.at]
            assert journaled, (step.name, request.method, request.path)


def test_after_the_story_only_what_must_stay_remains(story: Story) -> None:
    failing = [f for f in _azure(story.after) if f.status is Status.FAIL]
    assert {f.subject.provider_name for f in failing} == {NIC_OF_HELD_VM}
    assert story.after.statuses(Status.HELD) >= HELD_NAMES


def test_held_resources_of_every_kind_survive_with_their_tags(story: Story) -> None:
    for kind, (name, key) in HELD.items():
        doc = story.reaper.find(name)
        assert key in doc["tags"] and "custodian-reap" not in doc["tags"], (kind, name)
