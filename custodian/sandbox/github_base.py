"""Shared plumbing of the GitHub REST emulator: errors, the request context, lookups and `Link` paging.

`GithubRoutesBase` holds what every route handler needs (the store, the clock, paging limits,
account and repository lookups that answer 404); `custodian.sandbox.github.GithubEmulator` builds
on it. List handlers return `page(...)`: `per_page`/`page` slicing and a `Link` header
(`prev`, `next`, `last`, `first`) built from the request's `Host`, keeping the other query
parameters; a TRUNCATE fault halves the page and drops `rel="next"`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from custodian.sandbox import github_json as gj
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github_json import Json, Urls
from custodian.sandbox.github_store import (
    AppRec,
    DeploymentRec,
    GithubStore,
    InstallationTokenRec,
    OrgRec,
    RepoRec,
    UserRec,
)
from custodian.sandbox.httpserver import Request, Response, json_response

DOCS_URL = "https://docs.github.com/enterprise-server@3.14/rest"
T = TypeVar("T")


class ApiError(Exception):
    """Raised by a handler to answer with a GitHub error body."""

    def __init__(self, status: int, message: str, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(field: str, message: str, resource: str = "", code: str = "invalid") -> ApiError:
    error: Json = {"resource": resource, "code": code, "field": field, "message": message}
    return ApiError(422, "Validation Failed", [error])


@dataclass
class Ctx:
    """One authenticated request being handled (by a token, an App's JWT or an installation token)."""

    request: Request
    urls: Urls
    principal: str
    app: AppRec | None = None  # the App whose JWT authenticated the request
    installation: InstallationTokenRec | None = None  # the installation token that did


Handler = Callable[[Ctx, dict[str, str]], Response]


class GithubRoutesBase:
    """State and helpers shared by the route handlers (the emulator sets the attributes)."""

    store: GithubStore
    clock: SandboxClock
    default_per_page: int
    max_per_page: int

    def _principal_rec(self, ctx: Ctx) -> UserRec:
        return self.store.find_user(ctx.principal) or gj.principal_stub(ctx.principal)

    def _require_site_admin(self, ctx: Ctx) -> None:
        if not self._principal_rec(ctx).site_admin:
            raise ApiError(403, "Must be a site administrator.")

    def _body(self, ctx: Ctx) -> Any:
        try:
            return ctx.request.json()
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def deliver(self, ctx: Ctx, repo: RepoRec, event: str, fields: Json) -> None:
        """Send a webhook delivery of `event` (`github_hooks` does, once a webhook is configured)."""

    # -- lookups ----------------------------------------------------------------------------------------
    def _user(self, login: str) -> UserRec:
        rec = self.store.find_user(login)
        if rec is None:
            raise not_found()
        return rec

    def _org(self, login: str) -> OrgRec:
        rec = self.store.find_org(login)
        if rec is None:
            raise not_found()
        return rec

    def _repo(self, params: dict[str, str]) -> RepoRec:
        rec = self.store.find_repo(params["owner"], params["repo"])
        if rec is None:
            raise not_found()
        return rec

    def _account(self, ctx: Ctx, login: str) -> Json:
        """simple-user JSON for any login (a deleted creator still renders, as GitHub's ghost would)."""
        user = self.store.find_user(login)
        if user is not None:
            return gj.simple_user(ctx.urls, user)
        org = self.store.find_org(login)
        if org is not None:
            return gj.account_json(ctx.urls, org.login, org.id, "Organization")
        if login.lower() == self.store.principal_login.lower():
            return gj.simple_user(ctx.urls, gj.principal_stub(self.store.principal_login))
        return gj.account_json(ctx.urls, "ghost", 10137, "User")

    def _deployment_rec(self, repo: RepoRec, raw_id: str) -> DeploymentRec:
        dep = repo.deployments.get(int_or_404(raw_id))
        if dep is None:
            raise not_found()
        return dep

    # -- paging -----------------------------------------------------------------------------------------
    def page(self, ctx: Ctx, items: Sequence[T], render: Callable[[T], Json]) -> Response:
        request = ctx.request
        per_page = int_param(request, "per_page", self.default_per_page)
        per_page = min(max(per_page, 1), self.max_per_page)
        page = max(int_param(request, "page", 1), 1)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = list(items[(page - 1) * per_page : page * per_page])
        links: dict[str, int] = {}
        if page > 1:
            links["prev"] = min(page - 1, last)
        if page < last:
            links["next"] = page + 1
            links["last"] = last
        if page > 1:
            links["first"] = 1
        fault = None
        if request.truncate:
            chunk = chunk[: len(chunk) // 2]
            links.pop("next", None)
            fault = "truncate"
        headers = {}
        if links:
            headers["Link"] = ", ".join(f'<{page_url(request, n)}>; rel="{rel}"' for rel, n in links.items())
        response = json_response(200, [render(item) for item in chunk], headers)
        response.fault = fault
        return response


# -- request helpers---------------------------------------------------------------------------------------------
def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return int(raw[0])
    except ValueError:
        return default


def int_or_404(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise not_found() from None


def date_param(request: Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw or not raw[0]:
        return None
    try:
        value = datetime.fromisoformat(raw[0].replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, f"{name} must be an ISO 8601 timestamp") from None
    return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)


def page_url(request: Request, page: int) -> str:
    pairs = parse_qsl(request.raw_query, keep_blank_values=True)
    out: list[tuple[str, str]] = []
    placed = False
    for key, value in pairs:
        if key == "page":
            if not placed:
                out.append(("page", str(page)))
                placed = True
            continue
        out.append((key, value))
    if not placed:
        out.append(("page", str(page)))
    return f"{request.base_url}{request.path}?{urlencode(out)}"
