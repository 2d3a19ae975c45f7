"""GHES site-admin, SSH-key and org fine-grained PAT grant routes of the GitHub REST emulator.

Mixed into `custodian.sandbox.github.GithubEmulator`; see that module's docstring for the route list
(including the `GET /admin/users/{u}/authorizations` emulator extension).
"""

from __future__ import annotations

from collections.abc import Iterable

from custodian.sandbox import github_json as gj
from custodian.sandbox.github_base import (
    ApiError,
    Ctx,
    GithubRoutesBase,
    date_param,
    int_or_404,
    invalid,
    not_found,
)
from custodian.sandbox.github_store import valid_login
from custodian.sandbox.httpserver import Response, empty_response, json_response


class GithubAdminRoutes(GithubRoutesBase):
    """Handlers for `/admin/...`, `/users/{u}/suspended`, `/users/{u}/keys` and `/orgs/{org}/personal-access-tokens`."""

    # -- GHES site admin ----------------------------------------------------------------------------------
    def _admin_create_user(self, ctx: Ctx, _: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        body = self._body(ctx)
        if not isinstance(body, dict) or not isinstance(body.get("login"), str):
            raise invalid("login", "login is missing", "User", "missing_field")
        login = body["login"]
        if not valid_login(login):
            raise invalid(
                "login",
                "Login may only contain alphanumeric characters or single hyphens, "
                "and cannot begin or end with a hyphen (max 39 characters)",
                "User",
                "custom",
            )
        if self.store.login_taken(login) or login.lower() == self.store.principal_login.lower():
            raise invalid("login", "login is already taken", "User", "already_exists")
        email = body.get("email")
        now = self._now()
        self.store.add_user(
            login,
            created_at=now,
            email=email if isinstance(email, str) else None,
            suspended_at=now if body.get("suspended") is True else None,
        )
        return json_response(201, gj.simple_user(ctx.urls, self._user(login)))

    def _admin_delete_user(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        if not self.store.delete_user(p["user"]):
            raise not_found()
        return empty_response(204)

    def _suspend(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        body = self._body(ctx)
        if p["user"].lower() == ctx.principal.lower():
            raise ApiError(403, "You cannot suspend yourself.")
        user = self._user(p["user"])
        if user.suspended_at is None:
            user.suspended_at = self._now()
            reason = body.get("reason") if isinstance(body, dict) else None
            user.suspension_reason = str(reason) if reason else "Suspended via API by SITE_ADMINISTRATOR"
        return empty_response(204)

    def _unsuspend(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        self._body(ctx)
        user = self._user(p["user"])
        user.suspended_at = None
        user.suspension_reason = None
        return empty_response(204)

    def _admin_list_tokens(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        user = self._user(p["user"])
        owner = gj.simple_user(ctx.urls, user)
        tokens = sorted((t for t in self.store.tokens.values() if t.login == user.login), key=lambda t: t.id)
        return self.page(ctx, tokens, lambda t: gj.authorization_json(ctx.urls, t, owner, with_token=False))

    def _admin_create_token(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        user = self._user(p["user"])
        body = self._body(ctx)
        scopes = body.get("scopes", []) if isinstance(body, dict) else [] if body is None else None
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise invalid("scopes", "scopes must be an array of strings", "OauthAccess")
        owner = gj.simple_user(ctx.urls, user)
        for tok in self.store.tokens.values():
            if tok.login == user.login and set(tok.scopes) == set(scopes):
                return json_response(200, gj.authorization_json(ctx.urls, tok, owner, with_token=False))
        created = self.store.add_impersonation_token(user.login, scopes=list(scopes), created_at=self._now())
        tok = self.store.tokens[int(created["id"])]
        return json_response(201, gj.authorization_json(ctx.urls, tok, owner, with_token=True))

    def _admin_delete_tokens(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        self.store.delete_impersonation_tokens(self._user(p["user"]).login)
        return empty_response(204)

    def _admin_keys(self, ctx: Ctx, _: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        direction = ctx.request.param("direction", "desc")
        since = date_param(ctx.request, "since")
        keys = [k for k in self.store.keys.values() if since is None or k.created_at >= since]
        keys.sort(key=lambda k: (k.created_at, k.id), reverse=direction != "asc")
        users = {u.login: u.id for u in self.store.users.values()}
        return self.page(ctx, keys, lambda k: gj.admin_key_json(ctx.urls, k, users.get(k.login, 0)))

    def _admin_delete_keys(self, ctx: Ctx, p: dict[str, str]) -> Response:
        self._require_site_admin(ctx)
        ids = [int_or_404(part) for part in p["key_ids"].split(",") if part.strip()]
        found = [i for i in ids if i in self.store.keys]
        if not found:
            raise not_found()
        for key_id in found:
            del self.store.keys[key_id]
        return empty_response(204)

    def _user_keys(self, ctx: Ctx, p: dict[str, str]) -> Response:
        user = self._user(p["user"])
        keys = sorted((k for k in self.store.keys.values() if k.login == user.login), key=lambda k: k.id)
        return self.page(ctx, keys, gj.public_key_json)

    # -- org fine-grained PAT grants ------------------------------------------------------------------------
    def _pat_grants(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        request = ctx.request
        if request.param("sort", "created_at") != "created_at":
            raise invalid("sort", "sort must be created_at")
        direction = request.param("direction", "desc")
        if direction not in ("asc", "desc"):
            raise invalid("direction", "direction must be asc or desc")
        owners = {o.lower() for o in [*request.query.get("owner[]", []), *request.query.get("owner", [])]}
        if len(owners) > 10:
            raise invalid("owner", "owner accepts at most 10 logins")
        repository = request.param("repository")
        permission = request.param("permission")
        before = date_param(request, "last_used_before")
        after = date_param(request, "last_used_after")
        org_repos = {r.name.lower() for r in self.store.repos.values() if r.owner.lower() == org.login.lower()}
        grants = []
        for grant in self.store.grants.values():
            last_used = grant.token_last_used_at
            if grant.org != org.login or (owners and grant.owner.lower() not in owners):
                continue
            if repository is not None and not _grant_covers(
                grant.repository_selection, grant.repositories, org_repos, repository
            ):
                continue
            if permission is not None and not _has_permission(grant.permissions, permission):
                continue
            if before is not None and (last_used is None or last_used >= before):
                continue
            if after is not None and (last_used is None or last_used <= after):
                continue
            grants.append(grant)
        grants.sort(key=lambda g: (g.access_granted_at, g.id), reverse=direction == "desc")
        now = self.clock.now()
        return self.page(ctx, grants, lambda g: gj.pat_grant_json(ctx.urls, g, org, self._account(ctx, g.owner), now))

    def _pat_bulk_revoke(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        body = self._body(ctx)
        if not isinstance(body, dict) or body.get("action") != "revoke":
            raise invalid("action", "action must be 'revoke'", "PersonalAccessTokenRequest")
        ids = body.get("pat_ids")
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= 100
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise invalid("pat_ids", "pat_ids must be an array of 1 to 100 integers", "PersonalAccessTokenRequest")
        grants = [self.store.grants.get(i) for i in ids]
        if any(g is None or g.org != org.login for g in grants):
            raise not_found()
        for grant_id in ids:
            self.store.grants.pop(grant_id, None)
        return json_response(202, {})

    def _pat_revoke(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        grant = self.store.grants.get(int_or_404(p["pat_id"]))
        if grant is None or grant.org != org.login:
            raise not_found()
        body = self._body(ctx)
        if not isinstance(body, dict) or body.get("action") != "revoke":
            raise invalid("action", "action must be 'revoke'", "PersonalAccessTokenRequest")
        del self.store.grants[grant.id]
        return empty_response(204)

    def _pat_repos(self, ctx: Ctx, p: dict[str, str]) -> Response:
        if "org" in p:
            org = self._org(p["org"])
        else:
            org_id = int_or_404(p["org_id"])
            found = next((o for o in self.store.orgs.values() if o.id == org_id), None)
            if found is None:
                raise not_found()
            org = found
        grant = self.store.grants.get(int_or_404(p["pat_id"]))
        if grant is None or grant.org != org.login:
            raise not_found()
        repos = sorted(
            (r for r in self.store.repos.values() if r.owner.lower() == org.login.lower()), key=lambda r: r.id
        )
        if grant.repository_selection != "all":
            chosen = {n.lower() for n in grant.repositories} if grant.repository_selection == "subset" else set()
            repos = [r for r in repos if r.name.lower() in chosen]
        owner = gj.org_json(ctx.urls, org, full=False)
        return self.page(ctx, repos, lambda r: gj.repo_json(ctx.urls, r, owner))


def _grant_covers(selection: str, chosen: Iterable[str], org_repos: set[str], repository: str) -> bool:
    name = repository.rsplit("/", 1)[-1].lower()
    if selection == "all":
        return name in org_repos
    return selection == "subset" and name in {c.lower() for c in chosen}


def _has_permission(permissions: dict[str, dict[str, str]], wanted: str) -> bool:
    """`issues_read` matches a grant holding issues=read or issues=write (write implies read)."""
    name, _, level = wanted.rpartition("_")
    rank = {"read": 1, "write": 2, "admin": 3}
    for values in permissions.values():
        held = values.get(name)
        if held is not None and rank.get(held, 0) >= rank.get(level, 99):
            return True
    return False
