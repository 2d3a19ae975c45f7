"""The reviewed policies of `policies/`: plain Cloud Custodian files, loaded, checked and set up per run.

Every file is a valid c7n policy file as committed (`custodian validate` passes on it). Its
policies say what they are in `metadata`:

- `role: inventory` (one per kind): every VM, disk, NIC, public IP and NSG, unfiltered: the typed
  inventory of the subscription, and what the rules and the engine read;
- `role: select` with a `rule` (O1-O5, as registered): the resources that rule selects;
- `role: power` (at most one, `azure.vm`, unfiltered, with the query `status_only: "true"`): every
  VM's run-time status from the list itself (`statusOnly=true`: one call per page instead of one
  instance-view GET per VM), joined to the VM inventory by id (`collect.arm`).

Policies only select: a policy with `actions` (or a `mode` other than pull) is refused, because
every change goes through the engine's gate and journal. Run-time values are applied to the parsed
policies as data, never by text substitution: a policy whose metadata names an `age_setting`
(`reaper.orphan_disk_min_age`, `reaper.stopped_vm_min_age`) has exactly one `value_type: age`
filter, whose value becomes the configured age in days. The result is written to the run's
directory (what c7n ran, kept with the run's reports), owner-only (0600 in a 0700 directory).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from custodian.model import ResourceKind
from custodian.private_files import write_private_text
from custodian.rules.orphans import SELECTED_BY_C7N

KINDS: Mapping[str, ResourceKind] = {
    "azure.vm": ResourceKind.VIRTUAL_MACHINE,
    "azure.disk": ResourceKind.DISK,
    "azure.networkinterface": ResourceKind.NETWORK_INTERFACE,
    "azure.publicip": ResourceKind.PUBLIC_IP,
    "azure.networksecuritygroup": ResourceKind.NETWORK_SECURITY_GROUP,
}
ROLES = ("inventory", "select", "power")
STATUS_ONLY = {"status_only": "true"}  # the query of a power policy: virtual_machines.list_all(status_only="true")


class PolicyCheckError(ValueError):
    """The policy files cannot be used; `problems` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Policy:
    name: str
    resource: str
    kind: ResourceKind
    role: str
    rule: str | None
    source: Path
    data: Mapping[str, Any]


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[Policy, ...]
    file: Path  # the run's copy: every policy, as c7n runs it

    def with_role(self, role: str) -> list[Policy]:
        return [p for p in self.policies if p.role == role]


def _days(value: timedelta) -> int | float:
    days = value.total_seconds() / 86400
    return int(days) if math.isclose(days, round(days)) else round(days, 6)


def _age_filters(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("value_type") == "age":
            yield node
        for value in node.values():
            yield from _age_filters(value)
    elif isinstance(node, list):
        for value in node:
            yield from _age_filters(value)


def _load(path: Path) -> tuple[list[Any], str | None]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [], f"{path}: cannot read: {exc.strerror or exc}"
    except yaml.YAMLError as exc:
        return [], f"{path}: not valid YAML: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("policies"), list) or not data["policies"]:
        return [], f"{path}: has no 'policies' list"
    unknown = set(data) - {"policies", "vars"}
    if unknown:
        return [], f"{path}: unknown top-level keys {sorted(unknown)}"
    return list(data["policies"]), None


def _inventory_filters_only(policy: Mapping[str, Any]) -> bool:
    """An inventory lists everything: its only filter may fetch the instance view (power state)."""
    filters = policy.get("filters") or []
    return all(isinstance(f, dict) and f.get("type") == "instance-view" for f in filters)


def _status_only(policy: Mapping[str, Any]) -> bool:
    query = policy.get("query")
    return isinstance(query, list) and len(query) == 1 and query[0] == STATUS_ONLY


def _describe(path: Path, index: int, raw: Any, ages: Mapping[str, timedelta]) -> tuple[Policy | None, list[str]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None, [f"{path}: policy #{index + 1} has no name"]
    name, where = raw["name"], f"{path}: policy {raw['name']}"
    resource = str(raw.get("resource", ""))
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    role, rule_id = meta.get("role"), meta.get("rule")
    problems = []
    if resource not in KINDS:
        problems.append(f"{where}: resource {resource!r} is not one the reaper handles ({sorted(KINDS)})")
    elif meta.get("kind") != KINDS[resource].value:
        problems.append(f"{where}: metadata.kind must be {KINDS[resource].value!r} for {resource}")
    if role not in ROLES:
        problems.append(f"{where}: metadata.role must be one of {list(ROLES)}, got {role!r}")
    elif role == "inventory" and (rule_id is not None or not _inventory_filters_only(raw)):
        problems.append(f"{where}: an inventory policy has no rule and no filter but the instance view")
    elif role == "power" and (rule_id is not None or raw.get("filters") or not _status_only(raw)):
        problems.append(f"{where}: a power policy has no rule and no filter, and the query [{STATUS_ONLY}]")
    elif role == "power" and resource != "azure.vm":
        problems.append(f"{where}: a power policy lists azure.vm")
    elif role == "select" and rule_id not in SELECTED_BY_C7N:
        problems.append(f"{where}: metadata.rule must be one of {list(SELECTED_BY_C7N)}, got {rule_id!r}")
    if raw.get("actions"):
        problems.append(f"{where}: policies only select; every action goes through the engine (remove 'actions')")
    if (raw.get("mode") or {"type": "pull"}).get("type", "pull") != "pull":
        problems.append(f"{where}: only pull mode is supported")
    data = dict(raw)
    setting = meta.get("age_setting")
    if setting is not None:
        found = list(_age_filters(data.get("filters")))
        if setting not in ages:
            problems.append(f"{where}: metadata.age_setting {setting!r} is not one of {sorted(ages)}")
        elif len(found) != 1:
            problems.append(
                f"{where}: metadata.age_setting needs exactly one value_type: age filter, found {len(found)}"
            )
        else:
            found[0]["value"] = _days(ages[setting])  # data, not text: the configured age in days
    if problems:
        return None, problems
    return Policy(name, resource, KINDS[resource], str(role), rule_id, path, data), []


def build_policy_set(directory: Path, ages: Mapping[str, timedelta], out: Path) -> PolicySet:
    """Load, check and set up every policy of `directory`; write the run's copy to `out`/policies.yml."""
    if not directory.is_dir():
        raise PolicyCheckError([f"reaper.policies_dir {directory} is not a directory"])
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    if not paths:
        raise PolicyCheckError([f"reaper.policies_dir {directory} holds no policy files"])
    problems: list[str] = []
    policies: list[Policy] = []
    for path in paths:
        raws, problem = _load(path)
        if problem:
            problems.append(problem)
        for index, raw in enumerate(raws):
            one, found = _describe(path, index, raw, ages)
            problems += found
            if one is not None:
                policies.append(one)
    names = [p.name for p in policies]
    problems += [f"policy name {n} is used more than once" for n in sorted({n for n in names if names.count(n) > 1})]
    for kind in KINDS.values():
        count = sum(1 for p in policies if p.role == "inventory" and p.kind is kind)
        if count != 1:
            problems.append(f"exactly one inventory policy must list {kind.value}, found {count}")
    powers = [p.name for p in policies if p.role == "power"]
    if len(powers) > 1:
        problems.append(f"at most one power policy may list the VMs' status, found {len(powers)}: {powers}")
    if problems:
        raise PolicyCheckError(problems)
    target = out / "policies.yml"
    rendered = [dict(p.data) for p in policies]
    header = f"# The policies of {directory}, as release-custodian ran them (configured ages applied). Do not edit.\n"
    write_private_text(target, header + yaml.safe_dump({"policies": rendered}, sort_keys=False, width=120))
    return PolicySet(tuple(policies), target)
