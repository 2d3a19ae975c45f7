"""What can be acted on, and where: scopes, resource kinds, and tags compared the way ARM compares them.

- `Scope` is the unit of the enforce allowlist and of the percentage cap: a GitHub organization
  (or the GitHub Enterprise Server instance the organization lives on) or an Azure subscription.
  Every target belongs to exactly one scope; a storage account belongs to its subscription.
- `ResourceKind` names every kind of object an action can touch.
- `Tags` is an immutable mapping whose keys compare case-insensitively (ARM tag names and our
  reading of blob index tags), keeping the keys as written for reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Provider(StrEnum):
    GITHUB = "github"
    AZURE = "azure"


class ScopeKind(StrEnum):
    GITHUB_ORG = "github-org"  # github.com organization mode: the org's members and PAT grants
    GITHUB_ENTERPRISE = "github-enterprise"  # GitHub Enterprise Server: site-admin actions on instance users
    AZURE_SUBSCRIPTION = "azure-subscription"


@dataclass(frozen=True, order=True)
class Scope:
    """Where a target lives, as the allowlist names it. Names are normalized (lower case)."""

    kind: ScopeKind
    name: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError(f"a {self.kind.value} scope needs a name")
        object.__setattr__(self, "name", self.name.strip().lower())

    @classmethod
    def subscription(cls, subscription_id: str) -> Scope:
        return cls(ScopeKind.AZURE_SUBSCRIPTION, subscription_id)

    @classmethod
    def github(cls, org: str, *, enterprise: bool = False) -> Scope:
        return cls(ScopeKind.GITHUB_ENTERPRISE if enterprise else ScopeKind.GITHUB_ORG, org)

    @classmethod
    def parse(cls, key: str) -> Scope:
        """The inverse of `key`: `github:acme`, `github-enterprise:acme` or `/subscriptions/<id>`."""
        if key.lower().startswith("/subscriptions/"):
            return cls.subscription(key.split("/")[2])
        prefix, _, name = key.partition(":")
        if prefix == "github":
            return cls.github(name)
        if prefix == "github-enterprise":
            return cls.github(name, enterprise=True)
        raise ValueError(f"not a scope key: {key!r}")

    @property
    def key(self) -> str:
        if self.kind is ScopeKind.AZURE_SUBSCRIPTION:
            return f"/subscriptions/{self.name}"
        return f"{'github' if self.kind is ScopeKind.GITHUB_ORG else 'github-enterprise'}:{self.name}"

    @property
    def is_github(self) -> bool:
        return self.kind is not ScopeKind.AZURE_SUBSCRIPTION

    def __str__(self) -> str:
        label = {
            ScopeKind.GITHUB_ORG: "GitHub organization",
            ScopeKind.GITHUB_ENTERPRISE: "GitHub Enterprise Server organization",
            ScopeKind.AZURE_SUBSCRIPTION: "subscription",
        }[self.kind]
        return f"{label} {self.name}"


class ResourceKind(StrEnum):
    """Every kind of object an action can touch; the value is the `kind` reports show."""

    GITHUB_ACCOUNT = "gh-sa"
    ACR_TOKEN = "acr-sa"
    VIRTUAL_MACHINE = "virtualMachine"
    DISK = "disk"
    NETWORK_INTERFACE = "networkInterface"
    PUBLIC_IP = "publicIPAddress"
    NETWORK_SECURITY_GROUP = "networkSecurityGroup"
    BLOB = "blob"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def is_arm(self) -> bool:
        return self in ARM_KINDS


_LABELS = {
    ResourceKind.GITHUB_ACCOUNT: "GitHub machine account",
    ResourceKind.ACR_TOKEN: "ACR token",
    ResourceKind.VIRTUAL_MACHINE: "VM",
    ResourceKind.DISK: "managed disk",
    ResourceKind.NETWORK_INTERFACE: "NIC",
    ResourceKind.PUBLIC_IP: "public IP",
    ResourceKind.NETWORK_SECURITY_GROUP: "NSG",
    ResourceKind.BLOB: "blob",
}
ARM_KINDS = frozenset(
    {
        ResourceKind.VIRTUAL_MACHINE,
        ResourceKind.DISK,
        ResourceKind.NETWORK_INTERFACE,
        ResourceKind.PUBLIC_IP,
        ResourceKind.NETWORK_SECURITY_GROUP,
    }
)
ARM_TYPES: Mapping[str, ResourceKind] = {
    "microsoft.compute/virtualmachines": ResourceKind.VIRTUAL_MACHINE,
    "microsoft.compute/disks": ResourceKind.DISK,
    "microsoft.network/networkinterfaces": ResourceKind.NETWORK_INTERFACE,
    "microsoft.network/publicipaddresses": ResourceKind.PUBLIC_IP,
    "microsoft.network/networksecuritygroups": ResourceKind.NETWORK_SECURITY_GROUP,
}


class Tags(Mapping[str, str]):
    """Tags whose keys compare case-insensitively; iteration yields the keys as written.

    Two keys that differ only in case (possible on blob index tags, never on ARM) keep the first
    one written; `conflicts` names the others so a report can say so.
    """

    __slots__ = ("_conflicts", "_items", "_lower")

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        ordered: dict[str, str] = {}
        lower: dict[str, str] = {}
        conflicts: list[str] = []
        for key, value in (items or {}).items():
            folded = str(key).lower()
            if folded in lower:
                conflicts.append(str(key))
                continue
            lower[folded] = str(key)
            ordered[str(key)] = str(value)
        self._items = ordered
        self._lower = lower
        self._conflicts = tuple(conflicts)

    def __getitem__(self, key: str) -> str:
        return self._items[self._lower[key.lower()]]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k.lower(), v) for k, v in self._items.items())))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tags):
            return {k.lower(): v for k, v in self.items()} == {k.lower(): v for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Tags({self._items!r})"

    def key_as_written(self, key: str) -> str | None:
        return self._lower.get(key.lower())

    def value(self, key: str) -> str | None:
        """The value of `key` in any letter case, or None."""
        written = self._lower.get(key.lower())
        return None if written is None else self._items[written]

    @property
    def conflicts(self) -> tuple[str, ...]:
        return self._conflicts

    def as_dict(self) -> dict[str, str]:
        return dict(self._items)

    def with_value(self, key: str, value: str) -> Tags:
        """A copy with `key` set (replacing the same key in any letter case, keeping its spelling)."""
        written = self._lower.get(key.lower(), key)
        return Tags({**self._items, written: value})
