"""Records of the GitHub REST emulator's store: typed dataclasses, the seeding error, shared rules.

`custodian.sandbox.github_store.GithubStore` keeps these; the emulator renders them as JSON
(`github_json`, `github_git`). Each record's `view()` is its plain JSON-shaped dict (ISO
`YYYY-MM-DDTHH:MM:SSZ` timestamps, no URLs, never a secret unless asked for).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from custodian.sandbox.clock import iso

#: GitHub login rule: letters, digits and single hyphens; 1..39 chars; no leading/trailing hyphen.
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
#: Creation time used for seeded objects that take no date (repositories, organizations).
DEFAULT_CREATED_AT = datetime(2020, 1, 1, tzinfo=UTC)
DEPLOYMENT_STATES = frozenset({"error", "failure", "inactive", "pending", "success", "queued", "in_progress"})


class GithubSeedError(ValueError):
    """A seeding call is inconsistent with the store (unknown account, duplicate, invalid value)."""


def valid_login(login: str) -> bool:
    """True when `login` follows GitHub's username rules."""
    return bool(LOGIN_RE.match(login))


def utc_or_none(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise GithubSeedError(f"timestamps must be timezone-aware, got {when!r}")
    return when.astimezone(UTC).replace(microsecond=0)


def utc(when: datetime) -> datetime:
    out = utc_or_none(when)
    assert out is not None
    return out


def fake_sha(*parts: str) -> str:
    """A deterministic 40-hex commit sha for seeded objects."""
    return hashlib.sha1("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()


# -- records ------------------------------------------------------------------------------------------
@dataclass
class UserRec:
    id: int
    login: str
    type_: str = "User"
    name: str | None = None
    site_admin: bool = False
    suspended_at: datetime | None = None
    suspension_reason: str | None = None
    created_at: datetime = DEFAULT_CREATED_AT
    email: str | None = None
    two_factor_enabled: bool = True

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "type": self.type_,
            "name": self.name,
            "site_admin": self.site_admin,
            "suspended_at": iso(self.suspended_at),
            "suspension_reason": self.suspension_reason,
            "created_at": iso(self.created_at),
            "email": self.email,
            "two_factor_enabled": self.two_factor_enabled,
        }


@dataclass
class OrgRec:
    id: int
    login: str
    created_at: datetime = DEFAULT_CREATED_AT
    members: dict[str, str] = field(default_factory=dict)  # lower-case login -> role ("admin"|"member")

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "type": "Organization", "created_at": iso(self.created_at)}


@dataclass
class CommitRec:
    sha: str
    date: datetime
    message: str


@dataclass
class TagObjectRec:
    """An annotated tag object (`git/tags/{sha}`): its own sha, tagger and the commit it names."""

    sha: str
    tag: str
    message: str
    object_sha: str  # the tagged commit
    tagger_name: str
    tagger_email: str
    tagger_date: datetime
    visible_from: datetime  # served from then on (a seeded tag's push time; an API-made one's creation)


@dataclass
class TagRec:
    """A tag ref: `sha` is the (peeled) commit; `object_sha` the annotated tag object, None if lightweight."""

    name: str
    sha: str
    pushed_at: datetime = DEFAULT_CREATED_AT  # listed from then on (the emulator filters by its clock)
    object_sha: str | None = None

    @property
    def annotated(self) -> bool:
        return self.object_sha is not None


@dataclass
class ReleaseRec:
    id: int
    tag_name: str
    name: str | None
    draft: bool
    prerelease: bool
    created_at: datetime
    published_at: datetime | None
    target_commitish: str
    author: str

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tag_name": self.tag_name,
            "name": self.name,
            "draft": self.draft,
            "prerelease": self.prerelease,
            "created_at": iso(self.created_at),
            "published_at": iso(self.published_at),
            "target_commitish": self.target_commitish,
        }


@dataclass
class StatusRec:
    id: int
    state: str
    created_at: datetime
    description: str
    environment: str
    creator: str
    target_url: str = ""
    log_url: str = ""
    environment_url: str = ""

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "created_at": iso(self.created_at),
            "description": self.description,
            "environment": self.environment,
        }


@dataclass
class DeploymentRec:
    id: int
    sha: str
    ref: str
    task: str
    environment: str
    created_at: datetime
    updated_at: datetime
    creator: str
    description: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    statuses: list[StatusRec] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha": self.sha,
            "ref": self.ref,
            "task": self.task,
            "environment": self.environment,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "statuses": [s.view() for s in self.statuses],
        }


@dataclass
class RepoRec:
    id: int
    owner: str
    name: str
    default_branch: str
    created_at: datetime = DEFAULT_CREATED_AT
    commits: dict[str, CommitRec] = field(default_factory=dict)
    tags: dict[str, TagRec] = field(default_factory=dict)
    tag_objects: dict[str, TagObjectRec] = field(default_factory=dict)
    releases: dict[int, ReleaseRec] = field(default_factory=dict)
    deployments: dict[int, DeploymentRec] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "full_name": self.full_name,
            "default_branch": self.default_branch,
            "created_at": iso(self.created_at),
        }


@dataclass
class ImpersonationTokenRec:
    id: int
    login: str
    scopes: list[str]
    token: str
    created_at: datetime
    expires_at: datetime | None

    def view(self, *, with_token: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "scopes": list(self.scopes),
            "token": self.token if with_token else "",
            "token_last_eight": self.token[-8:],
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
        }


@dataclass
class PatGrantRec:
    id: int
    token_id: int
    org: str
    owner: str
    token_name: str
    access_granted_at: datetime
    token_expires_at: datetime | None
    token_last_used_at: datetime | None
    repository_selection: str
    permissions: dict[str, dict[str, str]]
    repositories: list[str]

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "token_id": self.token_id,
            "org": self.org,
            "owner": self.owner,
            "token_name": self.token_name,
            "access_granted_at": iso(self.access_granted_at),
            "token_expires_at": iso(self.token_expires_at),
            "token_last_used_at": iso(self.token_last_used_at),
            "repository_selection": self.repository_selection,
            "permissions": {k: dict(v) for k, v in self.permissions.items()},
            "repositories": list(self.repositories),
        }


@dataclass
class SshKeyRec:
    id: int
    login: str
    key: str
    title: str
    created_at: datetime
    read_only: bool = False
    verified: bool = True

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "key": self.key,
            "title": self.title,
            "created_at": iso(self.created_at),
            "read_only": self.read_only,
            "verified": self.verified,
        }
