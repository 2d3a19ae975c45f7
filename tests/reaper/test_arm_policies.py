"""The reviewed policy templates: rendering, the structural checks, `custodian validate`, and the
pure parts of judging (marks, dependency planning). Only `custodian validate` starts c7n.
"""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from custodian.c7n_runner import validate_policies
from custodian.reaper.arm_judge import Candidate, parse_mark, plan_deletions
from custodian.reaper.arm_policies import (
    PolicyCheckError,
    PolicySet,
    PolicyValues,
    build_policy_set,
    check_rendered,
    hold_filter,
    run_file,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"
TEMPLATES = sorted(p.name for p in POLICIES.glob("*.yml"))


def values(**changes: Any) -> PolicyValues:
    base: dict[str, Any] = {
        "mark_tag": "custodian-reap",
        "hold_tag": "custodian-hold",
        "version_tag_key": "release-version",
        "stage_tag_key": "release-stage",
        "mark_grace": timedelta(hours=24),
        "orphan_disk_min_age": timedelta(days=30),
        "stopped_vm_min_age": timedelta(days=14),
        "inputs_url": "file:///tmp/reaper-inputs.json",
    }
    return PolicyValues(**{**base, **changes})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> PolicySet:
    return build_policy_set(POLICIES, values(), tmp_path_factory.mktemp("rendered"))


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(directory: Path, tmp_path: Path, **changes: Any) -> list[str]:
    with pytest.raises(PolicyCheckError) as caught:
        build_policy_set(directory, values(**changes), tmp_path / "out")
    return caught.value.problems


# -- every file is valid c7n once rendered -------------------------------------------------------------
@pytest.mark.parametrize("template", TEMPLATES)
def test_each_rendered_policy_file_passes_custodian_validate(rendered: PolicySet, template: str) -> None:
    (path,) = [p for p in rendered.rendered_files if p.name == template]
    assert validate_policies(path) == []
    assert "${" not in path.read_text(encoding="utf-8")


def test_the_set_covers_every_rule_and_kind(rendered: PolicySet) -> None:
    roles = {(p.rule, p.kind, p.role) for p in rendered.policies}
    for rule, kind in [
        ("L4", "virtualMachine"),
        ("L4", "disk"),
        ("L4", "networkInterface"),
        ("L4", "publicIPAddress"),
        ("L4", "networkSecurityGroup"),
        ("O1", "disk"),
        ("O2", "networkInterface"),
        ("O3", "publicIPAddress"),
        ("O4", "networkSecurityGroup"),
    ]:
        assert {(rule, kind, role) for role in ("report", "mark", "delete")} <= roles
    assert ("O5", "virtualMachine", "report") in roles and ("O5", "virtualMachine", "mark") not in roles
    assert len(rendered.with_role("inventory")) == 5


def test_every_acting_policy_of_every_type_carries_the_hold_filter(rendered: PolicySet) -> None:
    acting = rendered.with_role("mark", "delete")
    assert len(acting) == 18
    for policy in acting:
        assert hold_filter(values()) in policy.data["filters"], policy.name


def test_placeholders_take_the_configured_values_and_types(tmp_path: Path) -> None:
    policy_set = build_policy_set(
        POLICIES,
        values(mark_grace=timedelta(minutes=90), hold_tag="Keep.Me", mark_tag="reap-at", stage_tag_key="stage"),
        tmp_path,
    )
    mark = policy_set.get("o1-disk-mark").data
    assert mark["actions"] == [
        {
            "type": "mark-for-op",
            "tag": "reap-at",
            "op": "delete",
            "hours": 1.5,
            "msg": "release-custodian O1 orphan disk, planned deletion: {op}@{action_date}",
        }
    ]
    assert {"tag:reap-at": "absent"} in mark["filters"]
    assert hold_filter(values(hold_tag="Keep.Me"))["not"][0]["value"] == '.*"Keep\\.Me".*'  # regex-escaped
    leftover = policy_set.get("l4-vm").data["filters"][0]["and"][0]
    assert leftover["key"] == "tag:stage" and leftover["value_from"]["url"] == "file:///tmp/reaper-inputs.json"
    ages = policy_set.get("o1-disk").data["filters"][0]["and"][2]
    assert ages["value"] == 30 and ages["value_type"] == "age"


# -- the checks ----------------------------------------------------------------------------------------------
def test_a_mark_without_an_explicit_grace_is_rejected(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "o2-detached-nics.yml", '        hours: "${mark_grace_hours}"\n', "")
    problems = _problems(directory, tmp_path)
    assert any("o2-nic-mark: mark-for-op must say hours" in p for p in problems), problems
    assert any("o2-nic-mark: mark-for-op needs an explicit hours" in p for p in problems), problems


def test_a_literal_grace_is_rejected_even_when_it_equals_the_configuration(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "l4-leftover-vms.yml", 'hours: "${mark_grace_hours}"', "hours: 24")
    problems = _problems(directory, tmp_path)
    assert problems == [
        f"{directory / 'l4-leftover-vms.yml'}: policy l4-vm-mark: mark-for-op must say hours: "
        "'${mark_grace_hours}' and no days (the grace comes from reaper.mark_grace)"
    ]


def test_days_are_rejected(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(
        directory, "o4-unused-nsgs.yml", 'hours: "${mark_grace_hours}"', 'hours: "${mark_grace_hours}"\n        days: 0'
    )
    assert any("o4-nsg-mark" in p and "no days" in p for p in _problems(directory, tmp_path))


def test_a_rendered_grace_that_differs_from_the_configuration_is_rejected(rendered: PolicySet) -> None:
    policy = rendered.get("l4-disk-mark")
    data = copy.deepcopy(dict(policy.data))
    data["actions"][0]["hours"] = 4
    changed = PolicySet(
        tuple(p if p is not policy else type(p)(**{**vars(p), "data": data}) for p in rendered.policies)
    )
    problems = check_rendered(changed, values())
    assert problems == [f"{policy.source}: policy l4-disk-mark: mark-for-op hours 4 is not reaper.mark_grace (24h)"]


def test_an_acting_policy_without_the_hold_filter_is_rejected(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(
        directory,
        "l4-leftover-nsgs.yml",
        "      - *not-held\n      - type: marked-for-op",
        "      - type: marked-for-op",
    )
    problems = _problems(directory, tmp_path)
    assert any("l4-nsg-delete: the hold filter (tag custodian-hold, any case) is missing" in p for p in problems)


def test_a_delete_without_a_due_mark_is_rejected(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(
        directory,
        "o3-unassociated-public-ips.yml",
        '      - type: marked-for-op\n        tag: "${mark_tag}"\n        op: delete\n',
        "",
    )
    problems = _problems(directory, tmp_path)
    assert any("o3-pip-delete: a delete policy needs one marked-for-op filter" in p for p in problems), problems


def test_another_action_or_diverging_filters_are_rejected(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "l4-leftover-vms.yml", "    actions:\n      - type: delete", "    actions:\n      - type: stop")
    _edit(
        directory,
        "o2-detached-nics.yml",
        '    filters:\n      - *orphan\n      - *not-held\n      - "tag:${mark_tag}": absent',
        '    filters:\n      - *not-held\n      - "tag:${mark_tag}": absent',
    )
    problems = _problems(directory, tmp_path)
    assert any("l4-vm-delete: a delete policy's action must be a plain delete" in p for p in problems), problems
    assert any("o2-nic-mark: its filters must start with exactly the filters of o2-nic" in p for p in problems)


def test_unknown_placeholders_and_unusable_tag_keys_are_rejected(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "o4-unused-nsgs.yml", '"tag:${mark_tag}": absent', '"tag:${mark_tagg}": absent')
    problems = _problems(directory, tmp_path, hold_tag="hold{me}", mark_grace=timedelta(seconds=30))
    assert any("unknown placeholder ${mark_tagg}" in p for p in problems)
    assert any("reaper.hold_tag 'hold{me}' cannot be used" in p for p in problems)
    assert any("reaper.mark_grace must be at least 1m" in p for p in problems)


def test_run_file_pins_acting_policies_to_the_planned_ids(rendered: PolicySet, tmp_path: Path) -> None:
    path = run_file(
        tmp_path / "mark.yml",
        rendered.with_role("mark"),
        pinned={"o1-disk-mark": ["/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/disks/D1"]},
    )
    assert path is not None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [p["name"] for p in data["policies"]] == ["o1-disk-mark"]
    pin = data["policies"][0]["filters"][0]
    assert pin["key"] == "id" and pin["op"] == "in" and pin["value_type"] == "normalize"
    plan = yaml.safe_load((tmp_path / "mark.plan.json").read_text(encoding="utf-8"))
    assert plan == {"o1-disk-mark": ["/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/d1"]}
    assert validate_policies(path) == []
    assert run_file(tmp_path / "none.yml", rendered.with_role("mark"), pinned={"o1-disk-mark": []}) is None


# -- judging helpers ---------------------------------------------------------------------------------------
def test_parse_mark_reads_what_c7n_azure_writes() -> None:
    assert parse_mark("release-custodian L4 leftover, planned deletion: delete@2026/11/27 0836 UTC") == datetime(
        2026, 11, 27, 8, 36, tzinfo=UTC
    )
    assert parse_mark("Resource does not meet policy: delete@2026/11/27") == datetime(2026, 11, 27, tzinfo=UTC)
    for unreadable in (None, "", "delete@2026/11/27", "x: stop@2026/11/27", "x: delete@soon", "x: delete@2026/13/40"):
        assert parse_mark(unreadable) is None, unreadable


def _sub(kind: str, name: str) -> str:
    provider = {
        "vm": "Microsoft.Compute/virtualMachines",
        "disk": "Microsoft.Compute/disks",
        "nic": "Microsoft.Network/networkInterfaces",
        "pip": "Microsoft.Network/publicIPAddresses",
        "nsg": "Microsoft.Network/networkSecurityGroups",
    }[kind]
    return f"/subscriptions/s/resourceGroups/rg/providers/{provider}/{name}"


def _candidate(kind: str, resource_kind: str, name: str, **body: Any) -> Candidate:
    return Candidate(_sub(kind, name), resource_kind, "L4", {"id": _sub(kind, name), "name": name, **body}, "p")


def test_plan_deletions_follows_dependencies() -> None:
    vm = _candidate(
        "vm",
        "virtualMachine",
        "vm1",
        properties={
            "networkProfile": {
                "networkInterfaces": [{"id": _sub("nic", "nic-cascade"), "properties": {"deleteOption": "Delete"}}]
            }
        },
    )
    nic = _candidate("nic", "networkInterface", "nic1", properties={"virtualMachine": {"id": _sub("vm", "vm1")}})
    kept_vm_nic = _candidate(
        "nic", "networkInterface", "nic2", properties={"virtualMachine": {"id": _sub("vm", "kept")}}
    )
    pip_of_nic = _candidate(
        "pip",
        "publicIPAddress",
        "pip1",
        properties={"ipConfiguration": {"id": _sub("nic", "nic1") + "/ipConfigurations/c"}},
    )
    pip_of_kept = _candidate(
        "pip",
        "publicIPAddress",
        "pip2",
        properties={"ipConfiguration": {"id": _sub("nic", "nic2") + "/ipConfigurations/c"}},
    )
    pip_of_cascade = _candidate(
        "pip",
        "publicIPAddress",
        "pip3",
        properties={"ipConfiguration": {"id": _sub("nic", "nic-cascade") + "/ipConfigurations/c"}},
    )
    nsg_on_subnet = _candidate(
        "nsg", "networkSecurityGroup", "nsg1", properties={"subnets": [{"id": "/x/virtualNetworks/v/subnets/s"}]}
    )
    disk_sas = _candidate("disk", "disk", "d1", properties={"diskState": "ActiveSAS"})
    disk_of_vm = _candidate("disk", "disk", "d2", managedBy=_sub("vm", "vm1"), properties={"diskState": "Attached"})

    plan = plan_deletions(
        [vm, nic, kept_vm_nic, pip_of_nic, pip_of_kept, pip_of_cascade, nsg_on_subnet, disk_sas, disk_of_vm]
    )

    assert {c.name for c in plan.planned.values()} == {"vm1", "nic1", "pip1", "pip3", "d2"}
    blocked = {key.rsplit("/", 1)[-1]: why for key, why in plan.blocked.items()}
    assert blocked == {
        "nic2": "attached to VM kept, which is not being deleted",
        "pip2": "used by networkInterfaces nic2, which is not being deleted",  # transitively kept
        "nsg1": "on subnet v/s; not deleted",
        "d1": "disk state ActiveSAS (e.g. an open SAS export): ARM refuses to delete it; not deleted",
    }
