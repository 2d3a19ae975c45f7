"""The Azure-resource inventory of each subscription, through Cloud Custodian, typed and cross-checked.

ONE c7n child process for all subscriptions (`C7nBatch`, see `custodian.collect.c7n.batch`), which
runs per subscription one read-only dry run of every policy (inventory, power and select policies,
with c7n's in-memory cache, emptied between subscriptions, so every select policy judges the very
listing the inventory recorded), at the run's evaluation time. As each subscription's job ends (and
before the next one's token is minted), that subscription is read back:

- the VMs' power state comes from the power policy's listing (`statusOnly=true`: ARM's status view
  of every VM, no per-VM instance-view GET) and is joined to the VM inventory by id; a VM in one
  listing and not the other makes the inventory partial;
- the inventory policies' JSON is typed (`arm_json.parse_resource`); a malformed document is a problem;
- a select policy may only select what the inventory of its kind holds;
- the inventory must equal the reaper's own generic ARM listing, kind by kind (a page cut short, a
  listing that failed: a partial inventory).

Any problem makes the subscription's unit incomplete (a `CollectionError`): the engine then refuses
every action in it; another subscription's problems never touch it. What was seen is still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custodian.collect.c7n.policies import PolicySet
from custodian.collect.c7n.runner import PolicyRunResult
from custodian.errors import describe_error
from custodian.model import AzureResource, CollectionError, Provider, ResourceKind, Scope
from custodian.progress import Progress
from custodian.providers.azure.arm import ArmResources
from custodian.providers.azure.arm_json import MalformedResource, parse_resource

C7nOutcome = PolicyRunResult | Exception  # a subscription's c7n result, or why its run could not start
# (policy file, [(subscription, output dir)], called with each outcome as it ends) -> every outcome
C7nBatch = Callable[[Path, Sequence[tuple[str, Path]], Callable[[str, C7nOutcome], None]], Mapping[str, C7nOutcome]]


@dataclass
class ArmInventory:
    resources: list[AzureResource] = field(default_factory=list)
    selected: dict[str, set[str]] = field(default_factory=dict)  # rule -> resource keys
    errors: list[CollectionError] = field(default_factory=list)
    populations: dict[str, int] = field(default_factory=dict)

    def selections(self) -> dict[str, frozenset[str]]:
        return {rule: frozenset(keys) for rule, keys in self.selected.items()}


def _names(keys: Iterable[str], limit: int = 5) -> str:
    names = sorted(k.rsplit("/", 1)[-1] for k in keys)
    if not names:
        return "none"
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _key(doc: Mapping[str, Any]) -> str:
    return str(doc.get("id", "")).strip().rstrip("/").lower()


def _power(result: PolicyRunResult, policy_set: PolicySet, problems: list[str]) -> dict[str, Any] | None:
    """VM id (lower case) -> its `properties.instanceView` from the power listing; None without a power policy."""
    policies = policy_set.with_role("power")
    if not policies:
        return None
    output = _output(result, policies[0].name)
    if output is None:
        problems.append(f"power policy {policies[0].name} produced no listing")
        return {}
    views: dict[str, Any] = {}
    for doc in output:
        properties = doc.get("properties")
        view = properties.get("instanceView") if isinstance(properties, dict) else None
        if not _key(doc) or not isinstance(view, dict) or not isinstance(view.get("statuses"), list):
            problems.append(f"power policy {policies[0].name} listed {_key(doc) or doc!r} without its statuses")
            continue
        views[_key(doc)] = view
    return views


def _with_power(doc: dict[str, Any], views: Mapping[str, Any]) -> dict[str, Any]:
    """The VM document with its instance view from the power listing (the model list carries none)."""
    properties = doc.get("properties")
    if _key(doc) not in views or not isinstance(properties, dict):
        return doc
    return {**doc, "properties": {**properties, "instanceView": properties.get("instanceView") or views[_key(doc)]}}


def _power_agrees(views: Mapping[str, Any], vms: list[dict[str, Any]]) -> list[str]:
    """Every VM of the model listing has a power state and every power state a VM (else: partial)."""
    listed = {_key(d) for d in vms}
    if listed == set(views):
        return []
    return [
        f"the VM listings disagree (partial inventory): {len(listed)} VMs in the model listing, {len(views)} in the "
        f"power-state listing; without a power state: {_names(listed - set(views))}; "
        f"without a model: {_names(set(views) - listed)}"
    ]


def _subscription(
    subscription: str, policy_set: PolicySet, result: PolicyRunResult, reader: ArmResources, into: ArmInventory
) -> list[str]:
    problems = list(result.problems)
    views = _power(result, policy_set, problems)
    typed: dict[str, AzureResource] = {}
    for policy in policy_set.with_role("inventory"):
        output = _output(result, policy.name)
        if output is None:
            problems.append(f"inventory policy {policy.name} produced no listing")
            continue
        if policy.kind is ResourceKind.VIRTUAL_MACHINE and views is not None:
            output = [_with_power(doc, views) for doc in output]
            problems += _power_agrees(views, output)
        for doc in output:
            try:
                resource = parse_resource(doc)
            except MalformedResource as exc:
                problems.append(f"inventory policy {policy.name}: {exc}")
                continue
            if resource is None or resource.kind is not policy.kind:
                problems.append(f"inventory policy {policy.name} listed a {doc.get('type')!r}")
                continue
            typed[resource.key] = resource
    for policy in policy_set.with_role("select"):
        output = _output(result, policy.name)
        if output is None:
            continue  # the run's problems already say why
        assert policy.rule is not None
        for doc in output:
            key = str(doc.get("id", "")).strip().rstrip("/").lower() if isinstance(doc, dict) else ""
            if key not in typed or typed[key].kind is not policy.kind:
                problems.append(
                    f"policy {policy.name} selected {key or doc!r}, which the {policy.kind.value} inventory of this "
                    "run does not hold: the listings disagree (partial inventory)"
                )
                continue
            into.selected.setdefault(policy.rule, set()).add(key)
    if not result.problems:
        problems += _cross_check(reader, subscription, typed)
    into.resources += typed.values()
    scope = Scope.subscription(subscription)
    into.populations[scope.key] = into.populations.get(scope.key, 0) + len(typed)
    return problems


def _output(result: PolicyRunResult, name: str) -> list[dict[str, object]] | None:
    try:
        output = result.policy(name)
    except KeyError:
        return None
    return output.resources if output.ok else None


def _cross_check(reader: ArmResources, subscription: str, typed: dict[str, AzureResource]) -> list[str]:
    """c7n's typed listings must equal the generic ARM listing, kind by kind (else: partial)."""
    try:
        generic = reader.list_ids(subscription)
    except Exception as exc:  # noqa: BLE001 - any failure of the second listing makes the subscription incomplete
        return [f"the generic ARM resource listing failed: {describe_error(exc)}"]
    problems = []
    for kind in sorted({*generic.values(), *(r.kind for r in typed.values())}, key=lambda k: k.value):
        c7n_ids = {k for k, r in typed.items() if r.kind is kind}
        arm_ids = {k for k, v in generic.items() if v is kind}
        if c7n_ids != arm_ids:
            problems.append(
                f"the {kind.value} listings disagree (partial inventory): c7n listed {len(c7n_ids)}, the generic ARM "
                f"listing {len(arm_ids)}; only in the generic listing: {_names(arm_ids - c7n_ids)}; "
                f"only in c7n's: {_names(c7n_ids - arm_ids)}"
            )
    return problems


def collect_arm(
    subscriptions: Sequence[str],
    policy_set: PolicySet,
    run_c7n: C7nBatch,
    reader: ArmResources,
    work_dir: Path,
    progress: Progress,
) -> ArmInventory:
    inventory = ArmInventory()
    progress.begin("Azure resources (Cloud Custodian)", len(subscriptions))
    done: set[str] = set()

    def finish(subscription: str, result: C7nOutcome | None) -> None:
        done.add(subscription)
        scope = Scope.subscription(subscription)
        try:
            if result is None:
                problems = ["the inventory failed: c7n returned no result for this subscription"]
            elif isinstance(result, Exception):
                problems = [f"the inventory failed: {describe_error(result)}"]
            else:
                problems = _subscription(subscription, policy_set, result, reader, inventory)
        except Exception as exc:  # noqa: BLE001 - fail closed: the subscription is incomplete
            problems = [f"the inventory failed: {describe_error(exc)}"]
        for problem in problems:
            inventory.errors.append(CollectionError(Provider.AZURE, scope.key, problem, scope))
        state = "complete" if not problems else "INCOMPLETE"
        progress.advance(f"subscription {subscription}: {inventory.populations.get(scope.key, 0)} resources, {state}")

    try:  # each subscription is typed and cross-checked as soon as its c7n job ends (the next waits)
        results: Mapping[str, C7nOutcome] = run_c7n(policy_set.file, [(s, work_dir / s) for s in subscriptions], finish)
    except Exception as exc:  # noqa: BLE001 - fail closed: every subscription not finished is incomplete
        results = dict.fromkeys(subscriptions, exc)
    for subscription in subscriptions:
        if subscription not in done:
            finish(subscription, results.get(subscription))
    return inventory
