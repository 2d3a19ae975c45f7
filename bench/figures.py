"""The figures of `python -m bench`: calls per provider, rate-limit cost, lower bounds, ratios, time and RSS.

Calls to ARM (split into `arm`, its `instance-view` GETs included, and `acr`: registries and their
tokens) and GitHub are what the emulators served (their request logs: exact, our process and c7n's
children alike); blob calls are the client's count (Azurite keeps no request log). GitHub's
rate-limit cost is the requests GitHub counts: every REST request but a 304, plus one point per
GraphQL query (the emulator's point cost can be higher; `github_budget` shows what the run saw).

The lower bound of a stage (issue 12) is the list calls it cannot avoid plus two calls (the change
and its confirming re-read) per mutation it made:
- github: ceil(N / 100) for users, tags, releases and deployments (with their statuses), the
  accounts part; tags, releases and deployments for a reaper-only run (its release timeline);
- arm: per subscription and per type (VMs, disks, NICs, public IPs, NSGs, storage accounts)
  max(1, ceil(N / 100)), ARM's default page;
- acr: per registry max(1, ceil(tokens / 100));
- azure-blob: per container max(1, ceil(blobs / 5,000)), the service's maximum page.
The latency bound of a stage is calls x latency / concurrency (concurrency 1: what a sequential
client would need at best; more parallel clients can beat it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

PROVIDERS = ("github", "arm", "acr", "azure-blob")
GITHUB_PAGE = 100
ARM_PAGE = 100
BLOB_PAGE = 5000


def pages(n: int, size: int, at_least: int = 1) -> int:
    return max(at_least, math.ceil(n / size))


def lower_bounds(
    counts: Mapping[str, Any], parts: frozenset[str], mutations: Mapping[str, int], *, blobs: bool = True
) -> dict[str, int]:
    out = dict.fromkeys(PROVIDERS, 0)
    timeline = sum(pages(counts[k], GITHUB_PAGE) for k in ("tags", "releases", "deployments"))
    if "accounts" in parts:
        out["github"] = timeline + pages(counts["users"], GITHUB_PAGE)
        out["acr"] = sum(pages(n, ARM_PAGE) for n in counts["registries"].values())
    elif "reaper" in parts:
        out["github"] = timeline
    if "reaper" in parts:
        out["arm"] = sum(pages(n, ARM_PAGE) for types in counts["arm"].values() for n in types.values())
        out["azure-blob"] = sum(pages(n, BLOB_PAGE) for n in counts["blobs"].values()) if blobs else 0
    for provider, n in mutations.items():
        out[provider] = out.get(provider, 0) + 2 * n
    return out


def served(rows: list[list[Any]]) -> dict[str, dict[str, int]]:
    """Emulator stats rows -> per provider: calls, rate-limit cost, 304s, instance views."""
    out = {p: {"calls": 0, "cost": 0, "not_modified": 0, "instance_views": 0} for p in ("github", "arm", "acr")}
    for server, kind, _method, status, n in rows:
        if server == "github":
            entry = out["github"]
            entry["calls"] += n
            entry["not_modified"] += n if status == 304 else 0
            entry["cost"] += 0 if status == 304 else n
        elif server == "arm":
            entry = out["acr" if kind == "acr" else "arm"]
            entry["calls"] += n
            entry["cost"] += n
            entry["instance_views"] += n if kind == "instance-view" else 0
    return out


def stage_figures(
    name: str,
    stage: Mapping[str, Any],
    rows: list[list[Any]],
    counts: Mapping[str, Any],
    parts: frozenset[str],
    latency_ms: int,
    *,
    blobs: bool = True,
) -> dict[str, Any]:
    providers: dict[str, dict[str, Any]] = dict(served(rows))
    blob_calls = sum(stage.get("api_calls", {}).get("azure-blob", {}).values())
    providers["azure-blob"] = {"calls": blob_calls, "cost": blob_calls, "not_modified": 0, "instance_views": 0}
    bounds = lower_bounds(counts, parts, stage.get("mutations", {}), blobs=blobs)
    for provider, entry in providers.items():
        entry["lower_bound"] = bounds.get(provider, 0)
        entry["ratio"] = round(entry["cost"] / entry["lower_bound"], 2) if entry["lower_bound"] else None
    calls = sum(e["calls"] for e in providers.values())
    return {
        "stage": name,
        "seconds": round(stage["seconds"], 2),
        "calls": calls,
        "latency_bound_s": round(calls * latency_ms / 1000, 2),
        "providers": providers,
        "rss_self_mib": round(stage["rss_self_kib"] / 1024, 1),
        "rss_children_mib": round(stage["rss_children_kib"] / 1024, 1),
        "exit_code": stage["exit_code"],
        "findings": stage["findings"],
        "actions": stage["actions"],
        "incomplete": stage["incomplete"][:5],
    }


def render_stages(stages: list[Mapping[str, Any]]) -> str:
    header = f"{'stage':<14} {'provider':<11} {'calls':>7} {'rl cost':>8} {'304s':>6} {'bound':>6} {'ratio':>6}"
    lines = [header]
    for s in stages:
        for provider in PROVIDERS:
            e = s["providers"][provider]
            ratio = f"{e['ratio']:.2f}" if e["ratio"] is not None else "-"
            lines.append(
                f"{s['stage']:<14} {provider:<11} {e['calls']:>7,} {e['cost']:>8,} {e['not_modified']:>6,}"
                f" {e['lower_bound']:>6,} {ratio:>6}"
            )
        lines.append(
            f"{s['stage']:<14} {'wall':<11} {s['seconds']:>7.1f}s against the latency bound {s['latency_bound_s']:.1f}s"
            f" ({s['calls']:,} calls); peak RSS {s['rss_self_mib']:.0f} MiB,"
            f" c7n children {s['rss_children_mib']:.0f} MiB; exit {s['exit_code']}"
        )
    return "\n".join(lines)


def render_side_by_side(ours: Mapping[str, Any], plain: Mapping[str, Any]) -> str:
    oc, pc = ours["providers"]["arm"]["calls"], plain["arm_calls"]
    lines = [
        f"{'O1-O5':<14} {'ARM calls':>10} {'instance views':>15} {'seconds':>8} {'processes':>10} {'RSS MiB':>8}",
        f"{'ours':<14} {oc:>10,} {ours['providers']['arm']['instance_views']:>15,} {ours['seconds']:>8.1f}"
        f" {'-':>10} {ours['rss_children_mib']:>8.0f}",
        f"{'plain c7n':<14} {pc:>10,} {plain['instance_views']:>15,} {plain['seconds']:>8.1f}"
        f" {plain['processes']:>10} {plain['rss_children_mib']:>8.0f}",
        f"{'plain / ours':<14} {pc / max(oc, 1):>10.2f} {'':>15} {plain['seconds'] / max(ours['seconds'], 1e-9):>8.2f}",
        f"decisions: {plain['decisions']} (rule, resource) pairs on each side, {plain['differences']} differ",
    ]
    return "\n".join(lines)
