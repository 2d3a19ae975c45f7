"""In-memory state of the GitHub REST emulator: accounts, repositories, release timeline and credentials.

`GithubStore` is what scenarios seed and what `custodian.sandbox.github.GithubEmulator` serves. It is
thread-safe (one re-entrant lock, `store.lock`, held by every public method and by the emulator for
each request) and case-insensitive on logins and repository names, as GitHub is.

Records are kept as typed dataclasses; every `add_*` method and every read helper returns a plain
JSON-shaped dict (ISO `YYYY-MM-DDTHH:MM:SSZ` timestamps, no URLs: URLs are built per request from the
caller's `Host` by the emulator). Secrets are only returned by `add_impersonation_token` and by the
emulator's create call, never by the read helpers.

Seeding mistakes (unknown account, duplicate tag, invalid login...) raise `GithubSeedError`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from custodian.sandbox.clock import iso

__all__ = [
    "DEFAULT_CREATED_AT",
    "DEFAULT_PRINCIPAL",
    "DEPLOYMENT_STATES",
    "LOGIN_RE",
    "GithubSeedError",
    "GithubStore",
    "valid_login",
]

#: GitHub login rule: letters, digits and single hyphens; 1..39 chars; no leading/trailing hyphen.
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
#: The authenticated site admin when neither configured nor seeded.
DEFAULT_PRINCIPAL = "ghe-admin"
#: Creation time used for seeded objects that take no date (repositories, organizations).
DEFAULT_CREATED_AT = datetime(2020, 1, 1, tzinfo=UTC)
DEPLOYMENT_STATES = frozenset({"error", "failure", "inactive", "pending", "success", "queued", "in_progress"})
_REPO_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class GithubSeedError(ValueError):
    """A seeding call is inconsistent with the store (unknown account, duplicate, invalid value)."""


def valid_login(login: str) -> bool:
    """True when `login` follows GitHub's username rules."""
    return bool(LOGIN_RE.match(login))


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise GithubSeedError(f"timestamps must be timezone-aware, got {when!r}")
    return when.astimezone(UTC).replace(microsecond=0)


def _req_utc(when: datetime) -> datetime:
    out = _utc(when)
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
class TagRec:
    name: str
    sha: str


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


# -- the store ----------------------------------------------------------------------------------------
class GithubStore:
    """Thread-safe in-memory GitHub state; logins and repository names are case-insensitive.

    `principal_login` is the user that any accepted (non-impersonation) credential authenticates as:
    the login given to the constructor or assigned later, else the first unsuspended site-admin user
    added (a scenario's `site_admin`), else `"ghe-admin"`, served by `GET /user` as a site admin even when no
    such user was added.
    """

    def __init__(self, *, principal_login: str | None = None) -> None:
        self.lock = threading.RLock()
        self._principal_login = principal_login
        self._init_state()

    @property
    def principal_login(self) -> str:
        with self.lock:
            if self._principal_login:
                return self._principal_login
            admins = [u for u in self.users.values() if u.site_admin and u.type_ == "User" and u.suspended_at is None]
            return min(admins, key=lambda u: u.id).login if admins else DEFAULT_PRINCIPAL

    @principal_login.setter
    def principal_login(self, login: str | None) -> None:
        with self.lock:
            self._principal_login = login

    def _init_state(self) -> None:
        self._ids = {
            kind: itertools.count(start)
            for kind, start in (
                ("account", 1001),
                ("repo", 50001),
                ("release", 70001),
                ("deployment", 90001),
                ("status", 110001),
                ("token", 130001),
                ("grant", 25001),
                ("token_id", 98001),
                ("key", 150001),
            )
        }
        self.users: dict[str, UserRec] = {}
        self.orgs: dict[str, OrgRec] = {}
        self.repos: dict[str, RepoRec] = {}
        self.tokens: dict[int, ImpersonationTokenRec] = {}
        self.revoked_tokens: set[str] = set()
        self.grants: dict[int, PatGrantRec] = {}
        self.keys: dict[int, SshKeyRec] = {}

    def next_id(self, kind: str) -> int:
        with self.lock:
            return next(self._ids[kind])

    def clear(self) -> None:
        """Forget everything (ids restart too); `principal_login` is kept."""
        with self.lock:
            self._init_state()

    # -- lookups used by the emulator (caller holds `lock` for consistency) --------------------------
    def find_user(self, login: str) -> UserRec | None:
        return self.users.get(login.lower())

    def find_org(self, login: str) -> OrgRec | None:
        return self.orgs.get(login.lower())

    def find_repo(self, owner: str, name: str) -> RepoRec | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def login_taken(self, login: str) -> bool:
        key = login.lower()
        return key in self.users or key in self.orgs

    def _user(self, login: str) -> UserRec:
        rec = self.find_user(login)
        if rec is None:
            raise GithubSeedError(f"unknown GitHub user {login!r}")
        return rec

    def _org(self, login: str) -> OrgRec:
        rec = self.find_org(login)
        if rec is None:
            raise GithubSeedError(f"unknown GitHub organization {login!r}")
        return rec

    def _repo(self, full_name: str) -> RepoRec:
        owner, _, name = full_name.partition("/")
        rec = self.find_repo(owner, name)
        if rec is None:
            raise GithubSeedError(f"unknown GitHub repository {full_name!r}")
        return rec

    # -- accounts -----------------------------------------------------------------------------------
    def add_org(self, login: str) -> dict[str, Any]:
        with self.lock:
            if not valid_login(login):
                raise GithubSeedError(f"invalid organization login {login!r}")
            if self.login_taken(login):
                raise GithubSeedError(f"login {login!r} is already taken")
            rec = OrgRec(id=self.next_id("account"), login=login)
            self.orgs[login.lower()] = rec
            return rec.view()

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
        two_factor_enabled: bool = True,
    ) -> dict[str, Any]:
        with self.lock:
            if not valid_login(login):
                raise GithubSeedError(f"invalid user login {login!r} (letters, digits, single hyphens, <= 39)")
            if self.login_taken(login):
                raise GithubSeedError(f"login {login!r} is already taken")
            rec = UserRec(
                id=self.next_id("account"),
                login=login,
                type_=type_,
                name=name,
                site_admin=site_admin,
                suspended_at=_utc(suspended_at),
                created_at=_utc(created_at) or DEFAULT_CREATED_AT,
                email=email,
                two_factor_enabled=two_factor_enabled,
            )
            self.users[login.lower()] = rec
            return rec.view()

    def add_member(self, org: str, login: str, role: str = "member") -> None:
        with self.lock:
            if role not in ("member", "admin"):
                raise GithubSeedError(f"organization role must be 'member' or 'admin', got {role!r}")
            self._user(login)
            self._org(org).members[login.lower()] = role

    def delete_user(self, login: str) -> bool:
        """Remove a user and everything hanging off it (memberships, keys, tokens, grants)."""
        with self.lock:
            rec = self.users.pop(login.lower(), None)
            if rec is None:
                return False
            key = login.lower()
            for org in self.orgs.values():
                org.members.pop(key, None)
            for tid in [t.id for t in self.tokens.values() if t.login.lower() == key]:
                self.revoked_tokens.add(self.tokens.pop(tid).token)
            for gid in [g.id for g in self.grants.values() if g.owner.lower() == key]:
                del self.grants[gid]
            for kid in [k.id for k in self.keys.values() if k.login.lower() == key]:
                del self.keys[kid]
            return True

    # -- repositories and the release timeline ------------------------------------------------------
    def add_repo(self, full_name: str, default_branch: str = "main") -> dict[str, Any]:
        """Add `owner/name`; an unknown owner is created as an organization."""
        with self.lock:
            owner, sep, name = full_name.partition("/")
            if not sep or not _REPO_NAME_RE.match(name):
                raise GithubSeedError(f"repository must look like 'owner/name', got {full_name!r}")
            if not self.login_taken(owner):
                self.add_org(owner)
            owner_rec = self.find_org(owner) or self.find_user(owner)
            assert owner_rec is not None
            if self.find_repo(owner, name) is not None:
                raise GithubSeedError(f"repository {full_name!r} already exists")
            rec = RepoRec(id=self.next_id("repo"), owner=owner_rec.login, name=name, default_branch=default_branch)
            self.repos[rec.full_name.lower()] = rec
            return rec.view()

    def add_tag(self, repo: str, name: str, *, date: datetime, sha: str | None = None) -> dict[str, Any]:
        """Add a lightweight tag and the commit it points to (author and committer date = `date`)."""
        with self.lock:
            rec = self._repo(repo)
            if name in rec.tags:
                raise GithubSeedError(f"tag {name!r} already exists in {repo}")
            when = _req_utc(date)
            sha = (sha or fake_sha(rec.full_name, name, iso(when) or "")).lower()
            if not re.fullmatch(r"[0-9a-f]{40}", sha):
                raise GithubSeedError(f"commit sha must be 40 hex digits, got {sha!r}")
            rec.commits.setdefault(sha, CommitRec(sha=sha, date=when, message=f"Release {name}"))
            rec.tags[name] = TagRec(name=name, sha=sha)
            return {"name": name, "sha": sha, "date": iso(rec.commits[sha].date)}

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
    ) -> dict[str, Any]:
        """Add a release; a non-draft release without `published_at` is published at `created_at`."""
        with self.lock:
            rec = self._repo(repo)
            if any(r.tag_name == tag_name for r in rec.releases.values()):
                raise GithubSeedError(f"a release for tag {tag_name!r} already exists in {repo}")
            created = _req_utc(created_at)
            published = None if draft else (_utc(published_at) or created)
            rel = ReleaseRec(
                id=self.next_id("release"),
                tag_name=tag_name,
                name=name if name is not None else tag_name,
                draft=draft,
                prerelease=prerelease,
                created_at=created,
                published_at=published,
                target_commitish=rec.default_branch,
                author=self.principal_login,
            )
            rec.releases[rel.id] = rel
            return rel.view()

    def resolve_sha(self, rec: RepoRec, ref: str) -> str:
        """The commit a ref names: a tag, a known sha, or a deterministic stand-in for a branch."""
        if ref in rec.tags:
            return rec.tags[ref].sha
        if ref.lower() in rec.commits:
            return ref.lower()
        return fake_sha(rec.full_name, "ref", ref)

    def add_deployment(
        self,
        repo: str,
        *,
        environment: str,
        ref: str,
        created_at: datetime,
        sha: str | None = None,
        task: str = "deploy",
        description: str | None = None,
        creator: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            rec = self._repo(repo)
            when = _req_utc(created_at)
            dep = DeploymentRec(
                id=self.next_id("deployment"),
                sha=(sha or self.resolve_sha(rec, ref)).lower(),
                ref=ref,
                task=task,
                environment=environment,
                created_at=when,
                updated_at=when,
                creator=creator or self.principal_login,
                description=description,
            )
            rec.deployments[dep.id] = dep
            return dep.view()

    def add_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        *,
        state: str,
        created_at: datetime,
        description: str = "",
        environment: str | None = None,
        creator: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            rec = self._repo(repo)
            dep = rec.deployments.get(deployment_id)
            if dep is None:
                raise GithubSeedError(f"unknown deployment {deployment_id} in {repo}")
            if state not in DEPLOYMENT_STATES:
                raise GithubSeedError(f"deployment state must be one of {sorted(DEPLOYMENT_STATES)}, got {state!r}")
            when = _req_utc(created_at)
            status = StatusRec(
                id=self.next_id("status"),
                state=state,
                created_at=when,
                description=description,
                environment=environment or dep.environment,
                creator=creator or self.principal_login,
            )
            dep.statuses.append(status)
            dep.updated_at = max(dep.updated_at, when)
            return status.view()

    # -- credentials --------------------------------------------------------------------------------
    def add_impersonation_token(
        self,
        login: str,
        *,
        scopes: list[str],
        created_at: datetime,
        expires_at: datetime | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Add an impersonation OAuth token; the returned dict (only) carries the secret `token`."""
        with self.lock:
            user = self._user(login)
            tid = self.next_id("token")
            secret = token or "gho_" + hashlib.sha256(f"{user.login}:{tid}".encode()).hexdigest()[:36]
            rec = ImpersonationTokenRec(
                id=tid,
                login=user.login,
                scopes=list(scopes),
                token=secret,
                created_at=_req_utc(created_at),
                expires_at=_utc(expires_at),
            )
            self.tokens[tid] = rec
            return rec.view(with_token=True)

    def delete_impersonation_tokens(self, login: str) -> int:
        with self.lock:
            key = login.lower()
            doomed = [t.id for t in self.tokens.values() if t.login.lower() == key]
            for tid in doomed:
                self.revoked_tokens.add(self.tokens.pop(tid).token)
            return len(doomed)

    def token_owner(self, secret: str) -> ImpersonationTokenRec | None:
        with self.lock:
            return next((t for t in self.tokens.values() if t.token == secret), None)

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
        permissions: dict[str, Any] | None = None,
        repositories: list[str] | None = None,
    ) -> dict[str, Any]:
        """Add an org fine-grained PAT grant (`repositories`: repo names for `repository_selection="subset"`)."""
        with self.lock:
            org_rec = self._org(org)
            user = self._user(owner)
            if repository_selection not in ("all", "subset", "none"):
                raise GithubSeedError(f"repository_selection must be all|subset|none, got {repository_selection!r}")
            perms: dict[str, dict[str, str]] = {"organization": {}, "repository": {"metadata": "read"}, "other": {}}
            for category, values in (permissions or {}).items():
                perms.setdefault(category, {}).update({str(k): str(v) for k, v in dict(values).items()})
            rec = PatGrantRec(
                id=self.next_id("grant"),
                token_id=self.next_id("token_id"),
                org=org_rec.login,
                owner=user.login,
                token_name=token_name,
                access_granted_at=_req_utc(access_granted_at),
                token_expires_at=_utc(token_expires_at),
                token_last_used_at=_utc(token_last_used_at),
                repository_selection=repository_selection,
                permissions=perms,
                repositories=list(repositories or []),
            )
            self.grants[rec.id] = rec
            return rec.view()

    def add_ssh_key(self, login: str, *, key: str, title: str, created_at: datetime) -> dict[str, Any]:
        with self.lock:
            user = self._user(login)
            rec = SshKeyRec(
                id=self.next_id("key"), login=user.login, key=key, title=title, created_at=_req_utc(created_at)
            )
            self.keys[rec.id] = rec
            return rec.view()

    # -- read helpers for tests and the sandbox -----------------------------------------------------
    def user(self, login: str) -> dict[str, Any] | None:
        with self.lock:
            rec = self.find_user(login)
            return rec.view() if rec else None

    def members(self, org: str) -> dict[str, str]:
        """Login -> role of an organization's members."""
        with self.lock:
            rec = self._org(org)
            return {self.users[k].login: role for k, role in rec.members.items() if k in self.users}

    def pat_grants(self, org: str) -> list[dict[str, Any]]:
        with self.lock:
            key = org.lower()
            return [g.view() for g in self.grants.values() if g.org.lower() == key]

    def impersonation_tokens(self, login: str) -> list[dict[str, Any]]:
        """The user's impersonation tokens, without the secret (`token` is "")."""
        with self.lock:
            key = login.lower()
            return [t.view() for t in self.tokens.values() if t.login.lower() == key]

    def ssh_keys(self, login: str) -> list[dict[str, Any]]:
        with self.lock:
            key = login.lower()
            return [k.view() for k in self.keys.values() if k.login.lower() == key]
