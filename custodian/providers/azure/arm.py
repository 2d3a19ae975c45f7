"""The ARM resources the reaper handles, over the azure-mgmt SDKs (through `ArmClients`).

Reads: the generic resources listing (the cross-check of c7n's typed listings), one resource by id
(typed, through `arm_json`), the storage accounts of a subscription (to resolve which subscription a
configured storage account belongs to). Writes (refused on the wire by a read-only client): merge
tags (the mark), delete, and set a VM dependent's `deleteOption` to `Detach`. Deletes and VM updates
are long-running operations: the SDK's poller is returned for the engine to poll.
Every call is counted by the run's `CallCounter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.core.polling import LROPoller
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachineUpdate
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.resource.resources.models import Tags, TagsPatchResource
from azure.mgmt.storage import StorageManagementClient

from custodian.model import ARM_TYPES, AzureResource, ResourceKind
from custodian.providers.azure.arm_json import parse_resource
from custodian.providers.azure.clients import ArmClients
from custodian.providers.paging import azure_items

__all__ = ["ArmResources", "ResourceIdError", "split_id"]


class ResourceIdError(ValueError):
    """Not the id of a top-level resource of a kind the reaper handles."""


def split_id(resource_id: str) -> tuple[str, str, ResourceKind, str]:
    """(subscription, resource group, kind, name) of a top-level VM, disk, NIC, public IP or NSG id."""
    segs = [s for s in resource_id.strip().split("/") if s]
    low = [s.lower() for s in segs]
    if len(segs) != 8 or low[0] != "subscriptions" or low[2] != "resourcegroups" or low[4] != "providers":
        raise ResourceIdError(f"not a top-level ARM resource id: {resource_id}")
    kind = ARM_TYPES.get(f"{low[5]}/{low[6]}")
    if kind is None:
        raise ResourceIdError(f"{resource_id}: the reaper does not handle {segs[5]}/{segs[6]}")
    return segs[1], segs[3], kind, segs[7]


_NETWORK = {
    ResourceKind.NETWORK_INTERFACE: "network_interfaces",
    ResourceKind.PUBLIC_IP: "public_ip_addresses",
    ResourceKind.NETWORK_SECURITY_GROUP: "network_security_groups",
}
_TYPE = {kind: arm_type for arm_type, kind in ARM_TYPES.items()}


class ArmResources:
    def __init__(self, clients: ArmClients) -> None:
        self._clients = clients

    def _operations(self, subscription: str, kind: ResourceKind) -> Any:
        if kind in (ResourceKind.VIRTUAL_MACHINE, ResourceKind.DISK):
            compute = self._clients.get(ComputeManagementClient, subscription)
            return compute.virtual_machines if kind is ResourceKind.VIRTUAL_MACHINE else compute.disks
        network = self._clients.get(NetworkManagementClient, subscription)
        return getattr(network, _NETWORK[kind])

    def list_ids(self, subscription: str) -> dict[str, ResourceKind]:
        """Every VM, disk, NIC, public IP and NSG id (lower case) of the subscription, by the generic listing."""
        client = self._clients.get(ResourceManagementClient, subscription)
        out: dict[str, ResourceKind] = {}
        for item in azure_items(client.resources.list(), f"resources of subscription {subscription}"):
            kind = ARM_TYPES.get(str(item.type or "").lower())
            if kind is not None:
                out[str(item.id).lower()] = kind
        return out

    def get(self, resource_id: str) -> AzureResource | None:
        """The resource as ARM shows it now, typed; None when ARM answers 404."""
        subscription, group, kind, name = split_id(resource_id)
        try:
            model = self._operations(subscription, kind).get(group, name)
        except ResourceNotFoundError:
            return None
        doc: dict[str, Any] = model.serialize(keep_readonly=True)
        doc.setdefault("id", resource_id)
        doc.setdefault("name", name)
        doc.setdefault("type", _TYPE[kind])
        return parse_resource(doc)

    def storage_account_subscriptions(self, subscriptions: list[str]) -> dict[str, str]:
        """Storage account name (lower case) -> its subscription, over the given subscriptions."""
        out: dict[str, str] = {}
        for subscription in subscriptions:
            client = self._clients.get(StorageManagementClient, subscription)
            for account in azure_items(client.storage_accounts.list(), f"storage accounts of {subscription}"):
                out.setdefault(str(account.name).lower(), subscription)
        return out

    # -- writes ------------------------------------------------------------------------------------
    def merge_tags(self, resource_id: str, tags: Mapping[str, str]) -> None:
        """Add or replace `tags` on the resource (Tags API, `Merge`); other tags stay."""
        subscription = split_id(resource_id)[0]
        client = self._clients.get(ResourceManagementClient, subscription)
        body = TagsPatchResource(operation="Merge", properties=Tags(tags=dict(tags)))
        client.tags.begin_update_at_scope(resource_id, body).result()

    def begin_delete(self, resource_id: str) -> LROPoller[Any]:
        subscription, group, kind, name = split_id(resource_id)
        poller: LROPoller[Any] = self._operations(subscription, kind).begin_delete(group, name)
        return poller

    def begin_detach(self, vm_id: str, member_id: str) -> LROPoller[Any]:
        """Set the VM's `deleteOption` of the disk or NIC `member_id` to Detach (a VM PATCH)."""
        subscription, group, kind, name = split_id(vm_id)
        if kind is not ResourceKind.VIRTUAL_MACHINE:
            raise ResourceIdError(f"{vm_id} is not a VM")
        compute = self._clients.get(ComputeManagementClient, subscription)
        vm = compute.virtual_machines.get(group, name)
        patch = VirtualMachineUpdate.deserialize(_detach_patch(vm.serialize(keep_readonly=False), member_id))
        poller: LROPoller[Any] = compute.virtual_machines.begin_update(group, name, patch)
        return poller


def _detach_patch(doc: dict[str, Any], member_id: str) -> dict[str, Any]:
    """The VirtualMachineUpdate body that switches `member_id` to Detach (storage or network profile)."""
    props = doc.get("properties") or {}
    wanted = member_id.lower()
    matches: Callable[[Any], bool] = lambda ref: isinstance(ref, dict) and str(ref.get("id", "")).lower() == wanted  # noqa: E731
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    if matches(os_disk.get("managedDisk")):
        return {"properties": {"storageProfile": {"osDisk": {**os_disk, "deleteOption": "Detach"}}}}
    disks = storage.get("dataDisks") or []
    if any(matches(d.get("managedDisk")) for d in disks):
        changed = [{**d, "deleteOption": "Detach"} if matches(d.get("managedDisk")) else d for d in disks]
        return {"properties": {"storageProfile": {"dataDisks": changed}}}
    nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
    if any(matches(n) for n in nics):
        changed = [
            {**n, "properties": {**(n.get("properties") or {}), "deleteOption": "Detach"}} if matches(n) else n
            for n in nics
        ]
        return {"properties": {"networkProfile": {"networkInterfaces": changed}}}
    raise ResourceIdError(f"{member_id} is neither a disk nor a NIC of this VM")
