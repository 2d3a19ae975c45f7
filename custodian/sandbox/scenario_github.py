"""The GitHub part of the scenario schema: organizations, users and their credentials, repositories
and their release timeline (tags, releases, deployments), GitHub Apps and their installations.
`scenario_schema` re-exports these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from custodian.sandbox.scenario_types import (
    GithubLogin,
    GitRef,
    NonEmpty,
    RepoName,
    Sha,
    SpecModel,
    When,
    non_empty_list,
)


class TagSpec(SpecModel):
    """A tag pushed at `at` (not listed before) on commit `sha` (made at `commit_at`, default `at`).

    `annotated: true` adds a tag object whose tagger date is `tagger_date` (default `at`).
    """

    name: GitRef
    at: When
    sha: Sha | None = None
    annotated: bool = False
    tagger_date: When | None = None
    commit_at: When | None = None


class ReleaseSpec(SpecModel):
    tag: GitRef
    at: When
    published_at: When | None = None
    name: str | None = None
    draft: bool = False
    prerelease: bool = False


DeploymentState = Literal["error", "failure", "inactive", "pending", "success", "queued", "in_progress"]


class DeploymentStatusSpec(SpecModel):
    state: DeploymentState
    at: When
    description: str = ""


class DeploymentSpec(SpecModel):
    environment: NonEmpty
    ref: GitRef
    at: When
    sha: Sha | None = None
    task: NonEmpty = "deploy"
    statuses: list[DeploymentStatusSpec] = []


class RepoSpec(SpecModel):
    name: RepoName
    default_branch: GitRef = "main"
    tags: list[TagSpec] = []
    releases: list[ReleaseSpec] = []
    deployments: list[DeploymentSpec] = []


class MembershipSpec(SpecModel):
    org: GithubLogin
    role: Literal["member", "admin"] = "member"


class ImpersonationTokenSpec(SpecModel):
    scopes: Annotated[list[NonEmpty], AfterValidator(lambda v: non_empty_list(v, "scopes"))]
    created_at: When
    expires_at: When | None = None
    token: str | None = None


class PatGrantSpec(SpecModel):
    org: GithubLogin
    token_name: NonEmpty
    granted_at: When
    expires_at: When | None = None
    last_used_at: When | None = None
    repository_selection: Literal["all", "subset", "none"] = "all"
    permissions: dict[str, dict[str, str]] | None = None


class SshKeySpec(SpecModel):
    title: NonEmpty
    created_at: When
    key: str | None = None


class UserSpec(SpecModel):
    login: GithubLogin
    name: str | None = None
    type: Literal["User", "Bot"] = "User"
    email: str | None = None
    created_at: When | None = None
    suspended_at: When | None = None
    memberships: list[MembershipSpec] = []
    impersonation_tokens: list[ImpersonationTokenSpec] = []
    pat_grants: list[PatGrantSpec] = []
    ssh_keys: list[SshKeySpec] = []


PermissionLevel = Literal["read", "write", "admin"]


class InstallationSpec(SpecModel):
    """The App installed on `account` (an organization or user), with the App's permissions unless given."""

    id: Annotated[int, Field(ge=1)]
    account: GithubLogin
    permissions: dict[NonEmpty, PermissionLevel] | None = None
    suspended_at: When | None = None


class AppSpec(SpecModel):
    """A GitHub App: `public_key` is the PEM GitHub keeps; without one, the sandbox makes a key pair and
    writes the private key to its workdir (`GITHUB_APP_PRIVATE_KEY_FILE`)."""

    id: Annotated[int, Field(ge=1)]
    slug: GithubLogin
    name: str | None = None
    owner: GithubLogin | None = None
    public_key: str | None = None
    permissions: dict[NonEmpty, PermissionLevel] = {}
    installations: list[InstallationSpec] = []


class GithubSpec(SpecModel):
    orgs: list[GithubLogin] = []
    site_admin: GithubLogin | None = None
    users: list[UserSpec] = []
    repos: list[RepoSpec] = []
    apps: list[AppSpec] = []
