"""The ARM JSON boundary: a VM, disk, NIC, public IP or NSG document becomes an `AzureResource`.

The same REST shape arrives from Cloud Custodian's output (`resources.json`) and from the SDKs'
models (`serialize(keep_readonly=True)`); it is read here once, and nothing past this module looks
at raw JSON. A document that is not shaped like an ARM resource raises `MalformedResource`
(naming what is wrong): the caller fails closed (an incomplete inventory), it never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from custodian.model import (
    ARM_TYPES,
    Attachment,
    AzureResource,
    Cascade,
    DeleteOption,
    ResourceFacts,
    ResourceKind,
    Scope,
    Tags,
)

_UNDELETABLE_DISK_STATES = {"activesas", "activesasfrozen", "activeupload", "readytoupload", "frozen"}
_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/([^/]+/[^/]+)/([^/]+)$", re.IGNORECASE)


class MalformedResource(ValueError):
    """An ARM document without the fields every resource has (id, name, type)."""


def _get(doc: Any, *path: str) -> Any:
    for step in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(step)
    return doc


def _ref(doc: Any) -> str | None:
    value = _get(doc, "id")
    return value if isinstance(value, str) and value.strip() else None


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def parse_time(value: object) -> datetime | None:
    """ARM times (7 fraction digits, `Z` or an offset, or naive UTC); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*?\.\d{1,6})\d*([+-]\d\d:\d\d)?$", text)
    if match:
        text = match.group(1) + (match.group(2) or "")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _tags(doc: Mapping[str, Any]) -> Tags:
    tags = doc.get("tags")
    if tags is None:
        return Tags()
    if not isinstance(tags, Mapping):
        raise MalformedResource(f"{doc.get('id')}: tags is a {type(tags).__name__}, not an object")
    return Tags({str(k): "" if v is None else str(v) for k, v in tags.items()})


def _power(doc: Mapping[str, Any]) -> tuple[str | None, datetime | None]:
    view = doc.get("instanceView") or _get(doc, "properties", "instanceView") or {}
    state, since = None, None
    for status in _get(view, "statuses") or []:
        code = str(_get(status, "code") or "")
        if code.lower().startswith("powerstate/"):
            state = code.split("/", 1)[1]
        elif code.lower().startswith("provisioningstate/"):
            since = parse_time(_get(status, "time")) or since
    return state, since


def _option(value: object) -> DeleteOption:
    return DeleteOption.DELETE if str(value or "").lower() == "delete" else DeleteOption.DETACH


def _vm(props: Mapping[str, Any]) -> tuple[Cascade, ...]:
    storage = _get(props, "storageProfile") or {}
    out = []
    os_disk = _ref(_get(storage, "osDisk", "managedDisk"))
    if os_disk:
        out.append(Cascade(os_disk, ResourceKind.DISK, _option(_get(storage, "osDisk", "deleteOption")), "osDisk"))
    for disk in _get(storage, "dataDisks") or []:
        disk_id = _ref(_get(disk, "managedDisk"))
        if disk_id:
            slot = f"dataDisks[lun={_get(disk, 'lun')}]"
            out.append(Cascade(disk_id, ResourceKind.DISK, _option(_get(disk, "deleteOption")), slot))
    for index, nic in enumerate(_get(props, "networkProfile", "networkInterfaces") or []):
        nic_id = _ref(nic)
        if nic_id:
            option = _option(_get(nic, "properties", "deleteOption") or _get(nic, "deleteOption"))
            out.append(Cascade(nic_id, ResourceKind.NETWORK_INTERFACE, option, f"networkInterfaces[{index}]"))
    return tuple(out)


def _relations(
    kind: ResourceKind, doc: Mapping[str, Any], props: Mapping[str, Any]
) -> tuple[list[Attachment], str | None]:
    """(what must go before it can be deleted, the managed parent that owns it)."""
    attached: list[Attachment] = []
    managed: str | None = None
    if kind is ResourceKind.DISK:
        vm = doc.get("managedBy")
        if isinstance(vm, str) and vm:
            attached.append(Attachment(vm, f"attached to VM {_name(vm)}"))
        state = str(props.get("diskState") or "")
        if state.lower() in _UNDELETABLE_DISK_STATES:
            attached.append(Attachment(None, f"disk state {state} (e.g. an open SAS export): ARM refuses to delete it"))
    elif kind is ResourceKind.NETWORK_INTERFACE:
        vm = _ref(props.get("virtualMachine"))
        if vm:
            attached.append(Attachment(vm, f"attached to VM {_name(vm)}"))
        for field, what in (("privateEndpoint", "private endpoint"), ("privateLinkService", "private link service")):
            owner = _ref(props.get(field))
            if owner:
                managed = f"{what} {_name(owner)}"
        if props.get("hostedWorkloads"):
            managed = "a hosted workload (" + ", ".join(_name(str(w)) for w in props["hostedWorkloads"]) + ")"
    elif kind is ResourceKind.PUBLIC_IP:
        config = _ref(props.get("ipConfiguration"))
        if config:
            owner = "/".join(config.split("/")[:-2]) if len(config.split("/")) > 2 else config
            attached.append(Attachment(owner, f"used by {owner.split('/')[-2]} {_name(owner)}"))
        gateway = _ref(props.get("natGateway"))
        if gateway:
            attached.append(Attachment(gateway, f"attached to NAT gateway {_name(gateway)}"))
    elif kind is ResourceKind.NETWORK_SECURITY_GROUP:
        for nic in props.get("networkInterfaces") or []:
            nic_id = _ref(nic)
            if nic_id:
                attached.append(Attachment(nic_id, f"used by NIC {_name(nic_id)}"))
        for subnet in props.get("subnets") or []:
            subnet_id = _ref(subnet) or "?"
            attached.append(Attachment(subnet_id, f"on subnet {'/'.join(subnet_id.split('/')[-3::2])}"))
    parent = doc.get("managedBy")
    if kind is not ResourceKind.DISK and isinstance(parent, str) and parent:
        managed = managed or f"{parent.split('/')[-2]} {_name(parent)}"
    return attached, managed


def parse_resource(doc: Mapping[str, Any]) -> AzureResource | None:
    """The typed resource, or None when the document is not one of the kinds the reaper handles."""
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"an ARM resource must be a JSON object, got {type(doc).__name__}")
    resource_id, arm_type = doc.get("id"), doc.get("type")
    if not isinstance(resource_id, str) or not isinstance(arm_type, str):
        raise MalformedResource(f"an ARM resource without a string id and type: {str(doc)[:200]}")
    kind = ARM_TYPES.get(arm_type.lower())
    if kind is None:
        return None
    match = _ID.match(resource_id.strip())
    if match is None:
        raise MalformedResource(f"{resource_id!r} is not a top-level ARM resource id")
    props = doc.get("properties") or {}
    if not isinstance(props, Mapping):
        raise MalformedResource(f"{resource_id}: properties is not an object")
    power, since = _power(doc)
    sku = _get(doc, "sku", "name")
    size = props.get("diskSizeGB")
    facts = ResourceFacts(
        power_state=power,
        power_state_since=since,
        vm_size=_get(props, "hardwareProfile", "vmSize"),
        sku=str(sku) if sku else None,
        disk_size_gb=float(size) if isinstance(size, int | float) else None,
        disk_state=props.get("diskState"),
        ip_address=props.get("ipAddress"),
        last_ownership_update=parse_time(props.get("LastOwnershipUpdateTime") or props.get("lastOwnershipUpdateTime")),
        network_interfaces=len(props.get("networkInterfaces") or [])
        if kind is ResourceKind.NETWORK_SECURITY_GROUP
        else 0,
        subnets=len(props.get("subnets") or []) if kind is ResourceKind.NETWORK_SECURITY_GROUP else 0,
    )
    attached, managed = _relations(kind, doc, props)
    return AzureResource(
        id=resource_id,
        kind=kind,
        name=str(doc.get("name") or _name(resource_id)),
        scope=Scope.subscription(match.group(1)),
        resource_group=match.group(2),
        location=str(doc.get("location") or ""),
        arm_type=arm_type,
        tags=_tags(doc),
        provisioning_state=props.get("provisioningState"),
        created_at=parse_time(props.get("timeCreated")) or parse_time(_get(doc, "systemData", "createdAt")),
        attachments=tuple(attached),
        cascades=_vm(props) if kind is ResourceKind.VIRTUAL_MACHINE else (),
        managed_by=managed,
        facts=facts,
        snapshot=dict(doc),
    )
