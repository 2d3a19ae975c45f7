"""State of the ARM emulator: subscriptions, resource groups and resources, and resource-id parsing.

`ArmStore` is a thread-safe, in-memory store of ARM JSON documents. Ids keep the casing they were
given with but are compared case-insensitively (as ARM does). `put` fills the read-only fields a
real resource provider would (name, type, systemData, creation times, provisioningState, ...) from
the sandbox clock. The emulator (`arm.py`) mutates documents in place while holding `store.lock`
through the `raw_*` helpers; everyone else uses the copying public methods.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from custodian.sandbox.clock import SandboxClock, iso

JsonDict = dict[str, Any]
JsonList = list[JsonDict]  # (the class below has a `list` method, which shadows the builtin there)

SANDBOX_TENANT_ID = "5a7db0c3-0000-4000-8000-000000000001"
SANDBOX_PRINCIPAL = "release-custodian-sandbox@example.com"
RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"

VM_TYPE = "microsoft.compute/virtualmachines"
DISK_TYPE = "microsoft.compute/disks"
NIC_TYPE = "microsoft.network/networkinterfaces"
PIP_TYPE = "microsoft.network/publicipaddresses"
NSG_TYPE = "microsoft.network/networksecuritygroups"
STORAGE_TYPE = "microsoft.storage/storageaccounts"
CONTAINER_TYPE = "microsoft.storage/storageaccounts/blobservices/containers"
REGISTRY_TYPE = "microsoft.containerregistry/registries"
TOKEN_TYPE = "microsoft.containerregistry/registries/tokens"
SCOPE_MAP_TYPE = "microsoft.containerregistry/registries/scopemaps"


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM id: a subscription, a resource group, or a (possibly nested) resource."""

    subscription: str
    resource_group: str | None = None
    namespace: str | None = None
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def is_subscription(self) -> bool:
        return self.resource_group is None

    @property
    def is_resource_group(self) -> bool:
        return self.resource_group is not None and self.namespace is None

    @property
    def is_resource(self) -> bool:
        return self.namespace is not None

    @property
    def is_child(self) -> bool:
        return len(self.types) > 1

    @property
    def group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"

    @property
    def full_type(self) -> str:
        """`Namespace/type[/childType...]`, e.g. `Microsoft.ContainerRegistry/registries/tokens`."""
        if self.namespace is None:
            return SUBSCRIPTION_TYPE if self.is_subscription else RESOURCE_GROUP_TYPE
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        if self.names:
            return self.names[-1]
        return self.resource_group if self.resource_group is not None else self.subscription

    @property
    def qualified_name(self) -> str:
        """`Namespace/type/name[/childType/childName]`, as ARM's ResourceNotFound message names it."""
        pairs = [f"{t}/{n}" for t, n in zip(self.types, self.names, strict=True)]
        return "/".join((self.namespace or "", *pairs))

    @property
    def parent(self) -> ResourceId | None:
        if not self.is_child:
            return None
        return ResourceId(self.subscription, self.resource_group, self.namespace, self.types[:-1], self.names[:-1])

    @property
    def top(self) -> ResourceId:
        return ResourceId(self.subscription, self.resource_group, self.namespace, self.types[:1], self.names[:1])

    @property
    def key(self) -> str:
        return str(self).lower()

    def __str__(self) -> str:
        if self.is_subscription:
            return f"/subscriptions/{self.subscription}"
        if self.namespace is None:
            return self.group_id
        pairs = "/".join(f"{t}/{n}" for t, n in zip(self.types, self.names, strict=True))
        return f"{self.group_id}/providers/{self.namespace}/{pairs}"


def parse_resource_id(value: str) -> ResourceId | None:
    """Parse an ARM id (any casing of `resourceGroups`/`providers`); None when it is not one."""
    segs = [s for s in value.strip().split("/") if s]
    if len(segs) < 2 or segs[0].lower() != "subscriptions":
        return None
    if len(segs) == 2:
        return ResourceId(segs[1])
    if len(segs) < 4 or segs[2].lower() != "resourcegroups":
        return None
    if len(segs) == 4:
        return ResourceId(segs[1], segs[3])
    if segs[4].lower() != "providers" or len(segs) < 8 or (len(segs) - 6) % 2:
        return None
    rest = segs[6:]
    return ResourceId(segs[1], segs[3], segs[5], tuple(rest[0::2]), tuple(rest[1::2]))


def id_key(value: str) -> str:
    """The case-insensitive comparison key of an id (canonical segment layout, lower-cased)."""
    parsed = parse_resource_id(value)
    return parsed.key if parsed is not None else value.strip().rstrip("/").lower()


def stable_hex(*parts: str, length: int = 32) -> str:
    """A deterministic hex string derived from `parts` (for guids, etags and keys)."""
    return hashlib.sha256("|".join(p.lower() for p in parts).encode()).hexdigest()[:length]


def stable_guid(*parts: str) -> str:
    return str(uuid.UUID(stable_hex(*parts)))


class ArmStore:
    """Thread-safe in-memory ARM state; every public method returns copies."""

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock or SandboxClock()
        self.lock = threading.RLock()
        self.version = 0  # bumped on every mutation (lets readers cache derived views)
        self._subscriptions: dict[str, JsonDict] = {}
        self._groups: dict[str, JsonDict] = {}
        self._resources: dict[str, JsonDict] = {}

    # -- public API ------------------------------------------------------------------------------
    def add_subscription(
        self, subscription_id: str, display_name: str = "", *, tenant_id: str = SANDBOX_TENANT_ID
    ) -> JsonDict:
        doc: JsonDict = {
            "id": f"/subscriptions/{subscription_id}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": subscription_id,
            "tenantId": tenant_id,
            "displayName": display_name or subscription_id,
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }
        with self.lock:
            self._subscriptions[subscription_id.lower()] = doc
            self.version += 1
            return copy.deepcopy(doc)

    def add_resource_group(
        self,
        subscription_id: str,
        name: str,
        location: str = "eastus",
        tags: dict[str, str] | None = None,
        *,
        managed_by: str | None = None,
    ) -> JsonDict:
        with self.lock:
            if subscription_id.lower() not in self._subscriptions:
                raise ValueError(f"subscription '{subscription_id}' does not exist; add it first")
            rid = ResourceId(subscription_id, name)
            doc: JsonDict = {
                "id": str(rid),
                "name": name,
                "type": RESOURCE_GROUP_TYPE,
                "location": location,
                "properties": {"provisioningState": "Succeeded"},
            }
            if tags is not None:
                doc["tags"] = dict(tags)
            if managed_by:
                doc["managedBy"] = managed_by
            self._groups[rid.key] = doc
            self.version += 1
            return copy.deepcopy(doc)

    def put(self, resource: dict[str, Any]) -> JsonDict:
        """Store (create or replace) one resource given as full ARM JSON with its `id`."""
        raw_id = resource.get("id")
        if not isinstance(raw_id, str):
            raise ValueError("an ARM resource needs a string 'id'")
        rid = parse_resource_id(raw_id)
        if rid is None or not rid.is_resource:
            raise ValueError(f"'{raw_id}' is not an ARM resource id (/subscriptions/../resourceGroups/../providers/..)")
        with self.lock:
            if rid.subscription.lower() not in self._subscriptions:
                raise ValueError(f"subscription '{rid.subscription}' does not exist; add it first")
            group = self._groups.get(ResourceId(rid.subscription, rid.resource_group).key)
            if group is None:
                raise ValueError(f"resource group '{rid.resource_group}' does not exist; add it first")
            doc = copy.deepcopy(resource)
            doc["id"] = raw_id.strip().rstrip("/")
            doc.setdefault("name", rid.name)
            doc.setdefault("type", rid.full_type)
            if not rid.is_child:
                doc.setdefault("location", group.get("location", "eastus"))
            self._fill_defaults(doc, rid)
            self._resources[rid.key] = doc
            self.version += 1
            return copy.deepcopy(doc)

    def get(self, resource_id: str) -> JsonDict | None:
        with self.lock:
            doc = self.raw(resource_id)
            return copy.deepcopy(doc) if doc is not None else None

    def list(self, type_: str | None = None, subscription_id: str | None = None) -> JsonList:
        """Resources (or resource groups for `Microsoft.Resources/resourceGroups`), ordered by id."""
        wanted = type_.lower() if type_ else None
        sub = subscription_id.lower() if subscription_id else None
        with self.lock:
            if wanted == RESOURCE_GROUP_TYPE.lower():
                pool = [self._groups[k] for k in sorted(self._groups)]
            else:
                pool = [d for d in self.raw_resources() if wanted is None or str(d.get("type", "")).lower() == wanted]
            out = [d for d in pool if sub is None or id_key(d["id"]).split("/")[2] == sub]
            return copy.deepcopy(out)

    def remove(self, resource_id: str) -> None:
        """Delete a resource (with its child resources) or a resource group (with its contents) at once."""
        with self.lock:
            self.raw_delete(resource_id)

    def clear(self) -> None:
        with self.lock:
            self._subscriptions.clear()
            self._groups.clear()
            self._resources.clear()
            self.version += 1

    def subscriptions(self) -> JsonList:
        with self.lock:
            return copy.deepcopy([self._subscriptions[k] for k in sorted(self._subscriptions)])

    def resource_groups(self, subscription_id: str) -> JsonList:
        with self.lock:
            return copy.deepcopy(self.raw_groups(subscription_id))

    # -- raw access for the emulator (hold `lock`; documents are live, not copies) ---------------
    def touch(self) -> None:
        self.version += 1

    def raw(self, resource_id: str) -> JsonDict | None:
        rid = parse_resource_id(resource_id)
        if rid is None:
            return None
        if rid.is_subscription:
            return self._subscriptions.get(rid.subscription.lower())
        if rid.is_resource_group:
            return self._groups.get(rid.key)
        return self._resources.get(rid.key)

    def raw_subscription(self, subscription_id: str) -> JsonDict | None:
        return self._subscriptions.get(subscription_id.lower())

    def raw_subscriptions(self) -> JsonList:
        return [self._subscriptions[k] for k in sorted(self._subscriptions)]

    def raw_group(self, subscription_id: str, name: str) -> JsonDict | None:
        return self._groups.get(ResourceId(subscription_id, name).key)

    def raw_groups(self, subscription_id: str) -> JsonList:
        prefix = f"/subscriptions/{subscription_id.lower()}/"
        return [self._groups[k] for k in sorted(self._groups) if k.startswith(prefix)]

    def raw_resources(self) -> JsonList:
        return [self._resources[k] for k in sorted(self._resources)]

    def iter_keys(self) -> Iterator[str]:
        return iter(sorted(self._resources))

    def raw_delete(self, resource_id: str) -> JsonList:
        """Remove a resource/group and everything under it; returns the removed resource documents."""
        key = id_key(resource_id)
        removed: JsonList = []
        for k in [k for k in self._resources if k == key or k.startswith(key + "/")]:
            removed.append(self._resources.pop(k))
        rid = parse_resource_id(resource_id)
        if rid is not None and rid.is_resource_group:
            self._groups.pop(key, None)
        self.version += 1
        return removed

    # -- defaults a resource provider fills --------------------------------------------------------
    def now_iso(self) -> str:
        return iso(self.clock.now()) or ""

    def system_data(self, created: JsonDict | None = None) -> JsonDict:
        now = self.now_iso()
        data: JsonDict = {
            "createdBy": SANDBOX_PRINCIPAL,
            "createdByType": "User",
            "createdAt": now,
            "lastModifiedBy": SANDBOX_PRINCIPAL,
            "lastModifiedByType": "User",
            "lastModifiedAt": now,
        }
        if created:
            data.update({k: v for k, v in created.items() if k.startswith("created")})
        return data

    def _fill_defaults(self, doc: JsonDict, rid: ResourceId) -> None:
        now = self.now_iso()
        rtype = rid.full_type.lower()
        if "systemData" not in doc:
            doc["systemData"] = self.system_data()
        props: JsonDict = doc.setdefault("properties", {})
        if rtype != CONTAINER_TYPE:
            props.setdefault("provisioningState", "Succeeded")
        seed = rid.key
        if rtype == VM_TYPE:
            props.setdefault("vmId", stable_guid(seed, "vmId"))
            props.setdefault("timeCreated", now)
        elif rtype == DISK_TYPE:
            props.setdefault("timeCreated", now)
            props.setdefault("uniqueId", stable_guid(seed, "uniqueId"))
        elif rtype in (NIC_TYPE, PIP_TYPE, NSG_TYPE):
            props.setdefault("resourceGuid", stable_guid(seed, "resourceGuid"))
            doc.setdefault("etag", f'W/"{stable_guid(seed, "etag")}"')
        elif rtype == STORAGE_TYPE:
            name = rid.name.lower()
            doc.setdefault("kind", "StorageV2")
            doc.setdefault("sku", {"name": "Standard_LRS", "tier": "Standard"})
            props.setdefault("creationTime", now)
            props.setdefault(
                "primaryEndpoints",
                {svc: f"https://{name}.{svc}.core.windows.net/" for svc in ("blob", "queue", "table", "file", "dfs")},
            )
            props.setdefault("primaryLocation", doc.get("location", "eastus"))
            props.setdefault("statusOfPrimary", "available")
            props.setdefault("keyCreationTime", {"key1": now, "key2": now})
        elif rtype == CONTAINER_TYPE:
            doc.setdefault("etag", f'"0x{stable_hex(seed, "etag", length=15).upper()}"')
            props.setdefault("lastModifiedTime", now)
            props.setdefault("publicAccess", "None")
            props.setdefault("leaseStatus", "Unlocked")
            props.setdefault("leaseState", "Available")
            props.setdefault("hasImmutabilityPolicy", False)
            props.setdefault("hasLegalHold", False)
        elif rtype == REGISTRY_TYPE:
            doc.setdefault("sku", {"name": "Premium", "tier": "Premium"})
            props.setdefault("loginServer", f"{rid.name.lower()}.azurecr.io")
            props.setdefault("creationDate", now)
            props.setdefault("adminUserEnabled", False)
        elif rtype == TOKEN_TYPE:
            props.setdefault("creationDate", now)
            props.setdefault("status", "enabled")
        elif rtype == SCOPE_MAP_TYPE:
            props.setdefault("creationDate", now)
            props.setdefault("type", "UserDefined")
            props.setdefault("actions", [])
