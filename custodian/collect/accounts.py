"""Collecting the release timeline, GitHub machine accounts and ACR tokens.

Each unit (the timeline, the GitHub org, each registry) is collected on its own; a failure or a
throttled-out unit becomes a `CollectionError` for that unit (an ERROR finding that blocks every
action in it) and the others carry on. Paging is always followed by the providers. With a
`Completeness` (a run with a ledger), the listings of users or members, tokens and tags are checked
against their last complete size: a shrink is read twice and must agree (`completeness`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from custodian.collect.completeness import Completeness
from custodian.errors import describe_error
from custodian.model import (
    TIMELINE_UNIT,
    CollectionError,
    DeploymentFact,
    Inventory,
    Provider,
    ReleaseTimeline,
    ServiceAccount,
    StageStart,
)
from custodian.progress import NullProgress, Progress
from custodian.providers.azure.acr import AcrTokens
from custodian.providers.github.accounts import GithubAccountReader, org_scope
from custodian.providers.github.client import GithubSession
from custodian.providers.github.timeline import collect_timeline
from custodian.providers.paging import ListingCheck, unchecked
from custodian.rules.naming import AccountNamer


@dataclass
class InventorySources:
    github: GithubSession
    github_mode: str
    release_repos: list[str]
    production_environment: str
    registries: list[AcrTokens]


def sightings_for(
    repo: str, first_sightings: Callable[[str, Sequence[str]], Mapping[str, datetime]] | None, now: datetime
) -> Callable[[Sequence[str]], Mapping[str, datetime]]:
    """How a repository's tags' first sightings are read: from the ledger, or `now` for all without one."""
    if first_sightings is None:
        return lambda tags: dict.fromkeys(tags, now)
    return lambda tags: first_sightings(repo, tags)


def _resource_id(account: ServiceAccount) -> str:
    return (account.resource_id or account.provider_name).lower()


def collect_inventory(
    sources: InventorySources,
    namer: AccountNamer,
    now: datetime,
    progress: Progress | None = None,
    *,
    accounts_too: bool = True,
    first_sightings: Callable[[str, Sequence[str]], Mapping[str, datetime]] | None = None,
    completeness: Completeness | None = None,
) -> Inventory:
    """The release timeline, and (unless `accounts_too` is False) every service account.

    `first_sightings(repo, stage_tag_names)` is called once per repository and returns when the
    custodian first saw each tag (the ledger records the new ones): the start of a stage whose tag
    is lightweight. Without it (read-only commands), such a tag counts as first seen `now`.
    `completeness` checks each listing against its last complete size (None: read once, believed).
    """
    progress = progress or NullProgress()
    progress.begin("collecting", len(sources.release_repos) + (1 + len(sources.registries) if accounts_too else 0))
    errors: list[CollectionError] = []
    starts: list[StageStart] = []
    deployments: list[DeploymentFact] = []

    def parse_tag(tag: str) -> tuple[str, str] | None:
        match = namer.parse_tag(tag)
        return (match.version, match.stage) if match else None

    def check_of(provider: Provider, scope: str) -> ListingCheck:
        return completeness.for_scope(provider.value, scope) if completeness is not None else unchecked

    for repo in sources.release_repos:
        try:
            repo_starts, repo_deployments = collect_timeline(
                sources.github,
                repo,
                sources.production_environment,
                parse_tag,
                sightings_for(repo, first_sightings, now),
                now,
                check_of(Provider.GITHUB, repo),
            )
        except Exception as exc:  # noqa: BLE001 - becomes an ERROR finding that blocks all actions
            errors.append(CollectionError(Provider.GITHUB, TIMELINE_UNIT, f"{repo}: {describe_error(exc)}"))
        else:
            starts += repo_starts
            deployments += repo_deployments
        progress.advance(f"timeline {repo}")

    accounts: list[ServiceAccount] = []
    if not accounts_too:
        return Inventory(now, ReleaseTimeline(namer.stages, tuple(starts), tuple(deployments)), errors=tuple(errors))
    scope = org_scope(sources.github.settings.org)
    try:
        reader = GithubAccountReader(sources.github, sources.github_mode)
        accounts += reader.collect(namer.looks_like_service_account, check_of(Provider.GITHUB, scope))
    except Exception as exc:  # noqa: BLE001 - becomes an ERROR finding for this scope
        errors.append(CollectionError(Provider.GITHUB, scope, describe_error(exc)))
    progress.advance(f"accounts {scope}")

    for registry in sources.registries:
        try:
            tokens = check_of(Provider.AZURE, registry.scope)(
                "acr-tokens", f"tokens of registry {registry.registry}", registry.list_accounts, _resource_id
            )
        except Exception as exc:  # noqa: BLE001 - becomes an ERROR finding for this scope
            errors.append(CollectionError(Provider.AZURE, registry.scope, describe_error(exc)))
        else:
            accounts += [t for t in tokens if namer.looks_like_service_account(t.provider_name)]
        progress.advance(f"tokens {registry.registry}")

    timeline = ReleaseTimeline(namer.stages, tuple(starts), tuple(deployments))
    return Inventory(now, timeline, tuple(accounts), errors=tuple(errors))
