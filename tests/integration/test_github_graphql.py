"""The release timeline through GitHub's GraphQL API (issue 12, item 3), against the emulator's graphql-core endpoint.

The same timeline must come out of GraphQL as out of REST, on varied repositories: annotated and
lightweight tags, a re-tag, many pages, deployments to other environments and in other cases, a
deployment whose tag was deleted (GraphQL's `ref` is null: read over REST), one with more statuses
than a page. Everything goes over real HTTP through PyGithub's requester; nothing is patched.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from graphql import parse

from custodian.model import DeploymentFact, StageStart
from custodian.providers.github.budget import RateBudget, RateLimitExhausted, budget_lines
from custodian.providers.github.client import GithubSession, GithubSettings, graphql_read_only
from custodian.providers.github.graphql import (
    DEPLOYMENTS_QUERY,
    RELEASES_QUERY,
    TAGS_QUERY,
    GithubGraphql,
    GraphqlError,
)
from custodian.providers.github.timeline import collect_timeline
from custodian.providers.paging import PagingError
from custodian.providers.wire import CallCounter, ReadOnlyViolation
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.github_graphql_schema import point_cost, schema_without
from custodian.sandbox.httpserver import EmulatorServer

REPO = "acme/product"
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _parse(tag: str) -> tuple[str, str] | None:
    for stage in ("qa", "uat"):
        if tag.endswith(f"-{stage}"):
            return tag.removesuffix(f"-{stage}"), stage
    return (tag, "prod") if tag.startswith("v") else None


@pytest.fixture()
def emulator() -> Iterator[tuple[GithubEmulator, EmulatorServer]]:
    github, server = start_github(clock=SandboxClock(NOW))
    github.store.add_org("acme")
    github.store.add_user("octo-admin", site_admin=True)
    github.store.add_repo(REPO)
    try:
        yield github, server
    finally:
        server.stop()


def seed_varied(github: GithubEmulator, versions: int) -> None:
    """Annotated and lightweight tags, releases (one a draft), deployments to several environments."""
    store = github.store
    for i in range(versions):
        version, start = f"v1.{i // 10}.{i % 10}", NOW - timedelta(days=40 - i)
        store.add_tag(REPO, f"{version}-qa", date=start, annotated=i % 2 == 0)
        store.add_tag(REPO, f"{version}-uat", date=start + timedelta(hours=1), annotated=i % 3 == 0)
        store.add_tag(REPO, version, date=start + timedelta(hours=2), annotated=True, tagger_date=start)
        if i % 4:
            store.add_release(REPO, version, created_at=start + timedelta(hours=3), draft=i % 4 == 3)
        environment = ("production", "Production", "staging", "PRODUCTION")[i % 4]
        dep = store.add_deployment(REPO, environment=environment, ref=version, created_at=start + timedelta(hours=2))
        for minutes, state in ((5, "in_progress"), (20, "success" if i % 5 else "failure")):
            store.add_deployment_status(
                REPO, dep["id"], state=state, created_at=start + timedelta(hours=2, minutes=minutes)
            )
        uat = store.add_deployment(REPO, environment="uat", ref=f"{version}-uat", created_at=start + timedelta(hours=1))
        store.add_deployment_status(REPO, uat["id"], state="success", created_at=start + timedelta(hours=1, minutes=9))
    store.add_tag(REPO, "not-a-stage-tag", date=NOW - timedelta(days=1))
    # a re-tag: v1.0.1-qa deleted and pushed again, later, on another commit
    del store.repos[REPO.lower()].tags["v1.0.1-qa"]
    store.add_tag(REPO, "v1.0.1-qa", date=NOW - timedelta(days=2), annotated=True, sha="c" * 40)
    # a deployment whose tag is gone (GraphQL: ref null) and one with more statuses than a page
    store.add_deployment(REPO, environment="production", ref="v9.9.9", sha="d" * 40, created_at=NOW - timedelta(days=3))
    busy = store.add_deployment(REPO, environment="production", ref="v1.0.0", created_at=NOW - timedelta(days=2))
    for n in range(105):
        state = "success" if n == 104 else "in_progress"
        store.add_deployment_status(
            REPO, busy["id"], state=state, created_at=NOW - timedelta(days=2) + timedelta(minutes=n)
        )


def session(server: EmulatorServer, api: str, per_page: int = 100) -> GithubSession:
    settings = GithubSettings(f"{server.url}/api/v3", "t0ken", "acme", enterprise=True, per_page=per_page, api=api)
    return GithubSession(settings, CallCounter())


def timeline(server: EmulatorServer, api: str, per_page: int = 100) -> tuple[list[StageStart], list[DeploymentFact]]:
    reader = session(server, api, per_page)
    try:
        return collect_timeline(reader, REPO, "production", _parse, lambda tags: {}, NOW)
    finally:
        reader.close()


def _key(start: StageStart) -> tuple[str, str]:
    return start.version, start.stage


@pytest.mark.parametrize("per_page", [100, 7])
def test_graphql_gives_the_rest_timeline(emulator: tuple[GithubEmulator, EmulatorServer], per_page: int) -> None:
    github, server = emulator
    seed_varied(github, 24)
    rest_starts, rest_deployments = timeline(server, "rest", per_page)
    server.clear_log()
    starts, deployments = timeline(server, "graphql", per_page)
    assert sorted(starts, key=_key) == sorted(rest_starts, key=_key)
    assert deployments == rest_deployments  # same order too (newest first), statuses oldest first
    assert len(starts) == 3 * 24 + 1 and len(deployments) == 24 // 4 * 3 + 2
    assert any(s.stage == "qa" and s.at == NOW - timedelta(days=2) for s in starts)  # the re-tag
    [busy] = [d for d in deployments if len(d.statuses) == 105]
    assert busy.first_success_at == NOW - timedelta(days=2) + timedelta(minutes=104)
    paths = [(r.method, r.path) for r in server.requests]
    graphql = [p for p in paths if p == ("POST", "/api/graphql")]
    rest = [p for p in paths if p[1] != "/api/graphql"]
    tags, releases, deployment_count = 3 * 24 + 2, 24 - 24 // 4, 24 * 2 + 2
    pages = sum(-(-n // per_page) for n in (tags, releases, deployment_count))
    assert len(graphql) == pages
    # REST only where one page cannot say: the gone tag's deployment, the busy one's statuses
    repo = github.store.repos[REPO.lower()]
    gone = next(d.id for d in repo.deployments.values() if d.ref == "v9.9.9")
    busy_id = busy.deployment_id
    expected = [f"deployments/{busy_id}/statuses"] * -(-105 // per_page) + [f"deployments/{gone}"]  # newest first
    assert [p.split("/repos/acme/product/")[1] for _, p in rest] == expected


def test_graphql_reads_cost_points_not_core_requests(emulator: tuple[GithubEmulator, EmulatorServer]) -> None:
    github, server = emulator
    seed_varied(github, 12)
    reader = session(server, "graphql")
    collect_timeline(reader, REPO, "production", _parse, lambda tags: {}, NOW)
    budget = reader.budget.document()
    points = github.graphql_rate()["used"]
    assert budget["graphql"]["cost"] == points == budget["graphql"]["requests"] == 3  # one page each, 1 point each
    assert budget["graphql"]["remaining"] == github.graphql_rate_limit - points
    assert reader.counter.snapshot()["github"]["GRAPHQL"] == 3
    core_used = int(github._rate_snapshot()["used"])
    assert core_used == budget["cost"]  # the REST reads (the gone tag's deployment) count against core only
    reader.close()


def test_the_point_cost_follows_githubs_rule() -> None:
    schema = schema_without()
    variables = {"owner": "acme", "name": "product", "first": 100, "after": None}
    for query in (TAGS_QUERY, RELEASES_QUERY, DEPLOYMENTS_QUERY):  # 1 request, 1 and 100: round(1.01) = 1
        assert point_cost(parse(query), variables, schema)[0] == 1
    aliases = " ".join(
        f"d{i}: deployments(first: 100) {{ nodes {{ statuses(first: 100) {{ nodes {{ state }} }} }} }}"
        for i in range(3)
    )
    three = f'{{ repository(owner: "a", name: "b") {{ {aliases} }} }}'
    assert point_cost(parse(three), {}, schema) == (3, 3 * (100 + 100 * 100))  # 303 requests -> 3 points
    small = '{ repository(owner: "a", name: "b") { deployments(first: 10) { nodes { statuses(first: 5) { id } } } } }'
    assert point_cost(parse(small), {}, schema)[0] == 1  # 11 requests: the minimum


def test_a_mutation_is_refused_on_the_wire_in_a_read_only_session(
    emulator: tuple[GithubEmulator, EmulatorServer],
) -> None:
    _, server = emulator
    reader = session(server, "graphql")
    mutation = 'mutation { createRef(input: {repositoryId: "R", name: "refs/tags/x", oid: "0"}) { ref { name } } }'
    with pytest.raises(ReadOnlyViolation):
        GithubGraphql(reader).query(mutation, {}, "a mutation")
    assert server.requests == []  # never sent
    assert not graphql_read_only(json.dumps({"query": "query A { a } mutation B { b }"}))
    assert graphql_read_only(json.dumps({"query": '# mutation\nquery { a(s: "mutation {") }'}))
    reader.close()


def test_a_schema_without_the_field_falls_back_to_rest(emulator: tuple[GithubEmulator, EmulatorServer]) -> None:
    github, server = emulator
    seed_varied(github, 6)
    expected = timeline(server, "rest")
    github.graphql_hidden = frozenset({"Repository.deployments"})  # an older GHES
    reader = session(server, "graphql")
    got = collect_timeline(reader, REPO, "production", _parse, lambda tags: {}, NOW)
    assert (sorted(got[0], key=_key), got[1]) == (sorted(expected[0], key=_key), expected[1])
    [warning] = reader.budget.document()["warnings"]
    assert "deployments" in warning and "read over REST" in warning
    reader.close()


def test_graphql_errors_are_never_a_silently_partial_timeline(emulator: tuple[GithubEmulator, EmulatorServer]) -> None:
    github, server = emulator
    seed_varied(github, 6)
    reader = session(server, "graphql")
    with pytest.raises(GraphqlError, match="Could not resolve to a Repository"):
        collect_timeline(reader, "acme/missing", "production", _parse, lambda tags: {}, NOW)
    github.enforce_rate_limit = True
    github._graphql_used = github.graphql_rate_limit  # spent by another client of the same token
    with pytest.raises(GraphqlError, match="API rate limit"):  # GitHub's RATE_LIMITED (HTTP 200, an errors array)
        collect_timeline(reader, REPO, "production", _parse, lambda tags: {}, NOW)
    sent = len(server.requests)
    with pytest.raises(RateLimitExhausted):  # now the budget knows: refused before sending
        collect_timeline(reader, REPO, "production", _parse, lambda tags: {}, NOW)
    assert len(server.requests) == sent
    reader.close()


def test_a_repeated_end_cursor_is_a_paging_error(emulator: tuple[GithubEmulator, EmulatorServer]) -> None:
    github, server = emulator
    seed_varied(github, 6)
    github.graphql_loop_cursor = True
    reader = session(server, "graphql", per_page=5)
    with pytest.raises(PagingError, match="already read"):
        collect_timeline(reader, REPO, "production", _parse, lambda tags: {}, NOW)
    assert len(server.requests) == 2  # the first page, the second (its endCursor the one sent): stopped
    reader.close()


def test_the_emulator_answers_in_githubs_shape(emulator: tuple[GithubEmulator, EmulatorServer]) -> None:
    _, server = emulator

    def post(query: str, path: str = "/api/graphql") -> tuple[dict[str, str], dict[str, object]]:
        request = urllib.request.Request(
            f"{server.url}{path}", json.dumps({"query": query}).encode(), {"Authorization": "token t"}
        )
        with urllib.request.urlopen(request) as answer:
            return dict(answer.headers), json.loads(answer.read())

    headers, body = post(
        '{ repository(owner: "acme", name: "product") { refs(refPrefix: "refs/tags/") { totalCount } } }'
    )
    assert headers["x-ratelimit-resource"] == "graphql"
    assert body["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"  # type: ignore[index]
    _, body = post('{ repository(owner: "acme", name: "product") { bogus } }')
    assert body["errors"][0]["extensions"] == {  # type: ignore[index]
        "code": "undefinedField",
        "typeName": "Repository",
        "fieldName": "bogus",
    }
    _, body = post("{ rateLimit { cost remaining limit } }", "/graphql")  # a github.com-style root too
    assert body["data"] == {"rateLimit": {"cost": 1, "remaining": 4998, "limit": 5000}}


def test_the_graphql_and_core_budgets_are_kept_apart() -> None:
    budget = RateBudget(wall_clock=lambda: 1_000.0)
    spent = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "4600"}
    budget.observe(200, {**spent, "x-ratelimit-resource": "graphql"})
    budget.check("core")  # REST still has its own budget
    with pytest.raises(RateLimitExhausted):
        budget.check("graphql")
    budget.observe(200, {**spent, "x-ratelimit-remaining": "7", "x-ratelimit-resource": "core"})
    document = budget.document()
    assert (document["remaining"], document["graphql"]["remaining"]) == (7, 0)
    assert budget_lines(document)[0].startswith("GitHub rate limit: 1 requests counted")
