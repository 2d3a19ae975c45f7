"""One version's release timeline from GitHub, in a handful of calls (an event's version-scoped run).

The same start evidence as the repository-wide timeline (`timeline.py`), read for one version only:

- its stage tags: one `GET git/matching-refs/tags/<prefix>` where `prefix` is the common start of
  the version's tag names (`v0.0.3` for `v0.0.3-qa`, `v0.0.3-uat`, `v0.0.3`: other versions that
  share the prefix, `v0.0.30`, are dropped by the tag parser); when the names share no prefix, one
  `GET git/ref/tags/<name>` per stage (404: the tag does not exist);
- an annotated tag's tagger date: `GET git/tags/{sha}` (kept in the `GithubCache`: a tag object never
  changes), the stage's start; otherwise the earliest of the first sighting (the caller's, from the
  ledger), a published release naming the tag and a deployment of the tag;
- releases: `GET releases/tags/<tag>` for each lightweight tag (start evidence) and for the last
  stage's tag (who released the version); 404: no release;
- deployments: `GET deployments?ref=<tag>` for each stage tag found (GitHub's `ref` filter matches
  the ref the deployment was created with); any environment is start evidence, those whose
  environment is the production one (compared case-insensitively, as GitHub does) are the version's
  production deployments, with their statuses (`GET deployments/{id}/statuses`, kept once a success).

A deployment created with a commit sha or a branch as its ref is not found here: the repository-wide
timeline attributes it (when the sha is tagged by one version only), and the scheduled run acts on it.
Every read goes through `GithubSession` (conditional when the session has a cache); a failure raises,
and the caller turns it into a collection error for the timeline (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from github import UnknownObjectException

from custodian.model import DeploymentFact, StageStart, StartEvidence
from custodian.providers.github.accounts import parse_time
from custodian.providers.github.cache import DEPLOYMENT_STATUSES, TAG_OBJECT
from custodian.providers.github.client import GithubSession
from custodian.providers.github.timeline import Sightings, StageTag, TagParser

_TAG_REF_PREFIX = "refs/tags/"
_MAX_TAG_NESTING = 5
#: (stage, when, source, kind[, actor]): one piece of evidence that a stage of the version started
Offer = Callable[..., None]


@dataclass(frozen=True)
class VersionTags:
    """The tag name of each stage of one version (`{"qa": "v0.0.3-qa", ..., "prod": "v0.0.3"}`)."""

    version: str
    by_stage: Mapping[str, str]

    @property
    def prefix(self) -> str:
        """What every tag name of the version starts with ('' when they share nothing)."""
        names = list(self.by_stage.values())
        shortest = min(names, key=len, default="")
        for index, char in enumerate(shortest):
            if any(name[index] != char for name in names):
                return shortest[:index]
        return shortest


def _time(text: Any, what: str) -> datetime:
    when = parse_time(str(text)) if text else None
    if when is None:
        raise ValueError(f"{what}: no timestamp in GitHub's answer")
    return when


def _get_or_none(session: GithubSession, path: str) -> Any:
    try:
        return session.get_json(path)
    except UnknownObjectException:
        return None


class VersionTimelineReader:
    """Reads one version's stage starts and production deployments from one repository."""

    def __init__(self, session: GithubSession, repo: str, production_environment: str, parse_tag: TagParser) -> None:
        self.session = session
        self.repo = repo
        self.api = f"/repos/{repo}"
        self.wanted = production_environment.lower()
        self.parse_tag = parse_tag

    def read(
        self, tags: VersionTags, first_sightings: Sightings, now: datetime
    ) -> tuple[list[StageStart], list[DeploymentFact]]:
        found = self.stage_tags(tags)
        sightings = first_sightings([tag.name for tag in found])
        evidence: dict[tuple[str, str], list[StageStart]] = {}

        def offer(stage: str, at: datetime, source: str, kind: StartEvidence, actor: str | None = None) -> None:
            evidence.setdefault((tags.version, stage), []).append(
                StageStart(tags.version, stage, at, source, kind, actor)
            )

        last_stage = list(tags.by_stage)[-1]
        for tag in found:
            if tag.tagger_date is None or tag.stage == last_stage:
                release = _get_or_none(self.session, f"{self.api}/releases/tags/{quote(tag.name, safe='')}")
                if isinstance(release, dict) and not release.get("draft"):
                    when = _time(release.get("published_at") or release.get("created_at"), f"release {tag.name}")
                    author = (release.get("author") or {}).get("login")
                    offer(tag.stage, when, f"release {tag.name}", StartEvidence.RELEASE, author)
        deployments = self._deployments(found, offer)
        starts: list[StageStart] = []
        for tag in found:
            key = (tag.version, tag.stage)
            if tag.tagger_date is not None:
                actor = next((s.actor for s in evidence.pop(key, []) if s.actor), None)
                source = f"tag {tag.name} (tagger date)"
                starts.append(StageStart(tag.version, tag.stage, tag.tagger_date, source, actor=actor))
                continue
            seen = sightings.get(tag.name, now)
            seen = seen.replace(tzinfo=UTC) if seen.tzinfo is None else seen.astimezone(UTC)
            source = f"tag {tag.name} (first seen by the custodian)"
            offer(tag.stage, seen, source, StartEvidence.FIRST_SIGHTING)
        for offered in evidence.values():
            actor = next((s.actor for s in offered if s.actor), None)
            starts.append(replace(min(offered, key=lambda s: s.at), actor=actor))
        return starts, deployments

    # -- tags ------------------------------------------------------------------------------------------

    def stage_tags(self, tags: VersionTags) -> list[StageTag]:
        """The version's stage tags that exist, each peeled to its commit (annotated: with its tagger date)."""
        refs: list[dict[str, Any]] = []
        if tags.prefix:
            listed = self.session.paged(f"{self.api}/git/matching-refs/tags/{quote(tags.prefix, safe='')}")
            refs = [ref for ref in listed if isinstance(ref, dict)]
        else:
            for name in tags.by_stage.values():
                ref = _get_or_none(self.session, f"{self.api}/git/ref/tags/{quote(name, safe='')}")
                if isinstance(ref, dict):
                    refs.append(ref)
        cache = self.session.cache
        kept: list[tuple[str, str, str, str]] = []  # name, stage, object sha, object type
        for ref in refs:
            full = str(ref.get("ref", ""))
            name = full.removeprefix(_TAG_REF_PREFIX)
            parsed = self.parse_tag(name) if full.startswith(_TAG_REF_PREFIX) else None
            if parsed is None or parsed[0] != tags.version or tags.by_stage.get(parsed[1]) != name:
                continue
            target = ref.get("object") or {}
            kept.append((name, parsed[1], str(target["sha"]), str(target.get("type", "commit"))))
        keys = [f"{self.repo}|{sha}" for _, _, sha, kind in kept if kind == "tag"]
        known = cache.facts(TAG_OBJECT, keys) if cache is not None and keys else {}
        new: dict[str, dict[str, str | None]] = {}
        out: list[StageTag] = []
        for name, stage, sha, kind in kept:
            commit, tagger_date = sha, None
            key = f"{self.repo}|{sha}"
            if kind == "tag" and key in known:
                commit = str(known[key]["commit_sha"])
                tagger_date = parse_time(known[key]["tagger_date"])
            elif kind == "tag":
                commit, tagger_date = self._peel(sha)
                new[key] = {"commit_sha": commit, "tagger_date": tagger_date.isoformat() if tagger_date else None}
            out.append(StageTag(name, tags.version, stage, commit, tagger_date))
        if cache is not None and new:
            cache.record(TAG_OBJECT, new)
        return out

    def _peel(self, sha: str) -> tuple[str, datetime | None]:
        tag = self.session.get_json(f"{self.api}/git/tags/{sha}")
        tagger_date = parse_time((tag.get("tagger") or {}).get("date"))
        target = tag.get("object") or {}
        for _ in range(_MAX_TAG_NESTING):
            if target.get("type") != "tag":
                break
            target = (self.session.get_json(f"{self.api}/git/tags/{target['sha']}").get("object")) or {}
        return str(target["sha"]), tagger_date

    # -- deployments -----------------------------------------------------------------------------------

    def _deployments(self, found: Sequence[StageTag], offer: Offer) -> list[DeploymentFact]:
        production: list[tuple[str, dict[str, Any]]] = []
        for tag in found:
            for deployment in self.session.paged(f"{self.api}/deployments", {"ref": tag.name}):
                if str(deployment.get("ref")) != tag.name:
                    continue  # the filter is the server's: keep only what it was asked for
                environment = str(deployment.get("environment") or "")
                created = _time(deployment.get("created_at"), f"deployment {deployment.get('id')}")
                source = f"deployment {deployment['id']} of {tag.name} ({environment or 'no environment'})"
                offer(tag.stage, created, source, StartEvidence.DEPLOYMENT)
                if not self.wanted or environment.lower() == self.wanted:
                    production.append((tag.version, deployment))
        cache = self.session.cache
        keys = [f"{self.repo}|{d['id']}" for _, d in production]
        known = cache.facts(DEPLOYMENT_STATUSES, keys) if cache is not None and keys else {}
        final: dict[str, list[list[str]]] = {}
        facts: list[DeploymentFact] = []
        for version, deployment in production:
            key = f"{self.repo}|{deployment['id']}"
            if key in known:
                statuses = [(str(state), _time(at, key)) for state, at in known[key]]
            else:
                listed = self.session.paged(f"{self.api}/deployments/{deployment['id']}/statuses")
                statuses = sorted(
                    ((str(s["state"]), _time(s.get("created_at"), key)) for s in listed), key=lambda s: s[1]
                )
                if any(state == "success" for state, _ in statuses):
                    final[key] = [[state, at.isoformat()] for state, at in statuses]
            created = _time(deployment.get("created_at"), key)
            environment = str(deployment.get("environment") or "")
            facts.append(DeploymentFact(version, int(deployment["id"]), environment, created, tuple(statuses)))
        if cache is not None and final:
            cache.record(DEPLOYMENT_STATUSES, final)
        return facts
