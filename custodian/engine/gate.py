"""The gate: every action of every part passes the same checks, in the same order.

1. the target is known (in this run's inventory, or found again by a re-read);
2. its scope is on the enforce allowlist (`allowed_orgs`, `allowed_subscriptions`; a blob's
   scope is its storage account's subscription, and a storage account whose subscription is
   unknown is refused);
3. its collection unit was inventoried completely;
4. the release timeline was read completely, when the target belongs to a release (every account;
   a resource or blob with release tags);
5. a hold (ledger hold or hold tag) does not protect it, when the rule deletes (holds never stop
   revocation);
6. it is inside the rule's scope, when the rule deletes a resource or blob: nothing prod-stage,
   nothing of a release that is not complete (unknown and ambiguous versions included), nothing a
   managed parent owns; a deletion only on the mark that was judged due;
7. it is due (`not_before`);
8. when notifications are configured, a deletion's owner was told at least `notify_before` earlier
   (`NoticeIndex`: the first notice sent about the target, from the ledger).

Dependencies (what must be gone first, what a deletion takes with it) and the run-wide caps are
checked over the whole plan (`dependencies`, `plan`). The executor asks the gate again, on a fresh
re-read, right before each action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from custodian.engine.holds import HoldIndex, HoldMatch, Target
from custodian.model import Action, ActionKind, AzureResource, Blob, Scope, ServiceAccount, Subject
from custodian.rules.registry import Purpose, rule
from custodian.rules.release_tags import read_release_tags


class Effect(StrEnum):
    """What a refusal means for the finding it concerns."""

    BLOCKED = "blocked"  # the run cannot act here (allowlist, inventory): a SAFETY finding says so
    HELD = "held"  # protected by a hold: the finding is HELD
    PROTECTED = "protected"  # outside the rule's scope: the finding is report-only (WARN)
    WAIT = "wait"  # not yet (due time, a dependency, a changed mark): the finding stays as it is


class Refusal(StrEnum):
    UNKNOWN_TARGET = "not in this run's inventory"
    OUTSIDE_ALLOWLIST = "outside the enforce allowlist"
    SCOPE_UNKNOWN = "its scope (subscription) is unknown"
    INCOMPLETE_INVENTORY = "its inventory is incomplete"
    TIMELINE_INCOMPLETE = "the release timeline is incomplete"
    HELD = "held"
    PROD_STAGE = "prod-stage: never deleted"
    RELEASE_NOT_COMPLETE = "its release is not complete"
    MANAGED_PARENT = "owned by a managed parent"
    MARK_CHANGED = "its mark changed since it was judged"
    NOT_DUE = "not due yet"
    NOT_NOTIFIED = "its owner has not been notified long enough before"
    DEPENDENCY = "kept for a dependency"
    CAP = "a safety cap aborted the run"

    @property
    def effect(self) -> Effect:
        if self is Refusal.HELD:
            return Effect.HELD
        if self in (Refusal.PROD_STAGE, Refusal.RELEASE_NOT_COMPLETE, Refusal.MANAGED_PARENT):
            return Effect.PROTECTED
        if self in (Refusal.NOT_DUE, Refusal.NOT_NOTIFIED, Refusal.DEPENDENCY, Refusal.MARK_CHANGED):
            return Effect.WAIT
        return Effect.BLOCKED


@dataclass(frozen=True)
class Decision:
    refusal: Refusal
    detail: str  # for people: what exactly, e.g. "subscription 2222... is not in enforce.allowed_subscriptions"
    hold: HoldMatch | None = None


@dataclass(frozen=True)
class NoticeIndex:
    """When each target's owner was first told of its deletion, and how long before a deletion that must be."""

    first_sent: Mapping[str, datetime]
    notify_before: timedelta

    def waiting(self, target: str, now: datetime) -> Decision | None:
        first = self.first_sent.get(target)
        if first is None:
            return Decision(Refusal.NOT_NOTIFIED, "its owner has not been notified yet (notifications)")
        ready = first + self.notify_before
        if ready > now:
            return Decision(
                Refusal.NOT_NOTIFIED,
                f"its owner was notified at {first:%Y-%m-%dT%H:%M:%SZ}; not before {ready:%Y-%m-%dT%H:%M:%SZ}",
            )
        return None


@dataclass(frozen=True)
class GateContext:
    now: datetime
    allowed: frozenset[Scope]
    incomplete_units: frozenset[str]
    timeline_complete: bool
    holds: HoldIndex
    completed_versions: frozenset[str]  # versions whose resources may be reaped (leftover grace passed)
    production_stage: str
    version_tag_key: str
    stage_tag_key: str
    known_versions: frozenset[str]
    notices: NoticeIndex | None = None  # None: notifications are not configured, deletions need no notice


def _deletes(action: Action) -> bool:
    return rule(action.rule).purpose is Purpose.DELETE


class Gate:
    def __init__(self, context: GateContext) -> None:
        self.context = context

    def check(self, action: Action, target: Target | None) -> Decision | None:
        """None when `action` may proceed on `target`; otherwise the first check that refuses it."""
        if target is None:
            return Decision(Refusal.UNKNOWN_TARGET, f"{action.subject.provider_name} is not in the inventory")
        refused = self._scope(action.scope, target)
        if refused is None and _deletes(action):
            refused = self.protection(target, action.subject, action.rule)
        if refused is None and action.kind is ActionKind.DELETE_RESOURCE and isinstance(target, AzureResource | Blob):
            refused = self._mark_unchanged(action, target)
        if refused is None and action.not_before is not None and action.not_before > self.context.now:
            refused = Decision(Refusal.NOT_DUE, f"due at {action.not_before:%Y-%m-%dT%H:%M:%SZ}")
        if refused is None and self.context.notices is not None and action.kind.deletes:
            refused = self.context.notices.waiting(action.target, self.context.now)
        return refused

    def _scope(self, scope: Scope | None, target: Target) -> Decision | None:
        ctx = self.context
        if scope is None:
            return Decision(Refusal.SCOPE_UNKNOWN, "the storage account's subscription could not be resolved")
        if scope not in ctx.allowed:
            setting = "allowed_orgs" if scope.is_github else "allowed_subscriptions"
            return Decision(Refusal.OUTSIDE_ALLOWLIST, f"{scope} is not in enforce.{setting}")
        if target.unit in ctx.incomplete_units:
            return Decision(Refusal.INCOMPLETE_INVENTORY, f"the inventory of {target.unit} is incomplete")
        if not ctx.timeline_complete and self._belongs_to_a_release(target):
            return Decision(Refusal.TIMELINE_INCOMPLETE, "the release timeline could not be read completely")
        return None

    def _belongs_to_a_release(self, target: Target) -> bool:
        if isinstance(target, ServiceAccount):
            return True
        ctx = self.context
        return read_release_tags(target.tags, ctx.version_tag_key, ctx.stage_tag_key, ctx.known_versions).tagged

    def deletable(self, target: AzureResource | Blob, rule_id: str) -> Decision | None:
        """Whether `target` could be deleted by `rule_id` in this run (a VM's dependent, checked on its own)."""
        return self._scope(target.scope, target) or self.protection(target, None, rule_id)

    def protection(self, target: Target, subject: Subject | None, rule_id: str) -> Decision | None:
        """Why a deleting rule may not touch `target` at all (a hold, the rule's scope), or None."""
        if rule(rule_id).purpose is not Purpose.DELETE:
            return None
        held = self.context.holds.match(target, subject)
        if held is not None:
            return Decision(Refusal.HELD, f"held: {held.description}", held)
        if isinstance(target, ServiceAccount):
            return None
        return self._release_scope(target)

    def _release_scope(self, target: AzureResource | Blob) -> Decision | None:
        ctx = self.context
        label = read_release_tags(target.tags, ctx.version_tag_key, ctx.stage_tag_key, ctx.known_versions)
        if label.stage == ctx.production_stage:
            return Decision(Refusal.PROD_STAGE, f"tagged with the {ctx.production_stage} stage: never deleted")
        if label.tagged and label.version is None:
            return Decision(Refusal.RELEASE_NOT_COMPLETE, f"{label.problem}: not known to be complete")
        if label.tagged and label.version not in ctx.completed_versions:
            return Decision(
                Refusal.RELEASE_NOT_COMPLETE,
                f"it belongs to {label.version}, which is not complete (in flight, or in production for less "
                "than reaper.leftover_grace)",
            )
        if isinstance(target, AzureResource) and target.managed_by:
            return Decision(Refusal.MANAGED_PARENT, f"owned by {target.managed_by}")
        return None

    @staticmethod
    def _mark_unchanged(action: Action, target: AzureResource | Blob) -> Decision | None:
        tag, judged = action.param("mark_tag"), action.param("mark")
        current = target.tags.value(tag) if tag else None
        if tag is None or judged is None or current != judged:
            return Decision(Refusal.MARK_CHANGED, f"its mark is now {current!r}, not the {judged!r} judged due")
        return None
