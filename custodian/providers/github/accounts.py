"""GitHub machine accounts: enumeration, state and credentials, for both GitHub modes.

- enterprise-server: all users of the instance (`GET /users`), each user's `suspended_at`
  (`GET /users/{u}`, site admin), SSH keys (`GET /admin/keys`, one paged call). Impersonation
  tokens cannot be listed on GHES: invalidation deletes them unconditionally.
- organization: org members, the org's fine-grained PAT grants (one paged call), SSH keys per user.

Every read goes through `GithubSession.get_json`/`paged`: conditional (`If-None-Match`) when the
session has a cache, so an unchanged account costs a free 304. Before the per-account reads, the
session's rate-limit budget is told how many there will be (a warning when fewer are left).
The listing of users or members goes through the caller's `ListingCheck` (a shrunken listing is
read twice: `custodian.collect.completeness`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from github import UnknownObjectException

from custodian.model import AccountKind, Credential, CredentialKind, Provider, Scope, ServiceAccount
from custodian.providers.github.client import GithubSession
from custodian.providers.paging import ListingCheck, unchecked

NamePredicate = Callable[[str], bool]


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class MalformedUser(ValueError):
    """A user object from GitHub without the types GitHub gives it (a string login, a numeric id)."""


def typed_user(user: object, where: str) -> dict[str, Any]:
    """`user` when it has GitHub's shape (login a non-empty string, id an integer), else `MalformedUser`."""
    if not isinstance(user, dict):
        raise MalformedUser(f"{where}: a user is a {type(user).__name__}, not an object")
    login, user_id = user.get("login"), user.get("id")
    if not isinstance(login, str) or not login.strip():
        raise MalformedUser(f"{where}: a user's login is {login!r}, not a name")
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise MalformedUser(f"{where}: user {login!r} has the id {user_id!r}, not a number")
    suspended = user.get("suspended_at")
    if suspended is not None and not isinstance(suspended, str):
        raise MalformedUser(f"{where}: user {login!r} has suspended_at {suspended!r}, not a time")
    return user


def _typed_users(users: Iterable[object], where: str) -> list[dict[str, Any]]:
    return [typed_user(user, where) for user in users]


def _login(user: dict[str, Any]) -> str:
    return str(user["login"]).lower()


def org_scope(org: str) -> str:
    return f"github:{org}"


def _ssh_key(key: dict[str, Any]) -> Credential:
    return Credential(
        CredentialKind.SSH_KEY,
        str(key["id"]),
        str(key.get("title") or f"key {key['id']}"),
        parse_time(key.get("created_at")),
        None,
        parse_time(key.get("last_used")),
    )


def _pat_grant(grant: dict[str, Any]) -> Credential:
    expires = parse_time(grant.get("token_expires_at"))
    return Credential(
        CredentialKind.PAT_GRANT,
        str(grant["id"]),
        str(grant.get("token_name") or grant["id"]),
        parse_time(grant.get("access_granted_at")),
        expires,
        parse_time(grant.get("token_last_used_at")),
    )


def _account(
    session: GithubSession, user: dict[str, Any], enabled: bool, credentials: list[Credential]
) -> ServiceAccount:
    login = str(user["login"])
    return ServiceAccount(
        provider=Provider.GITHUB,
        kind=AccountKind.GH,
        provider_name=login,
        unit=org_scope(session.settings.org),
        scope=Scope.github(session.settings.org, enterprise=session.settings.enterprise),
        enabled=enabled,
        credentials=tuple(credentials),
        resource_id=f"github-user:{user.get('id', login)}",
        display_name=user.get("name"),
        location=session.settings.base_url,
        snapshot={
            "login": login,
            "id": user.get("id"),
            "name": user.get("name"),
            "suspended_at": user.get("suspended_at"),
            "site_admin": user.get("site_admin"),
            "credentials": [{"kind": c.kind.value, "id": c.credential_id, "name": c.name} for c in credentials],
        },
    )


class GithubAccountReader:
    """Reads machine accounts in the configured mode: the whole inventory, or one account again."""

    def __init__(self, session: GithubSession, mode: str) -> None:
        if mode not in ("enterprise-server", "organization"):
            raise ValueError(f"unknown GitHub mode {mode!r}")
        self.session = session
        self.mode = mode

    def collect(self, is_candidate: NamePredicate, check: ListingCheck = unchecked) -> list[ServiceAccount]:
        """Every machine account; the users (members) listing is read through `check`."""
        if self.mode == "enterprise-server":
            return self._collect_enterprise(is_candidate, check)
        return self._collect_organization(is_candidate, check)

    def get(self, login: str) -> ServiceAccount | None:
        """Re-read one account (for confirmation); None when it no longer exists (in the org)."""
        try:
            user = typed_user(self.session.get_json(f"/users/{login}"), f"GET /users/{login}")
        except UnknownObjectException:
            return None
        keys = [_ssh_key(k) for k in self.session.paged(f"/users/{login}/keys")]
        if self.mode == "enterprise-server":
            return _account(self.session, user, not user.get("suspended_at"), keys)
        org = self.session.settings.org
        member = self.session.status("GET", f"/orgs/{org}/members/{login}") == 204
        grants = [
            _pat_grant(g)
            for g in self.session.paged(f"/orgs/{org}/personal-access-tokens", {"owner[]": login})
            if str(g["owner"]["login"]).lower() == login.lower()
        ]
        if not member and not grants:
            return None
        return _account(self.session, user, member, grants + keys)

    def _collect_enterprise(self, is_candidate: NamePredicate, check: ListingCheck) -> list[ServiceAccount]:
        session = self.session
        where = f"users of {session.settings.base_url}"
        listed = check("users", where, lambda: _typed_users(session.paged("/users"), "GET /users"), _login)
        logins = [u["login"] for u in listed if is_candidate(str(u["login"]))]
        session.budget.plan(len(logins) + 1, f"the accounts of {session.settings.org}")  # a user GET each, keys
        users = {login: typed_user(session.get_json(f"/users/{login}"), f"GET /users/{login}") for login in logins}
        keys_by_user: dict[int, list[Credential]] = {}
        if users:
            for key in session.paged("/admin/keys"):
                if key.get("user_id") is not None:
                    keys_by_user.setdefault(int(key["user_id"]), []).append(_ssh_key(key))
        return [
            _account(session, user, not user.get("suspended_at"), keys_by_user.get(int(user["id"]), []))
            for user in users.values()
        ]

    def _collect_organization(self, is_candidate: NamePredicate, check: ListingCheck) -> list[ServiceAccount]:
        session = self.session
        org = session.settings.org
        path = f"/orgs/{org}/members"
        listed = check("members", f"members of {org}", lambda: _typed_users(session.paged(path), f"GET {path}"), _login)
        logins = [m["login"] for m in listed if is_candidate(str(m["login"]))]
        session.budget.plan(2 * len(logins) + 1, f"the accounts of {org}")  # user and keys each, grants
        grants: dict[str, list[Credential]] = {}
        if logins:
            for grant in session.paged(f"/orgs/{org}/personal-access-tokens"):
                grants.setdefault(str(grant["owner"]["login"]).lower(), []).append(_pat_grant(grant))
        accounts = []
        for login in logins:
            user = typed_user(session.get_json(f"/users/{login}"), f"GET /users/{login}")
            keys = [_ssh_key(k) for k in session.paged(f"/users/{login}/keys")]
            accounts.append(_account(session, user, True, grants.get(login.lower(), []) + keys))
        return accounts
