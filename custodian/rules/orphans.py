"""Orphans: O1-O5 on Azure resources (selected by Cloud Custodian policies), O6 on blobs (pure).

The c7n policies of `policies/` select O1-O5 (unattached disks, detached NICs, unassociated public
IPs, unused NSGs, stopped VMs, with their exclusions); this module turns each selected resource into
a verdict: FAIL with a mark or delete proposal (O1-O4), WARN report-only (O5). O6 is a Python rule:
a blob of an ephemeral container last modified longer than `stale_blob_age` ago.

A resource that several rules select gets one finding, by priority (L4, then O1..O6), the others
named in its evidence (`also_matches`). An orphan rule never acts on a resource of a release that
is not complete, nor on anything prod-stage: that is the engine's gate, for every rule alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from custodian.model import (
    AzureResource,
    Blob,
    Cost,
    Finding,
    ReleaseTimeline,
    ResourceKind,
    Severity,
    Status,
    Verdict,
)
from custodian.rules.reaping import (
    Candidate,
    ReapSettings,
    age_text,
    iso,
    mark_rule,
    parse_mark,
    read_mark,
    reap_verdict,
)
from custodian.rules.release_tags import KnownVersions
from custodian.rules.resources import (
    blob_evidence,
    blob_subject,
    label_of,
    resource_evidence,
    resource_label,
    resource_subject,
    tags_json,
)

PRIORITY = ("L4", "O1", "O2", "O3", "O4", "O5", "O6")
SELECTED_BY_C7N = ("O1", "O2", "O3", "O4", "O5")
O6 = "O6"
_RULE_OF_KIND = {
    ResourceKind.VIRTUAL_MACHINE: "L4",
    ResourceKind.DISK: "O1",
    ResourceKind.NETWORK_INTERFACE: "O2",
    ResourceKind.PUBLIC_IP: "O3",
    ResourceKind.NETWORK_SECURITY_GROUP: "O4",
}


def _what(rule: str, resource: AzureResource, settings: ReapSettings, now: datetime) -> str:
    label = resource_label(resource)
    facts = resource.facts
    if rule == "O1":
        since = facts.last_ownership_update or resource.created_at
        limit = settings.orphan_disk_min_age.days
        return f"{label} has been attached to nothing for {age_text(now, since)} (limit {limit}d; O1 orphan)"
    if rule == "O2":
        return f"{label} is attached to no VM (O2 orphan)"
    if rule == "O3":
        return f"{label} is associated with nothing: no ipConfiguration, NAT gateway or prefix (O3 orphan)"
    if rule == "O4":
        return f"{label} is used by no NIC and no subnet (O4 orphan)"
    age = age_text(now, facts.power_state_since)
    limit = settings.stopped_vm_min_age.days
    if (facts.power_state or "").lower() == "stopped":
        return f"{label} has been stopped but not deallocated for {age} (limit {limit}d; O5): compute is still billed"
    return f"{label} has been deallocated for {age} (limit {limit}d; O5): no compute charge, its disks still bill"


def resource_orphans(
    resources: Iterable[AzureResource],
    selected: Mapping[str, frozenset[str]],
    timeline: ReleaseTimeline,
    settings: ReapSettings,
    now: datetime,
    cost_of: Callable[[AzureResource], Cost | None],
) -> list[Verdict]:
    """One verdict per (rule, selected resource); `selected` maps a rule to the resource keys c7n chose."""
    known = KnownVersions(timeline.versions())
    out = []
    for resource in resources:
        for rule in SELECTED_BY_C7N:
            if resource.key not in selected.get(rule, frozenset()):
                continue
            label = label_of(resource.tags, settings, known)
            subject = resource_subject(resource, label)
            evidence = resource_evidence(resource, policy=f"policies/{rule.lower()}")
            if rule == "O5":
                stopped = (resource.facts.power_state or "").lower() == "stopped"
                finding = Finding(
                    rule,
                    Status.WARN,
                    Severity.MEDIUM if stopped else Severity.LOW,
                    subject,
                    f"{_what(rule, resource, settings, now)}. Report only: deleting a stopped VM is a human decision",
                    evidence,
                    "Deallocate it to stop the compute charge, or delete it (and its disks) if it is no longer "
                    "needed; tag it with the hold tag to acknowledge it.",
                    cost_of(resource),
                )
                out.append(Verdict(finding, resource.key))
                continue
            candidate = Candidate(
                rule,
                subject,
                resource.scope,
                resource.kind,
                resource.key,
                _what(rule, resource, settings, now),
                evidence,
                read_mark(resource.tags, settings, now),
                cost_of(resource),
            )
            out.append(reap_verdict(candidate, settings, now))
    return out


def is_stale_blob(blob: Blob, ephemeral: frozenset[str], settings: ReapSettings, now: datetime) -> bool:
    return (
        blob.container in ephemeral
        and blob.last_modified is not None
        and blob.last_modified <= now - settings.stale_blob_age
    )


def blob_orphan(
    blob: Blob,
    timeline: ReleaseTimeline,
    settings: ReapSettings,
    now: datetime,
    cost: Cost | None,
    *,
    known: KnownVersions | None = None,
) -> Verdict:
    """`known`: the timeline's versions indexed once by the caller (judging many blobs); else indexed here."""
    label = label_of(blob.tags, settings, known if known is not None else KnownVersions(timeline.versions()))
    age = age_text(now, blob.last_modified)
    candidate = Candidate(
        O6,
        blob_subject(blob, label),
        blob.scope,
        ResourceKind.BLOB,
        blob.key,
        f"blob {blob.path} in ephemeral container {blob.container} was last modified {age} ago "
        f"(limit {settings.stale_blob_age.days}d; O6 stale blob)",
        blob_evidence(blob),
        read_mark(blob.tags, settings, now, modified_at=blob.last_modified),
        cost,
    )
    return reap_verdict(candidate, settings, now)


def one_per_target(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The highest-priority verdict of each target; the other rules that matched it in `also_matches`."""
    rank = {rule: index for index, rule in enumerate(PRIORITY)}
    ordered = sorted(verdicts, key=lambda v: rank.get(v.finding.rule, len(rank)))
    chosen: dict[str, Verdict] = {}
    also: dict[str, list[str]] = {}
    loose: list[Verdict] = []
    for verdict in ordered:
        if verdict.target is None:
            loose.append(verdict)
        elif verdict.target not in chosen:
            chosen[verdict.target] = verdict
        elif verdict.finding.rule not in also.setdefault(verdict.target, []):
            also[verdict.target].append(verdict.finding.rule)
    out = []
    for target, verdict in chosen.items():
        if also.get(target):
            evidence = dict(verdict.finding.evidence) | {"also_matches": ",".join(also[target])}
            verdict = replace(verdict, finding=replace(verdict.finding, evidence=evidence))
        out.append(verdict)
    return out + loose


def stale_marks(
    resources: Iterable[AzureResource], judged: set[str], timeline: ReleaseTimeline, settings: ReapSettings
) -> list[Verdict]:
    """A resource still carrying a readable mark that no rule selects any more: say so (never acted on)."""
    out = []
    known = KnownVersions(timeline.versions())
    for resource in resources:
        raw = resource.tags.value(settings.mark_tag)
        due = parse_mark(raw)
        if resource.key in judged or due is None:
            continue
        rule = mark_rule(raw) or _RULE_OF_KIND[resource.kind]
        finding = Finding(
            rule if rule in PRIORITY else _RULE_OF_KIND[resource.kind],
            Status.WARN,
            Severity.LOW,
            resource_subject(resource, label_of(resource.tags, settings, known)),
            f"{resource_label(resource)} still carries the deletion mark {raw!r} (due {iso(due)}) but no rule selects "
            "it any more: it is not deleted; if a rule selected it again it would be deleted without a new grace",
            {
                "subscription": resource.scope.name,
                "type": resource.arm_type,
                "mark": raw,
                "tags": tags_json(resource.tags),
            },
            f"Remove the {settings.mark_tag} tag.",
        )
        out.append(Verdict(finding, resource.key))
    return out
