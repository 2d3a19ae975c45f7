"""What reaping rules share: the mark (planned deletion time) and the verdict of one candidate (pure).

Reaping is two-phase: a candidate without a valid mark gets a MARK action (the mark tag set to
`now + mark_grace`, ISO 8601 UTC); once the mark is due, a DELETE_RESOURCE action (not before the
due time). A mark that is not yet due asks for nothing. The rule only proposes: holds, the rule's
scope (prod stage, versions in flight, managed parents), the allowlist, dependencies and caps are
the engine's gate, which settles the finding's final wording and status.

Marks are read in two spellings: ours (`2026-12-03T08:00:00Z`) and Cloud Custodian's `mark-for-op`
message (`...: delete@2026/12/03 0800 UTC`), which earlier versions wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from custodian.model import (
    Action,
    ActionKind,
    Cost,
    Finding,
    ResourceKind,
    Scope,
    Severity,
    Status,
    Subject,
    Tags,
    Verdict,
)

#: the shortest grace between marking and deleting. A grace under a minute warns no one, and marks
#: in Cloud Custodian's spelling are read to the minute. One check (`mark_grace_problem`) serves the
#: configuration (`config validate`) and every part of a run (`ReapSettings`).
MIN_MARK_GRACE = timedelta(minutes=1)


def mark_grace_problem(grace: timedelta) -> str | None:
    """Why `grace` cannot be `reaper.mark_grace` (None: it can)."""
    if grace < MIN_MARK_GRACE:
        return f"must be at least 1m (a grace shorter than a minute warns no one), got {grace.total_seconds():g}s"
    return None


_C7N_MARK = re.compile(r"^\s*(\d{4})/(\d{1,2})/(\d{1,2})(?:\s+(\d{2})(\d{2}))?(?:\s+(\S+))?\s*$")


@dataclass(frozen=True)
class ReapSettings:
    mark_tag: str
    hold_tag: str
    mark_grace: timedelta
    leftover_grace: timedelta
    orphan_disk_min_age: timedelta
    stopped_vm_min_age: timedelta
    stale_blob_age: timedelta
    version_tag_key: str
    stage_tag_key: str
    stages: tuple[str, ...]

    def __post_init__(self) -> None:
        problem = mark_grace_problem(self.mark_grace)
        if problem:
            raise ValueError(f"reaper.mark_grace: {problem}")

    @property
    def production_stage(self) -> str:
        return self.stages[-1]

    @property
    def leftover_stages(self) -> tuple[str, ...]:
        return self.stages[:-1]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_mark(due: datetime, rule: str) -> str:
    """The mark tag's value: the planned deletion time (ISO 8601 UTC) and the rule, e.g. `2026-12-03T08:00:00Z L4`.

    Only characters blob index tags allow (letters, digits, space, `+ - . / : = _`).
    """
    return f"{iso(due)} {rule}"


def mark_rule(value: str | None) -> str | None:
    """The rule a mark of ours names (its second word), or None."""
    parts = (value or "").split()
    return parts[1] if len(parts) == 2 and parse_mark(parts[0]) is not None else None


def parse_mark(value: str | None) -> datetime | None:
    """A mark's due time (ours or c7n's mark-for-op spelling), or None when it is neither."""
    if not value:
        return None
    text = value.strip()
    if " " in text and "@" not in text:
        text = text.split()[0]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _parse_c7n_mark(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_c7n_mark(value: str) -> datetime | None:
    if ":" not in value or "@" not in value:
        return None
    action, _, when = value.rsplit(":", 1)[1].strip().partition("@")
    match = _C7N_MARK.match(when)
    if action != "delete" or match is None or (match.group(6) or "UTC").upper() not in ("UTC", "Z", "GMT"):
        return None
    year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups()[:5])
    try:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        return None


class MarkState(StrEnum):
    NONE = "not marked"
    UNREADABLE = "unreadable mark"
    SUPERSEDED = "mark older than the object"  # a blob rewritten after it was marked
    PENDING = "marked"
    DUE = "due"


@dataclass(frozen=True)
class Mark:
    state: MarkState
    raw: str | None = None
    due: datetime | None = None


def read_mark(tags: Tags, settings: ReapSettings, now: datetime, *, modified_at: datetime | None = None) -> Mark:
    """The object's mark; `modified_at` (a blob's last write) after the marking time voids it."""
    raw = tags.value(settings.mark_tag)
    if raw is None:
        return Mark(MarkState.NONE)
    due = parse_mark(raw)
    if due is None:
        return Mark(MarkState.UNREADABLE, raw)
    if modified_at is not None and modified_at > due - settings.mark_grace:
        return Mark(MarkState.SUPERSEDED, raw, due)
    return Mark(MarkState.DUE if due <= now else MarkState.PENDING, raw, due)


@dataclass(frozen=True)
class Candidate:
    """One object a reaping rule selected, described for its finding."""

    rule: str
    subject: Subject
    scope: Scope | None  # None: the storage account's subscription is unknown (the gate refuses)
    target_kind: ResourceKind
    target: str
    what: str  # what is wrong, e.g. "managed disk d1 of v0.0.1 qa remains although ..."
    evidence: Mapping[str, str | None]
    mark: Mark
    cost: Cost | None
    severity: Severity = Severity.LOW


def reap_verdict(candidate: Candidate, settings: ReapSettings, now: datetime) -> Verdict:
    """FAIL, and MARK or DELETE_RESOURCE as the mark says (the engine settles the rest)."""
    mark = candidate.mark
    evidence = dict(candidate.evidence) | {"mark": mark.raw, "deletion_due": iso(mark.due)}
    if mark.state is MarkState.PENDING:
        message = f"{candidate.what}; marked: deletion due at {iso(mark.due)}"
    elif mark.state is MarkState.DUE:
        message = f"{candidate.what}; marked: deletion due at {iso(mark.due)} (passed)"
    elif mark.state is MarkState.NONE:
        message = f"{candidate.what}; not marked"
    else:
        message = f"{candidate.what}; its mark {settings.mark_tag}={mark.raw!r} is void ({mark.state.value})"
    finding = Finding(
        candidate.rule,
        Status.FAIL,
        candidate.severity,
        candidate.subject,
        message,
        evidence,
        f"Delete it, or tag it with {settings.hold_tag} to keep it; enforce --apply marks it and deletes it "
        f"{duration_text(settings.mark_grace)} later.",
        candidate.cost,
    )
    actions: tuple[Action, ...] = ()
    if mark.state in (MarkState.NONE, MarkState.UNREADABLE, MarkState.SUPERSEDED):
        planned = format_mark(now + settings.mark_grace, candidate.rule)
        actions = (
            Action(
                ActionKind.MARK,
                candidate.subject,
                candidate.rule,
                f"mark for deletion at {iso(now + settings.mark_grace)} ({settings.mark_tag} tag)",
                candidate.scope,
                candidate.target_kind,
                candidate.target,
                params=(("mark_tag", settings.mark_tag), ("due", planned)),
            ),
        )
    elif mark.state is MarkState.DUE:
        assert mark.due is not None and mark.raw is not None
        actions = (
            Action(
                ActionKind.DELETE_RESOURCE,
                candidate.subject,
                candidate.rule,
                f"deletion was due at {iso(mark.due)}",
                candidate.scope,
                candidate.target_kind,
                candidate.target,
                not_before=mark.due,
                params=(("mark_tag", settings.mark_tag), ("mark", mark.raw)),
            ),
        )
    return Verdict(finding, candidate.target, actions)


def duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def age_text(now: datetime, since: datetime | None) -> str:
    if since is None:
        return "an unknown time"
    delta = now - since
    return f"{delta.days}d" if delta >= timedelta(days=1) else f"{int(delta.total_seconds() // 3600)}h"
