"""The GitHub emulator store's core: its state, lookups, accounts and credentials.

`GithubStoreCore` holds every record behind one re-entrant lock (`lock`, held by every public
method and by the emulator for each request) and is case-insensitive on logins and repository
names, as GitHub is. `custodian.sandbox.github_store.GithubStore` adds repositories and the
release timeline. Every `add_*` method and read helper returns a plain JSON-shaped dict; secrets
are only returned by `add_impersonation_token` (and by the emulator's create call).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from datetime import datetime
from typing import Any

from custodian.sandbox.github_records import (
    DEFAULT_CREATED_AT,
    GithubSeedError,
    ImpersonationTokenRec,
    OrgRec,
    PatGrantRec,
    RepoRec,
    SshKeyRec,
    UserRec,
    utc,
    utc_or_none,
    valid_login,
)

#: The authenticated site admin when neither configured nor seeded.
DEFAULT_PRINCIPAL = "ghe-admin"


class GithubStoreCore:
    """Thread-safe in-memory GitHub state: accounts and credentials (repositories: `GithubStore`).

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
                suspended_at=utc_or_none(suspended_at),
                created_at=utc_or_none(created_at) or DEFAULT_CREATED_AT,
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
                created_at=utc(created_at),
                expires_at=utc_or_none(expires_at),
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
                access_granted_at=utc(access_granted_at),
                token_expires_at=utc_or_none(token_expires_at),
                token_last_used_at=utc_or_none(token_last_used_at),
                repository_selection=repository_selection,
                permissions=perms,
                repositories=list(repositories or []),
            )
            self.grants[rec.id] = rec
            return rec.view()

    def add_ssh_key(self, login: str, *, key: str, title: str, created_at: datetime) -> dict[str, Any]:
        with self.lock:
            user = self._user(login)
            rec = SshKeyRec(id=self.next_id("key"), login=user.login, key=key, title=title, created_at=utc(created_at))
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
