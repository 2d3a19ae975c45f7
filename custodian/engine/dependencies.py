"""What a deletion needs gone first, and what it would take with it (pure; reads the typed attachments).

- A resource attached to something (a NIC to its VM, a public IP to a NIC's IP configuration, an
  NSG to its NICs, a disk to its VM) can be deleted only after that something, and only if that
  something is itself deleted in this run; otherwise the deletion is kept for now (refused with
  `DEPENDENCY`). A blocking state (an open SAS export, a subnet) keeps it too.
- A VM deletion takes its disks and NICs with `deleteOption: Delete` with it. Each of them must
  pass the gate on its own, as if it were deleted in this run (not held, not prod-stage, not of a
  release in flight, in an allowed scope, inventoried); for each that does not, a
  `DETACH_ON_DELETE` action (set its `deleteOption` to `Detach`) comes first, and the VM deletion
  waits for it to be confirmed. The VM deletion carries the dependents it may take (`cascade`).
- Ordering is data: every deletion names, in `after`, the actions that must be confirmed first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from custodian.engine.gate import Decision, Gate, Refusal
from custodian.engine.holds import Target
from custodian.model import Action, ActionKind, AzureResource, Cascade, DeleteOption

CASCADE_PARAM = "cascade"  # on a VM deletion: the keys of the dependents it may take with it, comma-separated


@dataclass(frozen=True)
class DependencyPlan:
    actions: tuple[Action, ...]  # the input actions still allowed (with `after`), plus the detaches
    refused: Mapping[str, Decision]  # action key -> why it is kept for now
    notes: Mapping[str, str]  # target key -> what the finding should say about its dependents


def _member_refusal(gate: Gate, vm_action: Action, member: Cascade, targets: Mapping[str, Target]) -> str | None:
    """Why `member` may not go with its VM (None: it would pass the gate on its own, as a deletion)."""
    target = targets.get(member.key)
    if not isinstance(target, AzureResource):
        return "it is not in this run's inventory"
    decision = gate.deletable(target, vm_action.rule)
    return None if decision is None else decision.detail


def _detach(vm_action: Action, member: Cascade, why: str) -> Action:
    name = member.resource_id.rsplit("/", 1)[-1]
    return replace(
        vm_action,
        kind=ActionKind.DETACH_ON_DELETE,
        reason=f"set deleteOption of {member.kind.label} {name} ({member.slot}) to Detach: {why}",
        not_before=None,
        after=(),
        params=(("member", member.resource_id), ("slot", member.slot), ("member_kind", member.kind.value)),
    )


def resolve_dependencies(actions: Sequence[Action], targets: Mapping[str, Target], gate: Gate) -> DependencyPlan:
    deletes = {
        a.key: a
        for a in actions
        if a.kind is ActionKind.DELETE_RESOURCE and isinstance(targets.get(a.target), AzureResource)
    }
    others = [a for a in actions if a.key not in deletes]
    refused: dict[str, Decision] = {}
    detaches: dict[str, list[Action]] = {}
    taken: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    for key, action in deletes.items():
        vm = targets[action.target]
        assert isinstance(vm, AzureResource)
        for member in vm.deleted_with():
            why = _member_refusal(gate, action, member, targets)
            if why is None:
                taken.setdefault(key, []).append(member.key)
            else:
                detaches.setdefault(key, []).append(_detach(action, member, why))
        if detaches.get(key):
            notes[action.target] = "first " + "; ".join(d.reason for d in detaches[key]) + "; then the VM is deleted"
    changed = True
    while changed:
        changed = False
        going: dict[str, str] = {}
        for key, action in deletes.items():
            going[action.target] = key
        for key, members in taken.items():
            if key in deletes:
                for member_key in members:
                    going.setdefault(member_key, key)
        for key, action in list(deletes.items()):
            target = targets[action.target]
            assert isinstance(target, AzureResource)
            for attachment in target.attachments:
                if attachment.key is None:
                    refused[key] = Decision(Refusal.DEPENDENCY, f"kept for now: {attachment.reason}")
                elif attachment.key not in going:
                    refused[key] = Decision(
                        Refusal.DEPENDENCY, f"kept for now: {attachment.reason}, which is not deleted in this run"
                    )
                else:
                    continue
                del deletes[key]
                changed = True
                break
    going = {a.target: k for k, a in deletes.items()}
    for key, members in taken.items():
        if key in deletes:
            for member_key in members:
                going.setdefault(member_key, key)
    out: list[Action] = list(others)
    for key, action in deletes.items():
        target = targets[action.target]
        assert isinstance(target, AzureResource)
        mine = detaches.get(key, [])
        after = {going[a.key] for a in target.attachments if a.key is not None and going[a.key] != key}
        after |= {d.key for d in mine}
        params = action.params
        if target.cascades:
            params = (*params, (CASCADE_PARAM, ",".join(sorted(taken.get(key, [])))))
        out += mine
        out.append(replace(action, after=tuple(sorted(after)), params=params))
    return DependencyPlan(tuple(out), refused, notes)


def unapproved_cascades(vm: AzureResource, action: Action) -> list[Cascade]:
    """Dependents a VM's deletion would take now (re-read) that the plan did not approve."""
    approved = set(filter(None, (action.param(CASCADE_PARAM) or "").split(",")))
    return [c for c in vm.cascades if c.option is DeleteOption.DELETE and c.key not in approved]
