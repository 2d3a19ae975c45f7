"""Judging what one read-only c7n run found in one subscription (pure: no I/O, time passed in).

`judge_subscription` turns the per-policy resource lists of the inventory run into:

- consistency problems (a partial inventory): a listed resource missing from the unfiltered
  inventory of its type, an acting policy listing what its report policy did not, a held resource
  in an acting policy's list (the hold filter failed);
- one `Candidate` per resource, deduplicated across rules by priority (`RULES` order: L4, then
  O1..O5; the others go to `also_matches`), knowing whether it is held, its mark and whether an
  acting policy listed it for marking or deletion;
- findings (FAIL; HELD; WARN for O5, which is report-only, and for a resource still carrying one
  of our marks but matching no rule);
- `plan_deletions`: which due deletions can happen in this run, in dependency order (VMs, then
  NICs, then public IPs and NSGs, then disks), and which are kept because something that stays
  still uses them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from custodian.model import Cost, Finding, Severity, Status, Subject
from custodian.reaper.arm_policies import RULES

__all__ = [
    "KIND_LABEL",
    "TIERS",
    "Blocker",
    "Candidate",
    "DeletePlan",
    "JudgeSettings",
    "SubscriptionJudgement",
    "blockers_of",
    "cascades_of",
    "id_key",
    "judge_subscription",
    "parse_mark",
    "plan_deletions",
]

KIND_LABEL = {
    "virtualMachine": "VM",
    "disk": "managed disk",
    "networkInterface": "NIC",
    "publicIPAddress": "public IP",
    "networkSecurityGroup": "NSG",
}
TIERS: tuple[tuple[str, ...], ...] = (
    ("virtualMachine",),
    ("networkInterface",),
    ("publicIPAddress", "networkSecurityGroup"),
    ("disk",),
)
_UNDELETABLE_DISK_STATES = {"activesas", "activesasfrozen", "activeupload", "readytoupload", "frozen"}
_MARK = re.compile(r"^\s*(\d{4})/(\d{1,2})/(\d{1,2})(?:\s+(\d{2})(\d{2}))?(?:\s+(\S+))?\s*$")
OUR_MARK_PREFIX = "release-custodian"


def id_key(resource_id: str) -> str:
    return resource_id.strip().rstrip("/").lower()


def parse_mark(value: str | None, op: str = "delete") -> datetime | None:
    """The due time of a c7n mark (`<msg>: <op>@YYYY/MM/DD[ HHMM UTC]`), as c7n-azure reads it."""
    if not value or ":" not in value or "@" not in value:
        return None
    _, target = value.rsplit(":", 1)
    action, _, when = target.strip().partition("@")
    if action != op:
        return None
    match = _MARK.match(when)
    if match is None or (match.group(6) or "UTC").upper() not in ("UTC", "Z", "GMT"):
        return None
    year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups()[:5])
    try:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        return None


def _get(doc: Any, *path: str) -> Any:
    for step in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(step)
    return doc


def _ref(doc: Any) -> str | None:
    value = _get(doc, "id")
    return value if isinstance(value, str) and value else None


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    tags = resource.get("tags")
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {}


def _tag(tags: Mapping[str, str], key: str) -> tuple[str, str] | None:
    """(actual key, value) of the tag named `key` in any letter case (ARM tag names are case-insensitive)."""
    for name, value in tags.items():
        if name.lower() == key.lower():
            return name, value
    return None


def power_state(resource: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(power state, time of the last provisioning status) from an instance view, when present."""
    view = resource.get("instanceView") or _get(resource, "properties", "instanceView") or {}
    state, since = None, None
    for status in _get(view, "statuses") or []:
        code = str(_get(status, "code") or "")
        if code.lower().startswith("powerstate/"):
            state = code.split("/", 1)[1]
        elif code.lower().startswith("provisioningstate/") and _get(status, "time"):
            since = str(_get(status, "time"))
    return state, since


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*?\.\d{1,6})\d*([+-]\d\d:\d\d)?$", text)  # ARM writes 7 fraction digits
    if match:
        text = match.group(1) + (match.group(2) or "")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _age(now: datetime, since: datetime | None) -> str:
    if since is None:
        return "an unknown time"
    delta = now - since
    return f"{delta.days}d" if delta >= timedelta(days=1) else f"{int(delta.total_seconds() // 3600)}h"


# -- candidates -----------------------------------------------------------------------------------
@dataclass
class Candidate:
    """One resource some rule's report policy listed (deduplicated across rules)."""

    resource_id: str
    kind: str
    rule: str
    resource: Mapping[str, Any]
    report_policy: str
    also: list[str] = field(default_factory=list)
    held: tuple[str, str] | None = None  # (tag key as written, value)
    mark: str | None = None
    due: datetime | None = None
    mark_policy: str | None = None  # the acting policy that lists it for marking, if any
    delete_policy: str | None = None  # the acting policy that lists it for deletion, if any

    @property
    def key(self) -> str:
        return id_key(self.resource_id)

    @property
    def name(self) -> str:
        return str(self.resource.get("name") or self.resource_id.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class JudgeSettings:
    subscription: str
    hold_tag: str
    mark_tag: str
    mark_grace: timedelta
    version_tag_key: str
    stage_tag_key: str
    orphan_disk_min_age: timedelta
    stopped_vm_min_age: timedelta
    now: datetime


@dataclass(frozen=True)
class PolicyListing:
    """What one policy of the inventory run listed (None when its output is missing)."""

    name: str
    role: str
    rule: str | None
    kind: str
    resources: list[dict[str, Any]] | None


@dataclass
class SubscriptionJudgement:
    subscription: str
    inventory: dict[str, dict[str, Any]]  # id key -> resource JSON (the unfiltered listings)
    inventory_kinds: dict[str, str]  # id key -> kind
    candidates: dict[str, Candidate]  # id key -> candidate
    stale_marks: list[dict[str, Any]]
    problems: list[str]


def judge_subscription(listings: Sequence[PolicyListing], settings: JudgeSettings) -> SubscriptionJudgement:
    problems: list[str] = []
    inventory: dict[str, dict[str, Any]] = {}
    inventory_kinds: dict[str, str] = {}
    for listing in listings:
        if listing.role != "inventory":
            continue
        if listing.resources is None:
            problems.append(f"inventory policy {listing.name} produced no listing")
            continue
        for resource in listing.resources:
            key = id_key(str(resource.get("id", "")))
            inventory[key] = resource
            inventory_kinds[key] = listing.kind
    reports: dict[str, set[str]] = {}
    candidates: dict[str, Candidate] = {}
    priority = {rule: index for index, rule in enumerate(RULES)}
    ordered = sorted(
        (x for x in listings if x.role != "inventory"),
        key=lambda x: (priority.get(x.rule or "", 99), ("report", "mark", "delete").index(x.role), x.name),
    )
    for listing in ordered:
        if listing.resources is None:
            continue  # the run's problems already say why
        for resource in listing.resources:
            key = id_key(str(resource.get("id", "")))
            if inventory_kinds.get(key) != listing.kind:
                problems.append(
                    f"policy {listing.name} listed {resource.get('id')} which the unfiltered {listing.kind} "
                    "listing of this run does not contain: the listings disagree (partial inventory)"
                )
                continue
            base = inventory[key]
            if listing.role == "report":
                reports.setdefault(listing.name, set()).add(key)
                if key in candidates:
                    known = candidates[key]
                    if listing.rule and listing.rule != known.rule and listing.rule not in known.also:
                        known.also.append(listing.rule)
                    continue
                merged = {**base, **resource}
                if "instanceView" in base and "instanceView" not in resource:
                    merged["instanceView"] = base["instanceView"]
                candidates[key] = _candidate(merged, listing, settings)
                continue
            report_name = listing.name.removesuffix(f"-{listing.role}")
            if key not in reports.get(report_name, set()):
                problems.append(
                    f"policy {listing.name} listed {resource.get('id')} which its report policy {report_name} did not"
                )
                continue
            candidate = candidates[key]
            if candidate.held is not None:
                problems.append(
                    f"policy {listing.name} listed {resource.get('id')} although it carries the hold tag "
                    f"{candidate.held[0]}: the hold filter failed; nothing is marked or deleted here"
                )
                continue
            if listing.role == "mark" and candidate.mark_policy is None:
                candidate.mark_policy = listing.name
            if listing.role == "delete" and candidate.delete_policy is None:
                candidate.delete_policy = listing.name
    stale = [
        resource
        for key, resource in inventory.items()
        if key not in candidates
        and (_tags(resource).get(settings.mark_tag) or "").startswith(OUR_MARK_PREFIX)
        and _tag(_tags(resource), settings.hold_tag) is None
    ]
    return SubscriptionJudgement(settings.subscription, inventory, inventory_kinds, candidates, stale, problems)


def _candidate(resource: Mapping[str, Any], listing: PolicyListing, settings: JudgeSettings) -> Candidate:
    tags = _tags(resource)
    mark = tags.get(settings.mark_tag)
    assert listing.rule is not None
    return Candidate(
        resource_id=str(resource.get("id")),
        kind=listing.kind,
        rule=listing.rule,
        resource=resource,
        report_policy=listing.name,
        held=_tag(tags, settings.hold_tag),
        mark=mark,
        due=parse_mark(mark),
    )


# -- findings -------------------------------------------------------------------------------------
def subject_of(resource: Mapping[str, Any], kind: str, settings: JudgeSettings) -> Subject:
    tags = _tags(resource)
    return Subject(
        provider="azure",
        kind=kind,
        provider_name=str(resource.get("name") or ""),
        version=tags.get(settings.version_tag_key),
        stage=tags.get(settings.stage_tag_key),
        resource_id=str(resource.get("id") or ""),
        scope=f"/subscriptions/{settings.subscription}",
    )


def _resource_group(resource_id: str) -> str | None:
    parts = resource_id.split("/")
    lower = [p.lower() for p in parts]
    return parts[lower.index("resourcegroups") + 1] if "resourcegroups" in lower[:-1] else None


def evidence_of(candidate: Candidate, settings: JudgeSettings) -> dict[str, str | None]:
    resource = candidate.resource
    props = resource.get("properties") if isinstance(resource.get("properties"), Mapping) else {}
    assert isinstance(props, Mapping)
    evidence: dict[str, str | None] = {
        "subscription": settings.subscription,
        "resource_group": str(resource.get("resourceGroup") or _resource_group(candidate.resource_id) or ""),
        "type": str(resource.get("type") or ""),
        "location": str(resource.get("location") or ""),
        "policy": candidate.report_policy,
        "tags": json.dumps(_tags(resource), sort_keys=True, separators=(",", ":")),
        "mark": candidate.mark,
        "deletion_due": _iso(candidate.due),
    }
    sku = _get(resource, "sku", "name")
    if candidate.kind == "virtualMachine":
        state, since = power_state(resource)
        evidence.update(
            {
                "size": str(_get(props, "hardwareProfile", "vmSize") or ""),
                "power_state": state,
                "power_state_since": since,
                "time_created": props.get("timeCreated"),
            }
        )
    elif candidate.kind == "disk":
        evidence.update(
            {
                "sku": str(sku or ""),
                "size_gb": str(props.get("diskSizeGB") or ""),
                "disk_state": props.get("diskState"),
                "managed_by": resource.get("managedBy"),
                "time_created": props.get("timeCreated"),
                "last_ownership_update": props.get("LastOwnershipUpdateTime"),
            }
        )
    elif candidate.kind == "networkInterface":
        evidence["virtual_machine"] = _ref(props.get("virtualMachine"))
    elif candidate.kind == "publicIPAddress":
        evidence.update(
            {
                "sku": str(sku or "Basic"),
                "ip_configuration": _ref(props.get("ipConfiguration")),
                "ip_address": props.get("ipAddress"),
            }
        )
    elif candidate.kind == "networkSecurityGroup":
        evidence["network_interfaces"] = str(len(props.get("networkInterfaces") or []))
        evidence["subnets"] = str(len(props.get("subnets") or []))
    if candidate.also:
        evidence["also_matches"] = ",".join(candidate.also)
    if candidate.held is not None:
        evidence["hold"] = f"{candidate.held[0]}={candidate.held[1]}"
    return evidence


def _what(candidate: Candidate, settings: JudgeSettings) -> str:
    label = f"{KIND_LABEL[candidate.kind]} {candidate.name}"
    props = candidate.resource.get("properties") or {}
    tags = _tags(candidate.resource)
    if candidate.rule == "L4":
        version = tags.get(settings.version_tag_key, "?")
        stage = tags.get(settings.stage_tag_key, "?")
        return f"{label} of {version} {stage} remains although {version} is live in production (L4 leftover)"
    if candidate.rule == "O1":
        since = _parse_time(_get(props, "LastOwnershipUpdateTime")) or _parse_time(_get(props, "timeCreated"))
        limit = settings.orphan_disk_min_age.days
        return f"{label} has been attached to nothing for {_age(settings.now, since)} (limit {limit}d; O1 orphan)"
    if candidate.rule == "O2":
        return f"{label} is attached to no VM (O2 orphan)"
    if candidate.rule == "O3":
        return f"{label} is associated with nothing: no ipConfiguration, NAT gateway or prefix (O3 orphan)"
    if candidate.rule == "O4":
        return f"{label} is used by no NIC and no subnet (O4 orphan)"
    state, since_text = power_state(candidate.resource)
    age = _age(settings.now, _parse_time(since_text))
    limit = settings.stopped_vm_min_age.days
    if (state or "").lower() == "stopped":
        return (
            f"{label} has been stopped but not deallocated for {age} (limit {limit}d; O5): "
            "compute is still billed in full"
        )
    return f"{label} has been deallocated for {age} (limit {limit}d; O5): no compute charge, its disks still bill"


def finding_for(
    candidate: Candidate,
    settings: JudgeSettings,
    cost: Cost | None,
    *,
    blocked: str | None = None,
) -> Finding:
    subject = subject_of(candidate.resource, candidate.kind, settings)
    evidence = evidence_of(candidate, settings)
    what = _what(candidate, settings)
    if blocked:
        evidence["blocked_by"] = blocked
    if candidate.held is not None:
        key, value = candidate.held
        return Finding(
            candidate.rule,
            Status.HELD,
            Severity.INFO,
            subject,
            f"{what}; protected by the hold tag {key}={value!r}: never marked or deleted",
            evidence,
            f"Remove the {key} tag once the resource may be reaped.",
            cost,
        )
    if candidate.rule == "O5":  # advice on cost, never acted on: WARN, not a failing finding
        stopped = (power_state(candidate.resource)[0] or "").lower() == "stopped"
        return Finding(
            "O5",
            Status.WARN,
            Severity.MEDIUM if stopped else Severity.LOW,
            subject,
            f"{what}. Report only: deleting a stopped VM is a human decision",
            evidence,
            "Deallocate it to stop the compute charge, or delete it (and its disks) if it is no longer needed; "
            "tag it with the hold tag to acknowledge it.",
            cost,
        )
    severity = Severity.MEDIUM if candidate.rule == "L4" else Severity.LOW
    remediation = (
        f"Delete it, or tag it with {settings.hold_tag} to keep it; enforce --apply marks it and deletes it "
        f"{_duration(settings.mark_grace)} later."
    )
    planned = settings.now + settings.mark_grace
    if candidate.mark is None:
        message = f"{what}; not marked: enforce marks it for deletion at {_iso(planned)}"
    elif candidate.due is None:
        message = (
            f"{what}; its mark tag {settings.mark_tag}={candidate.mark!r} is unreadable: it is neither marked again "
            "nor deleted until the tag is removed"
        )
    elif candidate.due > settings.now:
        message = f"{what}; marked: deletion due at {_iso(candidate.due)}"
    elif blocked:
        message = f"{what}; marked: deletion due at {_iso(candidate.due)} (passed), but kept for now: {blocked}"
    else:
        message = f"{what}; marked: deletion due at {_iso(candidate.due)} (passed): enforce deletes it"
    return Finding(candidate.rule, Status.FAIL, severity, subject, message, evidence, remediation, cost)


def stale_mark_finding(resource: Mapping[str, Any], kind: str, settings: JudgeSettings) -> Finding:
    mark = _tags(resource).get(settings.mark_tag, "")
    rule = next((r for r in RULES if f" {r} " in f" {mark} "), "REAPER")
    due = parse_mark(mark)
    return Finding(
        rule,
        Status.WARN,
        Severity.LOW,
        subject_of(resource, kind, settings),
        f"{KIND_LABEL[kind]} {resource.get('name')} still carries the deletion mark {mark!r} but no longer matches "
        f"any rule: it is not deleted; if it matched again it would be deleted without a new grace"
        + (f" (the mark was due at {_iso(due)})" if due else ""),
        {
            "subscription": settings.subscription,
            "type": str(resource.get("type") or ""),
            "mark": mark,
            "tags": json.dumps(_tags(resource), sort_keys=True, separators=(",", ":")),
        },
        f"Remove the {settings.mark_tag} tag.",
    )


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- dependencies ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Blocker:
    """Something that keeps a resource from being deleted: another resource (id) or a state (None)."""

    resource_id: str | None
    reason: str


def _owner_of_ip_configuration(config_id: str) -> str:
    """`.../networkInterfaces/nic/ipConfigurations/x` -> the NIC id (likewise for other parents)."""
    parts = config_id.split("/")
    return "/".join(parts[:-2]) if len(parts) > 2 else config_id


def blockers_of(kind: str, resource: Mapping[str, Any]) -> list[Blocker]:
    """What must be gone (or cannot change) before `resource` can be deleted (ARM refuses otherwise)."""
    props = resource.get("properties") if isinstance(resource.get("properties"), Mapping) else {}
    assert isinstance(props, Mapping)
    out: list[Blocker] = []
    if kind == "networkInterface":
        vm = _ref(props.get("virtualMachine"))
        if vm:
            out.append(Blocker(vm, f"attached to VM {vm.rsplit('/', 1)[-1]}"))
        endpoint = _ref(props.get("privateEndpoint"))
        if endpoint:
            out.append(Blocker(None, f"owned by private endpoint {endpoint.rsplit('/', 1)[-1]}"))
    elif kind == "publicIPAddress":
        config = _ref(props.get("ipConfiguration"))
        if config:
            owner = _owner_of_ip_configuration(config)
            out.append(Blocker(owner, f"used by {owner.split('/')[-2]} {owner.rsplit('/', 1)[-1]}"))
        gateway = _ref(props.get("natGateway"))
        if gateway:
            out.append(Blocker(None, f"attached to NAT gateway {gateway.rsplit('/', 1)[-1]}"))
    elif kind == "networkSecurityGroup":
        for nic in props.get("networkInterfaces") or []:
            nic_id = _ref(nic)
            if nic_id:
                out.append(Blocker(nic_id, f"used by NIC {nic_id.rsplit('/', 1)[-1]}"))
        for subnet in props.get("subnets") or []:
            subnet_ref = _ref(subnet) or "?"
            out.append(Blocker(None, f"on subnet {'/'.join(subnet_ref.split('/')[-3::2])}"))
    elif kind == "disk":
        managed_by = resource.get("managedBy")
        if isinstance(managed_by, str) and managed_by:
            out.append(Blocker(managed_by, f"attached to VM {managed_by.rsplit('/', 1)[-1]}"))
        state = str(props.get("diskState") or "")
        if state.lower() in _UNDELETABLE_DISK_STATES:
            out.append(Blocker(None, f"disk state {state} (e.g. an open SAS export): ARM refuses to delete it"))
    return out


def cascades_of(resource: Mapping[str, Any]) -> list[str]:
    """Ids a VM's deletion removes with it (disks and NICs with `deleteOption: Delete`)."""
    props = resource.get("properties") if isinstance(resource.get("properties"), Mapping) else {}
    out: list[str] = []
    storage = _get(props, "storageProfile") or {}
    for disk in [storage.get("osDisk"), *(storage.get("dataDisks") or [])]:
        disk_id = _ref(_get(disk, "managedDisk"))
        if disk_id and str(_get(disk, "deleteOption") or "Detach").lower() == "delete":
            out.append(disk_id)
    for nic in _get(props, "networkProfile", "networkInterfaces") or []:
        nic_id = _ref(nic)
        if nic_id and str(_get(nic, "properties", "deleteOption") or "Detach").lower() == "delete":
            out.append(nic_id)
    return out


@dataclass(frozen=True)
class DeletePlan:
    planned: dict[str, Candidate]  # id key -> candidate, deletable in this run (dependencies permitting)
    blocked: dict[str, str]  # id key -> why it is kept for now


def plan_deletions(due: Iterable[Candidate]) -> DeletePlan:
    """Which due deletions can happen: a blocker must itself be deleted in this run (or with a VM)."""
    planned = {c.key: c for c in due}
    blocked: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        going = set(planned)
        for candidate in planned.values():
            if candidate.kind == "virtualMachine":
                going.update(id_key(i) for i in cascades_of(candidate.resource))
        for key, candidate in list(planned.items()):
            for blocker in blockers_of(candidate.kind, candidate.resource):
                if blocker.resource_id is None:
                    blocked[key] = f"{blocker.reason}; not deleted"
                elif id_key(blocker.resource_id) not in going:
                    blocked[key] = f"{blocker.reason}, which is not being deleted"
                else:
                    continue
                del planned[key]
                changed = True
                break
    return DeletePlan(planned, blocked)


def tier_of(kind: str) -> int:
    for index, kinds in enumerate(TIERS):
        if kind in kinds:
            return index
    raise ValueError(kind)
