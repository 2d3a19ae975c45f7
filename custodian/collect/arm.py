"""The Azure-resource inventory of each subscription, through Cloud Custodian, typed and cross-checked.

Per subscription, ONE read-only c7n dry run of every policy (inventory and select policies, with
c7n's in-memory cache so every select policy judges the very listing the inventory recorded),
at the run's evaluation time. Then:

- the inventory policies' JSON is typed (`arm_json.parse_resource`); a malformed document is a problem;
- a select policy may only select what the inventory of its kind holds;
- the inventory must equal the reaper's own generic ARM listing, kind by kind (a page cut short, a
  listing that failed: a partial inventory).

Any problem makes the subscription's unit incomplete (a `CollectionError`): the engine then refuses
every action in it. What was seen is still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from custodian.collect.c7n.policies import PolicySet
from custodian.collect.c7n.runner import PolicyRunResult
from custodian.model import AzureResource, CollectionError, Provider, Scope
from custodian.progress import Progress
from custodian.providers.azure.arm import ArmResources
from custodian.providers.azure.arm_json import MalformedResource, parse_resource

C7nRun = Callable[[Path, Path, str], PolicyRunResult]  # (policy file, output dir, subscription) -> result


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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _subscription(
    subscription: str, policy_set: PolicySet, run_c7n: C7nRun, reader: ArmResources, out: Path, into: ArmInventory
) -> list[str]:
    result = run_c7n(policy_set.file, out, subscription)
    problems = list(result.problems)
    typed: dict[str, AzureResource] = {}
    for policy in policy_set.with_role("inventory"):
        output = _output(result, policy.name)
        if output is None:
            problems.append(f"inventory policy {policy.name} produced no listing")
            continue
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
        return [f"the generic ARM resource listing failed: {_describe(exc)}"]
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
    run_c7n: C7nRun,
    reader: ArmResources,
    work_dir: Path,
    progress: Progress,
) -> ArmInventory:
    inventory = ArmInventory()
    progress.begin("Azure resources (Cloud Custodian)", len(subscriptions))
    for subscription in subscriptions:
        scope = Scope.subscription(subscription)
        try:
            problems = _subscription(subscription, policy_set, run_c7n, reader, work_dir / subscription, inventory)
        except Exception as exc:  # noqa: BLE001 - fail closed: the subscription is incomplete
            problems = [f"the inventory failed: {_describe(exc)}"]
        for problem in problems:
            inventory.errors.append(CollectionError(Provider.AZURE, scope.key, problem, scope))
        state = "complete" if not problems else "INCOMPLETE"
        progress.advance(f"subscription {subscription}: {inventory.populations.get(scope.key, 0)} resources, {state}")
    return inventory
