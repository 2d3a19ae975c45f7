"""The release timeline: when each stage of each version started, and its production deployments.

A stage starts when its tag appeared (never when the tagged commit was made): the evidence is an
annotated tag's tagger date, else the earliest of the custodian's first sighting of the tag, a
release naming it, or a deployment of it. `StageStart.evidence` says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class StartEvidence(StrEnum):
    TAGGER_DATE = "tagger date"  # an annotated tag's own date
    FIRST_SIGHTING = "first sighting"  # the custodian's first run that saw the (lightweight) tag
    RELEASE = "release"  # a published GitHub release naming the tag
    DEPLOYMENT = "deployment"  # a deployment of the tag (its creation time)


@dataclass(frozen=True)
class StageStart:
    """Stage `stage` of `version` started at `at`; `source` says what proved it, for people."""

    version: str
    stage: str
    at: datetime
    source: str  # e.g. "tag v0.0.1-uat (tagger date)", "release v0.0.1"
    evidence: StartEvidence = StartEvidence.TAGGER_DATE
    actor: str | None = None  # who made it, when the evidence says (a release's author): owners hear of it


@dataclass(frozen=True)
class DeploymentFact:
    """One production deployment of a version and its statuses (oldest first)."""

    version: str
    deployment_id: int
    environment: str
    created_at: datetime
    statuses: tuple[tuple[str, datetime], ...]

    @property
    def first_success_at(self) -> datetime | None:
        successes = [at for state, at in self.statuses if state == "success"]
        return min(successes) if successes else None


@dataclass(frozen=True)
class ReleaseTimeline:
    """What the repositories say about every version: stage starts and production deployments.

    Lookups are indexed once (a run asks per account and per resource: linear scans were quadratic).
    """

    stages: tuple[str, ...]
    starts: tuple[StageStart, ...] = ()
    deployments: tuple[DeploymentFact, ...] = ()
    _first_start: dict[tuple[str, str], StageStart] = field(init=False, repr=False, compare=False)
    _first_success: dict[str, DeploymentFact] = field(init=False, repr=False, compare=False)
    _author: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        first: dict[tuple[str, str], StageStart] = {}
        for start in self.starts:
            known = first.get((start.version, start.stage))
            if known is None or start.at < known.at:
                first[(start.version, start.stage)] = start
        success: dict[str, DeploymentFact] = {}
        for deployment in self.deployments:
            at = deployment.first_success_at
            if at is None:
                continue
            known_deployment = success.get(deployment.version)
            if known_deployment is None or at < (known_deployment.first_success_at or at):
                success[deployment.version] = deployment
        author: dict[str, tuple[datetime, str]] = {}
        for start in self.starts:
            earliest = author.get(start.version)
            if start.actor and (earliest is None or start.at < earliest[0]):
                author[start.version] = (start.at, start.actor)
        object.__setattr__(self, "_first_start", first)
        object.__setattr__(self, "_first_success", success)
        object.__setattr__(self, "_author", {version: actor for version, (_at, actor) in author.items()})

    def author(self, version: str) -> str | None:
        """Who released `version`: the actor of its earliest stage start that names one (a release's author)."""
        return self._author.get(version)

    def versions(self) -> frozenset[str]:
        return frozenset(s.version for s in self.starts) | frozenset(d.version for d in self.deployments)

    def stage_started(self, version: str, stage: str) -> StageStart | None:
        """The earliest evidence that `stage` of `version` started, or None."""
        return self._first_start.get((version, stage))

    def next_stage(self, stage: str) -> str | None:
        index = self.stages.index(stage)
        return self.stages[index + 1] if index + 1 < len(self.stages) else None

    @property
    def production_stage(self) -> str:
        return self.stages[-1]

    def prod_success(self, version: str) -> DeploymentFact | None:
        """The production deployment of `version` with the earliest `success` status, or None."""
        return self._first_success.get(version)

    def completed(self, version: str, grace: timedelta, now: datetime) -> bool:
        """Whether `version`'s first production success is at least `grace` before `now`."""
        deployment = self.prod_success(version)
        success = deployment.first_success_at if deployment is not None else None
        return success is not None and success + grace <= now
