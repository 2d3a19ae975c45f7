"""The release timeline from GitHub: stage tags with dates, releases, production deployments.

A stage starts when its tag exists; its date is the tagged commit's committer date (lightweight
tags carry none of their own), or a release's publication time for the last stage. A version's
production success is the first `success` status of any of its production deployments.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from github.GithubObject import NotSet

from custodian.model import DeploymentFact, StageStart
from custodian.providers.github.client import GithubSession

TagParser = Callable[[str], tuple[str, str] | None]  # tag -> (version, stage) or None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def collect_timeline(
    session: GithubSession, repo_name: str, environment: str, parse_tag: TagParser
) -> tuple[list[StageStart], list[DeploymentFact]]:
    """Read one repository's tags, releases and production deployments (paging followed)."""
    repo = session.github.get_repo(repo_name, lazy=True)
    starts: list[StageStart] = []
    commit_dates: dict[str, datetime] = {}
    tags_by_sha: dict[str, list[tuple[str, str]]] = {}
    for tag in repo.get_tags():
        parsed = parse_tag(tag.name)
        if parsed is None:
            continue
        sha = tag.commit.sha
        tags_by_sha.setdefault(sha, []).append(parsed)
        if sha not in commit_dates:
            commit = repo.get_commit(sha)
            commit_dates[sha] = _utc(commit.commit.committer.date)
        version, stage = parsed
        starts.append(StageStart(version, stage, commit_dates[sha], f"tag {tag.name} (commit {sha[:7]})"))
    for release in repo.get_releases():
        if release.draft:
            continue
        parsed = parse_tag(release.tag_name)
        if parsed is None:
            continue
        when = release.published_at or release.created_at
        starts.append(StageStart(parsed[0], parsed[1], _utc(when), f"release {release.tag_name}"))

    deployments: list[DeploymentFact] = []
    for deployment in repo.get_deployments(environment=environment if environment else NotSet):
        deployed = _deployment_version(deployment.ref, deployment.sha, parse_tag, tags_by_sha)
        if deployed is None:
            continue
        statuses = sorted(((s.state, _utc(s.created_at)) for s in deployment.get_statuses()), key=lambda s: s[1])
        deployments.append(
            DeploymentFact(
                deployed, deployment.id, deployment.environment, _utc(deployment.created_at), tuple(statuses)
            )
        )
    return starts, deployments


def _deployment_version(
    ref: str, sha: str, parse_tag: TagParser, tags_by_sha: dict[str, list[tuple[str, str]]]
) -> str | None:
    parsed = parse_tag(ref)
    if parsed is not None:
        return parsed[0]
    versions = {version for version, _ in tags_by_sha.get(sha, [])}
    return versions.pop() if len(versions) == 1 else None
