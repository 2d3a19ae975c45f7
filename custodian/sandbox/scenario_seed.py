"""Seeding the sandbox from a scenario: the ARM store, the GitHub store and Azurite.

`seed_all` resolves the scenario's times against `clock.now()` and adds every object to the
stores (they are added to, not cleared); `custodian.sandbox.scenario` re-exports it. The store
protocols below are what seeding needs from each emulator's store.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from custodian.sandbox.scenario_arm import (
    DISK_TYPE,
    NIC_TYPE,
    NSG_TYPE,
    PIP_TYPE,
    REGISTRY_TYPE,
    SCOPE_MAP_TYPE,
    STORAGE_TYPE,
    TOKEN_TYPE,
    VM_TYPE,
    build_arm,
)
from custodian.sandbox.scenario_schema import Scenario, When

__all__ = ["ArmSeedTarget", "ClockLike", "GithubSeedTarget", "SeedSummary", "seed_all"]


class ClockLike(Protocol):
    def now(self) -> datetime: ...


class ArmSeedTarget(Protocol):
    """What seeding needs from the ARM store (`custodian.sandbox.arm`)."""

    def add_subscription(self, subscription_id: str, display_name: str = "") -> Any: ...

    def add_resource_group(
        self, subscription_id: str, name: str, location: str = "eastus", tags: dict[str, str] | None = None
    ) -> Any: ...

    def put(self, resource: dict[str, Any]) -> Any: ...


class GithubSeedTarget(Protocol):
    """What seeding needs from the GitHub store (`custodian.sandbox.github`)."""

    def add_org(self, login: str) -> Any: ...

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        type_: str = "User",
        site_admin: bool = False,
        suspended_at: datetime | None = None,
        created_at: datetime | None = None,
        email: str | None = None,
    ) -> Any: ...

    def add_member(self, org: str, login: str, role: str = "member") -> Any: ...

    def add_repo(self, full_name: str, default_branch: str = "main") -> Any: ...

    def add_tag(
        self,
        repo: str,
        name: str,
        *,
        date: datetime,
        sha: str | None = None,
        annotated: bool = False,
        tagger_date: datetime | None = None,
        commit_date: datetime | None = None,
    ) -> Any: ...

    def add_release(
        self,
        repo: str,
        tag_name: str,
        *,
        created_at: datetime,
        published_at: datetime | None = None,
        name: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
    ) -> Any: ...

    def add_deployment(
        self,
        repo: str,
        *,
        environment: str,
        ref: str,
        created_at: datetime,
        sha: str | None = None,
        task: str = "deploy",
    ) -> Mapping[str, Any]: ...

    def add_deployment_status(
        self, repo: str, deployment_id: int, *, state: str, created_at: datetime, description: str = ""
    ) -> Any: ...

    def add_impersonation_token(
        self,
        login: str,
        *,
        scopes: list[str],
        created_at: datetime,
        expires_at: datetime | None = None,
        token: str | None = None,
    ) -> Any: ...

    def add_pat_grant(
        self,
        org: str,
        owner: str,
        *,
        token_name: str,
        access_granted_at: datetime,
        token_expires_at: datetime | None = None,
        token_last_used_at: datetime | None = None,
        repository_selection: str = "all",
        permissions: dict[str, dict[str, str]] | None = None,
    ) -> Any: ...

    def add_ssh_key(self, login: str, *, key: str, title: str, created_at: datetime) -> Any: ...

    def add_app(
        self,
        app_id: int,
        *,
        slug: str,
        name: str | None = None,
        owner: str | None = None,
        public_key: str | None = None,
        permissions: dict[str, str] | None = None,
    ) -> Any: ...

    def add_installation(
        self,
        app_id: int,
        installation_id: int,
        *,
        account: str,
        permissions: dict[str, str] | None = None,
        suspended_at: datetime | None = None,
    ) -> Any: ...


@dataclass
class SeedSummary:
    """How many objects of each kind were seeded (`summary["vms"]`), and which parts were skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def __getitem__(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        parts = [f"{kind}={n}" for kind, n in self.counts.items() if n]
        if self.skipped:
            parts.append(f"skipped: {', '.join(self.skipped)}")
        return ", ".join(parts)


_ARM_KINDS = {
    VM_TYPE: "vms",
    DISK_TYPE: "disks",
    NIC_TYPE: "nics",
    PIP_TYPE: "public_ips",
    NSG_TYPE: "nsgs",
    STORAGE_TYPE: "storage_accounts",
    REGISTRY_TYPE: "registries",
    SCOPE_MAP_TYPE: "scope_maps",
    TOKEN_TYPE: "acr_tokens",
}


def seed_all(
    scenario: Scenario,
    *,
    clock: ClockLike,
    arm_store: ArmSeedTarget | None,
    github_store: GithubSeedTarget | None,
    blob_connection_string: str | None,
) -> SeedSummary:
    """Seed every store from `scenario`, resolving its times against `clock.now()`.

    The stores are added to, not cleared. A `None` target skips that part (listed in `skipped`).
    """
    now = clock.now()
    summary = SeedSummary()
    if arm_store is None:
        summary.skipped.append("azure")
    else:
        seed_arm(scenario, now, arm_store, summary)
    if github_store is None:
        summary.skipped.append("github")
    else:
        seed_github(scenario, now, github_store, summary)
    if blob_connection_string is None:
        summary.skipped.append("storage")
    else:
        seed_blobs(scenario, blob_connection_string, summary)
    return summary


def seed_arm(scenario: Scenario, now: datetime, store: ArmSeedTarget, summary: SeedSummary) -> None:
    plan = build_arm(scenario, now)
    for subscription_id, display_name in plan.subscriptions:
        store.add_subscription(subscription_id, display_name)
        summary.add("subscriptions")
    for group in plan.resource_groups:
        store.add_resource_group(group.subscription_id, group.name, group.location, group.tags or None)
        summary.add("resource_groups")
    for resource in plan.resources:
        store.put(resource)
        summary.add(_ARM_KINDS[resource["type"]])


def _fake_ssh_key(login: str, title: str) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + hashlib.sha256(f"{login}/{title}".encode()).digest()
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


def seed_github(scenario: Scenario, now: datetime, store: GithubSeedTarget, summary: SeedSummary) -> None:
    github = scenario.github

    def at(when: When | None) -> datetime | None:
        return None if when is None else when.resolve(now)

    for org in github.orgs:
        store.add_org(org)
        summary.add("orgs")
    listed = {user.login.lower() for user in github.users}
    admin = github.site_admin.lower() if github.site_admin else None
    if github.site_admin is not None and admin not in listed:
        store.add_user(github.site_admin, site_admin=True)
        summary.add("users")
    for user in github.users:
        store.add_user(
            user.login,
            name=user.name,
            type_=user.type,
            site_admin=user.login.lower() == admin,
            suspended_at=at(user.suspended_at),
            created_at=at(user.created_at),
            email=user.email,
        )
        summary.add("users")
    for user in github.users:
        for membership in user.memberships:
            store.add_member(membership.org, user.login, membership.role)
            summary.add("memberships")
    for repo in github.repos:
        store.add_repo(repo.name, repo.default_branch)
        summary.add("repos")
        # a commit named by several tags has one date: an explicit `commit_at`, else its first push
        dated = {tag.sha: tag.commit_at.resolve(now) for tag in repo.tags if tag.sha and tag.commit_at}
        for tag in sorted(repo.tags, key=lambda t: t.at.resolve(now)):
            store.add_tag(
                repo.name,
                tag.name,
                date=tag.at.resolve(now),
                sha=tag.sha,
                annotated=tag.annotated,
                tagger_date=at(tag.tagger_date) if tag.annotated else None,
                commit_date=at(tag.commit_at) or (dated.get(tag.sha) if tag.sha else None),
            )
            summary.add("tags")
        for release in sorted(repo.releases, key=lambda r: r.at.resolve(now)):
            published = None if release.draft else (at(release.published_at) or release.at.resolve(now))
            store.add_release(
                repo.name,
                release.tag,
                created_at=release.at.resolve(now),
                published_at=published,
                name=release.name if release.name is not None else release.tag,
                draft=release.draft,
                prerelease=release.prerelease,
            )
            summary.add("releases")
        for deployment in sorted(repo.deployments, key=lambda d: d.at.resolve(now)):
            created = store.add_deployment(
                repo.name,
                environment=deployment.environment,
                ref=deployment.ref,
                created_at=deployment.at.resolve(now),
                sha=deployment.sha,  # None: the store resolves the ref (a tag's commit)
                task=deployment.task,
            )
            summary.add("deployments")
            for status in sorted(deployment.statuses, key=lambda s: s.at.resolve(now)):
                store.add_deployment_status(
                    repo.name,
                    int(created["id"]),
                    state=status.state,
                    created_at=status.at.resolve(now),
                    description=status.description,
                )
                summary.add("deployment_statuses")
    for user in github.users:
        for token in user.impersonation_tokens:
            store.add_impersonation_token(
                user.login,
                scopes=list(token.scopes),
                created_at=token.created_at.resolve(now),
                expires_at=at(token.expires_at),
                token=token.token,
            )
            summary.add("impersonation_tokens")
        for grant in user.pat_grants:
            store.add_pat_grant(
                grant.org,
                user.login,
                token_name=grant.token_name,
                access_granted_at=grant.granted_at.resolve(now),
                token_expires_at=at(grant.expires_at),
                token_last_used_at=at(grant.last_used_at),
                repository_selection=grant.repository_selection,
                permissions=grant.permissions,
            )
            summary.add("pat_grants")
        for key in user.ssh_keys:
            store.add_ssh_key(
                user.login,
                key=key.key or _fake_ssh_key(user.login, key.title),
                title=key.title,
                created_at=key.created_at.resolve(now),
            )
            summary.add("ssh_keys")
    for app in github.apps:  # without a public key, the sandbox gives the App a key pair
        store.add_app(
            app.id,
            slug=app.slug,
            name=app.name,
            owner=app.owner,
            public_key=app.public_key,
            permissions=dict(app.permissions),
        )
        summary.add("github_apps")
        for installation in app.installations:
            store.add_installation(
                app.id,
                installation.id,
                account=installation.account,
                permissions=dict(installation.permissions) if installation.permissions is not None else None,
                suspended_at=at(installation.suspended_at),
            )
            summary.add("app_installations")


def seed_blobs(scenario: Scenario, connection_string: str, summary: SeedSummary) -> None:
    """Create the containers and upload the blobs (index tags and metadata set at upload)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient, ContentSettings

    service = BlobServiceClient.from_connection_string(connection_string)
    with service:
        for spec in scenario.storage.containers:
            try:
                container = service.create_container(spec.name, metadata=spec.metadata or None)
            except ResourceExistsError:
                container = service.get_container_client(spec.name)
            summary.add("containers")
            for blob in spec.blobs:
                container.upload_blob(
                    blob.name,
                    blob.payload(),
                    overwrite=True,
                    tags=blob.tags or None,
                    metadata=blob.metadata or None,
                    content_settings=ContentSettings(content_type=blob.content_type or "application/octet-stream"),
                )
                summary.add("blobs")
