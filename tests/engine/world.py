"""A random world for property-based tests of the engine: a release timeline, accounts, Azure
resources (with attachments and cascades), blobs, holds, allowlists, incomplete units, caps, and what
an arbitrary selector (c7n, in production) picked for O1-O5.

Resources are generated as ARM JSON and typed by the production boundary (`arm_json.parse_resource`),
so relations are read exactly as a real run reads them. Names, tag keys and values come in the
spellings providers allow: dots or hyphens, any letter case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from custodian.model import (
    AccountKind,
    AzureResource,
    Blob,
    CollectionError,
    Credential,
    CredentialKind,
    DeploymentFact,
    Hold,
    HoldTarget,
    Inventory,
    Provider,
    ReleaseTimeline,
    Scope,
    ServiceAccount,
    StageStart,
    StartEvidence,
    Tags,
    blob_unit,
)
from custodian.providers.azure.arm_json import parse_resource

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
STAGES = ("qa", "uat", "prod")
VERSIONS = ("v1.0.0", "v1.1.0", "v2.0.0")
SUBS = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")
ORG = "acme"
ARM_TYPE = {
    "virtualMachine": "Microsoft.Compute/virtualMachines",
    "disk": "Microsoft.Compute/disks",
    "networkInterface": "Microsoft.Network/networkInterfaces",
    "publicIPAddress": "Microsoft.Network/publicIPAddresses",
    "networkSecurityGroup": "Microsoft.Network/networkSecurityGroups",
}


def hours(draw: st.DrawFn, low: int, high: int) -> timedelta:
    return draw(st.integers(low, high)) * H


@dataclass
class World:
    timeline: ReleaseTimeline
    accounts: list[ServiceAccount]
    docs: list[dict[str, Any]]  # ARM JSON of every resource
    blobs: list[Blob]
    holds: list[Hold]
    allowed: frozenset[Scope]
    incomplete: list[CollectionError]
    selected: dict[str, frozenset[str]]
    max_actions: int
    max_percent: float
    ephemeral: frozenset[str] = frozenset({"scratch"})
    resources: list[AzureResource] = field(default_factory=list)

    def inventory(self) -> Inventory:
        errors = tuple(self.incomplete)
        return Inventory(NOW, self.timeline, tuple(self.accounts), tuple(self.resources), tuple(self.blobs), errors)

    def populations(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for target in [*self.accounts, *self.resources, *self.blobs]:
            if target.scope is not None:
                out[target.scope.key] = out.get(target.scope.key, 0) + 1
        return out


@st.composite
def timelines(draw: st.DrawFn, released: bool = False) -> ReleaseTimeline:
    """Random stage starts and deployments; `released`: VERSIONS[0] surely succeeded in production 100h ago."""
    starts: list[StageStart] = []
    deployments: list[DeploymentFact] = []
    if released:
        deployments.append(DeploymentFact(VERSIONS[0], 999, "production", NOW - 101 * H, (("success", NOW - 100 * H),)))
    for index, version in enumerate(VERSIONS):
        at = NOW - hours(draw, 1, 400)
        for stage in STAGES:
            if stage != "qa" and not draw(st.booleans()):
                break
            evidence = draw(st.sampled_from(list(StartEvidence)))
            starts.append(StageStart(version, stage, at, f"tag {version}-{stage}", evidence))
            at = at + hours(draw, -30, 200)  # tags out of order too
        for number in range(draw(st.integers(0, 2))):
            created = NOW - hours(draw, 0, 300)
            outcomes = st.sampled_from(["success", "success", "failure", "in_progress", "error"])
            states = draw(st.lists(outcomes, max_size=3))
            statuses = tuple((state, created + (i + 1) * H) for i, state in enumerate(states))
            deployments.append(DeploymentFact(version, index * 10 + number, "production", created, statuses))
    return ReleaseTimeline(STAGES, tuple(starts), tuple(deployments))


def _spelling(draw: st.DrawFn, version: str) -> str:
    form = draw(st.sampled_from(["as-is", "as-is", "upper", "hyphens", "unknown"]))
    return {"as-is": version, "upper": version.upper(), "hyphens": version.replace(".", "-"), "unknown": "v9.9.9"}[form]


@st.composite
def release_tags(draw: st.DrawFn, leftover_bias: bool = False) -> dict[str, str]:
    """Release tags, a hold tag and a mark in random spellings; `leftover_bias`: mostly VERSIONS[0] qa, due."""
    if leftover_bias and draw(st.integers(0, 2)) > 0:
        tags = {draw(st.sampled_from(["release-version", "Release-Version"])): _spelling(draw, VERSIONS[0])}
        tags[draw(st.sampled_from(["release-stage", "RELEASE-STAGE"]))] = draw(st.sampled_from(["qa", "UAT", "prod"]))
        if draw(st.integers(0, 3)) == 0:
            tags[draw(st.sampled_from(["custodian-hold", "Custodian-Hold"]))] = "keep"
        if draw(st.booleans()):
            tags["custodian-reap"] = f"{(NOW - 5 * H):%Y-%m-%dT%H:%M:%SZ} L4"
        return tags
    tags: dict[str, str] = {}
    if draw(st.integers(0, 4)) > 0:
        version_key = draw(st.sampled_from(["release-version", "Release-Version", "RELEASE-VERSION"]))
        tags[version_key] = _spelling(draw, draw(st.sampled_from(VERSIONS)))
    if draw(st.integers(0, 4)) > 0:
        stage_key = draw(st.sampled_from(["release-stage", "Release-Stage"]))
        stage = draw(st.sampled_from([*STAGES, "qa", "uat"]))
        tags[stage_key] = stage.upper() if draw(st.booleans()) else stage
    hold = draw(st.sampled_from([None, None, None, "custodian-hold", "Custodian-Hold", "CUSTODIAN-HOLD"]))
    if hold:
        tags[hold] = "keep"
    mark = draw(st.sampled_from(["none", "pending", "due", "due", "unreadable"]))
    if mark != "none":
        tags["custodian-reap"] = {
            "pending": f"{(NOW + 5 * H):%Y-%m-%dT%H:%M:%SZ} O1",
            "due": f"{(NOW - 5 * H):%Y-%m-%dT%H:%M:%SZ} O1",
            "unreadable": "soon",
        }[mark]
    return tags


def _rid(kind: str, name: str, sub: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/{ARM_TYPE[kind]}/{name}"


@st.composite
def arm_docs(draw: st.DrawFn, leftover_bias: bool = False, most: int = 12) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in ARM_TYPE}
    for index in range(draw(st.integers(0, most))):
        kind = draw(st.sampled_from([*ARM_TYPE, "virtualMachine", "disk"]))
        sub = draw(st.sampled_from(SUBS))
        doc: dict[str, Any] = {
            "id": _rid(kind, f"{kind.lower()}-{index}", sub),
            "name": f"{kind.lower()}-{index}",
            "type": ARM_TYPE[kind],
            "location": "eastus",
            "tags": draw(release_tags(leftover_bias)),
            "properties": {"timeCreated": "2026-01-01T00:00:00Z"},
        }
        if kind == "disk":
            doc["properties"] |= {"diskSizeGB": 32, "diskState": draw(st.sampled_from(["Unattached", "ActiveSAS"]))}
            doc["sku"] = {"name": "Standard_LRS"}
        if kind == "networkInterface" and draw(st.integers(0, 5)) == 0:
            doc["properties"]["privateEndpoint"] = {
                "id": _rid("networkInterface", "pe", sub).replace("networkInterfaces", "privateEndpoints")
            }
        docs.append(doc)
        by_kind[kind].append(doc)
    for vm in by_kind["virtualMachine"]:  # a VM's disks and NICs, deleted with it or not
        data, nics = [], []
        for disk in by_kind["disk"]:
            if "managedBy" not in disk and draw(st.integers(0, 1)) == 0:
                option = draw(st.sampled_from(["Delete", "Detach"]))
                data.append({"lun": len(data), "managedDisk": {"id": disk["id"]}, "deleteOption": option})
                disk["managedBy"] = vm["id"]
                disk["properties"]["diskState"] = "Attached"
        for nic in by_kind["networkInterface"]:
            if "virtualMachine" not in nic["properties"] and draw(st.integers(0, 2)) == 0:
                nics.append(
                    {"id": nic["id"], "properties": {"deleteOption": draw(st.sampled_from(["Delete", "Detach"]))}}
                )
                nic["properties"]["virtualMachine"] = {"id": vm["id"]}
        vm["properties"] |= {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"dataDisks": data},
            "networkProfile": {"networkInterfaces": nics},
        }
    for pip in by_kind["publicIPAddress"]:
        if by_kind["networkInterface"] and draw(st.booleans()):
            nic = draw(st.sampled_from(by_kind["networkInterface"]))
            pip["properties"]["ipConfiguration"] = {"id": nic["id"] + "/ipConfigurations/ipconfig1"}
    for nsg in by_kind["networkSecurityGroup"]:
        if by_kind["networkInterface"] and draw(st.booleans()):
            nsg["properties"]["networkInterfaces"] = [{"id": draw(st.sampled_from(by_kind["networkInterface"]))["id"]}]
    return docs


@st.composite
def accounts(draw: st.DrawFn) -> list[ServiceAccount]:
    out = []
    for version in VERSIONS:
        for stage in STAGES:
            if not draw(st.booleans()):
                continue
            kind = draw(st.sampled_from(list(AccountKind)))
            name = f"{version}-{stage}-{kind.value}-sa".replace(".", "-")
            creds = tuple(
                Credential(
                    CredentialKind.ACR_PASSWORD if kind is AccountKind.ACR else CredentialKind.PAT_GRANT,
                    f"{name}-{i}",
                    f"c{i}",
                    NOW - 100 * H,
                    draw(st.sampled_from([None, NOW + H, NOW - H])),
                )
                for i in range(draw(st.integers(0, 2)))
            )
            github = kind is AccountKind.GH
            out.append(
                ServiceAccount(
                    Provider.GITHUB if github else Provider.AZURE,
                    kind,
                    name,
                    f"github:{ORG}"
                    if github
                    else f"/subscriptions/{SUBS[0]}/resourceGroups/rg/providers/Microsoft."
                    f"ContainerRegistry/registries/{stage}reg",
                    Scope.github(ORG) if github else Scope.subscription(SUBS[0]),
                    draw(st.booleans()),
                    creds,
                    resource_id=None if github else f"/tokens/{name}",
                    display_name=f"{version}-{stage}-{kind.value}-sa" if github else None,
                )
            )
    return out


@st.composite
def blobs(draw: st.DrawFn) -> list[Blob]:
    out = []
    for index in range(draw(st.integers(0, 6))):
        container = draw(st.sampled_from(["artifacts", "scratch"]))
        modified = NOW - hours(draw, 0, 400)
        scope = draw(st.sampled_from([Scope.subscription(SUBS[0]), Scope.subscription(SUBS[1]), None]))
        out.append(
            Blob(
                "acct",
                container,
                f"b{index}",
                f"https://acct/{container}/b{index}",
                1024,
                "Hot",
                modified,
                f"etag-{index}",
                scope,
                Tags(draw(release_tags())),
            )
        )
    return out


@st.composite
def holds(draw: st.DrawFn, account_names: list[str]) -> list[Hold]:
    out = []
    for index in range(draw(st.integers(0, 3))):
        if account_names and draw(st.booleans()):
            target_type, target = HoldTarget.ACCOUNT, draw(st.sampled_from(account_names))
        else:
            target_type, target = HoldTarget.VERSION, draw(st.sampled_from(VERSIONS))
        placed = NOW - hours(draw, 1, 100)
        until = NOW + hours(draw, -50, 100)
        released = draw(st.sampled_from([None, None, NOW - H]))
        out.append(Hold(f"H-{index}", target_type, target, "why", "alice", placed, until, released_at=released))
    return out


@st.composite
def worlds(draw: st.DrawFn, reaping: bool = False, most: int = 12) -> World:
    """A world; `reaping`: one version surely released and resources mostly its due leftovers (cascades,
    holds); `most`: at most this many Azure resources."""
    timeline = draw(timelines(released=reaping))
    docs = draw(arm_docs(leftover_bias=reaping, most=most))
    resources = [r for r in (parse_resource(d) for d in docs) if r is not None]
    account_list = draw(accounts())
    names = [a.provider_name for a in account_list] + [(a.display_name or "") for a in account_list if a.display_name]
    scopes = [Scope.github(ORG), *(Scope.subscription(s) for s in SUBS)]
    allowed = frozenset(s for s in scopes if draw(st.integers(0, 9)) > 0)
    units = ["timeline", f"github:{ORG}", *(Scope.subscription(s).key for s in SUBS), blob_unit("acct")]
    incomplete = [CollectionError(Provider.AZURE, u, "failed") for u in units if draw(st.integers(0, 19)) == 0]
    keys_by_kind: dict[str, list[str]] = {}
    for resource in resources:
        keys_by_kind.setdefault(resource.kind.value, []).append(resource.key)
    selected: dict[str, frozenset[str]] = {}
    for rule, kind in (
        ("O1", "disk"),
        ("O2", "networkInterface"),
        ("O3", "publicIPAddress"),
        ("O4", "networkSecurityGroup"),
        ("O5", "virtualMachine"),
    ):
        keys = keys_by_kind.get(kind, [])
        selected[rule] = frozenset(k for k in keys if draw(st.booleans()))  # an arbitrary (even wrong) selector
    return World(
        timeline=timeline,
        accounts=account_list,
        docs=docs,
        blobs=draw(blobs()),
        holds=draw(holds(names)),
        allowed=allowed,
        incomplete=incomplete,
        selected=selected,
        max_actions=draw(st.sampled_from([2, 8, 200, 200, 200])),
        max_percent=draw(st.sampled_from([10.0, 100.0, 100.0, 100.0])),
        resources=resources,
    )


def fold(text: str) -> str:
    return text.strip().lower().replace(".", "-")


Resolver = Callable[[str], str | None]
