"""Azure resources and blobs, typed once where c7n's or the SDKs' JSON enters (see `collect/`).

What the rules, the gate and the executor need is here as fields: the id, the kind, tags with
case-insensitive keys, what the resource is attached to (it cannot go while those stay), what a
deletion takes with it (a VM's disks and NICs with `deleteOption: Delete`), and the managed parent
that owns it (a private endpoint's NIC, a NAT gateway's IP: never ours to delete). The raw JSON
survives only as `snapshot`, the JSON the journal keeps before an object is changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from custodian.model.vocabulary import ResourceKind, Scope, Tags


def id_key(resource_id: str) -> str:
    """ARM ids compare case-insensitively; trailing slashes are not part of them."""
    return resource_id.strip().rstrip("/").lower()


class DeleteOption(StrEnum):
    DELETE = "Delete"
    DETACH = "Detach"


@dataclass(frozen=True)
class Cascade:
    """A dependent of a VM: deleted with it (`DELETE`) or left behind (`DETACH`) when the VM goes."""

    resource_id: str
    kind: ResourceKind
    option: DeleteOption
    slot: str  # where the VM names it: "osDisk", "dataDisks[lun=1]", "networkInterfaces[0]"

    @property
    def key(self) -> str:
        return id_key(self.resource_id)


@dataclass(frozen=True)
class Attachment:
    """Something that keeps a resource from being deleted: another resource (by id) or a state (id None)."""

    resource_id: str | None
    reason: str  # e.g. "attached to VM vm-a", "disk state ActiveSAS (an open export)"

    @property
    def key(self) -> str | None:
        return None if self.resource_id is None else id_key(self.resource_id)


@dataclass(frozen=True)
class ResourceFacts:
    """What rules, costs and evidence read of a resource (None where it does not apply)."""

    power_state: str | None = None  # running, stopped, deallocated (VM)
    power_state_since: datetime | None = None
    vm_size: str | None = None
    sku: str | None = None
    disk_size_gb: float | None = None
    disk_state: str | None = None  # Attached, Unattached, Reserved, ActiveSAS, ...
    ip_address: str | None = None
    last_ownership_update: datetime | None = None
    network_interfaces: int = 0  # NSG: NICs using it
    subnets: int = 0  # NSG: subnets using it


@dataclass(frozen=True)
class AzureResource:
    id: str
    kind: ResourceKind
    name: str
    scope: Scope  # its subscription
    resource_group: str
    location: str
    arm_type: str  # as ARM spells it, e.g. Microsoft.Compute/disks
    tags: Tags = field(default_factory=Tags)
    provisioning_state: str | None = None
    created_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    cascades: tuple[Cascade, ...] = ()
    managed_by: str | None = (
        None  # why a managed parent owns it (never marked or deleted), e.g. "private endpoint pe-x"
    )
    facts: ResourceFacts = field(default_factory=ResourceFacts)
    snapshot: Mapping[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return id_key(self.id)

    @property
    def unit(self) -> str:
        """The collection unit: a subscription's ARM inventory is complete or not as a whole."""
        return self.scope.key

    def deleted_with(self) -> tuple[Cascade, ...]:
        """The dependents a deletion of this resource removes too."""
        return tuple(c for c in self.cascades if c.option is DeleteOption.DELETE)


@dataclass(frozen=True)
class Blob:
    """A base blob (its snapshots go with it), as a listing with index tags shows it."""

    account: str
    container: str
    name: str
    url: str  # without SAS or credentials
    size: int
    tier: str | None
    last_modified: datetime | None
    etag: str | None
    scope: Scope | None  # the storage account's subscription (None when it could not be resolved)
    tags: Tags = field(default_factory=Tags)

    @property
    def path(self) -> str:
        return f"{self.container}/{self.name}"

    @property
    def key(self) -> str:
        return f"blob:{self.account.lower()}/{self.container}/{self.name}"

    @property
    def unit(self) -> str:
        return blob_unit(self.account)

    def snapshot(self) -> dict[str, object]:
        """A JSON-able record of the blob for the journal (no secrets: the URL carries no SAS)."""
        return {
            "account": self.account,
            "container": self.container,
            "name": self.name,
            "url": self.url,
            "size": self.size,
            "tier": self.tier,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "etag": self.etag,
            "tags": self.tags.as_dict(),
        }


def blob_unit(account: str) -> str:
    return f"blob:{account.lower()}"
