"""One c7n child for every subscription (`collect.c7n.batch`), and the VMs' power state from the list.

Real c7n-azure subprocesses against the ARM emulator over HTTPS (page size 2, so listings follow
`nextLink`), running the committed policies; nothing is patched. Three subscriptions, each with its
own VMs in every power state: one child runs them all, each keeps its own listing, its own token and
its own problems, and no VM costs an instance-view GET.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from custodian.collect.arm import collect_arm
from custodian.collect.c7n.batch import BatchOutcome, run_policies_batch
from custodian.collect.c7n.policies import PolicySet, build_policy_set
from custodian.collect.c7n.results import PolicyRunResult
from custodian.model import ResourceKind
from custodian.progress import NullProgress
from custodian.providers.azure.arm import ArmResources
from custodian.providers.azure.clients import ArmClients, ArmSettings, StaticTokenCredential
from custodian.providers.wire import CallCounter
from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS

POLICIES = Path(__file__).resolve().parents[2] / "policies"
SUBS = [f"00000000-0000-4000-8000-0000000ba7{i:02d}" for i in range(1, 4)]
PAGE = 2
AGES = {"reaper.orphan_disk_min_age": timedelta(days=30), "reaper.stopped_vm_min_age": timedelta(days=14)}
OLD, RECENT = timedelta(days=40), timedelta(days=2)
# (name, power state, ProvisioningState time before now): O5 selects the stopped/deallocated old ones
FLEET = [
    ("run-old", "running", OLD),
    ("run-new", "running", RECENT),
    ("stop-old", "stopped", OLD),
    ("stop-new", "stopped", RECENT),
    ("dealloc-old", "deallocated", OLD),
    ("dealloc-new", "deallocated", RECENT),
]
SELECTED = {"stop-old", "dealloc-old"}

# The plain-c7n form of O5 (and of the VM inventory) the committed policies replaced: one instance-view
# GET per VM. Kept here as the reference the list form must decide like.
INSTANCE_VIEW_POLICIES = """\
policies:
  - name: inventory-vm
    resource: azure.vm
    filters:
      - {type: instance-view, key: statuses, value: present}
  - name: o5-vm
    resource: azure.vm
    filters:
      - type: instance-view
        key: "statuses[].code"
        op: intersect
        value: [PowerState/stopped, PowerState/deallocated]
      - type: instance-view
        key: "statuses[?starts_with(code, 'ProvisioningState/')].time | [0]"
        value_type: age
        op: gt
        value: 14
"""


@dataclass
class Arm:
    emulator: ArmEmulator
    server: EmulatorServer
    tls: SandboxTLS

    def batch(self, policy_file: Path, out: Path, subs: list[str], **kwargs: Any) -> dict[str, BatchOutcome]:
        options: dict[str, Any] = {
            "arm_endpoint": self.server.url,
            "token_for": lambda sub: f"token-for-{sub[-4:]}",
            "ca_bundle": str(self.tls.ca_bundle_path),
            "timeout_s": 60.0,
            "dry_run": True,
            "read_only": True,
            "as_of": datetime.now(UTC),
            "cache": "memory",
            "retry_total": 0,
            **kwargs,
        }
        return run_policies_batch(policy_file, [(s, out / s) for s in subs], **options)

    def vm_gets(self) -> list[str]:
        """Requests for one VM (its model or its instance view), as opposed to the VM list."""
        return [r.path for r in self.server.requests if re.search(r"/virtualMachines/[^/]+(/instanceView)?$", r.path)]


@pytest.fixture(scope="module")
def arm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArmEmulator, EmulatorServer, SandboxTLS]]:
    tls = SandboxTLS(tmp_path_factory.mktemp("c7n-batch-tls"))
    emulator, server = start_arm(tls, page_size=PAGE)
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    except OSError as exc:
        server.stop()
        pytest.fail(f"127.0.0.1 is unreachable ({exc})")
    yield emulator, server, tls
    server.stop()


def _vm(sub: str, name: str, state: str, age: timedelta) -> dict[str, Any]:
    since = (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        "tags": {"owner": sub[-2:]},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "instanceView": {
                "statuses": [
                    {"code": "ProvisioningState/succeeded", "level": "Info", "time": since},
                    {"code": f"PowerState/{state}", "level": "Info"},
                ]
            },
        },
    }


@pytest.fixture
def arm(arm_server: tuple[ArmEmulator, EmulatorServer, SandboxTLS]) -> Arm:
    emulator, server, tls = arm_server
    server.set_faults(FaultPlan())
    store = emulator.store
    store.clear()
    for index, sub in enumerate(SUBS):
        store.add_subscription(sub, f"sub {index}")
        store.add_resource_group(sub, "rg", "eastus")
        for name, state, age in FLEET[: 4 + index]:  # 4, 5 and 6 VMs: each subscription its own
            store.put(_vm(sub, name, state, age))
    server.clear_log()
    return Arm(emulator, server, tls)


@pytest.fixture
def policy_set(tmp_path: Path) -> PolicySet:
    return build_policy_set(POLICIES, AGES, tmp_path / "set")


def _ok(outcome: BatchOutcome) -> PolicyRunResult:
    assert isinstance(outcome, PolicyRunResult), outcome
    assert outcome.ok, outcome.problems
    return outcome


def _names(result: PolicyRunResult, policy: str) -> set[str]:
    return {str(r["name"]) for r in result.policy(policy).resources or []}


def test_one_child_runs_every_subscription_each_with_its_own_listings(arm: Arm, policy_set: PolicySet, tmp_path: Path):
    results = arm.batch(policy_set.file, tmp_path, SUBS)

    assert len({_ok(results[s]).child_pid for s in SUBS}) == 1  # one process for the three
    for index, sub in enumerate(SUBS):
        result = _ok(results[sub])
        fleet = {name for name, _, _ in FLEET[: 4 + index]}
        assert _names(result, "inventory-vm") == fleet and _names(result, "inventory-vm-power") == fleet
        assert _names(result, "o5-vm") == SELECTED & fleet
        for doc in result.policy("inventory-vm-power").resources or []:  # ARM's status view: no model
            assert not doc.get("tags") and set(doc["properties"]) <= {"vmId", "provisioningState", "instanceView"}
        vms = math.ceil(len(fleet) / PAGE)
        assert result.api_calls == {"GET": 2 * vms + 4}  # model + status pages; one (empty) page per other type
        assert (tmp_path / sub / "c7n.log").stat().st_mode & 0o077 == 0
    assert arm.vm_gets() == []  # not one instance-view GET


def test_a_failed_subscription_fails_alone(arm: Arm, policy_set: PolicySet, tmp_path: Path) -> None:
    broken = SUBS[1]
    arm.server.set_faults(
        FaultPlan(server_error=1.0, path_regex=rf"{broken}/providers/Microsoft\.Compute/virtualMachines$")
    )
    results = arm.batch(policy_set.file, tmp_path, SUBS)

    failed = results[broken]
    assert isinstance(failed, PolicyRunResult) and not failed.ok
    assert any("inventory-vm" in p for p in failed.problems), failed.problems
    for sub in (SUBS[0], SUBS[2]):  # before and after it, in the same child
        assert _ok(results[sub]).child_pid == failed.child_pid


def test_a_token_that_cannot_be_minted_is_that_subscription_s_error(
    arm: Arm, policy_set: PolicySet, tmp_path: Path
) -> None:
    def token_for(sub: str) -> str:
        if sub == SUBS[0]:
            raise RuntimeError("AADSTS7000215: invalid client secret")
        return "a-good-token"

    results = arm.batch(policy_set.file, tmp_path, SUBS, token_for=token_for)
    assert isinstance(results[SUBS[0]], RuntimeError)
    assert all(_ok(results[s]) for s in SUBS[1:])


def test_a_subscription_past_its_deadline_is_stopped_and_the_next_runs(
    arm: Arm, policy_set: PolicySet, tmp_path: Path
) -> None:
    slow = SUBS[1]
    # its disk listing is throttled: c7n-azure waits Retry-After (30 s) before its one retry; each
    # subscription may take 10 s (the first one's includes c7n's start-up)
    arm.server.set_faults(
        FaultPlan(throttle=1.0, retry_after=30, path_regex=rf"{slow}/providers/Microsoft\.Compute/disks$")
    )
    results = arm.batch(policy_set.file, tmp_path, SUBS, timeout_s=10.0, retry_total=1, retry_backoff_s=30)

    late = results[slow]
    assert isinstance(late, PolicyRunResult) and late.timed_out and late.duration_s < 20
    assert late.problems[0] == "c7n did not finish within 10s and was killed"
    assert _ok(results[SUBS[0]]).child_pid == late.child_pid
    assert _ok(results[SUBS[2]]).child_pid == late.child_pid  # the same child carried on


def test_the_list_form_of_o5_decides_like_the_instance_view_form(arm: Arm, policy_set: PolicySet, tmp_path: Path):
    sub = SUBS[2]  # all six VMs
    old_file = tmp_path / "instance-view.yml"
    old_file.write_text(INSTANCE_VIEW_POLICIES, encoding="utf-8")
    old = _ok(arm.batch(old_file, tmp_path / "old", [sub])[sub])
    old_gets = len(arm.vm_gets())
    arm.server.clear_log()
    new = _ok(arm.batch(policy_set.file, tmp_path / "new", [sub])[sub])

    assert _names(old, "o5-vm") == _names(new, "o5-vm") == SELECTED
    assert old_gets == len(FLEET) and arm.vm_gets() == []  # the old form: one GET per VM; the new: none
    views = {str(r["name"]): r["instanceView"]["statuses"] for r in old.policy("inventory-vm").resources or []}
    power = new.policy("inventory-vm-power").resources or []
    listed = {str(r["name"]): r["properties"]["instanceView"]["statuses"] for r in power}
    assert {n: [s["code"] for s in v] for n, v in views.items()} == {
        n: [s["code"] for s in v] for n, v in listed.items()
    }


def test_collect_arm_types_power_from_the_list_and_isolates_a_failed_subscription(
    arm: Arm, policy_set: PolicySet, tmp_path: Path
) -> None:
    broken = SUBS[0]
    arm.server.set_faults(
        FaultPlan(server_error=1.0, path_regex=rf"{broken}/providers/Microsoft\.Compute/virtualMachines$")
    )
    clients = ArmClients(
        ArmSettings(arm.server.url, StaticTokenCredential("reader"), str(arm.tls.ca_bundle_path), retry_total=0),
        CallCounter(),
    )
    children: set[int | None] = set()

    def run(
        policy_file: Path, jobs: list[tuple[str, Path]], on_result: Callable[[str, BatchOutcome], None]
    ) -> Mapping[str, BatchOutcome]:
        results = run_policies_batch(
            policy_file,
            jobs,
            on_result=on_result,
            arm_endpoint=arm.server.url,
            token_for=lambda _s: "t",
            ca_bundle=str(arm.tls.ca_bundle_path),
            timeout_s=60,
            dry_run=True,
            read_only=True,
            as_of=datetime.now(UTC),
            cache="memory",
            retry_total=0,
        )
        children.update(r.child_pid for r in results.values() if isinstance(r, PolicyRunResult))
        return results

    try:
        inventory = collect_arm(SUBS, policy_set, run, ArmResources(clients), tmp_path / "arm", NullProgress())
    finally:
        clients.close()
    assert len(children) == 1
    assert {e.scope.key for e in inventory.errors if e.scope} == {f"/subscriptions/{broken}"}
    vms = {(r.scope.key, r.name): r for r in inventory.resources if r.kind is ResourceKind.VIRTUAL_MACHINE}
    assert {key for key in vms if key[0].endswith(broken)} == set()
    assert vms[(f"/subscriptions/{SUBS[2]}", "dealloc-old")].facts.power_state == "deallocated"
    assert vms[(f"/subscriptions/{SUBS[2]}", "dealloc-old")].tags.get("owner") == SUBS[2][-2:]  # the model's tags
    assert vms[(f"/subscriptions/{SUBS[1]}", "stop-new")].facts.power_state == "stopped"
    assert inventory.selections()["O5"] == {
        f"/subscriptions/{s}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/{n}".lower()
        for s in SUBS[1:]
        for n in SELECTED
        if n in {name for name, _, _ in FLEET[: 4 + SUBS.index(s)]}
    }
