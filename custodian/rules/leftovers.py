"""Rule L4, release leftovers: once V is live in production, nothing of V's QA/UAT stages remains (pure).

A VM, disk, NIC, public IP, NSG or blob is a leftover when its stage tag names a non-production
stage and its version tag names a version whose first production success is at least
`reaper.leftover_grace` old. Tag keys are read in any letter case, stage values in lower case,
version values resolved against the known versions (dots or hyphens, any case, indexed once per
evaluation): see `release_tags`. Everything else about acting (holds, allowlist, dependencies, caps) is the engine's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from custodian.model import AzureResource, Blob, Cost, ReleaseTimeline, ResourceKind, Severity, Verdict
from custodian.rules.reaping import Candidate, ReapSettings, read_mark, reap_verdict
from custodian.rules.release_tags import KnownVersions, ReleaseLabel
from custodian.rules.resources import (
    blob_evidence,
    blob_subject,
    label_of,
    resource_evidence,
    resource_label,
    resource_subject,
)

L4 = "L4"


def completed_versions(timeline: ReleaseTimeline, settings: ReapSettings, now: datetime) -> frozenset[str]:
    """Versions whose production success is at least `leftover_grace` before `now`."""
    return frozenset(v for v in timeline.versions() if timeline.completed(v, settings.leftover_grace, now))


def is_leftover(label: ReleaseLabel, completed: frozenset[str], settings: ReapSettings) -> bool:
    return label.version in completed and label.stage in settings.leftover_stages


def _what(thing: str, label: ReleaseLabel) -> str:
    return (
        f"{thing} of {label.version} {label.stage} remains although {label.version} is live in production (L4 leftover)"
    )


def resource_leftovers(
    resources: Iterable[AzureResource],
    timeline: ReleaseTimeline,
    settings: ReapSettings,
    now: datetime,
    cost_of: Callable[[AzureResource], Cost | None],
) -> list[Verdict]:
    completed = completed_versions(timeline, settings, now)
    known = KnownVersions(timeline.versions())
    out = []
    for resource in resources:
        label = label_of(resource.tags, settings, known)
        if not is_leftover(label, completed, settings):
            continue
        candidate = Candidate(
            L4,
            resource_subject(resource, label),
            resource.scope,
            resource.kind,
            resource.key,
            _what(resource_label(resource), label),
            resource_evidence(resource),
            read_mark(resource.tags, settings, now),
            cost_of(resource),
            Severity.MEDIUM,
        )
        out.append(reap_verdict(candidate, settings, now))
    return out


def blob_is_leftover(blob: Blob, completed: frozenset[str], known: frozenset[str], settings: ReapSettings) -> bool:
    return is_leftover(label_of(blob.tags, settings, known), completed, settings)


def blob_leftover(
    blob: Blob,
    timeline: ReleaseTimeline,
    settings: ReapSettings,
    now: datetime,
    cost: Cost | None,
    *,
    known: KnownVersions | None = None,
) -> Verdict:
    """`known`: the timeline's versions indexed once by the caller (judging many blobs); else indexed here."""
    label = label_of(blob.tags, settings, known if known is not None else KnownVersions(timeline.versions()))
    candidate = Candidate(
        L4,
        blob_subject(blob, label),
        blob.scope,
        ResourceKind.BLOB,
        blob.key,
        _what(f"blob {blob.path}", label),
        blob_evidence(blob),
        read_mark(blob.tags, settings, now, modified_at=blob.last_modified),
        cost,
        Severity.MEDIUM,
    )
    return reap_verdict(candidate, settings, now)
