"""The scenario file schema: pydantic v2 models (``extra="forbid"``, strict types) and scenario times.

One YAML file seeds every sandbox emulator: the GitHub store (orgs, users, repos and their release
timeline, tokens), the ARM store (subscriptions, resource groups, compute/network/storage resources,
container registries and their tokens), Azurite (containers and blobs with index tags) and the holds
the ledger consumes. This module checks shapes and single values (types, enums, name rules, times);
relations between objects (references, duplicates, ordering) are checked by `scenario_checks`.

Times are `When` values: an ISO 8601 instant with a timezone (``2026-11-26T08:00:00Z``) or a time
relative to the scenario clock (``now``, ``now - 30h``, ``now + 7d``, ``now - 2h30m``; units s, m, h,
d, w, largest first, each at most once). They are resolved only when seeding, against ``clock.now()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

# --------------------------------------------------------------------------------------------------
# Scenario times

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_ORDER = "wdhms"
_RELATIVE = re.compile(r"now(?: *([+-]) *((?:[0-9]+[a-z])+))?")
_TERM = re.compile(r"([0-9]+)([a-z])")
_ISO_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*")

TIME_HELP = "expected an ISO 8601 time with a timezone (e.g. 2026-11-26T08:00:00Z) or 'now', 'now - 30h', 'now + 2h30m'"


class TimeSyntaxError(ValueError):
    """A scenario time string that is neither ISO 8601 (with a timezone) nor a relative time."""


@dataclass(frozen=True)
class When:
    """A scenario time: an absolute instant, or an offset from the scenario clock's `now`."""

    text: str
    absolute: datetime | None = None
    offset: timedelta = timedelta(0)

    @property
    def is_relative(self) -> bool:
        return self.absolute is None

    def resolve(self, now: datetime) -> datetime:
        """The instant this time denotes when the scenario clock reads `now` (timezone-aware)."""
        if self.absolute is not None:
            return self.absolute
        if now.tzinfo is None:
            raise ValueError("scenario times resolve against a timezone-aware now")
        return now + self.offset

    def comparable_with(self, other: When) -> bool:
        """Whether the order of the two times is known without knowing `now`."""
        return self.is_relative == other.is_relative

    def sort_key(self) -> tuple[int, float]:
        if self.absolute is not None:
            return (1, self.absolute.timestamp())
        return (0, self.offset.total_seconds())

    @classmethod
    def parse(cls, text: str) -> When:
        """Parse strictly; raise `TimeSyntaxError` with a readable reason."""
        if text != text.strip():
            raise TimeSyntaxError(f"{text!r}: leading or trailing spaces; {TIME_HELP}")
        if text.startswith("now"):
            return cls(text=text, offset=_parse_offset(text))
        if _ISO_SHAPE.fullmatch(text):
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise TimeSyntaxError(f"{text!r} is not a valid ISO 8601 time; {TIME_HELP}") from None
            if parsed.tzinfo is None:
                raise TimeSyntaxError(f"{text!r} has no timezone (add Z or +00:00)")
            return cls(text=text, absolute=parsed)
        raise TimeSyntaxError(f"{text!r} is not a time; {TIME_HELP}")

    def __str__(self) -> str:
        return self.text

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_when,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def _parse_offset(text: str) -> timedelta:
    match = _RELATIVE.fullmatch(text)
    if match is None:
        raise TimeSyntaxError(
            f"{text!r} is not a relative time: write 'now', 'now - 30h' or 'now + 2h30m' (units w, d, h, m, s)"
        )
    sign, terms = match.group(1), match.group(2)
    if sign is None:
        return timedelta(0)
    seconds = 0
    last = -1
    for amount, unit in _TERM.findall(terms):
        if unit not in _UNIT_SECONDS:
            raise TimeSyntaxError(f"{text!r}: unknown unit {unit!r} (use w, d, h, m or s)")
        position = _UNIT_ORDER.index(unit)
        if position <= last:
            raise TimeSyntaxError(f"{text!r}: units must go from largest to smallest, each once (e.g. 1d2h30m)")
        last = position
        seconds += int(amount) * _UNIT_SECONDS[unit]
    return timedelta(seconds=seconds if sign == "+" else -seconds)


def _validate_when(value: object) -> When:
    if isinstance(value, When):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("time_type", "expected a time string, got {kind}", {"kind": yaml_type(value)})
    try:
        return When.parse(value)
    except TimeSyntaxError as exc:
        raise PydanticCustomError("time_syntax", "{reason}", {"reason": str(exc)}) from None


def yaml_type(value: object) -> str:
    """The YAML-ish name of a loaded value's type, for error messages."""
    names: dict[type, str] = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------
# Names


def _matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("name_syntax", "{value} is not {what}", {"value": repr(value), "what": what})
        return value

    return AfterValidator(check)


def _checked(check: Callable[[str], str | None]) -> AfterValidator:
    def run(value: str) -> str:
        problem = check(value)
        if problem is not None:
            raise PydanticCustomError("invalid", "{problem}", {"problem": problem})
        return value

    return AfterValidator(run)


GITHUB_LOGIN_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
GithubLogin = Annotated[
    str,
    _matching(GITHUB_LOGIN_PATTERN, "a GitHub login (letters, digits, single inner hyphens, at most 39; no dots)"),
]
RepoName = Annotated[str, _matching(GITHUB_LOGIN_PATTERN + r"/[A-Za-z0-9._-]{1,100}", "a repository 'owner/name'")]
GitRef = Annotated[str, _matching(r"[^\s~^:?*\[\\]{1,250}", "a git ref name")]
Sha = Annotated[str, _matching(r"[0-9a-f]{40}", "a 40-hex commit sha")]
NonEmpty = Annotated[str, _matching(r"\S(?:.*\S)?", "a non-empty text")]
SubscriptionId = Annotated[
    str,
    _matching(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "a subscription GUID"),
]
ResourceGroupName = Annotated[
    str, _matching(r"[-\w.()]{0,89}[-\w()]", "a resource group name (1-90 of letters, digits, - _ . ( ))")
]
Location = Annotated[str, _matching(r"[a-z][a-z0-9]{1,40}", "an Azure location such as eastus")]
ResourceName = Annotated[
    str,
    _matching(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?", "a resource name (1-80 of letters, digits, - _ .)"),
]
RegistryName = Annotated[str, _matching(r"[A-Za-z0-9]{5,50}", "a registry name (5-50 letters and digits)")]
TokenName = Annotated[str, _matching(r"[A-Za-z0-9-]{5,50}", "an ACR token name (5-50 letters, digits, hyphens)")]
ScopeMapName = Annotated[
    str, _matching(r"_?[A-Za-z0-9][A-Za-z0-9_-]{4,49}", "a scope map name (5-50 letters, digits, - _)")
]
StorageAccountName = Annotated[
    str, _matching(r"[a-z0-9]{3,24}", "a storage account name (3-24 lower-case letters and digits)")
]
ContainerName = Annotated[
    str,
    _matching(
        r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
        "a container name (3-63 lower-case letters, digits, single inner hyphens)",
    ),
]
BlobName = Annotated[str, _matching(r"[^\\]{1,1024}", "a blob name (1-1024 characters, no backslash)")]
SubnetRef = Annotated[str, _matching(r"[-\w.]{2,64}/[-\w.]{1,80}", "a subnet 'vnet-name/subnet-name'")]
ArmId = Annotated[str, _matching(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/\S+", "an ARM resource id")]
Stage = Annotated[str, _matching(r"[a-z][a-z0-9]{0,19}", "a stage name (lower-case letters and digits)")]


def _arm_tag_problem(key: str, value: str) -> str | None:
    if not 1 <= len(key) <= 512 or any(c in key for c in "<>%&\\?/"):
        return f"tag name {key!r}: 1-512 characters, none of < > % & \\ ? /"
    if len(value) > 256:
        return f"tag {key!r}: value longer than 256 characters"
    return None


def _check_arm_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        problem = _arm_tag_problem(key, value)
        if problem:
            raise PydanticCustomError("tags", "{problem}", {"problem": problem})
    return tags


_INDEX_TAG = re.compile(r"[A-Za-z0-9 +\-./:=_]*")


def _check_index_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > 10:
        raise PydanticCustomError("tags", "a blob has at most 10 index tags, not {n}", {"n": len(tags)})
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or not _INDEX_TAG.fullmatch(key):
            raise PydanticCustomError(
                "tags", "index tag key {key}: 1-128 of letters, digits, space and + - . / : = _", {"key": repr(key)}
            )
        if len(value) > 256 or not _INDEX_TAG.fullmatch(value):
            raise PydanticCustomError(
                "tags",
                "index tag {key}: value of at most 256 letters, digits, space and + - . / : = _",
                {"key": repr(key)},
            )
    return tags


_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def _check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    for key in metadata:
        if not _METADATA_KEY.fullmatch(key):
            raise PydanticCustomError("metadata", "metadata key {key} must be a C# identifier", {"key": repr(key)})
    return metadata


ArmTags = Annotated[dict[str, str], AfterValidator(_check_arm_tags)]
IndexTags = Annotated[dict[str, str], AfterValidator(_check_index_tags)]
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]

MAX_BLOB_SIZE = 16 * 1024 * 1024

# --------------------------------------------------------------------------------------------------
# Models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ClockSpec(_Model):
    """Pins the scenario's `now` (otherwise the sandbox clock starts at the real current time)."""

    now: When


# ---- GitHub


class TagSpec(_Model):
    name: GitRef
    at: When
    sha: Sha | None = None


class ReleaseSpec(_Model):
    tag: GitRef
    at: When
    published_at: When | None = None
    name: str | None = None
    draft: bool = False
    prerelease: bool = False


DeploymentState = Literal["error", "failure", "inactive", "pending", "success", "queued", "in_progress"]


class DeploymentStatusSpec(_Model):
    state: DeploymentState
    at: When
    description: str = ""


class DeploymentSpec(_Model):
    environment: NonEmpty
    ref: GitRef
    at: When
    sha: Sha | None = None
    task: NonEmpty = "deploy"
    statuses: list[DeploymentStatusSpec] = []


class RepoSpec(_Model):
    name: RepoName
    default_branch: GitRef = "main"
    tags: list[TagSpec] = []
    releases: list[ReleaseSpec] = []
    deployments: list[DeploymentSpec] = []


class MembershipSpec(_Model):
    org: GithubLogin
    role: Literal["member", "admin"] = "member"


class ImpersonationTokenSpec(_Model):
    scopes: Annotated[list[NonEmpty], AfterValidator(lambda v: _non_empty_list(v, "scopes"))]
    created_at: When
    expires_at: When | None = None
    token: str | None = None


class PatGrantSpec(_Model):
    org: GithubLogin
    token_name: NonEmpty
    granted_at: When
    expires_at: When | None = None
    last_used_at: When | None = None
    repository_selection: Literal["all", "subset", "none"] = "all"
    permissions: dict[str, dict[str, str]] | None = None


class SshKeySpec(_Model):
    title: NonEmpty
    created_at: When
    key: str | None = None


class UserSpec(_Model):
    login: GithubLogin
    name: str | None = None
    type: Literal["User", "Bot"] = "User"
    email: str | None = None
    created_at: When | None = None
    suspended_at: When | None = None
    memberships: list[MembershipSpec] = []
    impersonation_tokens: list[ImpersonationTokenSpec] = []
    pat_grants: list[PatGrantSpec] = []
    ssh_keys: list[SshKeySpec] = []


class GithubSpec(_Model):
    orgs: list[GithubLogin] = []
    site_admin: GithubLogin | None = None
    users: list[UserSpec] = []
    repos: list[RepoSpec] = []


# ---- Azure

DeleteOption = Literal["Delete", "Detach"]
DiskSku = Literal[
    "Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS"
]
OsType = Literal["Linux", "Windows"]


class OsDiskRef(_Model):
    disk: ResourceName
    delete_option: DeleteOption = "Detach"


class DataDiskRef(_Model):
    disk: ResourceName
    delete_option: DeleteOption = "Detach"
    lun: Annotated[int, AfterValidator(lambda v: _in_range(v, 0, 63, "lun"))] | None = None


class NicRef(_Model):
    nic: ResourceName
    delete_option: DeleteOption = "Detach"
    primary: bool | None = None


class VmSpec(_Model):
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
    nics: Annotated[list[NicRef], AfterValidator(lambda v: _non_empty_list(v, "nics"))]


class CreationDataSpec(_Model):
    create_option: Literal["Empty", "FromImage", "Copy", "Import", "Restore", "Upload", "Attach", "CopyStart"] = "Empty"
    source_resource_id: ArmId | None = None
    source_uri: str | None = None


class DiskSpec(_Model):
    name: ResourceName
    sku: DiskSku = "Standard_LRS"
    size_gb: Annotated[int, AfterValidator(lambda v: _in_range(v, 1, 65536, "size_gb"))]
    os_type: OsType | None = None
    time_created: When | None = None
    zones: list[str] = []
    tags: ArmTags = {}
    creation_data: CreationDataSpec | None = None
    managed_by: ArmId | None = None
    state: Literal["Unattached", "ActiveSAS", "ReadyToUpload", "ActiveUpload", "Frozen"] | None = None


class NicSpec(_Model):
    name: ResourceName
    tags: ArmTags = {}
    time_created: When | None = None
    public_ip: ResourceName | None = None
    nsg: ResourceName | None = None
    private_endpoint: ResourceName | None = None
    subnet: SubnetRef | None = None
    private_ip: Annotated[str, _matching(r"10(?:\.[0-9]{1,3}){3}", "a private IPv4 address in 10.0.0.0/8")] | None = (
        None
    )
    hosted_workloads: list[str] = []


class PublicIpSpec(_Model):
    name: ResourceName
    sku: Literal["Basic", "Standard"] = "Standard"
    allocation: Literal["Static", "Dynamic"] = "Static"
    ip_address: Annotated[str, _matching(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", "an IPv4 address")] | None = None
    nat_gateway: ResourceName | None = None
    time_created: When | None = None
    zones: list[str] = []
    tags: ArmTags = {}


class NsgSpec(_Model):
    name: ResourceName
    tags: ArmTags = {}
    time_created: When | None = None
    subnets: list[SubnetRef] = []


class StorageAccountSpec(_Model):
    name: StorageAccountName
    kind: Literal["StorageV2", "BlobStorage", "BlockBlobStorage", "FileStorage", "Storage"] = "StorageV2"
    sku: Literal["Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS"] = (
        "Standard_LRS"
    )
    access_tier: Literal["Hot", "Cool", "Cold"] = "Hot"
    time_created: When | None = None
    tags: ArmTags = {}


class PasswordSpec(_Model):
    name: Literal["password1", "password2"]
    created: When
    expiry: When | None = None
    value: str | None = None


class TokenSpec(_Model):
    name: TokenName
    status: Literal["enabled", "disabled"] = "enabled"
    scope_map: ScopeMapName = "_repositories_pull"
    created: When | None = None
    passwords: list[PasswordSpec] = []


class RegistrySpec(_Model):
    name: RegistryName
    kind: Literal["secure", "standard"]
    stage: Stage
    sku: Literal["Basic", "Standard", "Premium"] = "Premium"
    login_server: str | None = None  # a custom domain for reports; ARM's loginServer stays {name}.azurecr.io
    time_created: When | None = None
    tags: ArmTags = {}
    tokens: list[TokenSpec] = []


class ResourceGroupSpec(_Model):
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


class SubscriptionSpec(_Model):
    id: SubscriptionId
    name: str = ""
    resource_groups: list[ResourceGroupSpec] = []


class AzureSpec(_Model):
    subscriptions: list[SubscriptionSpec] = []


# ---- Blob storage (Azurite)


class BlobSpec(_Model):
    name: BlobName
    size: Annotated[int, AfterValidator(lambda v: _in_range(v, 0, MAX_BLOB_SIZE, "size"))] | None = None
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


class ContainerSpec(_Model):
    name: ContainerName
    metadata: Metadata = {}
    blobs: list[BlobSpec] = []


class StorageSpec(_Model):
    containers: list[ContainerSpec] = []


# ---- Holds and the root


class HoldSpec(_Model):
    """A manager's hold on a whole version or on one logical account (consumed by the ledger)."""

    version: NonEmpty | None = None
    account: NonEmpty | None = None
    by: NonEmpty
    reason: NonEmpty
    placed_at: When
    until: When


class Scenario(_Model):
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


def _non_empty_list(value: list[Any], what: str) -> list[Any]:
    if not value:
        raise PydanticCustomError("empty", "{what} must list at least one item", {"what": what})
    return value


def _in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise PydanticCustomError(
            "range",
            "{what} must be between {low} and {high}, not {value}",
            {"what": what, "low": low, "high": high, "value": value},
        )
    return value
