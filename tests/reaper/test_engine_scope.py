"""The rules' scope, made precise, against the emulators (issue "One safety engine", section 5).

Added to the seed, for the whole module (the `story` runs: audit, enforce --apply marks, past the
grace enforce --apply deletes):
- orphans that are prod-stage (an unattached disk, an unassociated public IP): reported, never deleted;
- orphans of v0.0.2, a release still in UAT (a disk, a NIC, an NSG), and of an unknown version;
- a leftover VM whose data disk is held and would go with it (`deleteOption: Delete`): the disk is
  detached first (its own journaled action), then the VM is deleted, the held disk stays;
- a leftover NIC owned by a private endpoint (a managed parent): never marked;
- a leftover whose tag keys and values are written in other letter cases: found, reaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from custodian.model import ActionKind, ActionOutcome, HoldTarget, RunMode, Status
from tests.reaper.support import GRACE, PROD, Reaper, Step, reaper_sandbox, rid

pytestmark = pytest.mark.slow

OLD = "2026-01-01T00:00:00Z"
PROD_TAGS = {"release-version": "v0.0.1", "release-stage": "prod"}
INFLIGHT = {"release-version": "v0.0.2", "release-stage": "uat"}
L4_TAGS = {"release-version": "v0.0.1", "release-stage": "qa"}
PROTECTED = {  # name -> what its finding must say
    "disk-v001-prod-orphan": "report only: tagged with the prod stage: never deleted",
    "pip-v001-prod-orphan": "report only: tagged with the prod stage: never deleted",
    "disk-v002-uat-orphan": "report only: it belongs to v0.0.2, which is not complete",
    "nic-v002-uat-orphan": "report only: it belongs to v0.0.2, which is not complete",
    "nsg-v002-uat-orphan": "report only: it belongs to v0.0.2, which is not complete",
    "disk-unknown-version-orphan": "names no version the release timeline knows",
    "nic-v001-qa-private-endpoint": "report only: owned by private endpoint pe-v001-qa",
}
VM = "vm-v001-qa-cascade"
HELD_DISK = "disk-v001-qa-cascade-held"
MIXED_CASE = "disk-v001-qa-mixed-case"


def _disk(name: str, tags: dict[str, str], group: str = "rg-release-qa", sub: str | None = None) -> dict[str, Any]:
    return {
        "id": rid("disk", name, group, sub) if sub else rid("disk", name, group),
        "tags": tags,
        "sku": {"name": "Standard_LRS"},
        "properties": {"diskSizeGB": 128, "diskState": "Unattached", "timeCreated": OLD},
    }


def _seed(reaper: Reaper) -> None:
    reaper.put(_disk("disk-v001-prod-orphan", PROD_TAGS, "rg-release-prod", PROD))
    reaper.put(
        {
            "id": rid("publicIPAddress", "pip-v001-prod-orphan", "rg-release-prod", PROD),
            "tags": PROD_TAGS,
            "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static"},
        }
    )
    reaper.put(_disk("disk-v002-uat-orphan", INFLIGHT, "rg-release-uat"))
    reaper.put(
        {"id": rid("networkInterface", "nic-v002-uat-orphan", "rg-release-uat"), "tags": INFLIGHT, "properties": {}}
    )
    reaper.put(
        {"id": rid("networkSecurityGroup", "nsg-v002-uat-orphan", "rg-release-uat"), "tags": INFLIGHT, "properties": {}}
    )
    reaper.put(_disk("disk-unknown-version-orphan", {"release-version": "v9.9.9", "release-stage": "qa"}))
    endpoint = rid("disk", "x").split("/providers/")[0] + "/providers/Microsoft.Network/privateEndpoints/pe-v001-qa"
    reaper.put(
        {
            "id": rid("networkInterface", "nic-v001-qa-private-endpoint"),
            "tags": L4_TAGS,
            "properties": {"privateEndpoint": {"id": endpoint}},
        }
    )
    reaper.put(_disk(MIXED_CASE, {"Release-Version": "V0.0.1", "RELEASE-STAGE": "QA"}))
    os_disk, held, nic = rid("disk", f"{VM}-osdisk"), rid("disk", HELD_DISK), rid("networkInterface", f"{VM}-nic")
    reaper.put({**_disk(f"{VM}-osdisk", L4_TAGS), "properties": {"diskSizeGB": 64, "timeCreated": OLD}})
    reaper.put(
        {**_disk(HELD_DISK, {**L4_TAGS, "custodian-hold": "INC-9001 evidence"}), "properties": {"diskSizeGB": 256}}
    )
    reaper.put({"id": nic, "tags": L4_TAGS, "properties": {"ipConfigurations": []}})
    reaper.put(
        {
            "id": rid("virtualMachine", VM),
            "tags": L4_TAGS,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "storageProfile": {
                    "osDisk": {
                        "name": f"{VM}-osdisk",
                        "createOption": "Attach",
                        "managedDisk": {"id": os_disk},
                        "deleteOption": "Delete",
                    },
                    "dataDisks": [
                        {"lun": 0, "createOption": "Attach", "managedDisk": {"id": held}, "deleteOption": "Delete"}
                    ],
                },
                "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"deleteOption": "Delete"}}]},
            },
        }
    )


@dataclass
class Story:
    reaper: Reaper
    audit: Step
    mark: Step
    delete: Step
    after: Step


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with reaper_sandbox(tmp_path_factory.mktemp("engine-scope")) as reaper:
        _seed(reaper)
        audit = reaper.run("audit")
        mark = reaper.run("mark", RunMode.ENFORCE, apply=True)
        reaper.advance(GRACE + timedelta(hours=1))
        delete = reaper.run("delete", RunMode.ENFORCE, apply=True)
        after = reaper.run("after")
        yield Story(reaper, audit, mark, delete, after)


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_prod_in_flight_unknown_and_managed_objects_are_reported_never_touched(story: Story, name: str) -> None:
    finding = story.audit.finding(name)
    assert finding.status is Status.WARN and PROTECTED[name] in finding.message, finding.message
    assert "enforce" not in finding.message.split("; report only")[-1]
    for step in (story.mark, story.delete):
        assert not step.records_for(name)
    assert story.reaper.exists(name)
    assert "custodian-reap" not in (story.reaper.find(name).get("tags") or {})


def test_tag_keys_and_values_in_any_letter_case_are_a_leftover(story: Story) -> None:
    finding = story.audit.finding(MIXED_CASE)
    assert (finding.rule, finding.status, finding.subject.version, finding.subject.stage) == (
        "L4",
        Status.FAIL,
        "v0.0.1",
        "qa",
    )
    assert [r.outcome for r in story.delete.records_for(MIXED_CASE)] == [ActionOutcome.DONE]
    assert not story.reaper.exists(MIXED_CASE)


def test_a_vm_whose_held_disk_would_go_with_it_detaches_it_first(story: Story) -> None:
    planned = story.audit.finding(VM)
    assert "first set deleteOption of managed disk" not in planned.message  # not due yet: only marked
    records = story.delete.records_for(VM)
    kinds = [(r.action.kind, r.outcome) for r in records]
    assert kinds == [
        (ActionKind.DETACH_ON_DELETE, ActionOutcome.DONE),
        (ActionKind.DELETE_RESOURCE, ActionOutcome.DONE),
    ], [(r.action.kind, r.outcome, r.detail) for r in records]
    assert (
        records[0]
        .action.param(
            "member",
        )
        .endswith(HELD_DISK)
    )  # type: ignore[union-attr]
    deleting = story.delete.outcome.result.findings
    vm_finding = next(f for f in deleting if f.subject.provider_name == VM)
    assert "Detach" in vm_finding.message and "held" in vm_finding.message
    assert (
        not story.reaper.exists(VM) and not story.reaper.exists(f"{VM}-osdisk") and not story.reaper.exists(f"{VM}-nic")
    )
    held = story.reaper.find(HELD_DISK)
    assert held["tags"]["custodian-hold"] == "INC-9001 evidence"
    patches = [r for r in story.delete.mutations() if r.method == "PATCH" and r.path.endswith(VM)]
    deletes = [r for r in story.delete.mutations() if r.method == "DELETE" and r.path.endswith(VM)]
    assert patches and deletes and patches[0].at < deletes[0].at
    assert story.after.finding(HELD_DISK).status is Status.HELD


def test_the_held_disk_itself_is_never_marked(story: Story) -> None:
    assert story.audit.finding(HELD_DISK).status is Status.HELD
    assert not list(story.mark.records_for(HELD_DISK))


def test_a_version_hold_in_the_ledger_protects_that_version_s_resources(tmp_path: Any) -> None:
    with reaper_sandbox(tmp_path) as reaper:
        now = reaper.now
        reaper.ledger.place_hold(
            HoldTarget.VERSION,
            "v0.0.1",
            "post-release audit",
            "alice",
            now,
            now + timedelta(days=3),
            timedelta(days=14),
        )
        step = reaper.run("held-version", RunMode.ENFORCE, apply=True)
        v001 = [f for f in step.findings if f.subject.version == "v0.0.1" and f.rule == "L4"]
        assert v001 and {f.status for f in v001} == {Status.HELD}
        assert all("alice" in f.message for f in v001)
        marked = {r.action.subject.version for r in step.records if r.action.kind is ActionKind.MARK}
        assert "v0.0.1" not in marked and marked  # orphans without release tags are still marked
