"""c7n / c7n-azure run through `custodian.collect.c7n.runner` against the ARM emulator over real HTTPS.

One emulator (trustme CA, page size 2 so listing follows `nextLink`) serves the whole module; each
test reseeds it. Every c7n run is a real subprocess (about 2 s each), nothing is patched.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custodian.collect.c7n.launcher import apply_arm_endpoint, normalise_endpoint
from custodian.collect.c7n.runner import C7nRunError, PolicyRunResult, run_policies, validate_policies
from custodian.errors import BadInputError
from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS

SUB = "00000000-0000-4000-8000-0000000c7a01"
RG = "rg-release"
VMS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines"
TOKEN = "canary-arm-token-5f1d0c"  # a canary: it must not appear in anything the runner returns
TAGS_API = "/providers/Microsoft.Resources/tags/default"

SEED_VMS: dict[str, dict[str, str]] = {
    "vm-qa-1": {"release-version": "v0.0.1", "release-stage": "qa"},
    "vm-qa-2": {"release-version": "v0.0.1", "release-stage": "qa", "owner": "alice"},
    "vm-uat": {"release-version": "v0.0.1", "release-stage": "uat"},
    "vm-next-qa": {"release-version": "v0.0.2", "release-stage": "qa"},
    "vm-untagged": {},
}
MATCHING = {"vm-qa-1", "vm-qa-2"}

POLICY = """\
policies:
  - name: qa-v0-0-1-vms
    resource: azure.vm
    filters:
      - "tag:release-stage": qa
      - "tag:release-version": v0.0.1
    actions:
      - type: tag
        tag: custodian-seen
        value: "yes"
"""


@dataclass
class Arm:
    emulator: ArmEmulator
    server: EmulatorServer
    tls: SandboxTLS

    def run(self, policy_file: Path, output_dir: Path, **kwargs: object) -> PolicyRunResult:
        options: dict[str, object] = {
            "arm_endpoint": self.server.url,
            "subscription_id": SUB,
            "access_token": TOKEN,
            "ca_bundle": str(self.tls.ca_bundle_path),
            "timeout_s": 60.0,
            **kwargs,
        }
        return run_policies(policy_file, output_dir, **options)  # type: ignore[arg-type]

    def tags(self, vm: str) -> dict[str, str]:
        doc = self.emulator.store.get(f"{VMS}/{vm}")
        assert doc is not None, vm
        return dict(doc.get("tags") or {})


@pytest.fixture(scope="module")
def arm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArmEmulator, EmulatorServer, SandboxTLS]]:
    tls = SandboxTLS(tmp_path_factory.mktemp("c7n-tls"))
    emulator, server = start_arm(tls, page_size=2)
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    except OSError as exc:  # e.g. a bare `unshare -n`, whose loopback interface is down
        server.stop()
        pytest.fail(f"127.0.0.1 is unreachable ({exc}); under `unshare -n`, run `ip link set lo up` first")
    yield emulator, server, tls
    server.stop()


@pytest.fixture
def arm(arm_server: tuple[ArmEmulator, EmulatorServer, SandboxTLS]) -> Arm:
    emulator, server, tls = arm_server
    server.set_faults(FaultPlan())
    store = emulator.store
    store.clear()
    store.add_subscription(SUB, "release sandbox")
    store.add_resource_group(SUB, RG, "eastus")
    for name, tags in SEED_VMS.items():
        store.put(
            {
                "id": f"{VMS}/{name}",
                "tags": dict(tags),
                "properties": {
                    "hardwareProfile": {"vmSize": "Standard_B2s"},
                    "storageProfile": {"osDisk": {"name": f"{name}-os", "createOption": "FromImage"}},
                },
            }
        )
    server.clear_log()
    return Arm(emulator, server, tls)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa-vms.yml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def _names(result: PolicyRunResult) -> set[str]:
    resources = result.policy("qa-v0-0-1-vms").resources
    assert resources is not None
    return {str(r["name"]) for r in resources}


def test_policy_lists_and_tags_exactly_the_matching_vms(arm: Arm, policy_file: Path, tmp_path: Path) -> None:
    result = arm.run(policy_file, tmp_path / "out")

    assert result.ok, result.problems
    assert result.exit_code == 0 and not result.timed_out
    output = result.policy("qa-v0-0-1-vms")
    assert _names(result) == MATCHING
    assert set(output.resource_ids) == {f"{VMS}/{vm}" for vm in MATCHING}
    assert output.metadata is not None and output.metadata["policy"]["name"] == "qa-v0-0-1-vms"
    assert output.metadata["config"]["account_id"] == SUB and output.metadata["config"]["dryrun"] is False
    assert output.directory == (tmp_path / "out" / "qa-v0-0-1-vms").resolve()

    for vm, seeded in SEED_VMS.items():
        expected = {**seeded, "custodian-seen": "yes"} if vm in MATCHING else seeded
        assert arm.tags(vm) == expected, vm

    log = arm.server.requests
    lists = [r for r in log if r.method == "GET" and r.path.endswith("/virtualMachines")]
    assert [r.status for r in lists] == [200, 200, 200]  # 5 VMs in pages of 2, nextLink followed
    assert all(f"/subscriptions/{SUB}/providers/Microsoft.Compute/" in r.path for r in lists)
    patches = sorted((r.method, r.path, r.status) for r in log if r.path.endswith(TAGS_API))
    assert patches == [("PATCH", f"{VMS}/{vm}{TAGS_API}", 200) for vm in sorted(MATCHING)]
    assert {r.method for r in log} == {"GET", "PATCH"}
    assert TOKEN not in repr(result)
    # c7n's own requests are counted (every attempt) and agree with what the emulator saw
    assert dict(result.api_calls) == dict(Counter(r.method for r in log))


def test_throttled_reads_are_retried_after_retry_after(arm: Arm, policy_file: Path, tmp_path: Path) -> None:
    arm.server.set_faults(FaultPlan(throttle=0.3, seed=3, methods=("GET",)))
    result = arm.run(policy_file, tmp_path / "out", dry_run=True)

    assert result.ok, (result.problems, result.stderr_tail)
    assert _names(result) == MATCHING
    metadata = result.policy("qa-v0-0-1-vms").metadata
    assert metadata is not None and metadata["config"]["dryrun"] is True
    log = arm.server.requests
    throttled = [i for i, r in enumerate(log) if r.status == 429]
    assert throttled and all(log[i].fault == "throttle" for i in throttled)
    for index in throttled:  # each throttled read is retried, no sooner than its Retry-After (1 s)
        first = log[index]
        key = (first.method, first.path, first.query)
        retry = next(r for r in log[index + 1 :] if (r.method, r.path, r.query) == key)
        assert retry.at - first.at >= 0.9
    assert [r.status for r in log if r.status != 429] == [200, 200, 200]
    assert not [r for r in log if r.method != "GET"]  # dry run: no tag calls
    assert all("custodian-seen" not in arm.tags(vm) for vm in SEED_VMS)


def test_validate_accepts_good_and_names_problems_of_broken_policies(policy_file: Path, tmp_path: Path) -> None:
    assert validate_policies(policy_file) == []

    bad_filter = tmp_path / "bad-filter.yml"
    bad_filter.write_text(POLICY.replace('"tag:release-stage": qa', "type: no-such-filter"), encoding="utf-8")
    problems = validate_policies(bad_filter)
    assert len(problems) == 1 and "qa-v0-0-1-vms" in problems[0] and "no-such-filter" in problems[0], problems

    bad_type = tmp_path / "bad-type.yml"
    bad_type.write_text(POLICY.replace("azure.vm", "azure.virtual-mashine"), encoding="utf-8")
    problems = validate_policies(bad_type)
    assert len(problems) == 1 and "Invalid resource: virtual-mashine" in problems[0], problems

    assert validate_policies(tmp_path / "absent.yml") == [f"policy file {tmp_path / 'absent.yml'} does not exist"]


def test_a_failed_policy_is_reported_never_silent(arm: Arm, policy_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = out / "qa-v0-0-1-vms" / "resources.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps([{"id": "stale"}]), encoding="utf-8")  # from an older run: must not count
    result = arm.run(policy_file, out, subscription_id="00000000-0000-4000-8000-00000000dead")

    assert not result.ok and result.exit_code == 2
    output = result.policy("qa-v0-0-1-vms")
    assert output.resources is None and not output.ok
    assert result.problems[0] == "c7n exited with code 2: policies with errors: qa-v0-0-1-vms"
    assert output.problems == (
        "policy 'qa-v0-0-1-vms': c7n failed while executing it: azure.core.exceptions.ResourceNotFoundError: "
        "(SubscriptionNotFound) The subscription '00000000-0000-4000-8000-00000000dead' could not be found.",
        "policy 'qa-v0-0-1-vms': resources.json is missing (c7n wrote no output for it)",
    )
    assert output.metadata is not None  # c7n writes the run's metadata even when the policy fails
    assert result.problems[1:] == output.problems
    assert "SubscriptionNotFound" in result.stderr_tail
    with pytest.raises(C7nRunError, match=r"resources\.json is missing"):
        result.check()


def test_a_timeout_kills_c7n_and_is_reported(arm: Arm, policy_file: Path, tmp_path: Path) -> None:
    result = arm.run(policy_file, tmp_path / "out", timeout_s=0.2)

    assert result.timed_out and result.exit_code is None and not result.ok
    assert result.problems[0] == "c7n did not finish within 0.2s and was killed"
    assert result.duration_s < 10
    assert not [r for r in arm.server.requests if r.method == "PATCH"]


def test_bad_input_is_refused_before_c7n_starts(arm: Arm, policy_file: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="absolute https URL"):
        arm.run(policy_file, tmp_path / "out", arm_endpoint=arm.server.url.replace("https", "http"))
    with pytest.raises(BadInputError, match="may not set AZURE_ACCESS_TOKEN"):
        arm.run(policy_file, tmp_path / "out", extra_env={"AZURE_ACCESS_TOKEN": "other"})
    with pytest.raises(BadInputError, match="cannot read policy file"):
        arm.run(tmp_path / "absent.yml", tmp_path / "out")
    broken = tmp_path / "broken.yml"
    broken.write_text("policies:\n  - resource: azure.vm\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="has no name"):
        arm.run(broken, tmp_path / "out")
    assert arm.server.requests == []


def test_launcher_points_c7n_azure_at_the_endpoint() -> None:
    from c7n_azure.session import Session
    from msrestazure.azure_cloud import AZURE_PUBLIC_CLOUD

    assert normalise_endpoint("https://arm.example.test:8443") == "https://arm.example.test:8443/"
    for bad in ("http://127.0.0.1:1", "arm.example.test", "https://arm.example.test/?x=1"):
        with pytest.raises(ValueError, match=r"absolute https URL|query"):
            normalise_endpoint(bad)
    saved = dict(vars(AZURE_PUBLIC_CLOUD.endpoints))
    try:
        apply_arm_endpoint("https://arm.example.test:8443")
        session = Session()  # what c7n-azure's provider builds for the default cloud (no network yet)
        assert session.cloud_endpoints.endpoints.resource_manager == "https://arm.example.test:8443/"
        assert session.resource_endpoint == "https://arm.example.test:8443/"  # token scope: <this>.default
        apply_arm_endpoint("https://arm.example.test:8443", "https://audience.example.test")
        assert Session().resource_endpoint == "https://audience.example.test/"
    finally:
        vars(AZURE_PUBLIC_CLOUD.endpoints).update(saved)
