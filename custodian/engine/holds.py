"""Which hold protects a target: the ledger's holds (version, account) and the hold tag (resources, blobs).

Holds bar deletion (and marking for deletion) of what they protect; they never stop revocation.
A version hold protects every object of the version: its accounts, and its resources and blobs
(by their version tag, resolved the way the release rules resolve it). The hold tag's key is
compared in any letter case, on ARM resources and blobs alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from custodian.model import AzureResource, Blob, Hold, HoldTarget, ServiceAccount, Subject, Tags
from custodian.rules.lifecycle import iso
from custodian.rules.release_tags import KnownVersions, read_release_tags

Target = ServiceAccount | AzureResource | Blob


@dataclass(frozen=True)
class HoldMatch:
    """A hold that protects a target: a ledger hold, or the hold tag."""

    description: str  # e.g. "hold H-1a2b by alice until 2026-12-03T08:00:00Z: CAB-123", "tag custodian-hold='x'"
    evidence: tuple[tuple[str, str | None], ...]
    hold: Hold | None = None


@dataclass(frozen=True)
class HoldIndex:
    holds: tuple[Hold, ...]  # every hold; only those active at `now` protect
    now: datetime
    hold_tag: str | None
    version_tag_key: str
    stage_tag_key: str
    known_versions: frozenset[str]

    @classmethod
    def build(
        cls,
        holds: Sequence[Hold],
        now: datetime,
        *,
        hold_tag: str | None,
        version_tag_key: str,
        stage_tag_key: str,
        known_versions: Iterable[str],
    ) -> HoldIndex:
        active = tuple(h for h in holds if h.active_at(now))
        return cls(active, now, hold_tag, version_tag_key, stage_tag_key, KnownVersions.of(known_versions))

    def match(self, target: Target | None, subject: Subject | None) -> HoldMatch | None:
        """The hold protecting `target` (described by `subject`), or None."""
        if isinstance(target, AzureResource | Blob):
            tagged = self._tag(target.tags)
            if tagged is not None:
                return tagged
            label = read_release_tags(target.tags, self.version_tag_key, self.stage_tag_key, self.known_versions)
            return self._ledger(label.version, ())
        if subject is None:
            return None
        names = tuple(n for n in (subject.logical_name, subject.provider_name) if n)
        return self._ledger(subject.version, names)

    def _tag(self, tags: Tags) -> HoldMatch | None:
        if self.hold_tag is None or self.hold_tag not in tags:
            return None
        key = tags.key_as_written(self.hold_tag) or self.hold_tag
        value = tags.value(self.hold_tag)
        return HoldMatch(f"the hold tag {key}={value!r}", (("hold", f"{key}={value}"),))

    def _ledger(self, version: str | None, names: tuple[str, ...]) -> HoldMatch | None:
        for hold in self.holds:
            if hold.target_type is HoldTarget.VERSION and version is not None and hold.target == version:
                return _of(hold)
            if hold.target_type is HoldTarget.ACCOUNT and hold.target in names:
                return _of(hold)
        return None


def _of(hold: Hold) -> HoldMatch:
    return HoldMatch(
        f"hold {hold.hold_id} by {hold.placed_by} until {iso(hold.until)}: {hold.reason}",
        (
            ("hold_id", hold.hold_id),
            ("hold_by", hold.placed_by),
            ("hold_reason", hold.reason),
            ("hold_until", iso(hold.until)),
        ),
        hold,
    )
