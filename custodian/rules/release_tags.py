"""Reading the release tags of a resource or blob, the way the providers compare them (pure).

Tag keys compare case-insensitively (`Release-Version` is `release-version`); stage values compare
in lower case; a version value is resolved against the versions the timeline knows, in any letter
case and with dots or hyphens (`v0.0.1`, `V0.0.1`, `v0-0-1`); a value that matches several known
versions is ambiguous, one that matches none is unknown. Either way the resource counts as
belonging to a release that is not known to be complete: nothing deletes it.

`KnownVersions` indexes the known versions once per evaluation (by lower case, folded and
provider spelling), so resolving a tag or an account name is a dict lookup, not a scan of every
version: a run's rule evaluation stays linear in its inventory. It is a frozenset, so it goes
wherever the plain set of versions does; a plain set still works (scanned on each call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Self

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


def _hyphenated(text: str) -> str:
    return text.replace(".", "-")


def _grouped(versions: Iterable[str], spelling: Callable[[str], str]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, set[str]] = {}
    for version in versions:
        groups.setdefault(spelling(version), set()).add(version)
    return {spelled: tuple(sorted(names)) for spelled, names in groups.items()}


class KnownVersions(frozenset[str]):
    """The versions the timeline knows, indexed once: by lower case, folded (any case, dots or hyphens)
    and provider spelling (dots as hyphens, case kept)."""

    _lower: dict[str, tuple[str, ...]]
    _folded: dict[str, tuple[str, ...]]
    _hyphenated: dict[str, tuple[str, ...]]

    def __new__(cls, versions: Iterable[str] = ()) -> Self:
        known = super().__new__(cls, versions)
        known._lower = _grouped(known, str.lower)
        known._folded = _grouped(known, _fold)
        known._hyphenated = _grouped(known, _hyphenated)
        return known

    @classmethod
    def of(cls, versions: Iterable[str]) -> KnownVersions:
        """`versions` indexed (itself when it already is)."""
        return versions if isinstance(versions, KnownVersions) else cls(versions)

    def same_case_insensitively(self, text: str) -> tuple[str, ...]:
        return self._lower.get(text.lower(), ())

    def folded(self, text: str) -> tuple[str, ...]:
        """The versions that `text` names in any letter case, with dots or hyphens (sorted)."""
        return self._folded.get(_fold(text), ())

    def spelled_as(self, provider_token: str) -> tuple[str, ...]:
        """The versions whose provider spelling (dots as hyphens) is exactly `provider_token` (sorted)."""
        return self._hyphenated.get(provider_token, ())


def resolve_version(raw: str, known: Iterable[str]) -> tuple[str | None, str | None]:
    """(the known version `raw` names, None) or (None, why not)."""
    text = raw.strip()
    if isinstance(known, KnownVersions):
        exact, folded = known.same_case_insensitively(text), known.folded(text)
    else:  # a plain set: one scan (index it once with `KnownVersions` when resolving many)
        versions = tuple(known)
        exact = tuple(v for v in versions if v.lower() == text.lower())
        folded = tuple(sorted({v for v in versions if _fold(v) == _fold(text)}))
    if len(exact) == 1:
        return exact[0], None
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
