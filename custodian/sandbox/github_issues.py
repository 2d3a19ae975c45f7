"""Issue routes of the GitHub REST emulator: what the custodian's `github_issue` notices create.

Mixed into `custodian.sandbox.github.GithubEmulator`. `POST /repos/{o}/{r}/issues` (title required,
body and labels optional; 201 with the issue as GitHub answers it: number, html_url, state,
labels as objects, user) and `GET /repos/{o}/{r}/issues` (open issues, newest first) and
`GET .../issues/{number}`. Issues live with the emulator (not in scenarios) and count per repository.
"""

from __future__ import annotations

from typing import Any

from custodian.sandbox.github_base import Ctx, GithubRoutesBase, Handler, invalid, not_found
from custodian.sandbox.github_json import Json, node_id, repo_api, seg, simple_user
from custodian.sandbox.httpserver import Response, json_response

__all__ = ["GithubIssueRoutes"]


class GithubIssueRoutes(GithubRoutesBase):
    def issue_routes(self, repo: str) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{repo}/issues", self._list_issues),
            ("POST", f"{repo}/issues", self._create_issue),
            ("GET", f"{repo}/issues/{{number}}", self._get_issue),
        ]

    def issues_of(self, full_name: str) -> list[Json]:
        """Every issue created on a repository (tests read them)."""
        return list(self._issue_table().get(full_name.lower(), []))

    def _issue_table(self) -> dict[str, list[Json]]:
        table: dict[str, list[Json]] | None = getattr(self, "_issues", None)
        if table is None:
            table = {}
            self._issues = table
        return table

    def _create_issue(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        body: Any = self._body(ctx)
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"].strip():
            raise invalid("title", "title is required", "Issue", "missing_field")
        text, labels = body.get("body"), body.get("labels", [])
        if text is not None and not isinstance(text, str):
            raise invalid("body", "body must be a string", "Issue")
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise invalid("labels", "labels must be a list of names", "Issue")
        issues = self._issue_table().setdefault(repo.full_name.lower(), [])
        number = len(issues) + 1
        api = repo_api(ctx.urls, repo)
        issue: Json = {
            "id": 900000 + len(issues) + 1,
            "node_id": node_id("Issue", f"{repo.full_name}#{number}"),
            "number": number,
            "title": body["title"],
            "body": text,
            "state": "open",
            "labels": [{"name": label, "color": "ededed", "default": False} for label in labels],
            "user": simple_user(ctx.urls, self._principal_rec(ctx)),
            "url": f"{api}/issues/{number}",
            "html_url": f"{ctx.urls.web}/{seg(repo.owner)}/{seg(repo.name)}/issues/{number}",
            "created_at": self._now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "comments": 0,
        }
        issues.append(issue)
        return json_response(201, issue)

    def _list_issues(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        return json_response(200, list(reversed(self.issues_of(repo.full_name))))

    def _get_issue(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        for issue in self.issues_of(repo.full_name):
            if str(issue["number"]) == p["number"]:
                return json_response(200, issue)
        raise not_found()
