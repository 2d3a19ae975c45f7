"""The subset of GitHub's GraphQL schema the emulator serves, and GitHub's point cost of a query.

`SCHEMA_SDL` keeps GitHub's own names and types for what the release timeline reads: `repository`
with `refs` (tag refs; a `Ref`'s `target` is a `Commit` or an annotated `Tag`, whose `tagger` is a
`GitActor` dated by a `GitTimestamp`), `deployments` (with `statuses`, states in GitHub's upper-case
`DeploymentStatusState`), `releases`, and `rateLimit { cost limit remaining resetAt used nodeCount }`.
`schema_without(hidden)` builds it without some `Type.field`s: an older GHES that lacks a field.

`point_cost(document, variables, schema)` follows GitHub's published rule
(docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api): add up the
requests needed to fulfil each connection, assuming each reaches its `first`/`last` (a connection
nested in one of 100 nodes needs 100 requests), divide by 100, round, minimum 1. `node_count` is
the nodes the query may return (each connection's limit times its parents').
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
    get_named_type,
)

SCHEMA_SDL = """
scalar DateTime
scalar GitTimestamp
scalar GitObjectID

type Query {
  repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
  rateLimit(dryRun: Boolean = false): RateLimit
}

type RateLimit { cost: Int! limit: Int! nodeCount: Int! remaining: Int! resetAt: DateTime! used: Int! }
type PageInfo { endCursor: String hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String }
enum OrderDirection { ASC DESC }

interface Node { id: ID! }
interface GitObject { id: ID! oid: GitObjectID! abbreviatedOid: String! }

type Commit implements Node & GitObject {
  id: ID! oid: GitObjectID! abbreviatedOid: String! committedDate: DateTime! message: String!
}
type GitActor { date: GitTimestamp email: String name: String }
type Tag implements Node & GitObject {
  id: ID! oid: GitObjectID! abbreviatedOid: String! name: String! message: String tagger: GitActor target: GitObject!
}
type Ref implements Node { id: ID! name: String! prefix: String! target: GitObject }
type RefEdge { cursor: String! node: Ref }
type RefConnection { edges: [RefEdge] nodes: [Ref] pageInfo: PageInfo! totalCount: Int! }
enum RefOrderField { TAG_COMMIT_DATE ALPHABETICAL }
input RefOrder { field: RefOrderField! direction: OrderDirection! }

enum DeploymentStatusState { PENDING SUCCESS FAILURE INACTIVE ERROR QUEUED IN_PROGRESS WAITING }
type DeploymentStatus implements Node {
  id: ID! state: DeploymentStatusState! createdAt: DateTime! updatedAt: DateTime!
  description: String environment: String
}
type DeploymentStatusEdge { cursor: String! node: DeploymentStatus }
type DeploymentStatusConnection {
  edges: [DeploymentStatusEdge] nodes: [DeploymentStatus] pageInfo: PageInfo! totalCount: Int!
}
type Deployment implements Node {
  id: ID! databaseId: Int environment: String originalEnvironment: String createdAt: DateTime! updatedAt: DateTime!
  commitOid: String! ref: Ref task: String description: String
  statuses(after: String, before: String, first: Int, last: Int): DeploymentStatusConnection
}
type DeploymentEdge { cursor: String! node: Deployment }
type DeploymentConnection { edges: [DeploymentEdge] nodes: [Deployment] pageInfo: PageInfo! totalCount: Int! }
enum DeploymentOrderField { CREATED_AT }
input DeploymentOrder { field: DeploymentOrderField! direction: OrderDirection! }

type User implements Node { id: ID! login: String! }
type Release implements Node {
  id: ID! databaseId: Int name: String tagName: String! isDraft: Boolean! isPrerelease: Boolean!
  createdAt: DateTime! publishedAt: DateTime author: User
}
type ReleaseEdge { cursor: String! node: Release }
type ReleaseConnection { edges: [ReleaseEdge] nodes: [Release] pageInfo: PageInfo! totalCount: Int! }
enum ReleaseOrderField { CREATED_AT NAME }
input ReleaseOrder { field: ReleaseOrderField! direction: OrderDirection! }

type Repository implements Node {
  id: ID! name: String! nameWithOwner: String!
  refs(refPrefix: String!, after: String, before: String, first: Int, last: Int, direction: OrderDirection,
       orderBy: RefOrder, query: String): RefConnection
  deployments(environments: [String!], orderBy: DeploymentOrder = {field: CREATED_AT, direction: ASC},
              after: String, before: String, first: Int, last: Int): DeploymentConnection!
  releases(after: String, before: String, first: Int, last: Int, orderBy: ReleaseOrder): ReleaseConnection!
}
"""


@functools.cache
def schema_without(hidden: frozenset[str] = frozenset()) -> GraphQLSchema:
    """The schema, without the `Type.field`s named in `hidden` (an older server's schema)."""
    schema = build_schema(SCHEMA_SDL)
    for name in hidden:
        type_name, _, field_name = name.partition(".")
        owner = schema.type_map.get(type_name)
        if isinstance(owner, GraphQLObjectType):
            owner.fields.pop(field_name, None)
    return schema


def _limit(node: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value not in ("first", "last"):
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode) and isinstance(variables.get(value.name.value), int):
            return int(variables[value.name.value])
    return None


def _walk(
    selections: SelectionSetNode | None,
    parent: GraphQLNamedType,
    multiplier: int,
    fragments: Mapping[str, FragmentDefinitionNode],
    schema: GraphQLSchema,
    variables: Mapping[str, Any],
    totals: list[int],
) -> None:
    for selection in selections.selections if selections else ():
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            owner = schema.type_map.get(condition.name.value, parent) if condition else parent
            _walk(selection.selection_set, owner, multiplier, fragments, schema, variables, totals)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                owner = schema.type_map.get(fragment.type_condition.name.value, parent)
                _walk(fragment.selection_set, owner, multiplier, fragments, schema, variables, totals)
        elif isinstance(selection, FieldNode):
            fields = getattr(parent, "fields", {})
            field = fields.get(selection.name.value)
            if field is None:
                continue
            named = get_named_type(field.type)
            inner = multiplier
            if named.name.endswith("Connection"):
                limit = _limit(selection, variables) or 1
                totals[0] += multiplier  # the requests this connection needs
                inner = multiplier * limit
                totals[1] += inner  # the nodes it may return
            _walk(selection.selection_set, named, inner, fragments, schema, variables, totals)


def point_cost(document: DocumentNode, variables: Mapping[str, Any], schema: GraphQLSchema) -> tuple[int, int]:
    """(GitHub's point cost, the node count) of the query operations of `document`."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    totals = [0, 0]
    query_type = schema.query_type
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and query_type is not None:
            _walk(definition.selection_set, query_type, 1, fragments, schema, variables, totals)
    return max(1, math.floor(totals[0] / 100 + 0.5)), totals[1]
