"""The committed policies: plain Cloud Custodian files (`custodian validate` as committed), select-only,
checked when loaded, with run-time values applied as data. Only `custodian validate` starts c7n."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from custodian.collect.c7n.policies import PolicyCheckError, build_policy_set
from custodian.collect.c7n.runner import validate_policies
from custodian.model import ResourceKind
from custodian.rules.registry import RULES, Implementation

POLICIES = Path(__file__).resolve().parents[2] / "policies"
FILES = sorted(p.name for p in POLICIES.glob("*.yml"))
AGES = {"reaper.orphan_disk_min_age": timedelta(days=45), "reaper.stopped_vm_min_age": timedelta(hours=36)}


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(directory: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(PolicyCheckError) as caught:
        build_policy_set(directory, AGES, tmp_path / "out")
    return caught.value.problems


@pytest.mark.parametrize("name", FILES)
def test_each_committed_file_passes_custodian_validate_as_committed(name: str) -> None:
    assert validate_policies(POLICIES / name) == []


def test_the_run_copy_passes_custodian_validate_too(tmp_path: Path) -> None:
    policy_set = build_policy_set(POLICIES, AGES, tmp_path)
    assert validate_policies(policy_set.file) == []


def test_every_c7n_rule_of_the_registry_has_its_select_policy_and_nothing_acts(tmp_path: Path) -> None:
    policy_set = build_policy_set(POLICIES, AGES, tmp_path)
    c7n_rules = [r for r in RULES if r.implementation is Implementation.C7N]
    assert {p.rule for p in policy_set.with_role("select")} == {r.id for r in c7n_rules}
    for rule in c7n_rules:
        assert (POLICIES.parent / rule.where).is_file(), rule.where
    assert {p.kind for p in policy_set.with_role("inventory")} == {
        ResourceKind.VIRTUAL_MACHINE,
        ResourceKind.DISK,
        ResourceKind.NETWORK_INTERFACE,
        ResourceKind.PUBLIC_IP,
        ResourceKind.NETWORK_SECURITY_GROUP,
    }
    assert all(not p.data.get("actions") for p in policy_set.policies)


def test_configured_ages_are_applied_as_data_not_text(tmp_path: Path) -> None:
    policy_set = build_policy_set(POLICIES, AGES, tmp_path)
    written = yaml.safe_load(policy_set.file.read_text(encoding="utf-8"))["policies"]
    by_name = {p["name"]: p for p in written}
    o1_age = [f for f in by_name["o1-disk"]["filters"] if isinstance(f, dict) and f.get("value_type") == "age"]
    assert o1_age[0]["value"] == 45 and isinstance(o1_age[0]["value"], int)
    o5_age = [f for f in by_name["o5-vm"]["filters"] if isinstance(f, dict) and f.get("value_type") == "age"]
    assert o5_age[0]["value"] == 1.5
    committed = yaml.safe_load((POLICIES / "o1-unattached-disks.yml").read_text(encoding="utf-8"))
    assert next(f for f in committed["policies"][0]["filters"] if f.get("value_type") == "age")["value"] == 30


def test_an_acting_policy_is_refused(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "o2-detached-nics.yml"
    path.write_text(path.read_text(encoding="utf-8") + "    actions:\n      - type: delete\n", encoding="utf-8")
    problems = _problems(directory, tmp_path)
    assert any("o2-nic: policies only select" in p for p in problems), problems


def test_an_age_setting_needs_exactly_one_age_filter_and_a_known_setting(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "o1-unattached-disks.yml", "age_setting: reaper.orphan_disk_min_age", "age_setting: reaper.nope")
    _edit(directory, "o5-stopped-vms.yml", "        value_type: age\n", "")
    problems = _problems(directory, tmp_path)
    assert any("o1-disk: metadata.age_setting 'reaper.nope'" in p for p in problems), problems
    assert any("o5-vm: metadata.age_setting needs exactly one value_type: age filter, found 0" in p for p in problems)


def test_unknown_rules_kinds_and_a_missing_inventory_are_refused(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "o3-unassociated-public-ips.yml", "rule: O3", "rule: O9")
    _edit(directory, "o4-unused-nsgs.yml", "kind: networkSecurityGroup", "kind: disk")
    text = (directory / "inventory.yml").read_text(encoding="utf-8")
    (directory / "inventory.yml").write_text(text.split("  - name: inventory-nsg")[0], encoding="utf-8")
    problems = _problems(directory, tmp_path)
    assert any("o3-pip: metadata.rule must be one of" in p for p in problems), problems
    assert any("o4-nsg: metadata.kind must be 'networkSecurityGroup'" in p for p in problems), problems
    assert any("exactly one inventory policy must list networkSecurityGroup, found 0" in p for p in problems)


def test_an_inventory_that_filters_is_refused(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    path = directory / "inventory.yml"
    text = path.read_text(encoding="utf-8").replace(
        "    metadata: {role: inventory, kind: disk}\n",
        "    metadata: {role: inventory, kind: disk}\n    filters:\n      - {type: value, key: name, value: x}\n",
    )
    path.write_text(text, encoding="utf-8")
    problems = _problems(directory, tmp_path)
    assert any("inventory-disk: an inventory policy has no rule and no filter" in p for p in problems), problems


def test_a_missing_directory_or_broken_yaml_says_so(tmp_path: Path) -> None:
    assert "is not a directory" in _problems(tmp_path / "nowhere", tmp_path)[0]
    directory = _copy(tmp_path)
    (directory / "o2-detached-nics.yml").write_text("policies: [\n", encoding="utf-8")
    assert any("o2-detached-nics.yml: not valid YAML" in p for p in _problems(directory, tmp_path))


def test_the_run_copy_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        policy_set = build_policy_set(POLICIES, AGES, tmp_path / "run" / "arm")
    finally:
        os.umask(previous)
    assert oct(policy_set.file.stat().st_mode & 0o777) == "0o600"
    assert [oct((tmp_path / d).stat().st_mode & 0o777) for d in ("run", "run/arm")] == ["0o700", "0o700"]


def test_a_power_policy_lists_every_vm_s_status_and_nothing_else(tmp_path: Path) -> None:
    policy_set = build_policy_set(POLICIES, AGES, tmp_path)
    (power,) = policy_set.with_role("power")
    assert power.kind is ResourceKind.VIRTUAL_MACHINE and power.data["query"] == [{"status_only": "true"}]
    o5 = next(p for p in policy_set.policies if p.rule == "O5")
    assert o5.data["query"] == power.data["query"]  # one statusOnly listing serves both (c7n's cache key)
    assert not any(f.get("type") == "instance-view" for p in policy_set.policies for f in p.data.get("filters") or [])
    directory = _copy(tmp_path)
    _edit(directory, "inventory.yml", '      - status_only: "true"\n', '      - status_only: "false"\n')
    problems = _problems(directory, tmp_path)
    assert any("inventory-vm-power: a power policy has no rule and no filter, and the query" in p for p in problems)
