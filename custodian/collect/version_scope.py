"""Collecting one version only (an event's hand-off run): its timeline and its accounts, read by name.

A version-scoped run (`RunRequest.version`) reads, instead of the whole inventory:

- per release repository, the version's stage tags, releases and deployments
  (`providers.github.version_reads`: a constant number of calls, whatever the number of versions);
- per stage, the GitHub machine account named by the account template (`GET /users/{login}` and its
  keys; in organization mode its membership and PAT grants too: `GithubAccountReader.get`);
- per registry, the ACR token the template names for that registry's stage (`azure.registries[].stage`):
  one `GET` each.

Completeness is kept per unit, as for a full inventory: an account that is not there by its name
(404) is absent (nothing to judge, nothing to act on), never unknown; a read that fails is a
`CollectionError` for its unit (the timeline, the GitHub org, that registry), an ERROR finding that
blocks every action on the unit, so a failed tag read leaves the version's accounts untouched.
An account of the version kept somewhere its name does not say (a token in another stage's
registry) is not read here; the scheduled run's full inventory finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from custodian.collect.accounts import InventorySources, sightings_for
from custodian.config import Config
from custodian.errors import describe_error
from custodian.model import (
    TIMELINE_UNIT,
    AccountKind,
    CollectionError,
    DeploymentFact,
    Inventory,
    Provider,
    ReleaseTimeline,
    ServiceAccount,
    StageStart,
)
from custodian.progress import NullProgress, Progress
from custodian.providers.github.accounts import GithubAccountReader, org_scope
from custodian.providers.github.version_reads import VersionTags, VersionTimelineReader
from custodian.rules.naming import AccountNamer


@dataclass(frozen=True)
class VersionScope:
    """What a version-scoped collection reads: the version's tag names, and each registry's stage."""

    tags: VersionTags
    registry_stages: tuple[str, ...]  # the stage of each of `InventorySources.registries`, in order

    @property
    def version(self) -> str:
        return self.tags.version


def version_scope(config: Config, version: str) -> VersionScope:
    """The tag names of `version` (`naming.stage_tag`; `naming.prod_tag` for the last stage), the registries' stages."""
    stages = list(config.stages)
    names = {stage: config.naming.stage_tag.format(version=version, stage=stage) for stage in stages[:-1]}
    names[stages[-1]] = config.naming.prod_tag.format(version=version)
    return VersionScope(VersionTags(version, names), tuple(r.stage for r in config.azure.registries))


def collect_version(
    sources: InventorySources,
    namer: AccountNamer,
    scope: VersionScope,
    now: datetime,
    progress: Progress | None = None,
    *,
    first_sightings: Callable[[str, Sequence[str]], Mapping[str, datetime]] | None = None,
) -> Inventory:
    """The timeline and the accounts of `scope.version` only (see the module docstring)."""
    progress = progress or NullProgress()
    version = scope.version
    progress.begin("collecting", len(sources.release_repos) + 1 + len(sources.registries))
    errors: list[CollectionError] = []
    starts: list[StageStart] = []
    deployments: list[DeploymentFact] = []

    def parse_tag(tag: str) -> tuple[str, str] | None:
        match = namer.parse_tag(tag)
        return (match.version, match.stage) if match else None

    for repo in sources.release_repos:
        sightings = sightings_for(repo, first_sightings, now)
        reader = VersionTimelineReader(sources.github, repo, sources.production_environment, parse_tag)
        try:
            repo_starts, repo_deployments = reader.read(scope.tags, sightings, now)
        except Exception as exc:  # noqa: BLE001 - becomes an ERROR finding that blocks the version's actions
            errors.append(CollectionError(Provider.GITHUB, TIMELINE_UNIT, f"{repo} ({version}): {describe_error(exc)}"))
        else:
            starts += repo_starts
            deployments += repo_deployments
        progress.advance(f"timeline {repo} ({version})")

    accounts: list[ServiceAccount] = []
    unit = org_scope(sources.github.settings.org)
    try:
        accounts += _github_accounts(sources, namer, version)
    except Exception as exc:  # noqa: BLE001 - becomes an ERROR finding for the org
        errors.append(CollectionError(Provider.GITHUB, unit, f"{version}: {describe_error(exc)}"))
    progress.advance(f"accounts {unit} ({version})")

    for registry, stage in zip(sources.registries, scope.registry_stages, strict=True):
        name = namer.provider_name(version, stage, AccountKind.ACR)
        try:
            token = registry.get(name)  # None: no such token (absent, not unknown)
        except Exception as exc:  # noqa: BLE001 - becomes an ERROR finding for this registry
            errors.append(CollectionError(Provider.AZURE, registry.scope, f"{name}: {describe_error(exc)}"))
        else:
            if token is not None:
                accounts.append(token)
        progress.advance(f"tokens {registry.registry} ({version})")

    timeline = ReleaseTimeline(namer.stages, tuple(starts), tuple(deployments))
    return Inventory(now, timeline, tuple(accounts), errors=tuple(errors))


def _github_accounts(sources: InventorySources, namer: AccountNamer, version: str) -> list[ServiceAccount]:
    """The version's machine account of each stage that exists (a failed read raises: the org is incomplete)."""
    reader = GithubAccountReader(sources.github, sources.github_mode)
    found = []
    for stage in namer.stages:
        account = reader.get(namer.provider_name(version, stage, AccountKind.GH))
        if account is not None:
            found.append(account)
    return found
