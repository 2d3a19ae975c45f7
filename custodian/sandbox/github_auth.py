"""Authentication of the GitHub REST emulator: tokens, GitHub App JWTs and installation tokens.

Mixed into `custodian.sandbox.github.GithubEmulator`. `Authorization: token X` or `Bearer X`:

- a JWT (three base64url parts) is an App's: RS256 only, its signature checked against the public
  key registered for the App named by `iss` (its id), `iat` not in the future (60 s of skew),
  `exp` in the future and at most 10 minutes ahead. It opens the App routes only; elsewhere 403.
- an installation token (`ghs_...`, minted by `POST /app/installations/{id}/access_tokens`, valid
  `installation_token_lifetime_s`, one hour by default) authenticates as `<slug>[bot]`: 401 Bad
  credentials once expired; otherwise it reaches its installation's account only (another org: 403,
  another owner's repository: 404) and only with its permissions (`required_permission` maps
  each route to GitHub's permission name; public data needs none; `/user`, site-admin and any
  route not in the map answer 403 "Resource not accessible by integration").
- anything else is checked as before: impersonation tokens, then `tokens` (see `github`).

JWTs and installation tokens are checked against `wall_clock` (real time by default, never the
movable scenario clock: real clients compute `iat`, `exp` and token expiry from the real time).

App routes (JWT only; other credentials get 401 "A JSON web token could not be decoded"):
`GET /app`, `GET /app/installations`, `GET /app/installations/{id}`, `GET /orgs/{org}/installation`,
`GET /repos/{o}/{r}/installation`, and `POST /app/installations/{id}/access_tokens` (201 `token`,
`expires_at`, `permissions`; a body's `permissions` may narrow the installation's, never widen them:
422). An unknown `iss` answers 401 "Integration not found"; a JWT signed by another key 401 "A JSON
web token could not be decoded"; a suspended installation 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jwt

from custodian.sandbox import github_json as gj
from custodian.sandbox.clock import iso
from custodian.sandbox.github_apps import LEVELS, AppRec, InstallationRec
from custodian.sandbox.github_base import ApiError, Ctx, GithubRoutesBase, Handler, int_or_404, not_found
from custodian.sandbox.github_json import Json, Urls
from custodian.sandbox.httpserver import Request, Response, json_response

JWT_UNDECODABLE = "A JSON web token could not be decoded"
NOT_ACCESSIBLE = "Resource not accessible by integration"
IAT_MESSAGE = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
EXP_MESSAGE = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
    "the assertion expires"
)
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
MAX_JWT_LIFETIME_S = 600
CLOCK_SKEW_S = 60

_REPO = "/repos/{owner}/{repo}"
_APP_ROUTES = frozenset(
    {
        "/app",
        "/app/installations",
        "/app/installations/{installation_id}",
        "/app/installations/{installation_id}/access_tokens",
        "/orgs/{org}/installation",
        f"{_REPO}/installation",
    }
)
#: public data: an installation token needs no permission for these GETs
_PUBLIC = frozenset({"/", "/rate_limit", "/users", "/users/{user}", "/users/{user}/keys", "/orgs/{org}"})


def required_permission(method: str, pattern: str) -> tuple[str, str] | Literal["public", "never"]:
    """The (permission, level) an installation token needs for a route, or "public", or "never"."""
    level = "read" if method in ("GET", "HEAD") else "write"
    if pattern in _PUBLIC:
        return "public" if level == "read" else "never"
    if pattern == _REPO:
        return ("metadata", "read") if level == "read" else "never"
    if pattern.startswith(f"{_REPO}/deployments"):
        return ("deployments", level)
    if pattern.startswith(f"{_REPO}/"):
        return ("contents", level)
    if pattern.startswith(("/orgs/{org}/personal-access-tokens", "/organizations/{org_id}/personal-access-tokens")):
        return ("organization_personal_access_tokens", level)
    if pattern.startswith(("/orgs/{org}/members", "/orgs/{org}/memberships")):
        return ("members", level)
    return "never"


def covers(granted: str | None, needed: str) -> bool:
    return granted in LEVELS and LEVELS.index(granted) >= LEVELS.index(needed)


def _looks_like_jwt(credential: str) -> bool:
    return credential.startswith("eyJ") and credential.count(".") == 2


class GithubAuthRoutes(GithubRoutesBase):
    """`_context` (who is calling), `_authorize` (may they call this route) and the App routes."""

    tokens: set[str] | None
    installation_token_lifetime_s: float
    wall_clock: Callable[[], float]

    def app_routes(self) -> list[tuple[str, str, Handler]]:
        """(method, pattern, handler) of the App routes."""
        inst = "/app/installations/{installation_id}"
        return [
            ("GET", "/app", self._get_app),
            ("GET", "/app/installations", self._list_installations),
            ("GET", inst, self._get_installation),
            ("POST", f"{inst}/access_tokens", self._create_access_token),
            ("GET", "/orgs/{org}/installation", self._org_installation),
            ("GET", f"{_REPO}/installation", self._repo_installation),
        ]

    # -- who is calling ---------------------------------------------------------------------------------
    def _context(self, request: Request) -> Ctx:
        urls = Urls.from_base(request.base_url)
        scheme, _, credential = (request.header("Authorization") or "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() not in ("token", "bearer") or not credential:
            raise ApiError(401, "Bad credentials")
        store = self.store
        if _looks_like_jwt(credential):
            app = self._verify_jwt(credential)
            return Ctx(request, urls, f"{app.slug}[bot]", app=app)
        issued = store.installation_token(credential)
        if issued is not None:
            if issued.expires_at <= self.wall_clock():
                raise ApiError(401, "Bad credentials")
            issuer = store.find_app(issued.app_id)
            return Ctx(request, urls, f"{issuer.slug if issuer else 'app'}[bot]", installation=issued)
        if credential in store.revoked_tokens:
            raise ApiError(401, "Bad credentials")
        impersonation = store.token_owner(credential)
        if impersonation is not None:
            user = store.find_user(impersonation.login)
            if user is None or (impersonation.expires_at and impersonation.expires_at <= self.clock.now()):
                raise ApiError(401, "Bad credentials")
            if user.suspended_at is not None:
                raise ApiError(403, "Sorry. Your account was suspended.")
            return Ctx(request, urls, user.login)
        if self.tokens is not None and credential not in self.tokens:
            raise ApiError(401, "Bad credentials")
        return Ctx(request, urls, store.principal_login)

    def _verify_jwt(self, credential: str) -> AppRec:
        try:
            header = jwt.get_unverified_header(credential)
            claims = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise ApiError(401, JWT_UNDECODABLE) from None
        issuer = str(claims.get("iss", ""))
        app = self.store.find_app(int(issuer)) if issuer.isdigit() else None
        if app is None:
            raise ApiError(401, "Integration not found")
        if header.get("alg") != "RS256" or app.public_key is None:
            raise ApiError(401, JWT_UNDECODABLE)
        try:
            jwt.decode(
                credential,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            raise ApiError(401, JWT_UNDECODABLE) from None
        now = self.wall_clock()
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int | float) or isinstance(issued, bool) or issued > now + CLOCK_SKEW_S:
            raise ApiError(401, IAT_MESSAGE)
        if not isinstance(expires, int | float) or isinstance(expires, bool) or expires <= now:
            raise ApiError(401, EXP_MESSAGE)
        if expires > now + MAX_JWT_LIFETIME_S:
            raise ApiError(401, EXP_TOO_FAR)
        return app

    # -- may they call this route -----------------------------------------------------------------------
    def _authorize(self, ctx: Ctx, method: str, pattern: str, params: dict[str, str]) -> None:
        if pattern in _APP_ROUTES:
            if ctx.app is None:
                raise ApiError(401, JWT_UNDECODABLE)
            return
        if ctx.app is not None:
            raise ApiError(403, NOT_ACCESSIBLE)
        issued = ctx.installation
        if issued is None:
            return
        needed = required_permission(method, pattern)
        if needed == "never":
            raise ApiError(403, NOT_ACCESSIBLE)
        account = issued.account.lower()
        if "owner" in params and params["owner"].lower() != account:
            raise not_found()
        if needed != "public" and "org" in params and params["org"].lower() != account:
            raise ApiError(403, NOT_ACCESSIBLE)
        if "org_id" in params:
            org = self.store.find_org(issued.account)
            if org is None or params["org_id"] != str(org.id):
                raise ApiError(403, NOT_ACCESSIBLE)
        if isinstance(needed, tuple):
            name, level = needed
            if name != "metadata" and not covers(issued.permissions.get(name), level):
                raise ApiError(403, NOT_ACCESSIBLE)

    # -- the App routes -----------------------------------------------------------------------------------
    def _own_installation(self, ctx: Ctx, raw_id: str) -> InstallationRec:
        assert ctx.app is not None
        installation = self.store.installations.get(int_or_404(raw_id))
        if installation is None or installation.app_id != ctx.app.id:
            raise not_found()
        return installation

    def _installation_on(self, ctx: Ctx, account: str) -> Response:
        assert ctx.app is not None
        for installation in self.store.app_installations(ctx.app.id):
            if installation.account.lower() == account.lower():
                return json_response(200, self._installation_json(ctx, installation))
        raise not_found()

    def _get_app(self, ctx: Ctx, _: dict[str, str]) -> Response:
        app = ctx.app
        assert app is not None
        return json_response(200, app_json(ctx.urls, app, self._account(ctx, app.owner or app.slug), self._count(app)))

    def _count(self, app: AppRec) -> int:
        return len(self.store.app_installations(app.id))

    def _list_installations(self, ctx: Ctx, _: dict[str, str]) -> Response:
        assert ctx.app is not None
        installations = self.store.app_installations(ctx.app.id)
        return self.page(ctx, installations, lambda i: self._installation_json(ctx, i))

    def _get_installation(self, ctx: Ctx, p: dict[str, str]) -> Response:
        return json_response(200, self._installation_json(ctx, self._own_installation(ctx, p["installation_id"])))

    def _org_installation(self, ctx: Ctx, p: dict[str, str]) -> Response:
        return self._installation_on(ctx, self._org(p["org"]).login)

    def _repo_installation(self, ctx: Ctx, p: dict[str, str]) -> Response:
        return self._installation_on(ctx, self._repo(p).owner)

    def _create_access_token(self, ctx: Ctx, p: dict[str, str]) -> Response:
        installation = self._own_installation(ctx, p["installation_id"])
        if installation.suspended_at is not None:
            raise ApiError(403, "This installation has been suspended")
        body = self._body(ctx)
        asked = body.get("permissions") if isinstance(body, dict) else None
        if asked and (
            not isinstance(asked, dict)
            or not all(covers(installation.permissions.get(str(k)), str(v)) for k, v in asked.items())
        ):
            raise ApiError(422, "The permissions requested are not granted to this installation.")
        issued = self.store.issue_installation_token(
            installation.id,
            now=self.wall_clock(),
            lifetime_s=self.installation_token_lifetime_s,
            permissions={str(k): str(v) for k, v in asked.items()} if asked else None,
        )
        return json_response(
            201,
            {
                "token": issued.token,
                "expires_at": issued.expires_at_iso,
                "permissions": dict(issued.permissions),
                "repository_selection": "all",
            },
        )

    def _installation_json(self, ctx: Ctx, installation: InstallationRec) -> Json:
        app = self.store.find_app(installation.app_id)
        assert app is not None
        account = self._account(ctx, installation.account)
        return installation_json(ctx.urls, installation, app, account)


def app_json(u: Urls, app: AppRec, owner: Json, installations_count: int) -> Json:
    return {
        "id": app.id,
        "slug": app.slug,
        "node_id": gj.node_id("Integration", app.id),
        "client_id": app.client_id,
        "owner": owner,
        "name": app.name,
        "description": "",
        "external_url": f"{u.web}/apps/{app.slug}",
        "html_url": f"{u.web}/apps/{app.slug}",
        "created_at": iso(app.created_at),
        "updated_at": iso(app.created_at),
        "permissions": dict(app.permissions),
        "events": [],
        "installations_count": installations_count,
    }


def installation_json(u: Urls, installation: InstallationRec, app: AppRec, account: Json) -> Json:
    out: dict[str, Any] = {
        "id": installation.id,
        "client_id": app.client_id,
        "account": account,
        "repository_selection": "all",
        "access_tokens_url": f"{u.api}/app/installations/{installation.id}/access_tokens",
        "repositories_url": f"{u.api}/installation/repositories",
        "html_url": f"{u.web}/organizations/{gj.seg(installation.account)}/settings/installations/{installation.id}",
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": account.get("id"),
        "target_type": account.get("type", "Organization"),
        "permissions": dict(installation.permissions),
        "events": [],
        "created_at": iso(installation.created_at),
        "updated_at": iso(installation.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": iso(installation.suspended_at),
    }
    return out
