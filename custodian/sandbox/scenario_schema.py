"""The scenario file schema: pydantic v2 models (``extra="forbid"``, strict types).

One YAML file seeds every sandbox emulator: the GitHub store (orgs, users, repos and their release
timeline, tokens), the ARM store (subscriptions, resource groups, compute/network/storage resources,
container registries and their tokens), Azurite (containers and blobs with index tags) and the holds
the ledger consumes. This module checks shapes and single values (types, enums, name rules, times);
relations between objects (references, duplicates, ordering) are checked by `scenario_checks`.

The value types (times as `When`, name rules, tag checks) live in `scenario_types`: a time is an
ISO 8601 instant with a timezone or relative to the scenario clock (``now - 30h``), resolved only
when seeding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator

from custodian.sandbox.scenario_github import (
    AppSpec,
    DeploymentSpec,
    DeploymentStatusSpec,
    GithubSpec,
    ImpersonationTokenSpec,
    InstallationSpec,
    MembershipSpec,
    PatGrantSpec,
    ReleaseSpec,
    RepoSpec,
    SshKeySpec,
    TagSpec,
    UserSpec,
)
from custodian.sandbox.scenario_types import (
    MAX_BLOB_SIZE,
    TIME_HELP,
    ArmId,
    ArmTags,
    BlobName,
    ContainerName,
    IndexTags,
    Location,
    Metadata,
    NonEmpty,
    RegistryName,
    ResourceGroupName,
    ResourceName,
    ScopeMapName,
    SpecModel,
    Stage,
    StorageAccountName,
    SubnetRef,
    SubscriptionId,
    TimeSyntaxError,
    TokenName,
    When,
    in_range,
    matching,
    non_empty_list,
    yaml_type,
)

__all__ = [
    "TIME_HELP",
    "AppSpec",
    "DeploymentSpec",
    "DeploymentStatusSpec",
    "GithubSpec",
    "ImpersonationTokenSpec",
    "InstallationSpec",
    "MembershipSpec",
    "PatGrantSpec",
    "ReleaseSpec",
    "RepoSpec",
    "Scenario",
    "SshKeySpec",
    "TagSpec",
    "TimeSyntaxError",
    "UserSpec",
    "When",
    "yaml_type",
]

# --------------------------------------------------------------------------------------------------
# Models


class ClockSpec(SpecModel):
    """Pins the scenario's `now` (otherwise the sandbox clock starts at the real current time)."""

    now: When


# ---- Azure

DeleteOption = Literal["Delete", "Detach"]
DiskSku = Literal[
    "Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS"
]
OsType = Literal["Linux", "Windows"]


class OsDiskRef(SpecModel):
    disk: ResourceName
    delete_option: DeleteOption = "Detach"


class DataDiskRef(SpecModel):
    disk: ResourceName
    delete_option: DeleteOption = "Detach"
    lun: Annotated[int, AfterValidator(lambda v: in_range(v, 0, 63, "lun"))] | None = None


class NicRef(SpecModel):
    nic: ResourceName
    delete_option: DeleteOption = "Detach"
    primary: bool | None = None


class VmSpec(SpecModel):
    name: ResourceName
    size: NonEmpty = "Standard_B2s"
    power_state: Literal["running", "stopped", "deallocated"] = "running"
    power_state_since: When | None = None
    os_type: OsType = "Linux"
    time_created: When | None = None
    zones: list[str] = []
    tags: ArmTags = {}
    os_disk: OsDiskRef
    data_disks: list[DataDiskRef] = []
    nics: Annotated[list[NicRef], AfterValidator(lambda v: non_empty_list(v, "nics"))]


class CreationDataSpec(SpecModel):
    create_option: Literal["Empty", "FromImage", "Copy", "Import", "Restore", "Upload", "Attach", "CopyStart"] = "Empty"
    source_resource_id: ArmId | None = None
    source_uri: str | None = None


class DiskSpec(SpecModel):
    name: ResourceName
    sku: DiskSku = "Standard_LRS"
    size_gb: Annotated[int, AfterValidator(lambda v: in_range(v, 1, 65536, "size_gb"))]
    os_type: OsType | None = None
    time_created: When | None = None
    zones: list[str] = []
    tags: ArmTags = {}
    creation_data: CreationDataSpec | None = None
    managed_by: ArmId | None = None
    state: Literal["Unattached", "ActiveSAS", "ReadyToUpload", "ActiveUpload", "Frozen"] | None = None


class NicSpec(SpecModel):
    name: ResourceName
    tags: ArmTags = {}
    time_created: When | None = None
    public_ip: ResourceName | None = None
    nsg: ResourceName | None = None
    private_endpoint: ResourceName | None = None
    subnet: SubnetRef | None = None
    private_ip: Annotated[str, matching(r"10(?:\.[0-9]{1,3}){3}", "a private IPv4 address in 10.0.0.0/8")] | None = None
    hosted_workloads: list[str] = []


class PublicIpSpec(SpecModel):
    name: ResourceName
    sku: Literal["Basic", "Standard"] = "Standard"
    allocation: Literal["Static", "Dynamic"] = "Static"
    ip_address: Annotated[str, matching(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", "an IPv4 address")] | None = None
    nat_gateway: ResourceName | None = None
    time_created: When | None = None
    zones: list[str] = []
    tags: ArmTags = {}


class NsgSpec(SpecModel):
    name: ResourceName
    tags: ArmTags = {}
    time_created: When | None = None
    subnets: list[SubnetRef] = []


class StorageAccountSpec(SpecModel):
    name: StorageAccountName
    kind: Literal["StorageV2", "BlobStorage", "BlockBlobStorage", "FileStorage", "Storage"] = "StorageV2"
    sku: Literal["Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS"] = (
        "Standard_LRS"
    )
    access_tier: Literal["Hot", "Cool", "Cold"] = "Hot"
    time_created: When | None = None
    tags: ArmTags = {}


class PasswordSpec(SpecModel):
    name: Literal["password1", "password2"]
    created: When
    expiry: When | None = None
    value: str | None = None


class TokenSpec(SpecModel):
    name: TokenName
    status: Literal["enabled", "disabled"] = "enabled"
    scope_map: ScopeMapName = "_repositories_pull"
    created: When | None = None
    passwords: list[PasswordSpec] = []


class RegistrySpec(SpecModel):
    name: RegistryName
    kind: Literal["secure", "standard"]
    stage: Stage
    sku: Literal["Basic", "Standard", "Premium"] = "Premium"
    login_server: str | None = None  # a custom domain for reports; ARM's loginServer stays {name}.azurecr.io
    time_created: When | None = None
    tags: ArmTags = {}
    tokens: list[TokenSpec] = []


class ResourceGroupSpec(SpecModel):
    name: ResourceGroupName
    location: Location = "eastus"
    tags: ArmTags = {}
    vms: list[VmSpec] = []
    disks: list[DiskSpec] = []
    nics: list[NicSpec] = []
    public_ips: list[PublicIpSpec] = []
    nsgs: list[NsgSpec] = []
    storage_accounts: list[StorageAccountSpec] = []
    registries: list[RegistrySpec] = []


class SubscriptionSpec(SpecModel):
    id: SubscriptionId
    name: str = ""
    resource_groups: list[ResourceGroupSpec] = []


class AzureSpec(SpecModel):
    subscriptions: list[SubscriptionSpec] = []


# ---- Blob storage (Azurite)


class BlobSpec(SpecModel):
    name: BlobName
    size: Annotated[int, AfterValidator(lambda v: in_range(v, 0, MAX_BLOB_SIZE, "size"))] | None = None
    content: str | None = None
    content_type: str | None = None
    tags: IndexTags = {}
    metadata: Metadata = {}

    def payload(self) -> bytes:
        """The bytes uploaded: `content` (UTF-8), or `size` bytes of filler, or nothing."""
        if self.content is not None:
            return self.content.encode()
        pattern = f"{self.name}\n".encode()
        size = self.size or 0
        return (pattern * (size // len(pattern) + 1))[:size]


class ContainerSpec(SpecModel):
    name: ContainerName
    metadata: Metadata = {}
    blobs: list[BlobSpec] = []


class StorageSpec(SpecModel):
    containers: list[ContainerSpec] = []


# ---- Holds and the root


class HoldSpec(SpecModel):
    """A manager's hold on a whole version or on one logical account (consumed by the ledger)."""

    version: NonEmpty | None = None
    account: NonEmpty | None = None
    by: NonEmpty
    reason: NonEmpty
    placed_at: When
    until: When


class Scenario(SpecModel):
    """The root of a scenario file."""

    description: str = ""
    clock: ClockSpec | None = None
    stages: list[Stage] = ["qa", "uat", "prod"]
    github: GithubSpec = GithubSpec()
    azure: AzureSpec = AzureSpec()
    storage: StorageSpec = StorageSpec()
    holds: list[HoldSpec] = []

    def clock_start(self) -> datetime | None:
        """The pinned `clock.now`, or None (the sandbox clock then starts at the real current time)."""
        return self.clock.now.absolute if self.clock is not None else None

    def subscription_ids(self) -> list[str]:
        return [sub.id for sub in self.azure.subscriptions]

    def github_org(self) -> str:
        """The (first) organization, or "" when the scenario has none."""
        return self.github.orgs[0] if self.github.orgs else ""

    def release_repos(self) -> list[str]:
        return [repo.name for repo in self.github.repos]

    def registries(self) -> list[RegistryInfo]:
        """Every container registry with its stage and kind (what the custodian's config lists)."""
        return [
            RegistryInfo(registry.stage, registry.kind, sub.id, rg.name, registry.name, registry.login_server)
            for sub in self.azure.subscriptions
            for rg in sub.resource_groups
            for registry in rg.registries
        ]

    def describe(self) -> str:
        """A one-line summary of what the scenario seeds."""
        groups = [rg for sub in self.azure.subscriptions for rg in sub.resource_groups]
        arm = {
            "VMs": sum(len(rg.vms) for rg in groups),
            "disks": sum(len(rg.disks) for rg in groups),
            "NICs": sum(len(rg.nics) for rg in groups),
            "public IPs": sum(len(rg.public_ips) for rg in groups),
            "NSGs": sum(len(rg.nsgs) for rg in groups),
            "storage accounts": sum(len(rg.storage_accounts) for rg in groups),
            "registries": sum(len(rg.registries) for rg in groups),
            "ACR tokens": sum(len(r.tokens) for rg in groups for r in rg.registries),
        }
        parts = [
            f"stages {' > '.join(self.stages)}",
            f"{len(self.github.orgs)} org(s), {len(self.github.users)} user(s), {len(self.github.repos)} repo(s)",
            f"{len(self.azure.subscriptions)} subscription(s), {len(groups)} resource group(s)",
            ", ".join(f"{n} {kind}" for kind, n in arm.items() if n),
            f"{len(self.storage.containers)} container(s) with "
            f"{sum(len(c.blobs) for c in self.storage.containers)} blob(s)",
            f"{len(self.holds)} hold(s)",
        ]
        return "; ".join(part for part in parts if part)


@dataclass(frozen=True)
class RegistryInfo:
    stage: str
    kind: str
    subscription: str
    resource_group: str
    name: str
    login_server: str | None
