"""Property-based tests on the ARM emulator's state after an applied run, through the real engine.

Each example seeds the emulator (over its own store) with a random world of VMs, disks, NICs,
public IPs and NSGs (attachments, `deleteOption` cascades, private endpoint NICs, tags and holds in
any spelling), reads it back over HTTPS with the azure-mgmt SDK (typed at the production boundary),
lets an arbitrary selector stand in for c7n, plans, and executes through the real ARM gateway (Tags
API marks, SDK deletes and VM updates, polling, re-reads). Then, on the emulator's state:

- nothing held is deleted or marked, directly or by a cascade;
- nothing outside the allowlist changes;
- nothing prod-stage, of a release that is not complete, or owned by a managed parent is deleted;
- what the dry run planned is exactly what the applied run did, and nothing failed;
- applying again at the same time changes nothing (no mutating request reaches the emulator).

Examples: `RC_PROPERTY_EXAMPLES` (2,000 by default, what CI runs; 20,000 in the documented long run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings

from custodian.engine.execute import Executor
from custodian.engine.plan import Limits, Plan, make_plan
from custodian.gateways import Gateways
from custodian.gateways.arm import ArmGateway
from custodian.model import (
    ActionKind,
    ActionOutcome,
    ActionRecord,
    AzureResource,
    DeploymentFact,
    Inventory,
    ReleaseTimeline,
    Scope,
    Verdict,
)
from custodian.providers.azure.arm import ArmResources
from custodian.providers.azure.clients import ArmClients, ArmSettings, StaticTokenCredential
from custodian.providers.wire import CallCounter
from custodian.rules.leftovers import resource_leftovers
from custodian.rules.orphans import one_per_target, resource_orphans
from custodian.rules.reaping import MarkState, read_mark
from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS
from tests import reliability
from tests.engine.test_plan_properties import Oracle
from tests.engine.world import NOW, SUBS, World, worlds
from tests.engine_helpers import REAP, gate_for

EXAMPLES = int(os.environ.get("RC_PROPERTY_EXAMPLES", "2000"))
MUTATING = {"PUT", "PATCH", "POST", "DELETE"}


@dataclass
class Arm:
    emulator: ArmEmulator
    server: EmulatorServer
    resources: ArmResources
    clients: ArmClients


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    tls = SandboxTLS(tmp_path_factory.mktemp("arm-properties-tls"))
    emulator, server = start_arm(tls)
    emulator.operations.polls_in_progress = 0
    emulator.operations.retry_after = 0
    settings_ = ArmSettings(
        endpoint=server.url,
        credential=StaticTokenCredential("property-test-token"),
        ca_bundle=str(tls.ca_bundle_path),
        read_only=False,
        polling_interval_s=0.0,
    )
    clients = ArmClients(settings_, CallCounter())
    try:
        yield Arm(emulator, server, ArmResources(clients), clients)
    finally:
        clients.close()
        server.stop()


def _seed(arm: Arm, world: World) -> None:
    store = arm.emulator.store
    store.clear()
    for sub in SUBS:
        store.add_subscription(sub)
        store.add_resource_group(sub, "rg")
    for doc in world.docs:
        clean = {k: v for k, v in doc.items() if k not in ("managedBy",)}  # the emulator derives back-references
        props = dict(clean.get("properties") or {})
        props.pop("virtualMachine", None)
        clean["properties"] = props
        store.put(clean)


def _read_back(arm: Arm, world: World) -> list[AzureResource]:
    out = []
    for doc in world.docs:
        resource = arm.resources.get(doc["id"])
        assert resource is not None
        out.append(resource)
    return out


def _marked(target: Any) -> bool:
    return read_mark(target.tags, REAP, NOW).state in (MarkState.PENDING, MarkState.DUE)


def _plan(world: World, resources: list[AzureResource], *, enforce: bool) -> tuple[Plan, Any]:
    inventory = Inventory(NOW, world.timeline, resources=tuple(resources), errors=tuple(world.incomplete))
    verdicts: list[Verdict] = resource_leftovers(resources, world.timeline, REAP, NOW, lambda r: None)
    verdicts += resource_orphans(resources, world.selected, world.timeline, REAP, NOW, lambda r: None)
    gate = gate_for(inventory, NOW, world.holds, allowed=world.allowed)
    targets = {r.key: r for r in resources}
    populations = {}
    for r in resources:
        populations[r.scope.key] = populations.get(r.scope.key, 0) + 1
    limits = Limits(world.max_actions, world.max_percent)
    plan = make_plan(one_per_target(verdicts), targets, gate, limits, populations, enforce=enforce, now=NOW)
    return plan, gate


class _Journal:
    def journal_intent(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def journal_accepted(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def journal_outcome(self, *args: Any, **kwargs: Any) -> int:
        return 0


def _apply(arm: Arm, world: World, resources: list[AzureResource]) -> tuple[Plan, list[ActionRecord]]:
    plan, gate = _plan(world, resources, enforce=True)
    gateways = Gateways()
    gateways.set_arm(ArmGateway(arm.resources, _marked))
    executor = Executor(
        "property", _Journal(), gateways.for_action, gate, lambda: NOW, confirm_timeout_s=20.0, poll_cap_s=0.01
    )
    return plan, executor.run(plan.actions) if plan.aborted is None else []


APPLIED = "applied runs on the ARM emulator"
APPLIED_INVARIANTS = (
    "nothing held is deleted or marked, directly or by a cascade (emulator state)",
    "nothing outside the allowlist changes (emulator state)",
    "nothing prod-stage, in flight, managed or in a partial inventory is deleted (emulator state)",
    "what the dry run planned is what the applied run did, and nothing failed",
    "applying again changes nothing: no mutating request reaches the emulator",
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(world=worlds(reaping=True, most=8))
def test_the_emulator_state_after_an_applied_run_keeps_every_invariant(arm: Arm, world: World) -> None:
    reliability.example(APPLIED, APPLIED_INVARIANTS)
    _seed(arm, world)
    before = {d["id"].lower(): d for d in (arm.emulator.store.get(doc["id"]) for doc in world.docs) if d}
    resources = _read_back(arm, world)
    world = replace(world, resources=resources, accounts=[], blobs=[])
    oracle = Oracle(world)
    dry, _ = _plan(world, resources, enforce=False)
    arm.server.clear_log()
    _, records = _apply(arm, world, resources)
    for kind in sorted({r.action.kind.value for r in records if r.outcome is ActionOutcome.DONE}):
        event(f"applied {kind}")

    after = {key: arm.emulator.store.get(doc["id"]) for key, doc in before.items()}
    by_key = {r.key: r for r in resources}
    wrong = sum(
        1
        for key, doc_before in before.items()
        if (oracle.held(by_key[key], None, None) or not oracle.deletable(by_key[key]))
        and (after[key] is None or ((after[key] or {}).get("tags") or {}) != (doc_before.get("tags") or {}))
    )
    reliability.measure(APPLIED, wrong=wrong)
    for key, doc_before in before.items():
        resource = by_key[key]
        now_doc = after[key]
        protected = oracle.held(resource, None, None) or not oracle.deletable(resource)
        if protected:  # held, outside the allowlist, prod, in flight, managed, partial: still there, unmarked
            assert now_doc is not None, (key, resource.tags)
            assert (now_doc.get("tags") or {}) == (doc_before.get("tags") or {}), key
        if resource.scope not in world.allowed:
            assert now_doc is not None and now_doc.get("tags") == doc_before.get("tags")

    assert {r.outcome for r in records} <= {ActionOutcome.DONE}, [(r.action.key, r.outcome, r.detail) for r in records]
    assert {(a.kind, a.target) for a in dry.actions} == {
        (r.action.kind, r.action.target) for r in records if r.outcome is ActionOutcome.DONE
    }

    again_resources = [r for r in (arm.resources.get(doc["id"]) for doc in world.docs) if r is not None]
    arm.server.clear_log()
    _, again = _apply(arm, replace(world, resources=again_resources), again_resources)
    again_sent = [r for r in arm.server.requests if r.method in MUTATING]
    reliability.measure(APPLIED, twice=len(again_sent))
    assert again_sent == []
    assert all(r.action.kind is not ActionKind.DELETE_RESOURCE or r.detail == "already gone" for r in again)


def test_a_fixed_world_detaches_a_held_disk_before_its_vm_goes(arm: Arm) -> None:
    """The cascade case, fixed: a due leftover VM whose held data disk would go with it."""
    sub = SUBS[0]
    vm_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
    disk_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/disks/held"
    due = f"{NOW - timedelta(hours=5):%Y-%m-%dT%H:%M:%SZ} L4"
    tags = {"release-version": "v1.0.0", "release-stage": "qa"}
    disk_props = {"diskSizeGB": 1}
    data_disks = [{"lun": 0, "managedDisk": {"id": disk_id}, "deleteOption": "Delete"}]
    docs = [
        {
            "id": disk_id,
            "name": "held",
            "type": "Microsoft.Compute/disks",
            "location": "eastus",
            "tags": {**tags, "custodian-hold": "x"},
            "properties": disk_props,
        },
        {
            "id": vm_id,
            "name": "vm",
            "type": "Microsoft.Compute/virtualMachines",
            "location": "eastus",
            "tags": {**tags, "custodian-reap": due},
            "properties": {"storageProfile": {"dataDisks": data_disks}},
        },
    ]
    success = (("success", NOW - timedelta(days=5)),)
    timeline = ReleaseTimeline(
        ("qa", "uat", "prod"), (), (DeploymentFact("v1.0.0", 1, "production", NOW - timedelta(days=5), success),)
    )
    fixed = World(timeline, [], docs, [], [], frozenset({Scope.subscription(sub)}), [], {}, 100, 100.0)
    _seed(arm, fixed)
    _, records = _apply(arm, fixed, _read_back(arm, fixed))
    assert [(r.action.kind, r.outcome) for r in records] == [
        (ActionKind.DETACH_ON_DELETE, ActionOutcome.DONE),
        (ActionKind.DELETE_RESOURCE, ActionOutcome.DONE),
    ]
    assert arm.emulator.store.get(disk_id) is not None and arm.emulator.store.get(vm_id) is None
