"""The GitHub emulator's GraphQL endpoint (`POST /api/graphql`, and `/graphql` for github.com-style roots).

Served with graphql-core against `github_graphql_schema.SCHEMA_SDL` (GitHub's names for the release
timeline's fields), from the same store and clock as the REST routes: a tag is a `Ref` once pushed,
its `target` a `Commit` (lightweight) or a `Tag` object (annotated, with its tagger); a deployment's
`ref` is the `Ref` it names while that ref exists (null otherwise, as on GitHub: a deleted tag, a
bare sha); releases and deployments order by `orderBy`. Connections page with `first`/`last`
(1..100, else GitHub's `MISSING_PAGINATION_BOUNDARIES` / `EXCESSIVE_PAGINATION` errors) and opaque
`after`/`before` cursors.

Rate limit: GraphQL has its own point budget (`graphql_rate_limit`, 5,000 an hour as on GitHub),
apart from REST's: a query costs `github_graphql_schema.point_cost` points, answered in
`x-ratelimit-*` headers with `x-ratelimit-resource: graphql` and in `rateLimit`. With
`enforce_rate_limit` set, a query costing more than is left answers GitHub's `RATE_LIMITED` error
(HTTP 200, as GitHub's GraphQL does). Errors have GitHub's shape (`type` or `extensions.code`,
`path`, `locations`, `message`); a field the schema lacks (`graphql_hidden`, e.g.
`{"Repository.deployments"}`: an older GHES) is a validation error `undefinedField`. The
`graphql_loop_cursor` fault answers each page's `after` as its `endCursor` (a hostile server).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from graphql import ExecutionResult, GraphQLError, execute, parse, validate

from custodian.sandbox.clock import iso
from custodian.sandbox.github_base import ApiError, Ctx
from custodian.sandbox.github_graphql_schema import point_cost, schema_without
from custodian.sandbox.github_json import Json, node_id
from custodian.sandbox.github_store import DeploymentRec, ReleaseRec, RepoRec, TagRec
from custodian.sandbox.github_timeline import GithubTimelineRoutes
from custodian.sandbox.httpserver import Request, Response, json_response

T = TypeVar("T")
GRAPHQL_PATHS = frozenset({"/api/graphql", "/graphql"})
_UNDEFINED_FIELD = re.compile(r"Cannot query field '(\w+)' on type '(\w+)'")


class _TypedError(Exception):
    """A resolver's error with GitHub's `type` (NOT_FOUND, MISSING_PAGINATION_BOUNDARIES, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _index(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        if text.startswith("cursor:v2:"):
            return int(text.removeprefix("cursor:v2:"))
    except ValueError:
        pass
    raise _TypedError("INVALID_CURSOR_ARGUMENTS", f"`{cursor}` does not appear to be a valid cursor.")


class GithubGraphqlRoutes(GithubTimelineRoutes):
    """`POST /api/graphql` (mixed into `GithubEmulator`, with the REST timeline routes it extends)."""

    _lock: threading.Lock
    _context: Callable[[Request], Ctx]
    _window_reset: int
    enforce_rate_limit: bool
    graphql_rate_limit = 5000
    graphql_hidden: frozenset[str] = frozenset()
    graphql_loop_cursor = False
    _graphql_used = 0

    def graphql_rate(self) -> Json:
        """The `graphql` resource as `GET /rate_limit` shows it."""
        with self._lock:
            used, reset = self._graphql_used, self._window_reset
        limit = self.graphql_rate_limit
        return {"limit": limit, "remaining": max(0, limit - used), "reset": reset, "used": used, "resource": "graphql"}

    def graphql(self, request: Request) -> Response:
        """Answer a GraphQL request (authenticated like REST; the store locked while it runs)."""
        if request.method != "POST":
            return json_response(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/graphql"})
        try:
            ctx = self._context(request)  # Bad credentials: 401, as REST answers
        except ApiError as err:
            return json_response(
                err.status, {"message": err.message, "documentation_url": "https://docs.github.com/graphql"}
            )
        try:
            body = request.json()
        except ValueError:
            return self._graphql_answer({"errors": [{"message": "Problems parsing JSON"}]}, 0)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            problem = "A query attribute must be specified and must be a string."
            return self._graphql_answer({"errors": [{"message": problem}]}, 0)
        variables = body.get("variables") or {}
        schema = schema_without(frozenset(self.graphql_hidden))
        try:
            document = parse(body["query"])
        except GraphQLError as err:
            return self._graphql_answer({"errors": [_error(err, "parse")]}, 0)
        problems = validate(schema, document)
        if problems:
            return self._graphql_answer({"errors": [_error(e, "validation") for e in problems]}, 0)
        cost, nodes = point_cost(document, variables, schema)
        with self._lock:
            left = self.graphql_rate_limit - self._graphql_used
            refused = self.enforce_rate_limit and cost > left
            if not refused:
                self._graphql_used += cost
        if refused:
            error = {"type": "RATE_LIMITED", "message": "API rate limit already exceeded for user ID 1."}
            return self._graphql_answer({"errors": [error]}, 0)
        root = {
            "repository": lambda info, **args: self._gql_repository(ctx, **args),
            "rateLimit": lambda info, **_: self._gql_rate(cost, nodes),
        }
        with self.store.lock:
            result: ExecutionResult = execute(schema, document, root, variable_values=variables)  # type: ignore[assignment]
        answer: Json = {"data": result.data}
        if result.errors:
            answer["errors"] = [_error(e, "execution") for e in result.errors]
        return self._graphql_answer(answer, cost)

    def _graphql_answer(self, answer: Json, cost: int) -> Response:
        rate = self.graphql_rate()
        headers = {
            "x-ratelimit-limit": str(rate["limit"]),
            "x-ratelimit-remaining": str(rate["remaining"]),
            "x-ratelimit-used": str(rate["used"]),
            "x-ratelimit-reset": str(rate["reset"]),
            "x-ratelimit-resource": "graphql",
            "x-github-request-id": f"GQL0:{time.monotonic_ns() % 0xFFFFFFFF:08X}",
        }
        return json_response(200, answer, headers)

    def _gql_rate(self, cost: int, nodes: int) -> Json:
        rate = self.graphql_rate()
        reset = datetime.fromtimestamp(rate["reset"], UTC)
        return {
            "cost": cost,
            "limit": rate["limit"],
            "remaining": rate["remaining"],
            "used": rate["used"],
            "resetAt": iso(reset),
            "nodeCount": nodes,
        }

    # -- resolvers ------------------------------------------------------------------------------------
    def _gql_repository(self, ctx: Ctx, owner: str, name: str, **_: Any) -> Json:
        repo = self.store.find_repo(owner, name)
        if repo is None:
            raise _TypedError("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return {
            "id": node_id("Repository", str(repo.id)),
            "name": repo.name,
            "nameWithOwner": repo.full_name,
            "refs": lambda info, **args: self._gql_refs(repo, args),
            "deployments": lambda info, **args: self._gql_deployments(repo, args),
            "releases": lambda info, **args: self._gql_releases(ctx, repo, args),
        }

    def _gql_refs(self, repo: RepoRec, args: dict[str, Any]) -> Json:
        prefix = str(args["refPrefix"])
        if not prefix.endswith("/"):
            raise _TypedError("INVALID_ARGUMENTS", "refPrefix must end with '/'")
        tags = [t for t in self.pushed_tags(repo) if f"refs/tags/{t.name}".startswith(prefix)]
        order = args.get("orderBy") or {}
        if order.get("field") == "TAG_COMMIT_DATE":
            tags.sort(key=lambda t: (repo.commits[t.sha].date if t.sha in repo.commits else t.pushed_at, t.name))
        else:
            tags.sort(key=lambda t: t.name)
        if (order.get("direction") or args.get("direction")) == "DESC":
            tags.reverse()
        if args.get("query"):
            tags = [t for t in tags if str(args["query"]) in t.name]
        return self._connection(tags, args, "refs", lambda t: self._gql_ref(repo, t, prefix))

    def _gql_ref(self, repo: RepoRec, tag: TagRec, prefix: str = "refs/tags/") -> Json:
        full = f"refs/tags/{tag.name}"
        return {
            "id": node_id("Ref", f"{repo.id}:{full}"),
            "name": full.removeprefix(prefix),
            "prefix": prefix,
            "target": self._gql_object(repo, tag.object_sha or tag.sha),
        }

    def _gql_object(self, repo: RepoRec, sha: str) -> Json | None:
        obj = repo.tag_objects.get(sha)
        if obj is not None:
            tagger = {"name": obj.tagger_name, "email": obj.tagger_email, "date": iso(obj.tagger_date)}
            return {
                "__typename": "Tag",
                "id": node_id("Tag", f"{repo.id}:{obj.sha}"),
                "oid": obj.sha,
                "abbreviatedOid": obj.sha[:7],
                "name": obj.tag,
                "message": obj.message,
                "tagger": tagger,
                "target": self._gql_object(repo, obj.object_sha),
            }
        commit = repo.commits.get(sha)
        if commit is None:
            return None
        return {
            "__typename": "Commit",
            "id": node_id("Commit", f"{repo.id}:{sha}"),
            "oid": sha,
            "abbreviatedOid": sha[:7],
            "committedDate": iso(commit.date),
            "message": commit.message,
        }

    def _gql_deployments(self, repo: RepoRec, args: dict[str, Any]) -> Json:
        wanted = args.get("environments")
        deployments = [d for d in repo.deployments.values() if wanted is None or d.environment in wanted]
        newest_first = (args.get("orderBy") or {}).get("direction") == "DESC"
        deployments.sort(key=lambda d: (d.created_at, d.id), reverse=newest_first)
        return self._connection(deployments, args, "deployments", lambda d: self._gql_deployment(repo, d))

    def _gql_deployment(self, repo: RepoRec, dep: DeploymentRec) -> Json:
        tag = next((t for t in self.pushed_tags(repo) if t.name == dep.ref), None)
        ref: Json | None = self._gql_ref(repo, tag) if tag is not None else None
        if ref is None and dep.ref == repo.default_branch:
            ref = {"id": node_id("Ref", f"{repo.id}:refs/heads/{dep.ref}"), "name": dep.ref, "prefix": "refs/heads/"}
        statuses = sorted(dep.statuses, key=lambda s: (s.created_at, s.id))
        return {
            "id": node_id("Deployment", str(dep.id)),
            "databaseId": dep.id,
            "environment": dep.environment,
            "originalEnvironment": dep.environment,
            "createdAt": iso(dep.created_at),
            "updatedAt": iso(dep.updated_at),
            "commitOid": dep.sha,
            "ref": ref,
            "task": dep.task,
            "description": dep.description,
            "statuses": lambda info, **args: self._connection(
                statuses,
                args,
                "statuses",
                lambda s: {
                    "id": node_id("DeploymentStatus", str(s.id)),
                    "state": s.state.upper(),
                    "createdAt": iso(s.created_at),
                    "updatedAt": iso(s.created_at),
                    "description": s.description,
                    "environment": s.environment,
                },
            ),
        }

    def _gql_releases(self, ctx: Ctx, repo: RepoRec, args: dict[str, Any]) -> Json:
        order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "DESC"}
        key: Callable[[ReleaseRec], Any] = (
            (lambda r: (r.name or "", r.id)) if order.get("field") == "NAME" else (lambda r: (r.created_at, r.id))
        )
        releases = sorted(repo.releases.values(), key=key, reverse=order.get("direction") == "DESC")

        def render(rel: ReleaseRec) -> Json:
            account = self._account(ctx, rel.author)  # as REST renders it (a deleted author: ghost)
            author = {"id": node_id("User", str(account["id"])), "login": account["login"]}
            return {
                "id": node_id("Release", str(rel.id)),
                "databaseId": rel.id,
                "name": rel.name,
                "tagName": rel.tag_name,
                "isDraft": rel.draft,
                "isPrerelease": rel.prerelease,
                "createdAt": iso(rel.created_at),
                "publishedAt": iso(rel.published_at),
                "author": author,
            }

        return self._connection(releases, args, "releases", render)

    def _connection(self, items: Sequence[T], args: dict[str, Any], name: str, render: Callable[[T], Any]) -> Json:
        first, last = args.get("first"), args.get("last")
        if first is None and last is None:
            raise _TypedError(
                "MISSING_PAGINATION_BOUNDARIES",
                f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.",
            )
        for bound, value in (("first", first), ("last", last)):
            if value is not None and not 0 <= value <= 100:
                raise _TypedError(
                    "EXCESSIVE_PAGINATION",
                    f"Requesting {value} records on the `{name}` connection exceeds the `{bound}` limit of 100"
                    " records.",
                )
        start = _index(args["after"]) + 1 if args.get("after") else 0
        end = _index(args["before"]) if args.get("before") else len(items)
        window = list(range(start, min(end, len(items))))
        if first is not None:
            window = window[:first]
        if last is not None:
            window = window[-last:] if last else []
        has_next = bool(window) and window[-1] < min(end, len(items)) - 1
        end_cursor = _cursor(window[-1]) if window else None
        if self.graphql_loop_cursor and has_next and args.get("after"):
            end_cursor = str(args["after"])  # the fault: the next page is the one just read
        nodes = [render(items[i]) for i in window]
        return {
            "nodes": nodes,
            "edges": [{"cursor": _cursor(i), "node": node} for i, node in zip(window, nodes, strict=True)],
            "totalCount": len(items),
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": bool(window) and window[0] > 0,
                "startCursor": _cursor(window[0]) if window else None,
                "endCursor": end_cursor,
            },
        }


def _error(err: GraphQLError, phase: str) -> Json:
    """A graphql-core error in GitHub's shape."""
    out: Json = {}
    original = err.original_error
    if isinstance(original, _TypedError):
        out["type"] = original.kind
    elif phase == "validation":
        match = _UNDEFINED_FIELD.search(err.message.replace('"', "'"))
        if match:
            field, owner = match.groups()
            out["extensions"] = {"code": "undefinedField", "typeName": owner, "fieldName": field}
            out["message"] = f"Field '{field}' doesn't exist on type '{owner}'"
    elif phase == "parse":
        out["extensions"] = {"code": "parseError"}
    if err.path:
        out["path"] = list(err.path)
    if err.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    out.setdefault("message", err.message)
    return out
