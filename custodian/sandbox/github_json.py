"""GitHub REST JSON shapes for the emulator: store records rendered the way github.com / GHES return them.

Every function takes `Urls` (the API and web roots built from the request's `Host`), so each URL in a
response points back at the emulator the client actually talked to. Timestamps are
`YYYY-MM-DDTHH:MM:SSZ`. The shapes carry at least the fields PyGithub 2.10.0 parses.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from custodian.sandbox.clock import iso
from custodian.sandbox.github_store import (
    CommitRec,
    DeploymentRec,
    ImpersonationTokenRec,
    OrgRec,
    PatGrantRec,
    ReleaseRec,
    RepoRec,
    SshKeyRec,
    StatusRec,
    TagRec,
    UserRec,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class Urls:
    """`api` = `http://host:port/api/v3`, `web` = `http://host:port` (both without a trailing slash)."""

    api: str
    web: str

    @classmethod
    def from_base(cls, base_url: str) -> Urls:
        base = base_url.rstrip("/")
        return cls(api=f"{base}/api/v3", web=base)


def node_id(kind: str, ident: int | str) -> str:
    """GitHub's legacy global node id: base64 of `<len>:<Kind><id>`."""
    text = f"{kind}{ident}"
    return base64.b64encode(f"{len(kind):02d}:{text}".encode()).decode()


def seg(text: str) -> str:
    return quote(text, safe="")


# -- accounts -------------------------------------------------------------------------------------------
def account_json(u: Urls, login: str, ident: int, type_: str, site_admin: bool = False) -> Json:
    """The `simple-user` shape (also used for organizations as owners)."""
    api_user = f"{u.api}/users/{seg(login)}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id(type_, ident),
        "avatar_url": f"{u.web}/avatars/u/{ident}",
        "gravatar_id": "",
        "url": api_user,
        "html_url": f"{u.web}/{seg(login)}",
        "followers_url": f"{api_user}/followers",
        "following_url": f"{api_user}/following{{/other_user}}",
        "gists_url": f"{api_user}/gists{{/gist_id}}",
        "starred_url": f"{api_user}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api_user}/subscriptions",
        "organizations_url": f"{api_user}/orgs",
        "repos_url": f"{api_user}/repos",
        "events_url": f"{api_user}/events{{/privacy}}",
        "received_events_url": f"{api_user}/received_events",
        "type": type_,
        "user_view_type": "public",
        "site_admin": site_admin,
    }


def simple_user(u: Urls, rec: UserRec) -> Json:
    return account_json(u, rec.login, rec.id, rec.type_, rec.site_admin)


def full_user(u: Urls, rec: UserRec, *, public_repos: int = 0) -> Json:
    out = simple_user(u, rec)
    out.update(
        {
            "name": rec.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": rec.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": iso(rec.created_at),
            "updated_at": iso(rec.suspended_at or rec.created_at),
            "suspended_at": iso(rec.suspended_at),
        }
    )
    return out


def principal_stub(login: str) -> UserRec:
    """The authenticated site admin when the scenario did not add it as a user."""
    return UserRec(id=1, login=login, name="GHES site administrator", site_admin=True)


def org_json(u: Urls, rec: OrgRec, *, full: bool = True) -> Json:
    api_org = f"{u.api}/orgs/{seg(rec.login)}"
    out: Json = {
        "login": rec.login,
        "id": rec.id,
        "node_id": node_id("Organization", rec.id),
        "url": api_org,
        "repos_url": f"{api_org}/repos",
        "events_url": f"{api_org}/events",
        "hooks_url": f"{api_org}/hooks",
        "issues_url": f"{api_org}/issues",
        "members_url": f"{api_org}/members{{/member}}",
        "public_members_url": f"{api_org}/public_members{{/member}}",
        "avatar_url": f"{u.web}/avatars/u/{rec.id}",
        "description": None,
    }
    if full:
        out.update(
            {
                "name": rec.login,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "is_verified": False,
                "has_organization_projects": True,
                "has_repository_projects": True,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "html_url": f"{u.web}/{seg(rec.login)}",
                "created_at": iso(rec.created_at),
                "updated_at": iso(rec.created_at),
                "type": "Organization",
            }
        )
    return out


def org_as_user(u: Urls, rec: OrgRec) -> Json:
    """`GET /users/{org}` answers with the organization as an account of type Organization."""
    out = account_json(u, rec.login, rec.id, "Organization")
    out.update({"name": rec.login, "created_at": iso(rec.created_at), "updated_at": iso(rec.created_at)})
    return out


def membership_json(u: Urls, org: OrgRec, user: UserRec, role: str) -> Json:
    return {
        "url": f"{u.api}/orgs/{seg(org.login)}/memberships/{seg(user.login)}",
        "state": "active",
        "role": role,
        "organization_url": f"{u.api}/orgs/{seg(org.login)}",
        "organization": org_json(u, org, full=False),
        "user": simple_user(u, user),
    }


# -- repositories -----------------------------------------------------------------------------------------
def repo_api(u: Urls, repo: RepoRec) -> str:
    return f"{u.api}/repos/{seg(repo.owner)}/{seg(repo.name)}"


def repo_json(u: Urls, repo: RepoRec, owner: Json) -> Json:
    api = repo_api(u, repo)
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "visibility": "internal",
        "owner": owner,
        "html_url": f"{u.web}/{seg(repo.owner)}/{seg(repo.name)}",
        "description": None,
        "fork": False,
        "url": api,
        "tags_url": f"{api}/tags",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "clone_url": f"{u.web}/{seg(repo.owner)}/{seg(repo.name)}.git",
        "default_branch": repo.default_branch,
        "archived": False,
        "disabled": False,
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at),
        "pushed_at": iso(max((c.date for c in repo.commits.values()), default=repo.created_at)),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    }


def tag_json(u: Urls, repo: RepoRec, tag: TagRec) -> Json:
    api = repo_api(u, repo)
    return {
        "name": tag.name,
        "commit": {"sha": tag.sha, "url": f"{api}/commits/{tag.sha}"},
        "zipball_url": f"{api}/zipball/refs/tags/{seg(tag.name)}",
        "tarball_url": f"{api}/tarball/refs/tags/{seg(tag.name)}",
        "node_id": node_id("Ref", f"{repo.id}:refs/tags/{tag.name}"),
    }


def commit_json(u: Urls, repo: RepoRec, commit: CommitRec, author: Json | None) -> Json:
    api = repo_api(u, repo)
    person = {"name": author["login"] if author else "release-bot", "email": "noreply@example.invalid"}
    stamp = {**person, "date": iso(commit.date)}
    tree_sha = hashlib.sha1(f"tree:{commit.sha}".encode(), usedforsecurity=False).hexdigest()
    return {
        "sha": commit.sha,
        "node_id": node_id("Commit", f"{repo.id}:{commit.sha}"),
        "url": f"{api}/commits/{commit.sha}",
        "html_url": f"{u.web}/{seg(repo.owner)}/{seg(repo.name)}/commit/{commit.sha}",
        "comments_url": f"{api}/commits/{commit.sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{commit.sha}",
            "author": stamp,
            "committer": stamp,
            "message": commit.message,
            "tree": {"sha": tree_sha, "url": f"{api}/git/trees/{tree_sha}"},
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        },
        "author": author,
        "committer": author,
        "parents": [],
        "stats": {"total": 0, "additions": 0, "deletions": 0},
        "files": [],
    }


def release_json(u: Urls, repo: RepoRec, rel: ReleaseRec, author: Json) -> Json:
    api = repo_api(u, repo)
    url = f"{api}/releases/{rel.id}"
    return {
        "url": url,
        "html_url": f"{u.web}/{seg(repo.owner)}/{seg(repo.name)}/releases/tag/{seg(rel.tag_name)}",
        "assets_url": f"{url}/assets",
        "upload_url": f"{u.web}/api/uploads/repos/{seg(repo.owner)}/{seg(repo.name)}/releases/{rel.id}/assets"
        "{?name,label}",
        "tarball_url": f"{api}/tarball/{seg(rel.tag_name)}",
        "zipball_url": f"{api}/zipball/{seg(rel.tag_name)}",
        "id": rel.id,
        "node_id": node_id("Release", rel.id),
        "tag_name": rel.tag_name,
        "target_commitish": rel.target_commitish,
        "name": rel.name,
        "body": "",
        "draft": rel.draft,
        "prerelease": rel.prerelease,
        "immutable": False,
        "created_at": iso(rel.created_at),
        "published_at": iso(rel.published_at),
        "author": author,
        "assets": [],
    }


def deployment_json(u: Urls, repo: RepoRec, dep: DeploymentRec, creator: Json) -> Json:
    api = repo_api(u, repo)
    url = f"{api}/deployments/{dep.id}"
    return {
        "url": url,
        "id": dep.id,
        "node_id": node_id("Deployment", dep.id),
        "sha": dep.sha,
        "ref": dep.ref,
        "task": dep.task,
        "payload": dict(dep.payload),
        "original_environment": dep.environment,
        "environment": dep.environment,
        "description": dep.description,
        "creator": creator,
        "created_at": iso(dep.created_at),
        "updated_at": iso(dep.updated_at),
        "statuses_url": f"{url}/statuses",
        "repository_url": api,
        "transient_environment": False,
        "production_environment": dep.environment == "production",
        "performed_via_github_app": None,
    }


def status_json(u: Urls, repo: RepoRec, dep: DeploymentRec, st: StatusRec, creator: Json) -> Json:
    api = repo_api(u, repo)
    dep_url = f"{api}/deployments/{dep.id}"
    return {
        "url": f"{dep_url}/statuses/{st.id}",
        "id": st.id,
        "node_id": node_id("DeploymentStatus", st.id),
        "state": st.state,
        "creator": creator,
        "description": st.description,
        "environment": st.environment,
        "target_url": st.target_url,
        "log_url": st.log_url,
        "environment_url": st.environment_url,
        "created_at": iso(st.created_at),
        "updated_at": iso(st.created_at),
        "deployment_url": dep_url,
        "repository_url": api,
        "performed_via_github_app": None,
    }


# -- credentials ------------------------------------------------------------------------------------------
def authorization_json(u: Urls, tok: ImpersonationTokenRec, user: Json, *, with_token: bool) -> Json:
    return {
        "id": tok.id,
        "url": f"{u.api}/authorizations/{tok.id}",
        "scopes": list(tok.scopes),
        "token": tok.token if with_token else "",
        "token_last_eight": tok.token[-8:],
        "hashed_token": hashlib.sha256(tok.token.encode()).hexdigest(),
        "app": {"url": f"{u.web}/", "name": "GitHub Site Administrator", "client_id": "00000000000000000000"},
        "note": None,
        "note_url": None,
        "created_at": iso(tok.created_at),
        "updated_at": iso(tok.created_at),
        "fingerprint": None,
        "expires_at": iso(tok.expires_at),
        "user": user,
    }


def pat_grant_json(u: Urls, grant: PatGrantRec, org: OrgRec, owner: Json, now: datetime) -> Json:
    return {
        "id": grant.id,
        "owner": owner,
        "repository_selection": grant.repository_selection,
        "repositories_url": f"{u.api}/organizations/{org.id}/personal-access-tokens/{grant.id}/repositories",
        "permissions": {k: dict(v) for k, v in grant.permissions.items()},
        "access_granted_at": iso(grant.access_granted_at),
        "token_id": grant.token_id,
        "token_name": grant.token_name,
        "token_expired": grant.token_expires_at is not None and grant.token_expires_at <= now,
        "token_expires_at": iso(grant.token_expires_at),
        "token_last_used_at": iso(grant.token_last_used_at),
    }


def public_key_json(key: SshKeyRec) -> Json:
    return {"id": key.id, "key": key.key}


def admin_key_json(u: Urls, key: SshKeyRec, user_id: int) -> Json:
    return {
        "id": key.id,
        "key": key.key,
        "user_id": user_id,
        "repository_id": None,
        "url": f"{u.api}/user/keys/{key.id}",
        "title": key.title,
        "read_only": key.read_only,
        "verified": key.verified,
        "created_at": iso(key.created_at),
        "last_used": None,
    }
