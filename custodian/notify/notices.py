"""What a run has to announce, and to whom: `Notice`s (one per target), batched per owner.

A notice is due for:
- every object this run marked for deletion (MARK done; in a dry run, planned): deletion at the
  mark's time, at the earliest `notify_before` from now;
- every deletion the gate made wait for a notice (`Refusal.NOT_NOTIFIED`) or that is not due yet
  (`Refusal.NOT_DUE`, e.g. an account whose retention has not passed): deletion at its due time,
  at the earliest `notify_before` from now.

Each notice says what (kind, name, where), why (the rule and its finding's message), when, what it
costs per month, and exactly how to keep it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from custodian.config.notifications import NotificationsConfig
from custodian.engine.gate import Decision, Refusal
from custodian.engine.holds import Target
from custodian.model import Action, ActionKind, ActionOutcome, ActionRecord, Cost, Finding, ServiceAccount, Subject
from custodian.notify.owners import owner_of
from custodian.rules.reaping import parse_mark

_WAITING_FOR_NOTICE = (Refusal.NOT_NOTIFIED, Refusal.NOT_DUE)


@dataclass(frozen=True)
class Notice:
    target: str  # the target's key
    subject: Subject
    rule: str
    why: str
    delete_at: datetime
    cost: Cost | None
    keep: tuple[str, ...]  # ways to keep it, each a command or a tag to set
    owner: str
    resolved_by: str  # how the owner was found, e.g. "tag owner", "default fallback"


@dataclass(frozen=True)
class Batch:
    """Everything one owner hears about in one run."""

    owner: str
    notices: tuple[Notice, ...]

    @property
    def monthly(self) -> dict[str, float]:
        sums: dict[str, float] = {}
        for notice in self.notices:
            if notice.cost is not None:
                sums[notice.cost.currency] = sums.get(notice.cost.currency, 0.0) + float(notice.cost.monthly)
        return sums


@dataclass(frozen=True)
class NoticeSettings:
    config: NotificationsConfig
    hold_tag: str | None  # the reaper's hold tag, when a reaper is configured
    release_repos: Sequence[str]
    release_authors: Mapping[str, str] = field(default_factory=dict)  # version -> who released it


def upcoming_deletions(
    records: Iterable[ActionRecord],
    waiting: Iterable[tuple[Action, Decision]],
    findings: Iterable[Finding],
    targets: Mapping[str, Target],
    now: datetime,
    settings: NoticeSettings,
) -> list[Notice]:
    """The notices this run owes (one per target; the earliest deletion time wins)."""
    earliest = now + settings.config.notify_before
    why = {(f.subject, f.rule): f for f in findings}  # a subject has a finding per rule (L3 and H1, ...)
    due: dict[str, tuple[Action, datetime]] = {}
    for record in records:
        if record.action.kind is ActionKind.MARK and record.outcome in (ActionOutcome.DONE, ActionOutcome.PLANNED):
            marked = parse_mark(record.action.param("due")) or earliest
            _keep_earliest(due, record.action, max(marked, earliest))
    for action, decision in waiting:
        if action.kind.deletes and decision.refusal in _WAITING_FOR_NOTICE:
            _keep_earliest(due, action, max(action.not_before or now, earliest))
    notices = []
    for key, (action, delete_at) in sorted(due.items()):
        target = targets.get(key)
        owner, resolved_by = owner_of(
            target,
            settings.config.owner_tag_keys,
            settings.config.fallback,
            settings.release_repos,
            release_author=settings.release_authors.get(action.subject.version or ""),
        )
        finding = why.get((action.subject, action.rule))
        notices.append(
            Notice(
                target=key,
                subject=action.subject,
                rule=action.rule,
                why=finding.message if finding is not None else action.reason,
                delete_at=delete_at,
                cost=finding.cost if finding is not None else None,
                keep=keep_instructions(action.subject, target, settings.hold_tag),
                owner=owner,
                resolved_by=resolved_by,
            )
        )
    return notices


def _keep_earliest(due: dict[str, tuple[Action, datetime]], action: Action, at: datetime) -> None:
    if action.target not in due or at < due[action.target][1]:
        due[action.target] = (action, at)


def keep_instructions(subject: Subject, target: Target | None, hold_tag: str | None) -> tuple[str, ...]:
    """Exactly how to keep it: a hold on the account or the version, or the hold tag on the object."""
    ways = []
    reason = '--reason "<why>" --by <you>'
    if isinstance(target, ServiceAccount):
        ways.append(f"release-custodian hold add --account {subject.logical_name or subject.provider_name} {reason}")
    if subject.version:
        ways.append(f"release-custodian hold add --version {subject.version} {reason}")
    if hold_tag and not isinstance(target, ServiceAccount):
        ways.append(f"set the tag {hold_tag}=<why> on it (a blob: the index tag)")
    return tuple(ways)


def batches(notices: Iterable[Notice]) -> list[Batch]:
    """One batch per owner (owners compared case-insensitively), notices soonest first."""
    grouped: dict[str, list[Notice]] = {}
    names: dict[str, str] = {}
    for notice in notices:
        folded = notice.owner.casefold()
        names.setdefault(folded, notice.owner)
        grouped.setdefault(folded, []).append(notice)
    return [
        Batch(names[k], tuple(sorted(v, key=lambda n: (n.delete_at, n.target)))) for k, v in sorted(grouped.items())
    ]
