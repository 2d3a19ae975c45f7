"""The release timeline from GitHub: when each stage's tag appeared, and the production deployments.

A stage starts when its tag appeared, never when the tagged commit was made (a tag pushed today on
a ten-day-old commit starts its stage today). The evidence, in order:

- an annotated tag's tagger date (`StartEvidence.TAGGER_DATE`);
- otherwise the earliest of: the custodian's first sighting of the tag (`FIRST_SIGHTING`, kept by
  the caller, e.g. in the ledger), a published release naming the tag (`RELEASE`), a deployment
  whose ref is the tag, to any environment (`DEPLOYMENT`, its creation time).

One `StageStart` is produced per (version, stage). API calls per repository: one paged listing of
the tag refs (`git/matching-refs/tags`, which says whether a tag is annotated), one `git/tags/{sha}`
per annotated stage tag, one paged listing each of releases and deployments, and one paged listing
of statuses per production deployment. Deployments are listed unfiltered and their environment is
compared case-insensitively with the production environment's name, as GitHub compares them. A
version's production success is the first `success` status of any of its production deployments.

With the session's `GithubCache` (a run with a ledger), what never changes is read once: an annotated
tag object's commit and tagger date (keyed by the tag object's sha, so a re-tag, a new object, is
read again) and a production deployment's statuses once one is a success (a deployment without a
success yet is read again next run). A steady-state run then costs the paged listings only.
The tag refs listing goes through the caller's `ListingCheck` (a shrunken listing is read twice).

With `github.api: graphql` (the default) the three listings are GraphQL queries instead
(`custodian.providers.github.graphql`: a tag's tagger date and a deployment's statuses come in the
same pages, so no per-item reads and no facts are needed); the evidence rules above are the same.
A server whose schema lacks a field is read over REST; a GraphQL error is a COLLECT error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from github.Deployment import Deployment
from github.GitRelease import GitRelease
from github.GitTag import GitTag
from github.Repository import Repository

from custodian.model import DeploymentFact, StageStart, StartEvidence
from custodian.providers.github.cache import DEPLOYMENT_STATUSES, TAG_OBJECT, GithubCache
from custodian.providers.github.client import GithubSession
from custodian.providers.github.graphql import ListedDeployment, ListedRelease, TimelineListing, listing_or_rest
from custodian.providers.paging import ListingCheck, github_items, unchecked

TagParser = Callable[[str], tuple[str, str] | None]  # tag -> (version, stage) or None
#: stage tag names -> when the custodian first saw each (recording the ones not seen before)
Sightings = Callable[[Sequence[str]], Mapping[str, datetime]]

_TAG_REF_PREFIX = "refs/tags/"
_MAX_TAG_NESTING = 5  # an annotated tag may name another tag object; follow a few, as git does


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class StageTag:
    """A stage tag as listed: its commit, and its tagger date when it is annotated (and dated)."""

    name: str
    version: str
    stage: str
    commit_sha: str
    tagger_date: datetime | None


def collect_timeline(
    session: GithubSession,
    repo_name: str,
    production_environment: str,
    parse_tag: TagParser,
    first_sightings: Sightings,
    now: datetime,
    check: ListingCheck = unchecked,
) -> tuple[list[StageStart], list[DeploymentFact]]:
    """Read one repository's stage tags, releases and deployments (paging followed).

    `first_sightings` is called once with the names of the stage tags found; a tag it leaves out
    counts as first seen at `now`.
    """
    repo = session.github.get_repo(repo_name, lazy=True)
    cache = session.cache
    listing = listing_or_rest(session, repo, repo_name, check)  # None: over REST
    tags = (
        _listed_tags(repo, listing, parse_tag) if listing else list_stage_tags(repo, parse_tag, cache, repo_name, check)
    )
    sightings = first_sightings([tag.name for tag in tags])
    evidence: dict[tuple[str, str], list[StageStart]] = {}

    def offer(
        version: str, stage: str, at: datetime, source: str, kind: StartEvidence, actor: str | None = None
    ) -> None:
        evidence.setdefault((version, stage), []).append(StageStart(version, stage, _utc(at), source, kind, actor))

    releases: Iterable[GitRelease | ListedRelease] = (
        listing.releases if listing else github_items(repo.get_releases(), f"releases of {repo_name}")
    )
    for release in releases:
        parsed = parse_tag(release.tag_name)
        if release.draft or parsed is None:
            continue
        when = release.published_at or release.created_at
        # the author as the list's JSON gives it: `raw_data` would complete the object (a GET per release)
        user = None if isinstance(release, ListedRelease) else release.author
        author = release.author if isinstance(release, ListedRelease) else (user.login if user is not None else None)
        offer(*parsed, when, f"release {release.tag_name}", StartEvidence.RELEASE, author)

    tags_by_sha: dict[str, list[tuple[str, str]]] = {}
    for tag in tags:
        tags_by_sha.setdefault(tag.commit_sha, []).append((tag.version, tag.stage))
    wanted = production_environment.lower()
    deployments: list[DeploymentFact] = []
    production: list[tuple[str, Deployment | ListedDeployment]] = []
    all_deployments: Iterable[Deployment | ListedDeployment] = (
        listing.deployments if listing else github_items(repo.get_deployments(), f"deployments of {repo_name}")
    )
    for deployment in all_deployments:
        environment = deployment.environment or ""
        parsed = parse_tag(deployment.ref)
        if parsed is not None:
            source = f"deployment {deployment.id} of {deployment.ref} ({environment or 'no environment'})"
            offer(*parsed, deployment.created_at, source, StartEvidence.DEPLOYMENT)
        if wanted and environment.lower() != wanted:
            continue
        deployed = _deployment_version(deployment.ref, deployment.sha, parse_tag, tags_by_sha)
        if deployed is not None:
            production.append((deployed, deployment))
    known = (
        cache.facts(DEPLOYMENT_STATUSES, [f"{repo_name}|{d.id}" for _, d in production])
        if cache is not None and listing is None
        else {}
    )
    final: dict[str, list[list[str]]] = {}
    for deployed, deployment in production:
        fact_key = f"{repo_name}|{deployment.id}"
        if fact_key in known:  # it succeeded when it was recorded: its first success is final
            statuses = [(str(state), _parse(str(at))) for state, at in known[fact_key]]
        elif isinstance(deployment, ListedDeployment):  # in the GraphQL page already
            statuses = list(deployment.statuses)
        else:
            listed = github_items(deployment.get_statuses(), f"statuses of deployment {deployment.id} of {repo_name}")
            statuses = sorted(((s.state, _utc(s.created_at)) for s in listed), key=lambda s: s[1])
            if any(state == "success" for state, _ in statuses):
                final[fact_key] = [[state, at.isoformat()] for state, at in statuses]
        deployments.append(
            DeploymentFact(
                deployed, deployment.id, environment_of(deployment), _utc(deployment.created_at), tuple(statuses)
            )
        )
    if cache is not None:
        cache.record(DEPLOYMENT_STATUSES, final)

    starts: list[StageStart] = []
    for tag in tags:
        key = (tag.version, tag.stage)
        if tag.tagger_date is not None:
            actor = _actor(evidence.pop(key, []))
            starts.append(
                StageStart(tag.version, tag.stage, tag.tagger_date, f"tag {tag.name} (tagger date)", actor=actor)
            )
            continue
        seen = _utc(sightings.get(tag.name, now))
        offer(
            tag.version, tag.stage, seen, f"tag {tag.name} (first seen by the custodian)", StartEvidence.FIRST_SIGHTING
        )
    # the earliest of the other evidence; a stage with a release or deployment but no listed tag counts too
    # (who released it, when a release says, is kept whichever evidence is the earliest)
    starts += [replace(min(offered, key=lambda s: s.at), actor=_actor(offered)) for offered in evidence.values()]
    return starts, deployments


def _listed_tags(repo: Repository, listing: TimelineListing, parse_tag: TagParser) -> list[StageTag]:
    """The stage tags of a GraphQL listing (a tag object naming another tag object is peeled over REST)."""
    tags: list[StageTag] = []
    for tag in listing.tags:
        parsed = parse_tag(tag.name)
        if parsed is not None:
            commit = tag.commit_sha or _peel(repo, repo.get_git_tag(tag.object_sha))[0]
            tags.append(StageTag(tag.name, *parsed, commit, tag.tagger_date))
    return tags


def _actor(offered: list[StageStart]) -> str | None:
    return next((s.actor for s in offered if s.actor), None)


def list_stage_tags(
    repo: Repository,
    parse_tag: TagParser,
    cache: GithubCache | None = None,
    repo_name: str = "",
    check: ListingCheck = unchecked,
) -> list[StageTag]:
    """The repository's stage tags, from one paged refs listing and one GET per annotated tag not
    read before (a tag object never changes: with a cache, its commit and tagger date are kept)."""
    repo_name = repo_name or repo.full_name
    listed: list[tuple[str, tuple[str, str], str, str]] = []  # name, (version, stage), target sha, type
    what = f"tags of {repo_name}"
    refs = check("tags", what, lambda: list(github_items(repo.get_git_matching_refs("tags"), what)), lambda r: r.ref)
    for ref in refs:
        name = ref.ref.removeprefix(_TAG_REF_PREFIX)
        parsed = parse_tag(name) if ref.ref.startswith(_TAG_REF_PREFIX) else None
        if parsed is not None:
            listed.append((name, parsed, ref.object.sha, ref.object.type))
    objects = [f"{repo_name}|{sha}" for _, _, sha, kind in listed if kind == "tag"]
    known = cache.facts(TAG_OBJECT, objects) if cache is not None and objects else {}
    new: dict[str, dict[str, str | None]] = {}
    tags: list[StageTag] = []
    for name, (version, stage), sha, kind in listed:
        commit_sha, tagger_date = sha, None
        key = f"{repo_name}|{sha}"
        if kind == "tag" and key in known:
            commit_sha = str(known[key]["commit_sha"])
            tagger_date = _parse(known[key]["tagger_date"]) if known[key]["tagger_date"] else None
        elif kind == "tag":
            commit_sha, tagger_date = _peel(repo, repo.get_git_tag(sha))
            new[key] = {"commit_sha": commit_sha, "tagger_date": tagger_date.isoformat() if tagger_date else None}
        tags.append(StageTag(name, version, stage, commit_sha, tagger_date))
    if cache is not None:
        cache.record(TAG_OBJECT, new)
    return tags


def _parse(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text))


def environment_of(deployment: Deployment | ListedDeployment) -> str:
    return deployment.environment or ""


def _peel(repo: Repository, tag: GitTag) -> tuple[str, datetime | None]:
    """The commit an annotated tag names (through nested tag objects) and the tag's own tagger date."""
    tagger = tag.tagger
    tagger_date = _utc(tagger.date) if tagger is not None and tagger.date is not None else None
    target = tag.object
    for _ in range(_MAX_TAG_NESTING):
        if target.type != "tag":
            break
        target = repo.get_git_tag(target.sha).object
    return target.sha, tagger_date


def _deployment_version(
    ref: str, sha: str, parse_tag: TagParser, tags_by_sha: dict[str, list[tuple[str, str]]]
) -> str | None:
    parsed = parse_tag(ref)
    if parsed is not None:
        return parsed[0]
    versions = {version for version, _ in tags_by_sha.get(sha, [])}
    return versions.pop() if len(versions) == 1 else None
