"""A faithful-enough GitHub REST emulator (GHES layout, everything under `/api/v3`) for real PyGithub clients.

`GithubEmulator` serves a `GithubStore` through `EmulatorServer`; `start_github()` wires both up on a
free 127.0.0.1 port (plain HTTP): use `Github(base_url=server.url + "/api/v3", ...)`.

Routes (all prefixed with `/api/v3`; unknown routes and methods answer 404 Not Found; the handlers
live here and in the `github_timeline`, `github_git`, `github_admin` and `github_auth` mixins):

- `GET /` (root), `GET /rate_limit` (not counted), `/user`, `/users/{u}`, `/orgs/{org}`, `/repos/{o}/{r}`.
- `GET /repos/{o}/{r}/tags`, `.../commits/{ref}`, `.../releases`, `.../releases/latest`,
  `.../releases/tags/{tag}`, `.../releases/{id}`,
  `.../deployments` (filters `environment`, `ref`, `sha`, `task`; newest first), `.../deployments/{id}`,
  `GET|POST .../deployments/{id}/statuses` (newest first), `GET .../deployments/{id}/statuses/{sid}`.
- Webhooks (`github_hooks`): `GET|POST /repos/{o}/{r}/hooks` and `/orgs/{org}/hooks`, `GET|DELETE .../hooks/{id}`,
  `POST .../hooks/{id}/pings`, `GET .../hooks/{id}/deliveries[/{d}]`, `POST .../deliveries/{d}/attempts`, and
  `configure_webhook(url, secret)` (hook 1); `POST .../releases` (of an existing tag), `POST .../deployments`:
  a tag ref, a published release, a deployment and a deployment status are delivered as signed events.
- Git database: `GET .../git/refs/tags` (404 when none), `.../git/matching-refs/tags[/{prefix}]`,
  `.../git/ref/tags/{name}`, `.../git/refs/tags/{name}`, `GET .../git/tags/{tag_sha}` (annotated tag
  objects), `POST .../git/tags` (a tag object), `POST .../git/refs` (`refs/tags/NAME` only). A tag whose
  push time is still ahead of the emulator clock is not served yet (there, by `/tags` or `/commits/{tag}`).
- `GET /orgs/{org}/members` (`filter`, `role`), `GET /orgs/{org}/members/{u}` (204/404),
  `DELETE /orgs/{org}/members/{u}` (204, idempotent), `GET|DELETE /orgs/{org}/memberships/{u}` (404 if not a member).
- GHES site admin (the principal must be a site admin, else 403): `POST /admin/users`,
  `DELETE /admin/users/{u}`, `PUT|DELETE /users/{u}/suspended`, `POST|DELETE /admin/users/{u}/authorizations`,
  `GET /admin/keys`, `DELETE /admin/keys/{key_ids}` (comma-separated ids), and
  **emulator extension** `GET /admin/users/{u}/authorizations`: GHES has no way to list a user's
  impersonation tokens; this lists them as authorization objects (same shape as the create
  answer) with `token` always "" so an auditor can see what exists without reading secrets.
- `GET /users/{u}/keys` (public keys: `id`, `key`).
- Org fine-grained PAT grants (GitHub App only on github.com; any accepted credential here):
  `GET|POST /orgs/{org}/personal-access-tokens`, `POST /orgs/{org}/personal-access-tokens/{pat_id}`,
  `GET /orgs/{org}/personal-access-tokens/{pat_id}/repositories` and the grant's own
  `repositories_url` form `GET /organizations/{org_id}/personal-access-tokens/{pat_id}/repositories`.
- GitHub Apps (`github_auth`, with an App's JWT): `GET /app`, `GET /app/installations[/{id}]`,
  `POST /app/installations/{id}/access_tokens`, `GET /orgs/{org}/installation`, `GET .../installation`.

Auth: `Authorization: token X` or `Bearer X`; missing or unknown credentials answer 401 Bad credentials.
An App's JWT and its installation tokens are checked as `github_auth` says (an installation token
reaches its account only, with its permissions). A live impersonation token authenticates as its
user (403 when that user is suspended); a deleted or expired one is always 401. Otherwise X must be
in `tokens` (None = any non-empty) and authenticates as `store.principal_login`: a site admin,
unless the scenario adds that login as a non-admin user.

Lists page with `per_page` (default 30, max 100) and `page`, and a `Link` header (`prev`, `next`,
`last`, `first`) built from the request's `Host` that keeps the other query parameters. Every
response carries `x-ratelimit-*` (remaining decreases per request, a 304 is free) and `x-github-request-id`;
a GET's 200 has a strong `ETag`, and `If-None-Match` naming it answers 304 (`github_etag`).
Faults: THROTTLE alternates a secondary-limit 403 and a 429 (`retry-after`); SERVER_ERROR answers
`error_status`; TRUNCATE halves a list page, no `rel="next"`. GraphQL (`POST /api/graphql`): `github_graphql`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlencode

from custodian.sandbox import github_json as gj
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.faults import FaultKind, FaultPlan
from custodian.sandbox.github_admin import GithubAdminRoutes
from custodian.sandbox.github_auth import GithubAuthRoutes
from custodian.sandbox.github_base import DOCS_URL, ApiError, Ctx, Handler, int_param, invalid, not_found
from custodian.sandbox.github_etag import conditional
from custodian.sandbox.github_graphql import GRAPHQL_PATHS, GithubGraphqlRoutes
from custodian.sandbox.github_hooks import GithubHookRoutes
from custodian.sandbox.github_issues import GithubIssueRoutes
from custodian.sandbox.github_json import Json
from custodian.sandbox.github_store import GithubStore
from custodian.sandbox.httpserver import EmulatorServer, Request, Response, empty_response, json_response

__all__ = ["API_PREFIX", "GithubEmulator", "GithubStore", "start_github"]

API_PREFIX = "/api/v3"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


class GithubEmulator(GithubHookRoutes, GithubIssueRoutes, GithubAuthRoutes, GithubAdminRoutes, GithubGraphqlRoutes):
    """Serves a `GithubStore` as GitHub REST (GHES `/api/v3` layout); see the module docstring."""

    def __init__(
        self,
        store: GithubStore | None = None,
        *,
        clock: SandboxClock | None = None,
        tokens: set[str] | None = None,
        default_per_page: int = 30,
        max_per_page: int = 100,
    ) -> None:
        self.store = store if store is not None else GithubStore()
        self.clock = clock or SandboxClock()
        self.tokens = tokens
        self.default_per_page = default_per_page
        self.max_per_page = max_per_page
        #: how long an installation token lives (GitHub: one hour), and the real clock tokens follow
        self.installation_token_lifetime_s = 3600.0
        self.wall_clock: Callable[[], float] = time.time
        #: requests per hour advertised in `x-ratelimit-*`; only enforced (403 primary limit) when
        #: `enforce_rate_limit` is set, since PyGithub would then sleep until the reset.
        self.rate_limit = 5000
        self.enforce_rate_limit = False
        #: where `fault_response` reads `retry_after` / `error_status`; `attach()` points it at a server.
        self.plan_provider: Callable[[], FaultPlan] = FaultPlan
        self._lock = threading.Lock()
        self._window_reset = int(time.time()) + 3600
        self._used = 0
        self._seq = 0
        self._throttles = 0
        self._routes: list[tuple[str, re.Pattern[str], Handler, str]] = []
        self._install_routes()

    def attach(self, server: EmulatorServer) -> None:
        """Read fault settings (retry-after, error status) from `server`'s current plan."""
        self.plan_provider = lambda: server.faults.plan

    def reset(self) -> None:
        """Restart the rate-limit window and the 403/429 throttle alternation (the store is kept)."""
        with self._lock:
            self._window_reset = int(time.time()) + 3600
            self._used = self._graphql_used = self._throttles = 0

    # -- routing table --------------------------------------------------------------------------------
    def _route(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler, pattern))

    def _install_routes(self) -> None:
        r = self._route
        repo = "/repos/{owner}/{repo}"
        dep = f"{repo}/deployments/{{dep_id}}"
        pats = "/orgs/{org}/personal-access-tokens"
        r("GET", "/", self._root)
        r("GET", "/rate_limit", self._rate_limit)
        r("GET", "/user", self._me)
        r("GET", "/users", self._list_users)
        r("GET", "/users/{user}", self._get_user)
        r("GET", "/users/{user}/keys", self._user_keys)
        r("PUT", "/users/{user}/suspended", self._suspend)
        r("DELETE", "/users/{user}/suspended", self._unsuspend)
        r("GET", "/orgs/{org}", self._get_org)
        r("GET", "/orgs/{org}/members", self._members)
        r("GET", "/orgs/{org}/members/{user}", self._is_member)
        r("DELETE", "/orgs/{org}/members/{user}", self._remove_member)
        r("GET", "/orgs/{org}/memberships/{user}", self._membership)
        r("DELETE", "/orgs/{org}/memberships/{user}", self._remove_membership)
        r("GET", repo, self._get_repo)
        r("GET", f"{repo}/tags", self._tags)
        r("GET", f"{repo}/commits/{{ref}}", self._commit)
        for method, pattern, handler in self.git_routes(repo):
            r(method, pattern, handler)
        r("GET", f"{repo}/releases", self._releases)
        for method, pattern, handler in self.hook_routes(repo):
            r(method, pattern, handler)
        for method, pattern, handler in self.issue_routes(repo):
            r(method, pattern, handler)
        r("GET", f"{repo}/releases/latest", self._latest_release)
        r("GET", f"{repo}/releases/tags/{{tag}}", self._release_by_tag)
        r("GET", f"{repo}/releases/{{release_id}}", self._release)
        r("GET", f"{repo}/deployments", self._deployments)
        r("GET", dep, self._deployment)
        r("GET", f"{dep}/statuses", self._statuses)
        r("POST", f"{dep}/statuses", self._create_status)
        r("GET", f"{dep}/statuses/{{status_id}}", self._status)
        r("POST", "/admin/users", self._admin_create_user)
        r("DELETE", "/admin/users/{user}", self._admin_delete_user)
        r("GET", "/admin/users/{user}/authorizations", self._admin_list_tokens)
        r("POST", "/admin/users/{user}/authorizations", self._admin_create_token)
        r("DELETE", "/admin/users/{user}/authorizations", self._admin_delete_tokens)
        r("GET", "/admin/keys", self._admin_keys)
        r("DELETE", "/admin/keys/{key_ids}", self._admin_delete_keys)
        r("GET", pats, self._pat_grants)
        r("POST", pats, self._pat_bulk_revoke)
        r("POST", f"{pats}/{{pat_id}}", self._pat_revoke)
        r("GET", f"{pats}/{{pat_id}}/repositories", self._pat_repos)
        r("GET", "/organizations/{org_id}/personal-access-tokens/{pat_id}/repositories", self._pat_repos)
        for method, pattern, handler in self.app_routes():
            r(method, pattern, handler)

    # -- the Emulator protocol ------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") in GRAPHQL_PATHS:
            return self.graphql(request)  # its own rate-limit headers (resource graphql), no ETag
        try:
            with self.store.lock:
                response = self._dispatch(request)
        except ApiError as err:
            response = self._error(err)
        return self._decorate(conditional(request, response))  # ETag; If-None-Match -> 304

    def fault_response(self, kind: FaultKind, request: Request) -> Response:
        plan = self.plan_provider()
        if kind is FaultKind.THROTTLE:
            with self._lock:
                secondary_403 = self._throttles % 2 == 0
                self._throttles += 1
            body = {"message": SECONDARY_LIMIT_MESSAGE, "documentation_url": f"{DOCS_URL}/rate-limit"}
            response = json_response(403 if secondary_403 else 429, body, {"retry-after": str(plan.retry_after)})
        else:
            response = json_response(plan.error_status, {"message": "Server Error"})
        return self._decorate(response)

    # -- plumbing -------------------------------------------------------------------------------------
    def _decorate(self, response: Response) -> Response:
        with self._lock:
            now = int(time.time())
            if now >= self._window_reset:
                self._window_reset, self._used = now + 3600, 0
            self._used += response.status != 304  # a 304 is free, as on GitHub
            self._seq += 1
            used, seq, reset = self._used, self._seq, self._window_reset
        response.headers.update(
            {
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": str(max(0, self.rate_limit - used)),
                "x-ratelimit-used": str(min(used, self.rate_limit)),
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
                "x-github-request-id": f"E0{seq:06X}:{seq * 7919 % 0xFFFFF:05X}:{seq:08X}",
                "x-github-media-type": "github.v3; format=json",
                "x-github-enterprise-version": "3.14.0",
            }
        )
        return response

    def _rate_snapshot(self) -> Json:
        with self._lock:
            used, reset = self._used, self._window_reset
        return {
            "limit": self.rate_limit,
            "remaining": max(0, self.rate_limit - used),
            "reset": reset,
            "used": min(used, self.rate_limit),
            "resource": "core",
        }

    @staticmethod
    def _error(err: ApiError) -> Response:
        body: Json = {"message": err.message, "documentation_url": DOCS_URL, "status": str(err.status)}
        if err.errors is not None:
            body["errors"] = err.errors
        return json_response(err.status, body)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            raise not_found()
        path = path[len(API_PREFIX) :].rstrip("/") or "/"
        method = "GET" if request.method == "HEAD" else request.method
        ctx = self._context(request)
        if self.enforce_rate_limit and self._rate_snapshot()["remaining"] <= 0:
            raise ApiError(403, "API rate limit exceeded for user ID 1.")
        for route_method, regex, handler, pattern in self._routes:
            match = regex.match(path)
            if match and route_method == method:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                self._authorize(ctx, method, pattern, params)
                return handler(ctx, params)
        raise not_found()

    # -- meta -------------------------------------------------------------------------------------------
    def _root(self, ctx: Ctx, _: dict[str, str]) -> Response:
        api = ctx.urls.api
        return json_response(
            200,
            {
                "current_user_url": f"{api}/user",
                "emails_url": f"{api}/user/emails",
                "organization_url": f"{api}/orgs/{{org}}",
                "rate_limit_url": f"{api}/rate_limit",
                "repository_url": f"{api}/repos/{{owner}}/{{repo}}",
                "user_url": f"{api}/users/{{user}}",
                "installed_version": "3.14.0",
            },
        )

    def _rate_limit(self, ctx: Ctx, _: dict[str, str]) -> Response:
        core = self._rate_snapshot()
        with self._lock:
            self._used -= 1  # GET /rate_limit does not count against the limit
        other = {**core, "remaining": core["limit"], "used": 0}
        return json_response(
            200,
            {
                "resources": {
                    "core": core,
                    "search": {**other, "limit": 30, "remaining": 30, "resource": "search"},
                    "graphql": self.graphql_rate(),
                },
                "rate": core,
            },
        )

    def _me(self, ctx: Ctx, _: dict[str, str]) -> Response:
        return json_response(200, gj.full_user(ctx.urls, self._principal_rec(ctx)))

    def _get_user(self, ctx: Ctx, p: dict[str, str]) -> Response:
        user = self.store.find_user(p["user"])
        if user is not None:
            return json_response(200, gj.full_user(ctx.urls, user))
        org = self.store.find_org(p["user"])
        if org is not None:
            return json_response(200, gj.org_as_user(ctx.urls, org))
        if p["user"].lower() == ctx.principal.lower():
            return json_response(200, gj.full_user(ctx.urls, self._principal_rec(ctx)))
        raise not_found()

    def _get_org(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        body = gj.org_json(ctx.urls, org)
        body["public_repos"] = sum(1 for r in self.store.repos.values() if r.owner.lower() == org.login.lower())
        return json_response(200, body)

    def _get_repo(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        return json_response(200, gj.repo_json(ctx.urls, repo, self._account(ctx, repo.owner)))

    # -- organizations ----------------------------------------------------------------------------------
    def _members(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        flt = ctx.request.param("filter", "all")
        role = ctx.request.param("role", "all")
        if flt not in ("all", "2fa_disabled", "2fa_insecure"):
            raise invalid("filter", f"filter {flt!r} is not valid")
        if role not in ("all", "admin", "member"):
            raise invalid("role", f"role {role!r} is not valid")
        members = [
            self.store.users[key]
            for key, member_role in org.members.items()
            if key in self.store.users and role in ("all", member_role)
        ]
        if flt != "all":
            members = [m for m in members if not m.two_factor_enabled]
        members.sort(key=lambda m: m.id)
        return self.page(ctx, members, lambda m: gj.simple_user(ctx.urls, m))

    def _list_users(self, ctx: Ctx, _: dict[str, str]) -> Response:
        """`GET /users`: every user of the instance, by id, paged with `since` (a user id), not `page`."""
        request = ctx.request
        since = int_param(request, "since", 0)
        per_page = min(max(int_param(request, "per_page", self.default_per_page), 1), self.max_per_page)
        users = sorted((u for u in self.store.users.values() if u.id > since), key=lambda u: u.id)
        chunk, more = users[:per_page], len(users) > per_page
        fault = None
        if request.truncate:
            chunk, more, fault = chunk[: len(chunk) // 2], False, "truncate"
        headers = {}
        if more and chunk:
            query = urlencode(
                [(k, v) for k, v in parse_qsl(request.raw_query) if k != "since"] + [("since", str(chunk[-1].id))]
            )
            headers["Link"] = f'<{request.base_url}{request.path}?{query}>; rel="next"'
        response = json_response(200, [gj.simple_user(ctx.urls, u) for u in chunk], headers)
        response.fault = fault
        return response

    def _is_member(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        if p["user"].lower() in org.members:
            return empty_response(204)
        raise not_found()

    def _remove_member(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        org.members.pop(p["user"].lower(), None)
        return empty_response(204)

    def _membership(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        role = org.members.get(p["user"].lower())
        user = self.store.find_user(p["user"])
        if role is None or user is None:
            raise not_found()
        return json_response(200, gj.membership_json(ctx.urls, org, user, role))

    def _remove_membership(self, ctx: Ctx, p: dict[str, str]) -> Response:
        org = self._org(p["org"])
        if org.members.pop(p["user"].lower(), None) is None:
            raise not_found()
        return empty_response(204)


def start_github(
    *,
    faults: FaultPlan | None = None,
    clock: SandboxClock | None = None,
    tokens: set[str] | None = None,
) -> tuple[GithubEmulator, EmulatorServer]:
    """Start a GitHub emulator on a free 127.0.0.1 port (plain HTTP); stop it with `server.stop()`."""
    emulator = GithubEmulator(clock=clock, tokens=tokens)
    server = EmulatorServer(emulator, faults=faults, name="github")
    emulator.attach(server)
    server.start()
    return emulator, server
