"""The release timeline's listings through GitHub's GraphQL API: one paged query each, batched.

Per repository, three paged queries (GitHub's schema names): the tag refs with their targets
(`refs(refPrefix: "refs/tags/")`: a lightweight tag's `Commit`, an annotated tag's `Tag` with its
`tagger { date }` and its own target), the deployments with their statuses (`deployments` with
`statuses(first: 100)` inside, newest first, every environment: a deployment to any environment is
evidence of a stage start), and the releases (`releases`, newest first). Each asks for
`rateLimit { cost remaining resetAt }`: the points go to the session's budget (`graphql` resource).
Where REST would have needed a GET per annotated tag and a statuses list per deployment, this is one
request per 100 tags, deployments or releases.

The requests are POSTs to the requester's GraphQL URL (`/graphql`, or `/api/graphql` under a GHES
`/api/v3` base) through the session's guarded requester: read-only (queries only), counted and
budgeted like REST. Pages follow `pageInfo.endCursor` through a `PageGuard` (a repeated cursor is a
`PagingError`).

Failure is never silently partial: an answer with an `errors` array raises `GraphqlError` (the
repository's timeline becomes a COLLECT error), except a schema without one of these fields (an
older GHES: `undefinedField` and the like), which raises `GraphqlUnsupported` before anything was
used, and `listing_or_rest` then answers None: the caller reads that repository over REST. What one
page cannot say is completed over REST, item by item: a deployment whose `ref` is null (its tag was
deleted, or it named a sha) is read with `GET deployments/{id}`, one with more than 100 statuses has
them listed; an annotated tag naming another tag object is peeled by the caller (`commit_sha` None).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from github.Repository import Repository

from custodian.providers.github.client import GithubSession
from custodian.providers.paging import ListingCheck, PageGuard, PagingError, github_items, unchecked

log = logging.getLogger(__name__)

_RATE = "rateLimit { cost remaining resetAt }"
TAGS_QUERY = f"""query StageTags($owner: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{
    refs(refPrefix: "refs/tags/", first: $first, after: $after, orderBy: {{field: ALPHABETICAL, direction: ASC}}) {{
      nodes {{
        name
        target {{
          __typename oid
          ... on Commit {{ committedDate }}
          ... on Tag {{ tagger {{ date }} target {{ __typename oid ... on Commit {{ committedDate }} }} }}
        }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
  {_RATE}
}}"""
DEPLOYMENTS_QUERY = f"""query Deployments($owner: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{
    deployments(first: $first, after: $after, orderBy: {{field: CREATED_AT, direction: DESC}}) {{
      nodes {{
        databaseId environment createdAt commitOid
        ref {{ name }}
        statuses(first: 100) {{ nodes {{ state createdAt }} pageInfo {{ hasNextPage }} }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
  {_RATE}
}}"""
RELEASES_QUERY = f"""query Releases($owner: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{
    releases(first: $first, after: $after, orderBy: {{field: CREATED_AT, direction: DESC}}) {{
      nodes {{ tagName isDraft publishedAt createdAt author {{ login }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
  {_RATE}
}}"""
#: error codes that mean "this server's schema has no such field/argument" (fall back to REST)
_UNSUPPORTED = frozenset({"undefinedField", "argumentNotAccepted", "undefinedType", "missingRequiredArguments"})


class GraphqlError(RuntimeError):
    """A GraphQL answer carried errors (or lacked what was asked): the listing is incomplete."""


class GraphqlUnsupported(GraphqlError):
    """The server's schema lacks a field or argument the query uses (an older GHES): use REST."""


@dataclass(frozen=True)
class ListedTag:
    """A tag ref: `object_sha` is what the ref names (a commit, or an annotated tag object)."""

    name: str
    object_sha: str
    annotated: bool
    commit_sha: str | None  # None: an annotated tag naming another tag object (peel it over REST)
    tagger_date: datetime | None


@dataclass(frozen=True)
class ListedRelease:
    tag_name: str
    draft: bool
    published_at: datetime | None
    created_at: datetime
    author: str | None


@dataclass(frozen=True)
class ListedDeployment:
    id: int
    environment: str | None
    ref: str
    sha: str
    created_at: datetime
    statuses: tuple[tuple[str, datetime], ...]  # (state in REST's lower case, when), oldest first


@dataclass(frozen=True)
class TimelineListing:
    tags: list[ListedTag]
    releases: list[ListedRelease]
    deployments: list[ListedDeployment]


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class GithubGraphql:
    """GraphQL queries over a `GithubSession`'s guarded requester (its budget counts the points)."""

    def __init__(self, session: GithubSession) -> None:
        self.session = session

    def query(self, document: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        """The `data` of one query; `GraphqlUnsupported`/`GraphqlError` when the answer has errors."""
        requester = self.session.requester
        _, answer = requester.requestJsonAndCheck(
            "POST", requester.graphql_url, input={"query": document, "variables": variables}
        )
        if not isinstance(answer, dict):
            raise GraphqlError(f"{what}: the GraphQL answer is not a JSON object")
        data = answer.get("data")
        rate = data.get("rateLimit") if isinstance(data, dict) else None
        if isinstance(rate, dict) and isinstance(rate.get("cost"), int):
            self.session.budget.graphql_points(rate["cost"])
        errors = answer.get("errors")
        if errors:
            shown = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors[:3])
            codes = {str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
            if codes & _UNSUPPORTED:
                raise GraphqlUnsupported(f"{what}: {shown}")
            raise GraphqlError(f"{what}: GraphQL errors: {shown}")
        if not isinstance(data, dict):
            raise GraphqlError(f"{what}: the GraphQL answer has no data")
        return data

    def nodes(self, document: str, owner: str, name: str, connection: str, what: str) -> Iterator[dict[str, Any]]:
        """Every node of `repository.<connection>`, page after page (`PagingError` on a repeated cursor)."""
        guard = PageGuard(f"GraphQL {what}")
        variables: dict[str, Any] = {"owner": owner, "name": name, "first": self.session.settings.per_page}
        after: str | None = None
        while True:
            data = self.query(document, {**variables, "after": after}, what)
            repository = data.get("repository")
            page = repository.get(connection) if isinstance(repository, dict) else None
            if not isinstance(page, dict) or not isinstance(page.get("nodes"), list):
                raise GraphqlError(f"{what}: the answer has no repository.{connection}.nodes")
            for node in page["nodes"]:
                if not isinstance(node, dict):
                    raise GraphqlError(f"{what}: a null node in repository.{connection}: the listing is incomplete")
                yield node
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor")
            if not cursor:
                raise PagingError(f"GraphQL {what}: a next page without an endCursor: incomplete")
            guard.follow(str(cursor))
            after = str(cursor)


def _tag(node: dict[str, Any]) -> ListedTag:
    target = node.get("target") or {}
    kind, oid = target.get("__typename"), str(target.get("oid") or "")
    if kind == "Commit":
        return ListedTag(str(node["name"]), oid, False, oid, None)
    if kind != "Tag":
        raise GraphqlError(f"tag {node.get('name')}: its target is a {kind or 'missing object'}, not a commit or tag")
    date = (target.get("tagger") or {}).get("date")
    inner = target.get("target") or {}
    commit = str(inner["oid"]) if inner.get("__typename") == "Commit" else None
    return ListedTag(str(node["name"]), oid, True, commit, _time(date) if date else None)


def timeline_listing(
    session: GithubSession, repo: Repository, repo_name: str, check: ListingCheck = unchecked
) -> TimelineListing:
    """The tags (through `check`, as REST's), releases and deployments (with statuses) of `repo_name`, in full."""
    client = GithubGraphql(session)
    owner, _, name = repo_name.partition("/")
    what = f"tags of {repo_name}"
    tags = check(
        "tags",
        what,
        lambda: [_tag(n) for n in client.nodes(TAGS_QUERY, owner, name, "refs", what)],
        lambda t: f"refs/tags/{t.name}",
    )
    releases = [
        ListedRelease(
            str(n["tagName"]),
            bool(n["isDraft"]),
            _time(n["publishedAt"]) if n.get("publishedAt") else None,
            _time(n["createdAt"]),
            (n.get("author") or {}).get("login"),
        )
        for n in client.nodes(RELEASES_QUERY, owner, name, "releases", f"releases of {repo_name}")
    ]
    deployments = [
        _deployment(repo, repo_name, n)
        for n in client.nodes(DEPLOYMENTS_QUERY, owner, name, "deployments", f"deployments of {repo_name}")
    ]
    return TimelineListing(tags, releases, deployments)


def _deployment(repo: Repository, repo_name: str, node: dict[str, Any]) -> ListedDeployment:
    deployment_id = int(node["databaseId"])
    ref, sha = (node.get("ref") or {}).get("name"), str(node.get("commitOid") or "")
    rest = None
    if ref is None:  # the ref is gone (or was a sha): REST still has the name the deployment was made with
        rest = repo.get_deployment(deployment_id)
        ref, sha = rest.ref, rest.sha
    page = node.get("statuses") or {}
    if (page.get("pageInfo") or {}).get("hasNextPage"):  # more than one page of statuses: list them all
        rest = rest or repo.get_deployment(deployment_id)
        listed = github_items(rest.get_statuses(), f"statuses of deployment {deployment_id} of {repo_name}")
        statuses = [(s.state, _utc(s.created_at)) for s in listed]
    else:
        statuses = [(str(s["state"]).lower(), _time(s["createdAt"])) for s in page.get("nodes") or []]
    return ListedDeployment(
        deployment_id,
        node.get("environment"),
        str(ref),
        sha,
        _time(node["createdAt"]),
        tuple(sorted(statuses, key=lambda s: s[1])),
    )


def listing_or_rest(
    session: GithubSession, repo: Repository, repo_name: str, check: ListingCheck = unchecked
) -> TimelineListing | None:
    """The GraphQL listing when the session reads the timeline through GraphQL and the server has the
    fields; None when the caller reads it over REST (configured so, or the schema lacks a field)."""
    if session.settings.api != "graphql":
        return None
    try:
        return timeline_listing(session, repo, repo_name, check)
    except GraphqlUnsupported as exc:
        session.budget.warn(f"{exc}: not in this server's GraphQL schema, {repo_name}'s timeline is read over REST")
        return None
