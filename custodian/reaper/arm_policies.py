"""The reviewed c7n policy templates of `policies/`, rendered with the configuration and checked.

The YAML in `reaper.policies_dir` is what security reviews; it contains a few `${name}`
placeholders for configured values that c7n cannot read from a file itself (tag *keys* in filter
keys, the mark grace in the `mark-for-op` action, the orphan ages, the URL of the per-run values
file). `build_policy_set` renders every template into the run's output directory (the rendered
files are what c7n runs, kept for audit), then checks each policy structurally:

- `metadata` says what a policy is: `role` (inventory, report, mark, delete), `rule` (L4, O1-O5)
  and `kind` (virtualMachine, disk, networkInterface, publicIPAddress, networkSecurityGroup),
  consistent with its `resource`; every (rule, kind) has one report policy, and a mark policy
  only with a delete policy (named `<report>-mark`, `<report>-delete`);
- a mark policy's filters are its report's filters plus the hold filter plus "mark tag absent",
  and its only action is `mark-for-op` with `op: delete`, the configured mark tag and an explicit
  `hours` equal to `reaper.mark_grace` (c7n-azure's mark-for-op silently marks for "now" when
  neither `days` nor `hours` is given; in the template the value must be the placeholder, so the
  grace can only come from the configuration);
- a delete policy's filters are its report's filters plus the hold filter plus `marked-for-op`
  (mark tag, `op: delete`, no skew), and its only action is `delete`;
- report and inventory policies have no actions; the inventory covers each kind once.

A value that is exactly one placeholder takes the configured value's type (``hours:
"${mark_grace_hours}"`` becomes a number); elsewhere placeholders are replaced inside the string.
An unknown placeholder, or a configured tag key that c7n could misread (braces, quotes,
backslashes), is an error. `run_file` writes the policies of one c7n run, optionally pinned to the
resource ids a dry run listed (an extra `id in <plan file>` filter, so an acting run can only act
on what was planned and journaled).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from custodian.config import Config

__all__ = [
    "KINDS",
    "ROLES",
    "RULES",
    "PolicyCheckError",
    "PolicySet",
    "PolicyValues",
    "ReaperPolicy",
    "build_policy_set",
    "check_rendered",
    "hold_filter",
    "policy_values",
    "render",
    "run_file",
]

RULES = ("L4", "O1", "O2", "O3", "O4", "O5")  # also the priority when one resource matches several
ROLES = ("inventory", "report", "mark", "delete")
KINDS = {
    "azure.vm": "virtualMachine",
    "azure.disk": "disk",
    "azure.networkinterface": "networkInterface",
    "azure.publicip": "publicIPAddress",
    "azure.networksecuritygroup": "networkSecurityGroup",
}
MARK_OP = "delete"
GRACE_PLACEHOLDER = "${mark_grace_hours}"
MIN_GRACE = timedelta(minutes=1)  # c7n stamps marks to the minute
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BAD_TAG_KEY = re.compile(r'[{}"\\]')
_MSG_SUFFIX = "{op}@{action_date}"


class PolicyCheckError(ValueError):
    """The policy templates cannot be rendered or fail the checks; `problems` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class PolicyValues:
    """The configured values the templates' placeholders stand for."""

    mark_tag: str
    hold_tag: str
    version_tag_key: str
    stage_tag_key: str
    mark_grace: timedelta
    orphan_disk_min_age: timedelta
    stopped_vm_min_age: timedelta
    inputs_url: str

    @property
    def mark_grace_hours(self) -> int | float:
        return _number(self.mark_grace.total_seconds() / 3600)

    def placeholders(self) -> dict[str, object]:
        return {
            "mark_tag": self.mark_tag,
            "hold_tag_regex": re.escape(self.hold_tag),
            "version_tag_key": self.version_tag_key,
            "stage_tag_key": self.stage_tag_key,
            "mark_grace_hours": self.mark_grace_hours,
            "orphan_disk_min_age_days": _number(self.orphan_disk_min_age.total_seconds() / 86400),
            "stopped_vm_min_age_days": _number(self.stopped_vm_min_age.total_seconds() / 86400),
            "inputs_url": self.inputs_url,
        }

    def problems(self) -> list[str]:
        out = []
        for name, key in (
            ("reaper.mark_tag", self.mark_tag),
            ("reaper.hold_tag", self.hold_tag),
            ("naming.version_tag_key", self.version_tag_key),
            ("naming.stage_tag_key", self.stage_tag_key),
        ):
            if not key.strip() or _BAD_TAG_KEY.search(key):
                out.append(
                    f"{name} {key!r} cannot be used in a c7n policy (empty, or has braces, quotes or backslashes)"
                )
        if self.mark_grace < MIN_GRACE:
            out.append(f"reaper.mark_grace must be at least 1m (c7n stamps marks to the minute), got {self.mark_grace}")
        if self.hold_tag.lower() == self.mark_tag.lower():
            out.append("reaper.hold_tag and reaper.mark_tag must differ")
        return out


def _number(value: float) -> int | float:
    return int(value) if math.isclose(value, round(value)) else round(value, 6)


def policy_values(config: Config, inputs_url: str) -> PolicyValues:
    reaper = config.reaper
    if reaper is None:
        raise PolicyCheckError(["the configuration has no reaper section"])
    return PolicyValues(
        mark_tag=reaper.mark_tag,
        hold_tag=reaper.hold_tag,
        version_tag_key=config.naming.version_tag_key,
        stage_tag_key=config.naming.stage_tag_key,
        mark_grace=reaper.mark_grace,
        orphan_disk_min_age=reaper.orphan_disk_min_age,
        stopped_vm_min_age=reaper.stopped_vm_min_age,
        inputs_url=inputs_url,
    )


def hold_filter(values: PolicyValues) -> dict[str, Any]:
    """The hold filter every acting policy must carry (as rendered)."""
    return {
        "not": [
            {
                "type": "value",
                "key": "to_string(keys(tags || `{}`))",
                "op": "regex",
                "value": f'.*"{re.escape(values.hold_tag)}".*',
            }
        ]
    }


def mark_absent_filter(values: PolicyValues) -> dict[str, Any]:
    return {f"tag:{values.mark_tag}": "absent"}


@dataclass(frozen=True)
class ReaperPolicy:
    """One rendered policy and what its metadata says it is."""

    name: str
    resource: str
    kind: str
    role: str
    rule: str | None
    source: Path
    data: Mapping[str, Any]

    @property
    def acting(self) -> bool:
        return self.role in ("mark", "delete")


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[ReaperPolicy, ...]
    rendered_files: tuple[Path, ...] = field(default=())

    def with_role(self, *roles: str) -> list[ReaperPolicy]:
        return [p for p in self.policies if p.role in roles]

    def get(self, name: str) -> ReaperPolicy:
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise KeyError(name)


# -- rendering ----------------------------------------------------------------------------------
def render(node: Any, values: Mapping[str, object], where: str, problems: list[str]) -> Any:
    """A copy of `node` with every `${name}` replaced (keys too); unknown names go to `problems`."""
    if isinstance(node, dict):
        return {render(k, values, where, problems): render(v, values, where, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [render(v, values, where, problems) for v in node]
    if not isinstance(node, str):
        return node
    whole = _PLACEHOLDER.fullmatch(node)
    if whole:
        name = whole.group(1)
        if name not in values:
            problems.append(f"{where}: unknown placeholder ${{{name}}}")
            return node
        return values[name]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            problems.append(f"{where}: unknown placeholder ${{{name}}}")
            return match.group(0)
        return str(values[name])

    return _PLACEHOLDER.sub(replace, node)


def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    except yaml.YAMLError as exc:
        return None, f"{path}: not valid YAML: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("policies"), list) or not data["policies"]:
        return None, f"{path}: has no 'policies' list"
    unknown = set(data) - {"policies", "vars"}
    if unknown:
        return None, f"{path}: unknown top-level keys {sorted(unknown)}"
    return data, None


def _check_template(path: Path, data: Mapping[str, Any]) -> list[str]:
    """Checks on the reviewed template itself: the grace can only come from the configuration."""
    problems = []
    for policy in data["policies"]:
        if not isinstance(policy, dict):
            continue
        for action in policy.get("actions") or []:
            is_mark = isinstance(action, dict) and action.get("type") == "mark-for-op"
            if is_mark and (action.get("hours") != GRACE_PLACEHOLDER or "days" in action):
                problems.append(
                    f"{path}: policy {policy.get('name')}: mark-for-op must say hours: {GRACE_PLACEHOLDER!r} "
                    "and no days (the grace comes from reaper.mark_grace)"
                )
    return problems


def build_policy_set(templates_dir: Path, values: PolicyValues, rendered_dir: Path) -> PolicySet:
    """Render every ``*.yml``/``*.yaml`` of `templates_dir` into `rendered_dir` and check them all.

    Raises `PolicyCheckError` listing every problem (nothing is written for a failed set but what
    was rendered before the check, which is harmless: it is never run).
    """
    problems = values.problems()
    if not templates_dir.is_dir():
        raise PolicyCheckError([*problems, f"reaper.policies_dir {templates_dir} is not a directory"])
    paths = sorted(p for p in templates_dir.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    if not paths:
        raise PolicyCheckError([*problems, f"reaper.policies_dir {templates_dir} holds no policy files"])
    placeholders = values.placeholders()
    policies: list[ReaperPolicy] = []
    rendered_files: list[Path] = []
    rendered_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        data, problem = _load(path)
        if data is None:
            problems.append(problem or f"{path}: unreadable")
            continue
        problems += _check_template(path, data)
        before = len(problems)
        rendered = render({"policies": data["policies"]}, placeholders, str(path), problems)
        if len(problems) > before:
            continue
        leftovers = _PLACEHOLDER.findall(json.dumps(rendered))
        if leftovers:
            problems.append(f"{path}: placeholders left after rendering: {sorted(set(leftovers))}")
            continue
        for index, policy in enumerate(rendered["policies"]):
            one, why = _describe(path, index, policy)
            if one is None:
                problems.append(why)
            else:
                policies.append(one)
        target = rendered_dir / path.name
        header = f"# Rendered from {path} by release-custodian; what c7n runs. Do not edit.\n"
        target.write_text(header + yaml.safe_dump(rendered, sort_keys=False, width=120), encoding="utf-8")
        rendered_files.append(target)
    policy_set = PolicySet(tuple(policies), tuple(rendered_files))
    problems += check_rendered(policy_set, values)
    if problems:
        raise PolicyCheckError(problems)
    return policy_set


def _describe(path: Path, index: int, policy: object) -> tuple[ReaperPolicy | None, str]:
    if not isinstance(policy, dict) or not isinstance(policy.get("name"), str):
        return None, f"{path}: policy #{index + 1} has no name"
    name = policy["name"]
    resource = str(policy.get("resource", ""))
    raw_meta = policy.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    role, rule, kind = meta.get("role"), meta.get("rule"), meta.get("kind")
    if resource not in KINDS:
        return None, f"{path}: policy {name}: resource {resource!r} is not one the reaper handles ({sorted(KINDS)})"
    if role not in ROLES:
        return None, f"{path}: policy {name}: metadata.role must be one of {list(ROLES)}, got {role!r}"
    if kind != KINDS[resource]:
        return None, f"{path}: policy {name}: metadata.kind must be {KINDS[resource]!r} for {resource}, got {kind!r}"
    if role == "inventory":
        if rule is not None:
            return None, f"{path}: policy {name}: an inventory policy has no rule"
    elif rule not in RULES:
        return None, f"{path}: policy {name}: metadata.rule must be one of {list(RULES)}, got {rule!r}"
    return ReaperPolicy(name, resource, str(kind), str(role), rule, path, policy), ""


# -- checks -------------------------------------------------------------------------------------
def check_rendered(policy_set: PolicySet, values: PolicyValues) -> list[str]:
    """Every structural rule of the module docstring, on the rendered policies; [] when all hold."""
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for policy in policy_set.policies:
        if policy.name in seen:
            problems.append(f"{policy.source}: policy name {policy.name} is also used in {seen[policy.name]}")
        seen[policy.name] = policy.source
    by_name = {p.name: p for p in policy_set.policies}
    inventory_kinds = [p.kind for p in policy_set.with_role("inventory")]
    for kind in KINDS.values():
        if inventory_kinds.count(kind) != 1:
            problems.append(f"exactly one inventory policy must list {kind}, found {inventory_kinds.count(kind)}")
    for policy in policy_set.policies:
        where = f"{policy.source}: policy {policy.name}"
        actions = policy.data.get("actions") or []
        filters = list(policy.data.get("filters") or [])
        if policy.role in ("inventory", "report"):
            if actions:
                problems.append(f"{where}: a {policy.role} policy must have no actions")
            if policy.role == "report":
                others = [
                    p.name for p in policy_set.with_role("report") if (p.rule, p.kind) == (policy.rule, policy.kind)
                ]
                if len(others) > 1:
                    problems.append(f"{where}: several report policies for {policy.rule} {policy.kind}: {others}")
            continue
        base_name = policy.name.removesuffix(f"-{policy.role}")
        report = by_name.get(base_name)
        if base_name == policy.name or report is None or report.role != "report":
            problems.append(f"{where}: an acting policy is named <report>-{policy.role} after its report policy")
            continue
        if (report.rule, report.kind, report.resource) != (policy.rule, policy.kind, policy.resource):
            problems.append(f"{where}: rule, kind and resource must equal its report policy {report.name}'s")
        partner = f"{base_name}-{'delete' if policy.role == 'mark' else 'mark'}"
        if partner not in by_name:
            problems.append(f"{where}: a two-phase rule needs both {base_name}-mark and {base_name}-delete")
        base = list(report.data.get("filters") or [])
        if filters[: len(base)] != base:
            problems.append(f"{where}: its filters must start with exactly the filters of {report.name}")
        extra = filters[len(base) :]
        if hold_filter(values) not in extra:
            problems.append(f"{where}: the hold filter (tag {values.hold_tag}, any case) is missing")
        if len(actions) != 1 or not isinstance(actions[0], dict):
            problems.append(f"{where}: an acting policy has exactly one action")
            continue
        action = actions[0]
        if policy.role == "mark":
            problems += _check_mark(where, action, extra, values)
        else:
            problems += _check_delete(where, action, extra, values)
    return problems


def _check_mark(where: str, action: Mapping[str, Any], extra: list[Any], values: PolicyValues) -> list[str]:
    problems = []
    if action.get("type") != "mark-for-op":
        return [f"{where}: a mark policy's action must be mark-for-op, got {action.get('type')!r}"]
    if mark_absent_filter(values) not in extra:
        problems.append(f"{where}: a mark policy must only mark resources without the mark tag {values.mark_tag}")
    if action.get("op") != MARK_OP or action.get("tag") != values.mark_tag:
        problems.append(f"{where}: mark-for-op must use op: {MARK_OP} and tag: {values.mark_tag}")
    hours = action.get("hours")
    if "days" in action or not isinstance(hours, int | float) or isinstance(hours, bool):
        problems.append(
            f"{where}: mark-for-op needs an explicit hours (and no days): without them c7n-azure marks "
            "for 'now' or a default; the grace must be reaper.mark_grace"
        )
    elif hours <= 0 or not math.isclose(hours, values.mark_grace_hours, rel_tol=0, abs_tol=1e-6):
        problems.append(f"{where}: mark-for-op hours {hours} is not reaper.mark_grace ({values.mark_grace_hours}h)")
    msg = action.get("msg")
    if msg is not None and (not isinstance(msg, str) or not msg.endswith(f": {_MSG_SUFFIX}") or msg.count(":") != 1):
        problems.append(f"{where}: mark-for-op msg must end with ': {_MSG_SUFFIX}' and hold no other ':'")
    if (action.get("tz") or "utc").lower() != "utc":
        problems.append(f"{where}: mark-for-op must keep the default time zone (utc)")
    return problems


def _check_delete(where: str, action: Mapping[str, Any], extra: list[Any], values: PolicyValues) -> list[str]:
    problems = []
    if action.get("type") != "delete" or set(action) != {"type"}:
        problems.append(f"{where}: a delete policy's action must be a plain delete")
    marked = [f for f in extra if isinstance(f, dict) and f.get("type") == "marked-for-op"]
    wanted = {"type": "marked-for-op", "tag": values.mark_tag, "op": MARK_OP}
    if len(marked) != 1 or {k: v for k, v in marked[0].items() if k != "tz"} != wanted:
        problems.append(
            f"{where}: a delete policy needs one marked-for-op filter with tag {values.mark_tag}, op {MARK_OP} "
            "and no skew (it deletes only once the mark is due)"
        )
    return problems


# -- run files ----------------------------------------------------------------------------------
def pin_filter(plan_url: str, policy_name: str) -> dict[str, Any]:
    """The filter that restricts an acting policy to the planned resource ids (lower case)."""
    return {
        "type": "value",
        "key": "id",
        "op": "in",
        "value_type": "normalize",
        "value_from": {"url": plan_url, "format": "json", "expr": json.dumps(policy_name)},
    }


def run_file(
    path: Path,
    policies: Iterable[ReaperPolicy],
    *,
    pinned: Mapping[str, Sequence[str]] | None = None,
) -> Path | None:
    """Write the policies of one c7n run to `path`; None when there is nothing to run.

    With `pinned` (policy name -> planned resource ids), only the pinned policies are written, each
    with a first filter ``id in <ids>`` read from ``<path>.plan.json``: c7n acts on nothing else.
    """
    chosen = list(policies)
    documents: list[dict[str, Any]] = []
    if pinned is not None:
        plan_path = path.with_name(path.stem + ".plan.json")
        plan = {name: sorted({i.lower() for i in ids}) for name, ids in pinned.items() if ids}
        chosen = [p for p in chosen if p.name in plan]
        if not chosen:
            return None
        plan_path.write_text(json.dumps(plan, indent=1, sort_keys=True), encoding="utf-8")
        url = plan_path.resolve().as_uri()
        for policy in chosen:
            data = dict(policy.data)
            data["filters"] = [pin_filter(url, policy.name), *(data.get("filters") or [])]
            documents.append(data)
    else:
        documents = [dict(p.data) for p in chosen]
    if not documents:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"policies": documents}, sort_keys=False, width=120), encoding="utf-8")
    return path
