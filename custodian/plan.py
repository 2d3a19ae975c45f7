"""Planning: failing findings -> actions, under the safety rules (pure; no I/O, time passed in).

- Only FAIL findings of L1/L2/L3 produce actions; HELD, WARN, PASS and ERROR never do.
- A scope whose inventory is incomplete (or an incomplete release timeline) blocks every action in it.
- Targets outside the enforce allowlist (subscriptions, orgs) are refused.
- Blast-radius caps: more actions than `max_actions_per_run`, or more accounts than
  `max_actions_percent` of the inventory, abort the whole plan before the first action.
Refusals and aborts are WARN findings (rule `SAFETY`), so they show in every report; the FAIL
findings they leave unremediated keep the run's exit code at 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from custodian.model import (
    Action,
    ActionKind,
    CredentialKind,
    Finding,
    Inventory,
    ServiceAccount,
    Severity,
    Status,
    Subject,
)

TIMELINE_SCOPE = "timeline"
ACTIONABLE_RULES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class PlanLimits:
    allowed_subscriptions: frozenset[str]
    allowed_orgs: frozenset[str]
    max_actions_per_run: int
    max_actions_percent: float
    github_mode: str = "enterprise-server"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    refusals: tuple[Finding, ...]
    aborted: bool = False


def _safety(subject: Subject, message: str, severity: Severity = Severity.HIGH) -> Finding:
    return Finding(
        "SAFETY",
        Status.WARN,
        severity,
        subject,
        message,
        {"scope": subject.scope},
        "Fix the cause (inventory, allowlist or caps) and rerun; nothing was changed for this target.",
    )


def _allowed(account: ServiceAccount, limits: PlanLimits) -> bool:
    scope = account.scope
    if scope.startswith("github:"):
        return scope.removeprefix("github:").lower() in {o.lower() for o in limits.allowed_orgs}
    parts = scope.split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return parts[2].lower() in {s.lower() for s in limits.allowed_subscriptions}
    return False


def actions_for(rule: str, account: ServiceAccount, subject: Subject, mode: str) -> list[Action]:
    """The steps that make `account` comply with `rule` (L3 deletes; L1/L2 disable and invalidate)."""
    reason = f"{rule} FAIL"
    if rule == "L3":
        if account.kind.value == "gh" and mode == "organization":
            kinds = [ActionKind.REVOKE_PAT_GRANTS, ActionKind.REMOVE_MEMBERSHIP]
        else:
            kinds = [ActionKind.DELETE_ACCOUNT]
        return [Action(kind, subject, rule, reason) for kind in kinds]
    kinds = []
    if account.enabled:
        kinds.append(
            ActionKind.REMOVE_MEMBERSHIP
            if account.kind.value == "gh" and mode == "organization"
            else ActionKind.DISABLE
        )
    present = {c.kind for c in account.credentials}
    if CredentialKind.ACR_PASSWORD in present:
        kinds.append(ActionKind.REMOVE_CREDENTIALS)
    if CredentialKind.PAT_GRANT in present:
        kinds.append(ActionKind.REVOKE_PAT_GRANTS)
    if CredentialKind.SSH_KEY in present and mode != "organization":
        kinds.append(ActionKind.DELETE_SSH_KEYS)
    if account.kind.value == "gh" and mode == "enterprise-server":
        kinds.append(ActionKind.DELETE_IMPERSONATION_TOKENS)  # not listable on GHES: always invalidate
    return [Action(kind, subject, rule, reason) for kind in kinds]


def plan_actions(findings: Iterable[Finding], inventory: Inventory, limits: PlanLimits) -> Plan:
    accounts = {(a.scope, a.provider_name): a for a in inventory.accounts}
    failing = [f for f in findings if f.status is Status.FAIL and f.rule in ACTIONABLE_RULES]
    timeline_complete = inventory.scope_complete(TIMELINE_SCOPE)
    by_account: dict[tuple[str, str], list[Finding]] = {}
    refusals: list[Finding] = []
    for finding in failing:
        key = (finding.subject.scope or "", finding.subject.provider_name)
        account = accounts.get(key)
        if account is None:
            refusals.append(_safety(finding.subject, f"{finding.subject.provider_name}: not in the inventory"))
        elif not timeline_complete:
            refusals.append(_safety(finding.subject, "release timeline incomplete: no account action is taken"))
        elif not inventory.scope_complete(account.scope):
            refusals.append(_safety(finding.subject, f"inventory of {account.scope} is incomplete: action blocked"))
        elif not _allowed(account, limits):
            refusals.append(_safety(finding.subject, f"{account.scope} is not on the enforce allowlist: refused"))
        else:
            by_account.setdefault(key, []).append(finding)

    actions: dict[str, Action] = {}
    for key, account_findings in by_account.items():
        account = accounts[key]
        rules = {f.rule for f in account_findings}
        chosen = [f for f in account_findings if f.rule == "L3"] if "L3" in rules else account_findings
        for finding in chosen:
            for action in actions_for(finding.rule, account, finding.subject, limits.github_mode):
                actions.setdefault(action.key, action)

    return _apply_caps(tuple(actions.values()), refusals, len(by_account), len(inventory.accounts), limits)


def _apply_caps(
    actions: tuple[Action, ...], refusals: Sequence[Finding], targets: int, population: int, limits: PlanLimits
) -> Plan:
    subject = Subject(provider="custodian", kind="plan", provider_name="enforce")
    if len(actions) > limits.max_actions_per_run:
        message = (
            f"plan aborted: {len(actions)} actions exceed max_actions_per_run={limits.max_actions_per_run}; "
            "nothing was changed"
        )
        return Plan((), (*refusals, _safety(subject, message, Severity.CRITICAL)), aborted=True)
    if population and targets * 100.0 / population > limits.max_actions_percent:
        message = (
            f"plan aborted: {targets} of {population} accounts ({targets * 100.0 / population:.0f}%) exceed "
            f"max_actions_percent={limits.max_actions_percent:g}; nothing was changed"
        )
        return Plan((), (*refusals, _safety(subject, message, Severity.CRITICAL)), aborted=True)
    return Plan(actions, tuple(refusals))
