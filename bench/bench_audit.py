"""Benchmark: a read-only lifecycle audit at scale, side by side with a baseline, in one invocation.

Seeds the ARM and GitHub emulators (no Azurite needed) with N release versions, each with annotated
qa/uat/prod tags, a release, a production deployment with statuses, a GitHub machine account per
stage and an ACR token per stage in two registries, then, per size:

1. paging: one audit each with GitHub `per_page=100` (`ours`, the configured default) and
   `per_page=30` (`baseline`, PyGithub's default), everything else equal: wall time, API calls by
   provider, calls per account, peak Python memory (tracemalloc), and the ratios baseline/ours;
2. steady state (issue 12): the audit twice on the same ledger (`first` run, then `steady` state),
   with the timeline through GraphQL (`graphql`, the default: `github.api`) or REST (`rest`), with
   the GitHub caches (facts read once, conditional requests) and, over REST, without them
   (`rest-nocache`: `RunTuning(github_cache=False)`, the behaviour before the caches): GitHub calls,
   the rate-limit cost as the emulator counted it (`core`: REST requests, a 304 being free;
   `gql pts`: GraphQL points, a budget of its own), the 304s, and the ratios to `graphql`.

Run: `.venv/bin/python bench/bench_audit.py [--graphql|--rest] [N ...]` (default 50 200; `--graphql`
or `--rest` runs the steady-state rows of that API only).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custodian.config import Config, parse_config
from custodian.ledger.store import Ledger
from custodian.model import RunMode
from custodian.run import RunRequest, RunTuning, run_lifecycle
from custodian.sandbox.arm import start_arm
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github import start_github
from custodian.sandbox.tls import SandboxTLS

SUB = "11111111-1111-4111-8111-111111111111"
RG = "rg-registries"
STAGES = ("qa", "uat", "prod")
REGISTRIES = [(f"{stage}{kind}registry", stage) for stage in STAGES for kind in ("secure", "std")]


def seed(arm_store: Any, github_store: Any, versions: int, now: datetime) -> None:
    arm_store.add_subscription(SUB, "bench")
    arm_store.add_resource_group(SUB, RG)
    github_store.add_org("acme")
    github_store.add_user("octo-admin", site_admin=True)
    github_store.add_repo("acme/product")
    base = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries"
    for name, _ in REGISTRIES:
        arm_store.put({"id": f"{base}/{name}", "location": "eastus", "sku": {"name": "Premium"}, "properties": {}})
    for i in range(versions):
        version = f"v1.{i // 100}.{i % 100}"
        start = now - timedelta(hours=4 * (versions - i))
        github_store.add_tag("acme/product", f"{version}-qa", date=start, annotated=True)
        github_store.add_tag("acme/product", f"{version}-uat", date=start + timedelta(hours=1), annotated=True)
        github_store.add_tag("acme/product", version, date=start + timedelta(hours=2), annotated=True)
        github_store.add_release("acme/product", version, created_at=start + timedelta(hours=2))
        dep = github_store.add_deployment("acme/product", environment="production", ref=version, created_at=start)
        github_store.add_deployment_status(
            "acme/product", dep["id"], state="success", created_at=start + timedelta(hours=3)
        )
        for stage in STAGES:
            login = f"{version}-{stage}-gh-sa".replace(".", "-")
            github_store.add_user(login, name=f"{version}-{stage}-gh-sa", suspended_at=start + timedelta(hours=3))
            github_store.add_member("acme", login)
            for registry, registry_stage in REGISTRIES:
                if registry_stage == stage:
                    token = f"{version}-{stage}-acr-sa".replace(".", "-")
                    arm_store.put(
                        {
                            "id": f"{base}/{registry}/tokens/{token}",
                            "properties": {"status": "disabled", "scopeMapId": f"{base}/{registry}/scopeMaps/x"},
                        }
                    )


def config_for(arm_url: str, ca: Path, github_url: str, per_page: int, tmp: Path, api: str = "graphql") -> Config:
    registries = "\n".join(
        f"    - {{stage: {stage}, kind: {'secure' if 'secure' in name else 'standard'}, subscription: {SUB},"
        f" resource_group: {RG}, name: {name}}}"
        for name, stage in REGISTRIES
    )
    text = f"""
github: {{mode: enterprise-server, base_url: "{github_url}/api/v3", org: acme, release_repos: [acme/product],
          token: {{env: BENCH_TOKEN}}, per_page: {per_page}, api: {api}}}
azure:
  arm_endpoint: "{arm_url}"
  ca_bundle: "{ca}"
  subscriptions: [{SUB}]
  access_token: {{env: BENCH_TOKEN}}
  registries:
{registries}
ledger: {{url: "sqlite:///{tmp / "ledger.sqlite"}"}}
reports: {{directory: "{tmp / "reports"}"}}
"""
    return parse_config(text, "bench")


def measure(config: Config, clock: SandboxClock, tmp: Path, tuning: RunTuning | None = None) -> dict[str, float]:
    with Ledger.open(config.ledger.url) as ledger:
        tracemalloc.start()
        started = time.perf_counter()
        outcome = run_lifecycle(config, RunRequest(RunMode.AUDIT), ledger=ledger, clock=clock.now, tuning=tuning)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    calls = {p: sum(m.values()) for p, m in outcome.api_calls.items()}
    accounts = sum(1 for f in outcome.result.findings if f.rule == "L3")
    return {
        "seconds": elapsed,
        "github_calls": calls.get("github", 0),
        "azure_calls": calls.get("azure", 0),
        "calls_per_account": (calls.get("github", 0) + calls.get("azure", 0)) / max(accounts, 1),
        "accounts": accounts,
        "peak_mib": peak / 2**20,
        "github_cost": outcome.github_budget.get("cost", 0),
        "not_modified": outcome.github_budget.get("not_modified", 0),
    }


def steady_state(
    config: Config, clock: SandboxClock, tmp: Path, github: Any, server: Any, cached: bool
) -> list[dict[str, float]]:
    """The audit twice on one ledger; the emulator's request log and counters give the rate-limit cost of each."""
    out = []
    for _ in ("first", "steady"):
        github.reset()  # a fresh rate-limit window per run: the runs of one invocation exceed one hour's 5,000
        server.clear_log()
        result = measure(config, clock, tmp, RunTuning(github_cache=cached))
        log = [r for r in server.requests if not r.path.endswith("/graphql")]
        result["emulator_cost"] = sum(1 for r in log if r.status != 304)  # core: REST requests counted
        result["emulator_304"] = sum(1 for r in log if r.status == 304)
        result["graphql_points"] = github.graphql_rate()["used"]
        result["graphql_queries"] = sum(1 for r in server.requests if r.path.endswith("/graphql"))
        out.append(result)
    return out


STEADY = {"graphql": ("graphql", True), "rest": ("rest", True), "rest-nocache": ("rest", False)}


def main(sizes: list[int], variants: tuple[str, ...] = tuple(STEADY)) -> None:
    import os

    os.environ["BENCH_TOKEN"] = "bench-token"
    rows = []
    steady: list[tuple[int, dict[str, list[dict[str, float]]]]] = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            tmp = Path(directory)
            clock = SandboxClock(datetime.now(UTC))
            tls = SandboxTLS(tmp / "tls")
            arm, arm_server = start_arm(tls, page_size=100, clock=clock)
            github, github_server = start_github(clock=clock)
            try:
                seed(arm.store, github.store, size, clock.now())
                results = {}
                for label, per_page in (("ours", 100), ("baseline", 30)):
                    run_dir = tmp / label
                    run_dir.mkdir()
                    config = config_for(arm_server.url, tls.ca_bundle_path, github_server.url, per_page, run_dir)
                    github.reset()
                    results[label] = measure(config, clock, run_dir)
                runs = {}
                for label in variants:
                    api, cached = STEADY[label]
                    run_dir = tmp / f"steady-{label}"
                    run_dir.mkdir()
                    config = config_for(arm_server.url, tls.ca_bundle_path, github_server.url, 100, run_dir, api)
                    runs[label] = steady_state(config, clock, run_dir, github, github_server, cached)
            finally:
                arm_server.stop()
                github_server.stop()
        rows.append((size, results))
        steady.append((size, runs))

    columns = ("versions", "accounts", "run", "seconds", "gh calls", "az calls", "calls/acct", "peak MiB")
    print(" ".join(f"{c:>10}" if c == "calls/acct" else f"{c:>8}" for c in columns))
    for size, results in rows:
        for label in ("ours", "baseline"):
            r = results[label]
            print(
                f"{size:>8} {int(r['accounts']):>8} {label:>8} {r['seconds']:>8.2f} {int(r['github_calls']):>8}"
                f" {int(r['azure_calls']):>8} {r['calls_per_account']:>10.2f} {r['peak_mib']:>8.1f}"
            )
        ours, base = results["ours"], results["baseline"]
        print(
            f"{'':>8} {'':>8} {'ratio':>8} {base['seconds'] / ours['seconds']:>8.2f}"
            f" {base['github_calls'] / max(ours['github_calls'], 1):>8.2f}"
            f" {base['azure_calls'] / max(ours['azure_calls'], 1):>8.2f}"
            f" {base['calls_per_account'] / max(ours['calls_per_account'], 1e-9):>10.2f}"
            f" {base['peak_mib'] / max(ours['peak_mib'], 1e-9):>8.2f}   (baseline / ours)"
        )
    print()
    print("steady state: the audit twice on one ledger (core: REST requests counted against GitHub's limit,")
    print("a 304 being free; gql pts: GraphQL points, a budget of its own; cost: core + gql pts)")
    columns = ("versions", "accounts", "api", "run", "seconds", "gh calls", "core", "gql pts", "cost", "304s")
    print(" ".join(f"{c:>12}" if c == "api" else f"{c:>8}" for c in columns))
    for size, runs in steady:
        for label in runs:
            for name, r in zip(("first", "steady"), runs[label], strict=True):
                cost = r["emulator_cost"] + r["graphql_points"]
                print(
                    f"{size:>8} {int(r['accounts']):>8} {label:>12} {name:>8} {r['seconds']:>8.2f}"
                    f" {int(r['github_calls']):>8} {int(r['emulator_cost']):>8} {int(r['graphql_points']):>8}"
                    f" {int(cost):>8} {int(r['emulator_304']):>8}"
                )
        if "graphql" not in runs:
            continue
        for label in (other for other in runs if other != "graphql"):
            for index, name in enumerate(("first", "steady")):
                ours, base = runs["graphql"][index], runs[label][index]
                ours_cost = ours["emulator_cost"] + ours["graphql_points"]
                base_cost = base["emulator_cost"] + base["graphql_points"]
                print(
                    f"{'':>8} {'':>8} {label + '/gql':>12} {name:>8} {base['seconds'] / ours['seconds']:>8.2f}"
                    f" {base['github_calls'] / max(ours['github_calls'], 1):>8.2f} {'':>8} {'':>8}"
                    f" {base_cost / max(ours_cost, 1):>8.2f}"
                )


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    arguments = sys.argv[1:]
    chosen = tuple(v for v, flag in (("graphql", "--graphql"), ("rest", "--rest")) if flag in arguments)
    main([int(a) for a in arguments if not a.startswith("--")] or [50, 200], chosen or tuple(STEADY))
