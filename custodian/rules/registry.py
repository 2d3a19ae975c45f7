"""Every rule, declared once: what it checks, whether and how it acts, where it is implemented.

`release-custodian rules list`, the README's rules table and the test that every emitted rule id
is registered all read `RULES`. A rule's `purpose` is what the engine's gate reads: holds bar
`DELETE` rules (deleting and marking for deletion) and never `REVOKE` rules (a hold never keeps a
credential working); `REPORT` and `GUARD` rules never act.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from custodian.model import Severity, Status


class Purpose(StrEnum):
    REVOKE = "revoke"  # disables accounts and invalidates credentials; holds never stop it
    DELETE = "delete"  # deletes (after marking, for resources and blobs); a hold stops it
    REPORT = "report"  # reports only; never acts
    GUARD = "guard"  # the engine's own findings: collection, safety, holds


class Implementation(StrEnum):
    PYTHON = "python"
    C7N = "c7n policy"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    checks: str
    violated: Status  # the status of a finding when the rule is violated
    severity: Severity
    purpose: Purpose
    implementation: Implementation
    where: str  # the module or policy file that implements it
    remediation: str

    @property
    def acts(self) -> bool:
        return self.purpose in (Purpose.REVOKE, Purpose.DELETE)


_LIFECYCLE = "custodian/rules/lifecycle.py"
_LEFTOVERS = "custodian/rules/leftovers.py"
_ORPHANS = "custodian/rules/orphans.py"
_REAP = "Marked for deletion, then deleted after reaper.mark_grace; remove it yourself, or hold it to keep it."

RULES: tuple[Rule, ...] = (
    Rule(
        "L1",
        "stage hand-off",
        "the accounts of (V, S) are disabled and hold no working credential once a later stage of V started "
        "(its tag appeared), after lifecycle.handoff_grace",
        Status.FAIL,
        Severity.HIGH,
        Purpose.REVOKE,
        Implementation.PYTHON,
        _LIFECYCLE,
        "Disable the account and invalidate its credentials (enforce --apply); a hold does not stop this.",
    ),
    Rule(
        "L2",
        "production revocation",
        "the (V, prod) accounts likewise once V's production deployment succeeded, after "
        "lifecycle.prod_revocation_grace",
        Status.FAIL,
        Severity.CRITICAL,
        Purpose.REVOKE,
        Implementation.PYTHON,
        _LIFECYCLE,
        "Disable the account and invalidate its credentials (enforce --apply); a hold does not stop this.",
    ),
    Rule(
        "L3",
        "retention",
        "no account of V exists lifecycle.retention after V's first successful production deployment, unless held",
        Status.FAIL,
        Severity.MEDIUM,
        Purpose.DELETE,
        Implementation.PYTHON,
        _LIFECYCLE,
        "Delete the account (enforce --apply), or place a hold if it must stay.",
    ),
    Rule(
        "L4",
        "release leftovers",
        "no VM, disk, NIC, public IP, NSG or blob tagged with a non-production stage of V remains "
        "reaper.leftover_grace after V's production success (tag keys and values in any letter case)",
        Status.FAIL,
        Severity.MEDIUM,
        Purpose.DELETE,
        Implementation.PYTHON,
        _LEFTOVERS,
        _REAP,
    ),
    Rule(
        "H1",
        "credential hygiene",
        "a credential without expiry, or living longer than lifecycle.max_credential_lifetime",
        Status.WARN,
        Severity.LOW,
        Purpose.REPORT,
        Implementation.PYTHON,
        _LIFECYCLE,
        "Issue credentials with an expiry within the configured lifetime.",
    ),
    Rule(
        "N1",
        "unresolvable name",
        "a service-account-looking name that does not parse, names an unknown version, or is ambiguous",
        Status.WARN,
        Severity.MEDIUM,
        Purpose.REPORT,
        Implementation.PYTHON,
        _LIFECYCLE,
        "Rename the account to the naming template or record its logical name; it is never acted on.",
    ),
    Rule(
        "N2",
        "account of a stage that never started",
        "an account whose stage has no tag",
        Status.WARN,
        Severity.HIGH,
        Purpose.REPORT,
        Implementation.PYTHON,
        _LIFECYCLE,
        "Find out who created it; delete it if it is not part of a release.",
    ),
    Rule(
        "O1",
        "unattached disk",
        "a managed disk attached to nothing for longer than reaper.orphan_disk_min_age "
        "(not ASR replicas, not AKS volumes)",
        Status.FAIL,
        Severity.LOW,
        Purpose.DELETE,
        Implementation.C7N,
        "policies/o1-unattached-disks.yml",
        _REAP,
    ),
    Rule(
        "O2",
        "detached NIC",
        "a NIC attached to no VM (not private endpoints, private link services, hosted workloads)",
        Status.FAIL,
        Severity.LOW,
        Purpose.DELETE,
        Implementation.C7N,
        "policies/o2-detached-nics.yml",
        _REAP,
    ),
    Rule(
        "O3",
        "unassociated public IP",
        "a public IP with no IP configuration, NAT gateway or prefix",
        Status.FAIL,
        Severity.LOW,
        Purpose.DELETE,
        Implementation.C7N,
        "policies/o3-unassociated-public-ips.yml",
        _REAP,
    ),
    Rule(
        "O4",
        "unused NSG",
        "a network security group used by no NIC and no subnet",
        Status.FAIL,
        Severity.LOW,
        Purpose.DELETE,
        Implementation.C7N,
        "policies/o4-unused-nsgs.yml",
        _REAP,
    ),
    Rule(
        "O5",
        "stopped VM",
        "a VM stopped or deallocated longer than reaper.stopped_vm_min_age (stopped, not deallocated, still bills)",
        Status.WARN,
        Severity.MEDIUM,
        Purpose.REPORT,
        Implementation.C7N,
        "policies/o5-stopped-vms.yml",
        "Deallocate it, or delete it if it is no longer needed: a human decision, never taken by the custodian.",
    ),
    Rule(
        "O6",
        "stale ephemeral blob",
        "a blob of a container listed in ephemeral_containers, last modified longer than reaper.stale_blob_age ago",
        Status.FAIL,
        Severity.LOW,
        Purpose.DELETE,
        Implementation.PYTHON,
        _ORPHANS,
        _REAP,
    ),
    Rule(
        "HOLD",
        "expired hold",
        "a hold that expired without being released (it no longer protects its target)",
        Status.WARN,
        Severity.MEDIUM,
        Purpose.GUARD,
        Implementation.PYTHON,
        "custodian/rules/holds.py",
        "Renew the hold if the target must stay, or release it.",
    ),
    Rule(
        "COLLECT",
        "incomplete inventory",
        "a unit (the release timeline, an org, a registry, a subscription, a storage account) that could not be "
        "inventoried completely, or policies that could not run; it blocks every action it concerns",
        Status.ERROR,
        Severity.HIGH,
        Purpose.GUARD,
        Implementation.PYTHON,
        "custodian/rules/collection.py",
        "Fix the cause (access, throttling, configuration) and rerun.",
    ),
    Rule(
        "SAFETY",
        "refused by the engine",
        "an action the gate refused (a scope outside the allowlist, an incomplete inventory) or a run aborted "
        "by a cap before its first action",
        Status.ERROR,
        Severity.HIGH,
        Purpose.GUARD,
        Implementation.PYTHON,
        "custodian/engine/gate.py",
        "Fix the cause (allowlist, inventory or caps) and rerun; nothing was changed for these targets.",
    ),
    Rule(
        "NOTIFY",
        "owner not notified",
        "a notice of an upcoming deletion could not be sent on a channel (or waits for the channel's per-run "
        "limit); the deletions it announces wait until a notice went out `notify_before` earlier",
        Status.WARN,
        Severity.MEDIUM,
        Purpose.GUARD,
        Implementation.PYTHON,
        "custodian/notify/send.py",
        "Fix the channel (address, webhook, SMTP credentials); the next run retries, and deletions wait meanwhile.",
    ),
)

BY_ID: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in RULES})


def rule(rule_id: str) -> Rule:
    """The registered rule `rule_id` (KeyError naming the registered ids otherwise)."""
    try:
        return BY_ID[rule_id]
    except KeyError:
        raise KeyError(f"rule {rule_id!r} is not registered (registered: {', '.join(BY_ID)})") from None


def markdown_table() -> str:
    """The README's rules table."""
    lines = [
        "| rule | checks | when violated | acts | implemented in |",
        "|---|---|---|---|---|",
    ]
    for item in RULES:
        acts = {Purpose.REVOKE: "revokes", Purpose.DELETE: "marks, then deletes"}.get(item.purpose, "no")
        if item.id in ("L3",):
            acts = "deletes"
        lines.append(
            f"| {item.id} | {item.title}: {item.checks} | {item.violated.value} ({item.severity.value}) | {acts} | "
            f"`{item.where}` |"
        )
    return "\n".join(lines)
