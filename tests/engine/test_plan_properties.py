"""Property-based tests of the one planner: random worlds (timelines out of order, flapping deployments,
names and tags in any spelling, holds of every kind, cascades, attachments, managed parents, partial
inventories, allowlists and caps, and an arbitrary selector standing in for c7n) through the real rules
and the real planner; every invariant is checked against an oracle written from the world itself.

Examples per invariant: `RC_PROPERTY_EXAMPLES` (2,000 by default, what CI runs; the documented long run
sets 20,000). Each example checks every invariant.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from custodian.engine.gate import NoticeIndex, Refusal
from custodian.engine.plan import Limits, Plan, make_plan
from custodian.model import (
    ActionKind,
    AzureResource,
    Blob,
    DeleteOption,
    HoldTarget,
    ServiceAccount,
    Status,
    Tags,
    Verdict,
)
from custodian.rules.collection import collection_errors
from custodian.rules.holds import expired_holds
from custodian.rules.leftovers import blob_is_leftover, blob_leftover, completed_versions, resource_leftovers
from custodian.rules.lifecycle import LifecycleSettings, evaluate_accounts
from custodian.rules.naming import AccountNamer
from custodian.rules.orphans import blob_orphan, is_stale_blob, one_per_target, resource_orphans
from tests import reliability
from tests.engine.world import NOW, STAGES, World, fold, worlds
from tests.engine_helpers import REAP, gate_for, targets_of

EXAMPLES = int(os.environ.get("RC_PROPERTY_EXAMPLES", "2000"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
LIFECYCLE = LifecycleSettings(AccountNamer(STAGES), timedelta(hours=1), timedelta(hours=1), timedelta(hours=24))
DELETING_RULES = {"L3", "L4", "O1", "O2", "O3", "O4", "O6"}
PLAN_INVARIANTS = (  # what check_invariants asserts of every example (RELIABILITY.md lists them)
    "a cap that is exceeded aborts the run before its first action",
    "nothing outside the allowlist changes",
    "nothing is acted on in a partial inventory",
    "no hand-off before its grace (L1 after the next stage started, L2/L3 after prod success)",
    "nothing held is deleted or marked, directly or by a cascade",
    "nothing prod-stage, of an incomplete release or owned by a managed parent is deleted",
    "a deletion waits for whatever must go first (attachments, detaches)",
    "the dry run plans exactly what an applied run acts on",
    "holds never keep a credential working (revocations are planned)",
)


def verdicts_of(world: World) -> list[Verdict]:
    inventory = world.inventory()
    timeline = world.timeline
    out = collection_errors(inventory.errors) + evaluate_accounts(inventory, NOW, LIFECYCLE)
    reaped = resource_leftovers(world.resources, timeline, REAP, NOW, lambda r: None)
    reaped += resource_orphans(world.resources, world.selected, timeline, REAP, NOW, lambda r: None)
    completed, known = completed_versions(timeline, REAP, NOW), timeline.versions()
    for blob in world.blobs:
        if blob_is_leftover(blob, completed, known, REAP):
            reaped.append(blob_leftover(blob, timeline, REAP, NOW, None))
        if is_stale_blob(blob, world.ephemeral, REAP, NOW):
            reaped.append(blob_orphan(blob, timeline, REAP, NOW, None))
    return out + one_per_target(reaped) + expired_holds(world.holds, NOW)


def plan_of(world: World, verdicts: list[Verdict], *, enforce: bool) -> Plan:
    inventory = world.inventory()
    gate = gate_for(inventory, NOW, world.holds, allowed=world.allowed)
    limits = Limits(world.max_actions, world.max_percent)
    return make_plan(verdicts, targets_of(inventory), gate, limits, world.populations(), enforce=enforce, now=NOW)


# -- the oracle: what the world says, computed without the engine ---------------------------------------------
class Oracle:
    def __init__(self, world: World) -> None:
        self.world = world
        self.versions = sorted(world.timeline.versions())
        self.incomplete = {e.unit for e in world.incomplete}
        self.timeline_complete = "timeline" not in self.incomplete

    def version(self, raw: str) -> str | None:
        matches = [v for v in self.versions if fold(v) == fold(raw)]
        return matches[0] if len(matches) == 1 else None

    def completed(self, version: str) -> bool:
        success = self.world.timeline.prod_success(version)
        at = success.first_success_at if success else None
        return at is not None and at + REAP.leftover_grace <= NOW

    def hold_active(self, target_type: HoldTarget, names: set[str]) -> bool:
        return any(
            h.target_type is target_type
            and h.target in names
            and h.released_at is None
            and h.placed_at <= NOW < h.until
            for h in self.world.holds
        )

    @staticmethod
    def tag(tags: Tags, key: str) -> str | None:
        return next((v for k, v in tags.items() if k.lower() == key), None)

    def tagged(self, tags: Tags) -> bool:
        return self.tag(tags, "release-version") is not None or self.tag(tags, "release-stage") is not None

    def held(self, target: AzureResource | Blob | ServiceAccount, version: str | None, logical: str | None) -> bool:
        if isinstance(target, ServiceAccount):
            names = {target.provider_name, logical or ""}
            return self.hold_active(HoldTarget.VERSION, {version or ""}) or self.hold_active(HoldTarget.ACCOUNT, names)
        if any(k.lower() == "custodian-hold" for k in target.tags):
            return True
        raw = self.tag(target.tags, "release-version")
        resolved = self.version(raw) if raw else None
        return resolved is not None and self.hold_active(HoldTarget.VERSION, {resolved})

    def deletable(self, target: AzureResource | Blob) -> bool:
        """Could any rule delete it in this run (without looking at holds)?"""
        stage = self.tag(target.tags, "release-stage")
        if stage is not None and stage.strip().lower() == STAGES[-1]:
            return False
        if self.tagged(target.tags):
            raw = self.tag(target.tags, "release-version")
            resolved = self.version(raw) if raw else None
            if resolved is None or not self.completed(resolved) or not self.timeline_complete:
                return False
        if isinstance(target, AzureResource) and target.managed_by:
            return False
        return target.scope is not None and target.scope in self.world.allowed and target.unit not in self.incomplete


@PROPERTY
@given(worlds())
def test_the_plan_keeps_every_invariant(world: World) -> None:
    reliability.example("planner: random worlds", PLAN_INVARIANTS)
    check_invariants(world)


@PROPERTY
@given(worlds(reaping=True))
def test_the_plan_keeps_every_invariant_when_much_is_due_for_deletion(world: World) -> None:
    reliability.example("planner: worlds with much due for deletion", PLAN_INVARIANTS)
    check_invariants(world)


def check_invariants(world: World) -> None:
    verdicts = verdicts_of(world)
    plan = plan_of(world, verdicts, enforce=True)
    oracle = Oracle(world)
    targets = targets_of(world.inventory())
    by_key = {a.key: a for a in plan.actions}
    for kind in sorted({a.kind.value for a in plan.actions}):
        event(f"plans {kind}")
    event("aborted by a cap" if plan.aborted else f"{min(len(plan.actions), 10)}+ actions")

    # a cap that is exceeded aborts the whole run before its first action
    if plan.aborted is not None:
        assert plan.actions == ()
        assert any(f.rule == "SAFETY" and f.status is Status.ERROR for f in plan.findings)
    else:
        assert len(plan.actions) <= world.max_actions
        touched: dict[str, set[str]] = {}
        for action in plan.actions:
            assert action.scope is not None
            touched.setdefault(action.scope.key, set()).add(action.target)
        for scope, keys in touched.items():
            assert len(keys) * 100 <= world.max_percent * world.populations()[scope]

    for action in plan.actions:
        target = targets[action.target]
        # nothing outside the allowlist changes; nothing on a partial inventory
        assert action.scope is not None and action.scope in world.allowed
        assert target.unit not in oracle.incomplete
        # no hand-off (nor any action) before its time
        assert action.not_before is None or action.not_before <= NOW
        if isinstance(target, ServiceAccount):
            assert oracle.timeline_complete
            if action.rule in DELETING_RULES:
                assert not oracle.held(target, action.subject.version, action.subject.logical_name)
            if action.rule == "L1":
                stage = action.subject.stage or ""
                later = STAGES[STAGES.index(stage) + 1 :]
                starts = [
                    s for s in (world.timeline.stage_started(action.subject.version or "", x) for x in later) if s
                ]
                assert starts and min(s.at for s in starts) + LIFECYCLE.handoff_grace <= NOW
            if action.rule in ("L2", "L3"):
                success = world.timeline.prod_success(action.subject.version or "")
                assert success is not None and success.first_success_at is not None
                wait = LIFECYCLE.prod_revocation_grace if action.rule == "L2" else LIFECYCLE.retention
                assert success.first_success_at + wait <= NOW
            continue
        # nothing held, prod-stage, of an incomplete release or owned by a managed parent is marked or deleted
        assert not oracle.held(target, None, None), (action.kind, action.target)
        assert oracle.deletable(target), (action.kind, action.target, target.tags)
        if action.kind is ActionKind.DELETE_RESOURCE and isinstance(target, AzureResource):
            for attachment in target.attachments:
                assert attachment.key is not None  # a blocking state never lets it go
                removers = [
                    a.key
                    for a in plan.actions
                    if a.kind is ActionKind.DELETE_RESOURCE
                    and (a.target == attachment.key or attachment.key in (a.param("cascade") or "").split(","))
                ]
                assert removers and set(removers) & set(action.after), (action.target, attachment)
            for cascade in target.cascades:
                if cascade.option is not DeleteOption.DELETE:
                    continue
                detach = next(
                    (
                        a
                        for a in plan.actions
                        if a.kind is ActionKind.DETACH_ON_DELETE
                        and a.target == action.target
                        and (a.param("member") or "").lower() == cascade.key
                    ),
                    None,
                )
                if detach is not None:
                    assert detach.key in action.after
                    continue
                member = targets.get(cascade.key)  # nothing held or protected goes with the VM
                assert isinstance(member, AzureResource)
                assert not oracle.held(member, None, None) and oracle.deletable(member), cascade

    # the dry run plans exactly what an applied run would act on (an audit's forecast too)
    assert plan_of(world, verdicts, enforce=False).actions == plan.actions

    # holds never keep a credential working: revocations of held accounts are planned like any other
    if plan.aborted is None and oracle.timeline_complete:
        for verdict in verdicts:
            if verdict.finding.rule not in ("L1", "L2") or verdict.finding.status is not Status.FAIL:
                continue
            account = targets[verdict.target or ""]
            deleting = any(a.kind is ActionKind.DELETE_ACCOUNT and a.target == account.key for a in plan.actions)
            if account.scope in world.allowed and account.unit not in oracle.incomplete and not deleting:
                assert all(a.key in by_key for a in verdict.actions), verdict.finding.message


NOTIFY_BEFORE = timedelta(hours=24)


@PROPERTY
@given(worlds(reaping=True), st.data())
def test_with_notifications_nothing_is_deleted_before_its_owner_was_told_notify_before_earlier(
    world: World, data: st.DataObject
) -> None:
    """Notices only take deletions away (those whose first notice is missing or too recent); every other
    action, and every deletion whose owner was told long enough before, is the plan without notifications."""
    reliability.example(
        "planner with notifications",
        ["nothing is deleted before its owner was told notify_before earlier", "notices only take deletions away"],
    )
    verdicts = verdicts_of(world)
    inventory = world.inventory()
    limits = Limits(world.max_actions, world.max_percent)
    targets = targets_of(inventory)
    ages = st.sampled_from([None, timedelta(0), NOTIFY_BEFORE - timedelta(seconds=1), NOTIFY_BEFORE, timedelta(days=9)])
    first: dict[str, datetime] = {}
    for key in sorted(targets):
        age = data.draw(ages, label=key)
        if age is not None:
            first[key] = NOW - age
    notices = NoticeIndex(first, NOTIFY_BEFORE)

    def planned(index: NoticeIndex | None) -> Plan:
        gate = gate_for(inventory, NOW, world.holds, allowed=world.allowed, notices=index)
        return make_plan(verdicts, targets, gate, limits, world.populations(), enforce=True, now=NOW)

    told, untold = planned(notices), planned(None)
    for action in told.actions:
        if action.kind.deletes:
            assert action.target in first and first[action.target] <= NOW - NOTIFY_BEFORE, action.target
    waiting = {a.target for a, d in told.waiting if d.refusal is Refusal.NOT_NOTIFIED}
    assert all(first.get(t, NOW) > NOW - NOTIFY_BEFORE for t in waiting)
    if told.aborted is None and untold.aborted is None:
        # only deletions go; what an account's deletion superseded (its revocation) comes back while it waits
        extra = {a.key for a in told.actions} - {a.key for a in untold.actions}
        assert all(not a.kind.deletes and a.target in waiting for a in told.actions if a.key in extra), extra
        # a deletion told long enough before, all of whose prerequisite deletions were too, still happens
        ready = {
            a.key: a for a in untold.actions if not a.kind.deletes or first.get(a.target, NOW) <= NOW - NOTIFY_BEFORE
        }
        changed = True
        while changed:
            changed = False
            for key, action in list(ready.items()):
                if any(after not in ready for after in action.after if after in {a.key for a in untold.actions}):
                    del ready[key]
                    changed = True
        assert {k for k, a in ready.items() if a.kind.deletes} <= {a.key for a in told.actions}
    event(f"{sum(1 for a in told.actions if a.kind.deletes)} deletions told long enough before")
