"""The release-custodian configuration `python -m bench` runs with, written into its work directory.

The sandbox configuration's settings (custodian/sandbox/sandbox-config.yaml) for the scale scenario:
its subscriptions and six registries, GitHub `per_page: 100`, one ledger for every stage. The caps
of enforce are lifted (`max_actions_per_run: 1000000` unless `max_actions` says otherwise,
`max_actions_percent: 100`): the scenario's backlog (hundreds of L3 deletions and L4 marks at S)
exceeds the default 100, which aborts the run before its first action, and the benchmark measures
what acting costs. A lower `max_actions` (`python -m bench --max-actions N`) makes a larger
backlog abort instead: enforce then costs its collection and plan only. `blobs=False`
leaves out the storage account (the O1-O5 side by side reads ARM only). Blobs count as stale after
30 days: Azurite stamps every blob with its upload time, so none of the scenario's is (no O6).
Secrets are read from the environment (`BENCH_GITHUB_TOKEN`, `BENCH_AZURE_TOKEN`, `BENCH_STORAGE`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.scale_scenario import CONTAINERS, EPHEMERAL, ORG, REGISTRY_RG, REPO, STAGES


def write_config(
    workdir: Path, env: Mapping[str, str], counts: Mapping[str, Any], *, blobs: bool, max_actions: int = 1_000_000
) -> Path:
    os.environ.update(
        BENCH_GITHUB_TOKEN=env["GITHUB_TOKEN"],
        BENCH_AZURE_TOKEN=env["AZURE_ACCESS_TOKEN"],
        BENCH_STORAGE=env["AZURE_STORAGE_CONNECTION_STRING"],
    )
    subscriptions = list(counts["subscriptions"])
    q = json.dumps  # JSON strings are YAML strings
    registries = "\n".join(
        f"    - {{stage: {stage}, kind: {kind}, subscription: {subscriptions[0]}, resource_group: {REGISTRY_RG},"
        f" name: {stage}{'secure' if kind == 'secure' else ''}registry}}"
        for stage in STAGES
        for kind in ("secure", "standard")
    )
    storage = f"""
  storage_accounts:
    - name: devstoreaccount1
      subscription: {subscriptions[0]}
      connection_string: {{env: BENCH_STORAGE}}
      containers: [{", ".join(CONTAINERS)}]
      ephemeral_containers: [{EPHEMERAL}]
"""
    text = f"""# written by python -m bench
github:
  mode: enterprise-server
  base_url: {q(env["GITHUB_BASE_URL"])}
  org: {ORG}
  release_repos: [{REPO}]
  production_environment: production
  token: {{env: BENCH_GITHUB_TOKEN}}
  per_page: 100
azure:
  arm_endpoint: {q(env["AZURE_ARM_ENDPOINT"])}
  ca_bundle: {q(env["REQUESTS_CA_BUNDLE"])}
  subscriptions: [{", ".join(subscriptions)}]
  access_token: {{env: BENCH_AZURE_TOKEN}}
  registries:
{registries}
stages: [qa, uat, prod]
lifecycle: {{handoff_grace: 1h, prod_revocation_grace: 1h, retention: 24h, max_credential_lifetime: 30d}}
reaper:
  mark_grace: 24h
  leftover_grace: 24h
  hold_tag: custodian-hold
  mark_tag: custodian-reap
  orphan_disk_min_age: 30d
  stopped_vm_min_age: 14d
  c7n_timeout: 30m
  stale_blob_age: 30d{storage if blobs else ""}
mode: audit
enforce:
  allowed_subscriptions: [{", ".join(subscriptions)}]
  allowed_orgs: [{ORG}]
  max_actions_per_run: {max_actions}
  max_actions_percent: 100
ledger: {{url: {q("sqlite:///" + str(workdir / "ledger.sqlite"))}}}
reports: {{directory: {q(str(workdir / "reports"))}}}
"""
    path = workdir / ("config.yaml" if blobs else "config-arm.yaml")
    path.write_text(text, encoding="utf-8")
    return path
