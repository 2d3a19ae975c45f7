"""The ARM gateway: marks (Tags API merge), deletions and detaches of VMs, disks, NICs, public IPs, NSGs.

- MARK merges the mark tag (the planned deletion time) into the resource's tags; done when the
  re-read carries a valid mark.
- DELETE_RESOURCE deletes through the typed SDK and polls its long-running operation; done when ARM
  answers 404. Before deleting, the fresh re-read must show nothing attached any more, and (for a
  VM) no dependent with `deleteOption: Delete` that the plan did not approve. A resource already
  `Deleting` (an earlier, perhaps crashed, run's delete still running) is watched, never deleted
  again.
- DETACH_ON_DELETE sets one dependent's `deleteOption` to `Detach` (a VM update); done when the
  re-read shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.core.polling import LROPoller

from custodian.engine.dependencies import unapproved_cascades
from custodian.engine.execute import Operation, OperationStatus
from custodian.engine.holds import Target
from custodian.model import Action, ActionKind, AzureResource, DeleteOption, id_key
from custodian.providers.azure.arm import ArmResources

MarkCheck = Callable[[AzureResource], bool]  # does it carry a valid (pending or due) mark?


class PollerOperation:
    """An SDK long-running operation: its poller polls in the background, honouring Retry-After."""

    def __init__(self, poller: LROPoller[Any]) -> None:
        self._poller = poller

    def poll(self) -> OperationStatus:
        if not self._poller.done():
            return OperationStatus(False, retry_after_s=1.0)
        try:
            self._poller.result(timeout=0)
        except HttpResponseError as exc:
            code = getattr(getattr(exc, "error", None), "code", None) or exc.status_code
            return OperationStatus(True, f"the operation ended with {code}: {exc.message or exc}".splitlines()[0])
        return OperationStatus(True)


class GoneWatch:
    """A deletion already under way: done once the resource is gone (no request but GETs)."""

    def __init__(self, resources: ArmResources, resource_id: str) -> None:
        self._resources = resources
        self._id = resource_id

    def poll(self) -> OperationStatus:
        return OperationStatus(self._resources.get(self._id) is None, retry_after_s=2.0)


class ArmGateway:
    def __init__(self, resources: ArmResources, marked: MarkCheck) -> None:
        self.resources = resources
        self.marked = marked

    def read(self, action: Action) -> Target | None:
        return self.resources.get(action.subject.resource_id or action.target)

    def satisfied(self, action: Action, target: Target | None) -> bool | None:
        if action.kind is ActionKind.DELETE_RESOURCE:
            return target is None
        if not isinstance(target, AzureResource):
            return False
        if action.kind is ActionKind.MARK:
            return self.marked(target)
        if action.kind is ActionKind.DETACH_ON_DELETE:
            member = id_key(action.param("member") or "")
            return all(c.option is DeleteOption.DETACH for c in target.cascades if c.key == member)
        return False

    def blocked(self, action: Action, target: Target) -> str | None:
        if action.kind is not ActionKind.DELETE_RESOURCE or not isinstance(target, AzureResource):
            return None
        if target.attachments:
            return "kept for now: " + "; ".join(a.reason for a in target.attachments) + " (the re-read shows it)"
        unapproved = unapproved_cascades(target, action)
        if unapproved:
            names = ", ".join(f"{c.kind.label} {c.resource_id.rsplit('/', 1)[-1]}" for c in unapproved)
            return f"deleting it now would also delete {names}, which the plan did not approve"
        return None

    def in_progress(self, action: Action, target: Target) -> Operation | None:
        deleting = isinstance(target, AzureResource) and (target.provisioning_state or "").lower() == "deleting"
        if action.kind is ActionKind.DELETE_RESOURCE and deleting:
            return GoneWatch(self.resources, action.subject.resource_id or action.target)
        return None

    def perform(self, action: Action, target: Target) -> Operation | None:
        assert isinstance(target, AzureResource)
        if action.kind is ActionKind.MARK:
            tag, due = action.param("mark_tag"), action.param("due")
            if not tag or not due:
                raise ValueError(f"{action.key}: a mark needs mark_tag and due")
            self.resources.merge_tags(target.id, {target.tags.key_as_written(tag) or tag: due})
            return None
        if action.kind is ActionKind.DELETE_RESOURCE:
            try:
                return PollerOperation(self.resources.begin_delete(target.id))
            except ServiceResponseError:  # sent, its answer lost: ARM may be deleting it; watched, never re-sent
                return GoneWatch(self.resources, target.id)
        if action.kind is ActionKind.DETACH_ON_DELETE:
            member = action.param("member")
            if not member:
                raise ValueError(f"{action.key}: a detach needs its member")
            return PollerOperation(self.resources.begin_detach(target.id, member))
        raise ValueError(f"{action.kind.value} does not apply to an Azure resource")
