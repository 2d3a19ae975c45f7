"""Scale scenarios for `python -m bench`: a sandbox `Scenario` (GitHub + ARM) and a blob list, from a seed.

Sizes (issue 12): S 50 versions / 2,000 ARM resources / 10,000 blobs / 2 subscriptions, M 500 /
20,000 / 100,000 / 10, L 2,000 / 60,000 / 300,000 / 20; XS (3 / 30 / 50 / 2) is for the smoke test.

Proportions, all drawn from `random.Random(seed)`:
- GitHub: version i is tagged qa, uat and prod (annotated tags 1h apart, versions 4h apart), has a
  release and a production deployment with a success status; the last version is only in qa, the
  one before in uat. Each stage reached has a machine account (`v1-0-7-qa-gh-sa`) and an ACR token
  in the stage's secure and standard registry; accounts of finished stages are revoked (suspended,
  token disabled) except for about 2% left active (L1/L2 violations).
- ARM: `resources` resources (ACR tokens not counted), spread evenly over the subscriptions in
  resource groups of about 250: 80% of the draws are VM units (VM, OS disk, NIC, one in two with a
  public IP), each group has an NSG on its NICs; VMs are running (88%), stopped or deallocated
  (6% for 20 days: O5; 6% for 3 days: not yet). Orphans: unattached disks (4% of draws, half older
  than 30 days: O1), detached NICs (O2), unassociated public IPs (O3), NSGs on nothing (O4), 3% each;
  5% of VM units carry the release tags of a finished version's qa/uat stage (L4 leftovers); one
  ASR replica disk and one AKS PVC disk per subscription (exclusions), one held orphan disk.
- Blobs: 90% in `release-artifacts` (80% of them prod-stage, 15% qa/uat of the two versions still
  in flight, 5% qa/uat of finished versions: L4 leftovers), 10% in the ephemeral `ci-scratch`.
  Blobs are empty (size does not change what is listed).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from custodian.sandbox.scenario_schema import Scenario

__all__ = ["SIZES", "BlobPlan", "ScalePlan", "Size", "build_plan"]

STAGES = ("qa", "uat", "prod")
REGISTRY_RG = "rg-release-registries"
ORG = "acme"
REPO = "acme/product"
CONTAINERS = ("release-artifacts", "ci-scratch")
EPHEMERAL = "ci-scratch"
GROUP_SIZE = 250


@dataclass(frozen=True)
class Size:
    name: str
    versions: int
    resources: int
    blobs: int
    subscriptions: int


SIZES = {
    "XS": Size("XS", 3, 30, 50, 2),
    "S": Size("S", 50, 2_000, 10_000, 2),
    "M": Size("M", 500, 20_000, 100_000, 10),
    "L": Size("L", 2_000, 60_000, 300_000, 20),
}


@dataclass(frozen=True)
class BlobPlan:
    container: str
    name: str
    tags: dict[str, str]


@dataclass
class ScalePlan:
    """The scenario, the blobs, and the counts the lower bounds are computed from."""

    size: Size
    scenario: Scenario
    blobs: list[BlobPlan]
    counts: dict[str, Any] = field(default_factory=dict)


def version_name(i: int) -> str:
    return f"v1.{i // 100}.{i % 100}"


def subscription_id(k: int) -> str:
    return str(uuid.UUID(int=(0x5CA1E << 96) | (k + 1), version=4))


def _hours(h: float) -> str:
    return f"now - {round(h * 60)}m" if h > 0 else f"now + {round(-h * 60)}m"


def _github(size: Size, rng: random.Random, counts: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The GitHub part and the ACR tokens per (stage, kind) registry."""
    n = size.versions
    tags, releases, deployments, users = [], [], [], []
    tokens: dict[tuple[str, str], list[dict[str, Any]]] = {(s, k): [] for s in STAGES for k in ("secure", "standard")}
    for i in range(n):
        version = version_name(i)
        start = 4.0 * (n - i) + 2.0  # hours ago its qa tag was pushed
        reached = 1 if i == n - 1 else 2 if i == n - 2 else 3
        for s in range(reached):
            stage = STAGES[s]
            name = version if stage == "prod" else f"{version}-{stage}"
            tags.append({"name": name, "at": _hours(start - s), "annotated": True})
            active = s == reached - 1 if reached < 3 else rng.random() < 0.02
            login = f"{version}-{stage}-gh-sa".replace(".", "-")
            user: dict[str, Any] = {"login": login, "name": f"{version}-{stage}-gh-sa", "created_at": _hours(start - s)}
            user["memberships"] = [{"org": ORG}]
            if not active:
                user["suspended_at"] = _hours(start - s - 1.5)
            users.append(user)
            for kind in ("secure", "standard"):
                token: dict[str, Any] = {"name": login.replace("-gh-sa", "-acr-sa"), "created": _hours(start - s)}
                if active:
                    token["passwords"] = [{"name": "password1", "created": _hours(start - s), "expiry": "now + 7d"}]
                else:
                    token["status"] = "disabled"
                tokens[(stage, kind)].append(token)
        if reached == 3:
            releases.append({"tag": version, "at": _hours(start - 2)})
            deployments.append(
                {
                    "environment": "production",
                    "ref": version,
                    "at": _hours(start - 2),
                    "statuses": [{"state": "success", "at": _hours(start - 2.5)}],
                }
            )
    counts.update(
        versions=n, tags=len(tags), releases=len(releases), deployments=len(deployments), users=len(users) + 1
    )
    counts["acr_tokens"] = sum(len(t) for t in tokens.values())
    github = {
        "orgs": [ORG],
        "site_admin": "octo-admin",
        "repos": [{"name": REPO, "tags": tags, "releases": releases, "deployments": deployments}],
        "users": [
            {"login": "octo-admin", "name": "Octo Admin", "memberships": [{"org": ORG, "role": "admin"}]},
            *users,
        ],
    }
    registries = [
        {
            "name": f"{stage}{'secure' if kind == 'secure' else ''}registry",
            "kind": kind,
            "stage": stage,
            "tokens": items,
        }
        for (stage, kind), items in tokens.items()
    ]
    return github, registries


class _Group:
    """One resource group being filled with resources."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spec: dict[str, Any] = {"name": name, "vms": [], "disks": [], "nics": [], "public_ips": [], "nsgs": []}
        self.spec["nsgs"].append({"name": f"nsg-{name}", "time_created": "now - 200d"})
        self.count = 1

    def add(self, kind: str, item: dict[str, Any]) -> None:
        self.spec[kind].append(item)
        self.count += 1


def _release_tags(size: Size, rng: random.Random) -> dict[str, str]:
    finished = max(size.versions - 2, 1)
    return {"release-version": version_name(rng.randrange(finished)), "release-stage": rng.choice(("qa", "uat"))}


def _fill(group: _Group, size: Size, rng: random.Random, unit: int, counts: dict[str, Any], room: int) -> None:
    """Add one draw's resources (a VM unit is 3 or 4 of them; with less room, a one-resource draw)."""
    draw = rng.random()
    if draw < 0.80 and room < 4:
        draw = 0.80 + draw * 0.20 / 0.80
    base = f"{group.name.removeprefix('rg-')}-{unit}"
    if draw < 0.80:
        tags = _release_tags(size, rng) if rng.random() < 0.05 else {}
        counts["leftover_units"] += bool(tags)
        power = rng.random()
        vm: dict[str, Any] = {"name": f"vm-{base}", "time_created": "now - 60d", "tags": tags}
        if power >= 0.88:
            vm["power_state"] = "stopped" if power < 0.94 else "deallocated"
            vm["power_state_since"] = "now - 20d" if rng.random() < 0.5 else "now - 3d"
        vm["os_disk"] = {"disk": f"osdisk-{base}", "delete_option": "Delete"}
        vm["nics"] = [{"nic": f"nic-{base}", "delete_option": "Delete"}]
        group.add("vms", vm)
        group.add("disks", {"name": f"osdisk-{base}", "size_gb": 64, "time_created": "now - 60d", "tags": tags})
        nic: dict[str, Any] = {"name": f"nic-{base}", "nsg": f"nsg-{group.name}", "tags": tags}
        if rng.random() < 0.5:
            nic["public_ip"] = f"pip-{base}"
            group.add("public_ips", {"name": f"pip-{base}", "time_created": "now - 60d", "tags": tags})
        group.add("nics", nic)
    elif draw < 0.84:
        age = "now - 90d" if rng.random() < 0.5 else "now - 5d"
        group.add("disks", {"name": f"disk-{base}", "size_gb": 128, "time_created": age})
    elif draw < 0.87:
        group.add("nics", {"name": f"nic-orphan-{base}", "time_created": "now - 40d"})
    elif draw < 0.90:
        group.add("public_ips", {"name": f"pip-orphan-{base}", "time_created": "now - 40d"})
    elif draw < 0.93:
        group.add("nsgs", {"name": f"nsg-orphan-{base}", "time_created": "now - 40d"})
    else:
        group.add("disks", {"name": f"data-{base}", "size_gb": 32, "time_created": "now - 10d", "state": "ActiveSAS"})


def _exclusions(sub: int) -> list[dict[str, Any]]:
    source = f"/subscriptions/{subscription_id(sub)}/resourceGroups/rg-dr/providers/Microsoft.Compute/disks/src-{sub}"
    shared = {
        "name": f"rg-shared-{sub}",
        "disks": [
            {
                "name": f"asrseeddisk-vm{sub}-osdisk-5c1e2a0f",
                "size_gb": 128,
                "time_created": "now - 60d",
                "tags": {"ASR-ReplicaDisk": f"vm-{sub}-osdisk"},
                "creation_data": {"create_option": "Copy", "source_resource_id": source},
            },
            {
                "name": f"disk-held-{sub}",
                "size_gb": 64,
                "time_created": "now - 70d",
                "tags": {"custodian-hold": "INC-1 evidence"},
            },
        ],
    }
    aks = {
        "name": f"MC_rg-aks_aks-{sub}_eastus",
        "disks": [
            {
                "name": f"pvc-disk-{sub}",
                "size_gb": 32,
                "time_created": "now - 45d",
                "tags": {"k8s-azure-created-by": "kubernetes-azure-dd"},
            }
        ],
    }
    return [shared, aks]


def _azure(size: Size, rng: random.Random, registries: list[dict[str, Any]], counts: dict[str, Any]) -> dict[str, Any]:
    per_sub = [
        size.resources // size.subscriptions + (k < size.resources % size.subscriptions)
        for k in range(size.subscriptions)
    ]
    counts["leftover_units"] = 0
    subscriptions = []
    for k, target in enumerate(per_sub):
        groups: list[dict[str, Any]] = _exclusions(k)
        made = 3  # the ASR, AKS and held disks
        unit = 0
        while made < target:
            group = _Group(f"rg-app-{k}-{len(groups)}")
            while group.count < GROUP_SIZE and made + group.count < target:
                _fill(group, size, rng, unit, counts, target - made - group.count)
                unit += 1
            made += group.count
            groups.append(group.spec)
        if k == 0:
            groups.append({"name": REGISTRY_RG, "registries": registries})
        subscriptions.append({"id": subscription_id(k), "name": f"bench-{k}", "resource_groups": groups})
    return {"subscriptions": subscriptions}


def _blobs(size: Size, rng: random.Random) -> list[BlobPlan]:
    n, finished = size.versions, max(size.versions - 2, 1)
    out = []
    for j in range(size.blobs):
        if rng.random() < 0.10:
            out.append(BlobPlan(EPHEMERAL, f"tmp/run-{j}/build.log", {}))
            continue
        draw = rng.random()
        if draw < 0.80:
            version, stage = version_name(rng.randrange(n)), "prod"
        elif draw < 0.95:
            version, stage = version_name(rng.randrange(finished, n) if n > 2 else n - 1), rng.choice(("qa", "uat"))
        else:
            version, stage = version_name(rng.randrange(finished)), rng.choice(("qa", "uat"))
        tags = {"release-version": version, "release-stage": stage}
        out.append(BlobPlan("release-artifacts", f"{version}/{stage}/artifact-{j}.bin", tags))
    return out


def build_plan(size: Size, seed: int = 1, *, blobs: int | None = None) -> ScalePlan:
    """The scenario (validated as any scenario file is) and the blobs of `size` (or `blobs`), from `seed`."""
    if blobs is not None:
        size = replace(size, blobs=blobs)
    rng = random.Random(f"{seed}-{size.name}")
    counts: dict[str, Any] = {}
    github, registries = _github(size, rng, counts)
    azure = _azure(size, rng, registries, counts)
    scenario = Scenario.model_validate(
        {
            "description": f"bench scale scenario {size.name} (seed {seed})",
            "github": github,
            "azure": azure,
            "storage": {"containers": [{"name": c} for c in CONTAINERS]},
        }
    )
    planned = _blobs(size, rng)
    counts["blobs"] = {c: sum(1 for b in planned if b.container == c) for c in CONTAINERS}
    counts["registries"] = {r["name"]: len(r["tokens"]) for r in registries}
    counts["subscriptions"] = [s["id"] for s in azure["subscriptions"]]
    counts["arm"] = {
        sub.id: {
            kind: sum(len(getattr(rg, kind)) for rg in sub.resource_groups)
            for kind in ("vms", "disks", "nics", "public_ips", "nsgs", "storage_accounts")
        }
        for sub in scenario.azure.subscriptions
    }
    return ScalePlan(size, scenario, planned, counts)
