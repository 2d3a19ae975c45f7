"""Test helpers around the engine: a gate over an inventory, and findings settled as an audit settles them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from custodian.engine.gate import Gate, NoticeIndex
from custodian.engine.holds import Target
from custodian.engine.plan import Limits, Plan, make_plan
from custodian.model import Finding, Hold, Inventory, Scope, Verdict
from custodian.rules.reaping import ReapSettings
from custodian.run.wiring import gate_over

REAP = ReapSettings(
    mark_tag="custodian-reap",
    hold_tag="custodian-hold",
    mark_grace=timedelta(hours=24),
    leftover_grace=timedelta(hours=24),
    orphan_disk_min_age=timedelta(days=30),
    stopped_vm_min_age=timedelta(days=14),
    stale_blob_age=timedelta(days=7),
    version_tag_key="release-version",
    stage_tag_key="release-stage",
    stages=("qa", "uat", "prod"),
)


LIMITS = Limits(1000, 100.0)


def targets_of(inventory: Inventory) -> dict[str, Target]:
    targets: dict[str, Target] = {a.key: a for a in inventory.accounts}
    targets.update({r.key: r for r in inventory.resources})
    targets.update({b.key: b for b in inventory.blobs})
    return targets


def gate_for(
    inventory: Inventory,
    now: datetime,
    holds: Sequence[Hold] = (),
    *,
    allowed: Iterable[Scope] | None = None,
    settings: ReapSettings = REAP,
    notices: NoticeIndex | None = None,
) -> Gate:
    """A gate over `inventory`; every scope of its targets is allowed unless `allowed` says otherwise."""
    if allowed is None:
        scopes = {t.scope for t in targets_of(inventory).values() if t.scope is not None}
    else:
        scopes = set(allowed)
    return gate_over(inventory, holds, now, frozenset(scopes), settings, settings.hold_tag, notices)


def plan_for(
    verdicts: Sequence[Verdict],
    inventory: Inventory,
    now: datetime,
    holds: Sequence[Hold] = (),
    *,
    enforce: bool = True,
    limits: Limits = LIMITS,
    allowed: Iterable[Scope] | None = None,
    populations: dict[str, int] | None = None,
) -> Plan:
    gate = gate_for(inventory, now, holds, allowed=allowed)
    return make_plan(verdicts, targets_of(inventory), gate, limits, populations or {}, enforce=enforce, now=now)


def settled(
    verdicts: Sequence[Verdict], inventory: Inventory, now: datetime, holds: Sequence[Hold] = ()
) -> list[Finding]:
    """The findings as an audit reports them (holds, protections and refusals applied)."""
    return list(plan_for(verdicts, inventory, now, holds, enforce=False).findings)
