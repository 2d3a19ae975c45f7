"""Release-timeline routes of the GitHub REST emulator: tags, commits, releases, deployments and statuses.

Mixed into `custodian.sandbox.github.GithubEmulator` (see that module's docstring for the route
list). Tags come from `github_git.GithubGitRoutes.pushed_tags`: a tag whose push time is still
ahead of the emulator clock is not listed, and `/commits/{tag}` does not resolve it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from custodian.sandbox import github_json as gj
from custodian.sandbox.github_base import ApiError, Ctx, int_or_404, invalid, not_found
from custodian.sandbox.github_git import GithubGitRoutes
from custodian.sandbox.github_json import Json
from custodian.sandbox.github_store import DEPLOYMENT_STATES, DeploymentRec, RepoRec, StatusRec
from custodian.sandbox.httpserver import Response, json_response


class GithubTimelineRoutes(GithubGitRoutes):
    """Handlers for `/repos/{o}/{r}/tags`, `commits`, `releases` and `deployments` (with statuses)."""

    def _tags(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        tags = sorted(self.pushed_tags(repo), key=lambda t: t.name, reverse=True)
        return self.page(ctx, tags, lambda t: gj.tag_json(ctx.urls, repo, t))

    def _commit(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        ref = p["ref"]
        commit = repo.commits.get(ref.lower())
        tag = next((t for t in self.pushed_tags(repo) if t.name == ref), None)
        if commit is None and tag is not None:
            commit = repo.commits.get(tag.sha)
        if commit is None and ref == repo.default_branch and repo.commits:
            commit = max(repo.commits.values(), key=lambda c: c.date)
        if commit is None and len(ref) >= 7:
            hits = [c for sha, c in repo.commits.items() if sha.startswith(ref.lower())]
            commit = hits[0] if len(hits) == 1 else None
        if commit is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        author = self._account(ctx, self.store.principal_login)
        return json_response(200, gj.commit_json(ctx.urls, repo, commit, author))

    def _release_view(self, ctx: Ctx, repo: RepoRec) -> Callable[[Any], Json]:
        return lambda rel: gj.release_json(ctx.urls, repo, rel, self._account(ctx, rel.author))

    def _releases(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        releases = sorted(repo.releases.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        return self.page(ctx, releases, self._release_view(ctx, repo))

    def _latest_release(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        full = [r for r in repo.releases.values() if not r.draft and not r.prerelease]
        if not full:
            raise not_found()
        latest = max(full, key=lambda r: (r.created_at, r.id))
        return json_response(200, self._release_view(ctx, repo)(latest))

    def _release_by_tag(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        rel = next((r for r in repo.releases.values() if r.tag_name == p["tag"] and not r.draft), None)
        if rel is None:
            raise not_found()
        return json_response(200, self._release_view(ctx, repo)(rel))

    def _release(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        rel = repo.releases.get(int_or_404(p["release_id"]))
        if rel is None:
            raise not_found()
        return json_response(200, self._release_view(ctx, repo)(rel))

    def _deployments(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        request = ctx.request
        wanted = {k: request.param(k) for k in ("environment", "ref", "sha", "task")}
        deps = [
            d
            for d in repo.deployments.values()
            if (wanted["environment"] is None or d.environment == wanted["environment"])
            and (wanted["ref"] is None or d.ref == wanted["ref"])
            and (wanted["sha"] is None or d.sha == wanted["sha"].lower())
            and (wanted["task"] is None or d.task == wanted["task"])
        ]
        deps.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return self.page(ctx, deps, lambda d: gj.deployment_json(ctx.urls, repo, d, self._account(ctx, d.creator)))

    def _deployment(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        dep = self._deployment_rec(repo, p["dep_id"])
        return json_response(200, gj.deployment_json(ctx.urls, repo, dep, self._account(ctx, dep.creator)))

    def _status_view(self, ctx: Ctx, repo: RepoRec, dep: DeploymentRec) -> Callable[[StatusRec], Json]:
        return lambda st: gj.status_json(ctx.urls, repo, dep, st, self._account(ctx, st.creator))

    def _statuses(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        dep = self._deployment_rec(repo, p["dep_id"])
        statuses = sorted(dep.statuses, key=lambda s: (s.created_at, s.id), reverse=True)
        return self.page(ctx, statuses, self._status_view(ctx, repo, dep))

    def _status(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        dep = self._deployment_rec(repo, p["dep_id"])
        wanted = int_or_404(p["status_id"])
        st = next((s for s in dep.statuses if s.id == wanted), None)
        if st is None:
            raise not_found()
        return json_response(200, self._status_view(ctx, repo, dep)(st))

    def _create_status(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        dep = self._deployment_rec(repo, p["dep_id"])
        body = self._body(ctx)
        if not isinstance(body, dict) or "state" not in body:
            raise invalid("state", "state is missing", "DeploymentStatus", "missing_field")
        if body["state"] not in DEPLOYMENT_STATES:
            raise invalid("state", f"state is not included in the list {sorted(DEPLOYMENT_STATES)}", "DeploymentStatus")
        now = self._now()
        st = StatusRec(
            id=self.store.next_id("status"),
            state=str(body["state"]),
            created_at=now,
            description=str(body.get("description") or ""),
            environment=str(body.get("environment") or dep.environment),
            creator=ctx.principal,
            target_url=str(body.get("target_url") or body.get("log_url") or ""),
            log_url=str(body.get("log_url") or body.get("target_url") or ""),
            environment_url=str(body.get("environment_url") or ""),
        )
        dep.statuses.append(st)
        dep.updated_at = max(dep.updated_at, now)
        view = self._status_view(ctx, repo, dep)(st)
        deployment = gj.deployment_json(ctx.urls, repo, dep, self._account(ctx, dep.creator))
        self.deliver(
            ctx, repo, "deployment_status", {"action": "created", "deployment_status": view, "deployment": deployment}
        )
        return json_response(201, view)
