"""Reading the release tags of a resource or blob, the way the providers compare them (pure).

Tag keys compare case-insensitively (`Release-Version` is `release-version`); stage values compare
in lower case; a version value is resolved against the versions the timeline knows, in any letter
case and with dots or hyphens (`v0.0.1`, `V0.0.1`, `v0-0-1`); a value that matches several known
versions is ambiguous, one that matches none is unknown. Either way the resource counts as
belonging to a release that is not known to be complete: nothing deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from custodian.model import Tags


@dataclass(frozen=True)
class ReleaseLabel:
    """What a resource's release tags say; `tagged` is True when either tag is present."""

    version_raw: str | None
    stage_raw: str | None
    version: str | None  # resolved against the known versions; None when unknown or ambiguous
    stage: str | None  # lower case; None when absent
    problem: str | None = None  # why the version could not be resolved

    @property
    def tagged(self) -> bool:
        return self.version_raw is not None or self.stage_raw is not None


def _fold(text: str) -> str:
    return text.strip().lower().replace(".", "-")


def resolve_version(raw: str, known: Iterable[str]) -> tuple[str | None, str | None]:
    """(the known version `raw` names, None) or (None, why not)."""
    text = raw.strip()
    exact = [v for v in known if v.lower() == text.lower()]
    if len(exact) == 1:
        return exact[0], None
    folded = sorted({v for v in known if _fold(v) == _fold(text)})
    if len(folded) == 1:
        return folded[0], None
    if folded:
        return None, f"version tag {raw!r} is ambiguous: it could name {', '.join(folded)}"
    return None, f"version tag {raw!r} names no version the release timeline knows"


def read_release_tags(tags: Tags, version_key: str, stage_key: str, known: Iterable[str]) -> ReleaseLabel:
    version_raw = tags.value(version_key)
    stage_raw = tags.value(stage_key)
    version, problem = (None, None)
    if version_raw is not None:
        version, problem = resolve_version(version_raw, known)
    elif stage_raw is not None:
        problem = f"stage tag {stage_raw!r} without a version tag"
    stage = stage_raw.strip().lower() if stage_raw is not None and stage_raw.strip() else None
    return ReleaseLabel(version_raw, stage_raw, version, stage, problem)
