"""In-memory state of the GitHub REST emulator: accounts, repositories, release timeline and credentials.

`GithubStore` is what scenarios seed and what `custodian.sandbox.github.GithubEmulator` serves. It is
thread-safe (one re-entrant lock, `store.lock`, held by every public method and by the emulator for
each request) and case-insensitive on logins and repository names, as GitHub is.

Records are typed dataclasses (`github_records`, re-exported here); accounts, credentials, state and
lookups live in `github_store_core.GithubStoreCore`, Apps and installations in
`github_apps.GithubAppStore`, which `GithubStore` extends with repositories and the release
timeline. Every `add_*` method and every read helper returns a plain JSON-shaped dict (ISO
`YYYY-MM-DDTHH:MM:SSZ` timestamps, no URLs: URLs are built per request from the caller's `Host` by
the emulator). Secrets are only returned by `add_impersonation_token` and by the emulator's create
calls, never by the read helpers.

Seeding mistakes (unknown account, duplicate tag, invalid login...) raise `GithubSeedError`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from custodian.sandbox.clock import iso
from custodian.sandbox.github_apps import AppRec, GithubAppStore, InstallationRec, InstallationTokenRec
from custodian.sandbox.github_records import (
    DEFAULT_CREATED_AT,
    DEPLOYMENT_STATES,
    LOGIN_RE,
    CommitRec,
    DeploymentRec,
    GithubSeedError,
    ImpersonationTokenRec,
    OrgRec,
    PatGrantRec,
    ReleaseRec,
    RepoRec,
    SshKeyRec,
    StatusRec,
    TagObjectRec,
    TagRec,
    UserRec,
    fake_sha,
    utc,
    utc_or_none,
    valid_login,
)
from custodian.sandbox.github_store_core import DEFAULT_PRINCIPAL

__all__ = [
    "DEFAULT_CREATED_AT",
    "DEFAULT_PRINCIPAL",
    "DEPLOYMENT_STATES",
    "LOGIN_RE",
    "AppRec",
    "CommitRec",
    "DeploymentRec",
    "GithubSeedError",
    "GithubStore",
    "ImpersonationTokenRec",
    "InstallationRec",
    "InstallationTokenRec",
    "OrgRec",
    "PatGrantRec",
    "ReleaseRec",
    "RepoRec",
    "SshKeyRec",
    "StatusRec",
    "TagObjectRec",
    "TagRec",
    "UserRec",
    "fake_sha",
    "valid_login",
]

_REPO_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class GithubStore(GithubAppStore):
    """Thread-safe in-memory GitHub state; logins and repository names are case-insensitive.

    `principal_login` is the user that any accepted (non-impersonation) credential authenticates as:
    the login given to the constructor or assigned later, else the first unsuspended site-admin user
    added (a scenario's `site_admin`), else `"ghe-admin"`, served by `GET /user` as a site admin even when no
    such user was added.
    """

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
        message: str | None = None,
    ) -> dict[str, Any]:
        """Add a tag pushed at `date` and the commit it points to (dated `commit_date`, default `date`).

        An `annotated` tag also gets a tag object tagged by the principal at `tagger_date` (default
        `date`). A known commit keeps its date; an explicit `commit_date` must then agree with it.
        """
        with self.lock:
            rec = self._repo(repo)
            if name in rec.tags:
                raise GithubSeedError(f"tag {name!r} already exists in {repo}")
            if tagger_date is not None and not annotated:
                raise GithubSeedError(f"tag {name!r}: only an annotated tag has a tagger date")
            pushed = utc(date)
            sha = (sha or fake_sha(rec.full_name, name, iso(pushed) or "")).lower()
            if not re.fullmatch(r"[0-9a-f]{40}", sha):
                raise GithubSeedError(f"commit sha must be 40 hex digits, got {sha!r}")
            dated = utc_or_none(commit_date)
            known = rec.commits.get(sha)
            if known is not None and dated is not None and known.date != dated:
                raise GithubSeedError(f"tag {name!r}: commit {sha} is already dated {iso(known.date)}")
            commit = rec.commits.setdefault(sha, CommitRec(sha=sha, date=dated or pushed, message=f"Release {name}"))
            tag = TagRec(name=name, sha=sha, pushed_at=pushed)
            if annotated:
                tagged = utc_or_none(tagger_date) or pushed
                tag.object_sha = fake_sha(rec.full_name, "tag", name, iso(tagged) or "")
                login = self.principal_login
                rec.tag_objects[tag.object_sha] = TagObjectRec(
                    sha=tag.object_sha,
                    tag=name,
                    message=message if message is not None else f"Release {name}\n",
                    object_sha=sha,
                    tagger_name=login,
                    tagger_email=f"{login}@users.noreply.example.invalid",
                    tagger_date=tagged,
                    visible_from=pushed,
                )
            rec.tags[name] = tag
            return {
                "name": name,
                "sha": sha,
                "date": iso(commit.date),
                "pushed_at": iso(pushed),
                "tag_sha": tag.object_sha,
            }

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
            created = utc(created_at)
            published = None if draft else (utc_or_none(published_at) or created)
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
            when = utc(created_at)
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
            when = utc(created_at)
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
