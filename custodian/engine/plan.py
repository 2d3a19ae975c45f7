"""One planner for the whole run: every part's proposals, one gate, run-wide caps, settled findings.

`make_plan` takes the verdicts of every rule (accounts, Azure resources, blobs) and:

1. settles each finding of a deleting rule against its target's protection: a hold makes it HELD
   (never marked or deleted), the rule's scope (prod stage, release not complete, managed parent)
   makes it report-only (WARN); a revoking rule under a hold stays FAIL and says "held: kept, but
   revoked" (a hold never keeps a credential working);
2. passes every proposed action through the gate; one allowed action per key (a deletion of an
   account supersedes its revocation steps);
3. resolves dependencies of deletions (what must go first, what a VM takes with it; `dependencies`);
4. counts the caps over the whole run: more than `max_actions_per_run` actions, or more than
   `max_actions_percent` of a scope's inventoried objects, aborts the run before its first action;
5. turns refusals into one shape: SKIPPED records (enforce) and one SAFETY finding per scope and
   reason (ERROR in enforce runs, WARN in audits, which only forecast), and says in each finding
   what enforce does or why it does not. What only waits (a dependency kept, not due yet) is said
   in its finding and is no refusal. An audit plans too: the dry-run set is the applied set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from custodian.engine.dependencies import resolve_dependencies
from custodian.engine.gate import Decision, Effect, Gate, Refusal
from custodian.engine.holds import Target
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Finding,
    Severity,
    Status,
    Subject,
    Verdict,
)
from custodian.rules.registry import Purpose, rule


@dataclass(frozen=True)
class Limits:
    max_actions_per_run: int
    max_actions_percent: float


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]  # allowed, in proposal order (`after` orders them at execution)
    refused: tuple[ActionRecord, ...]  # SKIPPED: what the gate, a dependency or a cap refused
    findings: tuple[Finding, ...]  # every finding, settled, plus the SAFETY findings
    aborted: str | None = None  # why a cap aborted the run (nothing is done)
    notes: Mapping[str, str] = field(default_factory=dict)
    waiting: tuple[tuple[Action, Decision], ...] = ()  # not yet: not due, a dependency, a notice (said in findings)


_REVOCATION = frozenset(
    {
        ActionKind.DISABLE,
        ActionKind.REMOVE_CREDENTIALS,
        ActionKind.REVOKE_PAT_GRANTS,
        ActionKind.DELETE_IMPERSONATION_TOKENS,
        ActionKind.DELETE_SSH_KEYS,
        ActionKind.REMOVE_MEMBERSHIP,
    }
)


def _protected(finding: Finding, decision: Decision) -> Finding:
    evidence = dict(finding.evidence) | {"protected": decision.detail}
    if decision.refusal is Refusal.HELD:
        assert decision.hold is not None
        evidence |= dict(decision.hold.evidence)
        return replace(
            finding,
            status=Status.HELD,
            message=f"{finding.message}; held ({decision.hold.description}): kept, never marked or deleted",
            evidence=evidence,
            remediation="No deletion while the hold is active; release it (`release-custodian hold release`) "
            "or remove the hold tag when it may go.",
        )
    return replace(
        finding,
        status=Status.WARN,
        message=f"{finding.message}; report only: {decision.detail}",
        evidence=evidence,
        remediation="Review it by hand: the custodian never deletes this.",
    )


def _held_but_revoked(finding: Finding, gate: Gate, target: Target | None) -> Finding:
    held = gate.context.holds.match(target, finding.subject)
    if held is None:
        return finding
    return replace(
        finding,
        message=f"{finding.message}; held ({held.description}): kept, but revoked (a hold never keeps a "
        "credential working)",
        evidence=dict(finding.evidence) | dict(held.evidence),
    )


def _describe(action: Action) -> str:
    if action.kind is ActionKind.MARK:
        return f"enforce marks it for deletion at {(action.param('due') or '').split()[0]}"
    if action.kind is ActionKind.DELETE_RESOURCE:
        return "enforce deletes it"
    return ""


def make_plan(
    verdicts: Sequence[Verdict],
    targets: Mapping[str, Target],
    gate: Gate,
    limits: Limits,
    populations: Mapping[str, int],
    *,
    enforce: bool,
    now: datetime,
) -> Plan:
    findings: list[Finding] = []
    proposals: list[tuple[int, Action, Decision | None]] = []
    for verdict in verdicts:
        finding = verdict.finding
        target = targets.get(verdict.target) if verdict.target else None
        purpose = rule(finding.rule).purpose
        if finding.status is Status.FAIL and purpose is Purpose.DELETE and target is not None:
            decision = gate.protection(target, finding.subject, finding.rule)
            if decision is not None:
                findings.append(_protected(finding, decision))
                continue
        if finding.status is Status.FAIL and purpose is Purpose.REVOKE:
            finding = _held_but_revoked(finding, gate, target)
        index = len(findings)
        findings.append(finding)
        for action in verdict.actions:
            proposals.append((index, action, gate.check(action, targets.get(action.target))))

    allowed: dict[str, Action] = {}
    owner: dict[str, int] = {}
    refused: dict[str, tuple[int, Action, Decision]] = {}
    for index, action, decision in proposals:
        if decision is None:
            allowed.setdefault(action.key, action)
            owner.setdefault(action.key, index)
        else:
            refused.setdefault(action.key, (index, action, decision))
    deleting = {a.target for a in allowed.values() if a.kind is ActionKind.DELETE_ACCOUNT}
    for key in [k for k, a in allowed.items() if a.target in deleting and a.kind in _REVOCATION]:
        del allowed[key]  # the account's deletion supersedes its revocation steps
    for key in list(refused):
        if key in allowed or refused[key][1].target in deleting:
            del refused[key]

    resolved = resolve_dependencies(list(allowed.values()), targets, gate)
    for key, decision in resolved.refused.items():
        refused[key] = (owner[key], allowed[key], decision)
    actions = list(resolved.actions)
    owner_by_target = _owners_by_target(allowed, owner)
    for action in actions:  # a detach belongs to the finding of the VM deletion it serves
        owner.setdefault(action.key, owner_by_target.get(action.target, -1))

    aborted = _cap(actions, populations, limits)
    records: list[ActionRecord] = []
    if aborted is not None:
        for action in actions:
            refused[action.key] = (owner.get(action.key, -1), action, Decision(Refusal.CAP, aborted))
        actions = []
    for _index, action, decision in refused.values():
        if enforce and decision.refusal.effect is Effect.BLOCKED:  # waiting is said in the finding only
            records.append(ActionRecord(action, ActionOutcome.SKIPPED, now, f"not taken: {decision.detail}"))

    _settle_messages(findings, actions, refused, owner, resolved.notes)
    findings += _safety_findings(list(refused.values()), aborted, enforce)
    waiting = tuple((a, d) for _i, a, d in refused.values() if d.refusal.effect is Effect.WAIT)
    return Plan(tuple(actions), tuple(records), tuple(findings), aborted, resolved.notes, waiting)


def _owners_by_target(allowed: Mapping[str, Action], owner: Mapping[str, int]) -> dict[str, int]:
    """Per target, the finding that owns the first allowed action on it (one pass, not one scan per action)."""
    by_target: dict[str, int] = {}
    for key, action in allowed.items():
        if key in owner:
            by_target.setdefault(action.target, owner[key])
    return by_target


def _cap(actions: Sequence[Action], populations: Mapping[str, int], limits: Limits) -> str | None:
    if len(actions) > limits.max_actions_per_run:
        return (
            f"{len(actions)} actions in this run exceed enforce.max_actions_per_run={limits.max_actions_per_run}; "
            "nothing was changed"
        )
    by_scope: dict[str, set[str]] = {}
    for action in actions:
        if action.scope is not None:
            by_scope.setdefault(action.scope.key, set()).add(action.target)
    for scope, touched in sorted(by_scope.items()):
        population = populations.get(scope, 0)
        if population and len(touched) * 100.0 > limits.max_actions_percent * population:
            return (
                f"{len(touched)} of the {population} objects inventoried in {scope} "
                f"({len(touched) * 100.0 / population:.0f}%) exceed enforce.max_actions_percent="
                f"{limits.max_actions_percent:g}; nothing was changed"
            )
    return None


def _settle_messages(
    findings: list[Finding],
    actions: Sequence[Action],
    refused: Mapping[str, tuple[int, Action, Decision]],
    owner: Mapping[str, int],
    notes: Mapping[str, str],
) -> None:
    said: dict[int, list[str]] = {}
    for action in actions:
        text = _describe(action)
        index = owner.get(action.key, -1)
        if text and index >= 0 and text not in said.setdefault(index, []):
            said[index].append(text)
            note = notes.get(action.target)
            if note and action.kind is ActionKind.DELETE_RESOURCE:
                said[index].append(note)
    for index, _action, decision in refused.values():
        if index < 0 or decision.refusal.effect not in (Effect.BLOCKED, Effect.WAIT):
            continue
        text = decision.detail if decision.refusal.effect is Effect.WAIT else f"not acted on: {decision.detail}"
        if text not in said.setdefault(index, []):
            said[index].append(text)
    for index, texts in said.items():
        finding = findings[index]
        findings[index] = replace(finding, message=f"{finding.message}; {'; '.join(texts)}")


def _safety_findings(
    refused: Sequence[tuple[int, Action, Decision]], aborted: str | None, enforce: bool
) -> list[Finding]:
    status = Status.ERROR if enforce else Status.WARN
    out: list[Finding] = []
    if aborted is not None:
        out.append(
            Finding(
                "SAFETY",
                status,
                Severity.CRITICAL,
                Subject(provider="custodian", kind="plan", provider_name="enforce"),
                f"run aborted before its first action: {aborted}",
                {"reason": aborted},
                "Review the findings; raise the cap deliberately or act in smaller batches.",
            )
        )
    groups: dict[tuple[str, Refusal], list[Action]] = {}
    details: dict[tuple[str, Refusal], str] = {}
    for _index, action, decision in refused:
        if decision.refusal.effect is not Effect.BLOCKED or decision.refusal is Refusal.CAP:
            continue
        where = action.scope.key if action.scope is not None else (action.subject.scope or "unknown")
        key = (where, decision.refusal)
        groups.setdefault(key, []).append(action)
        details.setdefault(key, decision.detail)
    for (where, refusal), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1].value)):
        names = sorted({a.subject.logical_name or a.subject.provider_name for a in group})
        shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
        verb = "refused" if enforce else "would be refused"
        out.append(
            Finding(
                "SAFETY",
                status,
                Severity.HIGH,
                Subject(provider="custodian", kind="scope", provider_name=where, scope=where),
                f"{len(group)} action(s) on {len(names)} target(s) {verb} ({refusal.value}): "
                f"{details[(where, refusal)]} ({shown})",
                {"scope": where, "refusal": refusal.value, "actions": str(len(group)), "targets": ", ".join(names)},
                rule("SAFETY").remediation,
            )
        )
    return out
