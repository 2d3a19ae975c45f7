"""Sandbox scenarios: load one YAML file and seed the ARM store, the GitHub store and Azurite from it.

    scenario = load_scenario("seed")                      # the built-in story (scenarios/seed.yaml)
    clock = scenario_clock(scenario)                      # fixed `clock.now` if the file pins one
    summary = seed_all(scenario, clock=clock, arm_store=arm, github_store=gh,
                       blob_connection_string=azurite.connection_string)

A bad file raises `ScenarioError`, never a traceback: its message lists every problem, one per line,
as ``FILE: path.to.field: problem (line N)``; YAML syntax errors carry their line and column.
The schema lives in `scenario_schema`, cross-reference checks in `scenario_checks`, and the ARM JSON
builders in `scenario_arm`.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.scenario_arm import (
    DISK_TYPE,
    NIC_TYPE,
    NSG_TYPE,
    PIP_TYPE,
    REGISTRY_TYPE,
    SCOPE_MAP_TYPE,
    STORAGE_TYPE,
    TOKEN_TYPE,
    VM_TYPE,
    build_arm,
)
from custodian.sandbox.scenario_checks import check_scenario
from custodian.sandbox.scenario_schema import HoldSpec, Scenario, When, yaml_type

__all__ = [
    "ArmSeedTarget",
    "GithubSeedTarget",
    "ResolvedHold",
    "Scenario",
    "ScenarioError",
    "SeedSummary",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
    "resolved_holds",
    "scenario_clock",
    "seed_all",
]

_SCENARIO_PACKAGE = "custodian.sandbox"
_SCENARIO_DIR = "scenarios"


# --------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Problem:
    """One problem in a scenario file: where (a dotted path, or a line/column) and what."""

    where: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        suffix = f" (line {self.line})" if self.line is not None and not self.where.startswith("line ") else ""
        return f"{source}: {self.where or '<top level>'}: {self.message}{suffix}"


class ScenarioError(Exception):
    """A scenario file that cannot be loaded; `str()` lists every problem, one per line."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(problem.render(source) for problem in self.problems))


# --------------------------------------------------------------------------------------------------
# YAML with positions


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (scenario times are parsed by the schema)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _index_nodes(node: yaml.Node, path: str, lines: dict[str, int], problems: list[Problem], stack: set[int]) -> None:
    """Record the line of every mapping key and list item; report duplicate keys."""
    if id(node) in stack:
        return
    stack.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = f"{path}.{key}" if path else key
            if key in seen and key != "<<":
                problems.append(Problem(child, f"duplicate key {key!r}", key_node.start_mark.line + 1))
            seen.add(key)
            lines.setdefault(child, key_node.start_mark.line + 1)
            _index_nodes(value_node, child, lines, problems, stack)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines.setdefault(child, item.start_mark.line + 1)
            _index_nodes(item, child, lines, problems, stack)
    stack.discard(id(node))


def _line_of(path: str, lines: Mapping[str, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


def _load_yaml(text: str) -> tuple[object, dict[str, int], list[Problem]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        lines: dict[str, int] = {}
        problems: list[Problem] = []
        _index_nodes(node, "", lines, problems, set())
        return loader.construct_document(node), lines, problems
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        parts = [part for part in (exc.context, exc.problem) if part]
        what = "; ".join(parts) or "invalid YAML"
        return Problem(f"line {mark.line + 1}, column {mark.column + 1}", f"YAML syntax error: {what}")
    return Problem("<top level>", f"YAML syntax error: {exc}")


# --------------------------------------------------------------------------------------------------
# Pydantic errors, translated


def _path_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated / Optional; return the annotation itself otherwise."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that holds the field at `loc` (used to suggest known keys)."""
    current: Any = Scenario
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict and isinstance(part, str):
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        key = str(loc[-1])
        if model is None:
            return "unknown key"
        known = list(model.model_fields)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"unknown key ({hint})"
    if kind == "missing":
        return "required key missing"
    if kind == "literal_error":
        expected = str((error.get("ctx") or {}).get("expected", ""))
        choices = expected.replace("'", "").replace(" or ", ", ")
        return f"must be one of {choices} (got {error['input']!r})"
    if kind in _TYPE_WORDS:
        got = error["input"]
        hint = " (quote it)" if kind == "string_type" and isinstance(got, int | float | bool) else ""
        return f"expected {_TYPE_WORDS[kind]}, got {yaml_type(got)} {got!r}{hint}"
    message = error["msg"]
    return message.removeprefix("Value error, ")


# --------------------------------------------------------------------------------------------------
# Loading


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package (``seed``, ...)."""
    folder = resources.files(_SCENARIO_PACKAGE).joinpath(_SCENARIO_DIR)
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; `source` names it in error messages."""
    try:
        data, lines, problems = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [_yaml_problem(exc)]) from None
    except RecursionError:
        raise ScenarioError(source, [Problem("<top level>", "YAML nested too deeply")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(
            source, [Problem("<top level>", f"expected a mapping of sections, got {yaml_type(data)}", 1)]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = _path_of(error["loc"])
            problems.append(Problem(path, _message(error), _line_of(path, lines)))
        raise ScenarioError(source, problems) from None
    problems += [Problem(path, message, _line_of(path, lines)) for path, message in check_scenario(scenario)]
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def load_scenario(name_or_path: str) -> Scenario:
    """Load a scenario by built-in name (``"seed"``) or by file path (a bare name is a built-in unless a file)."""
    candidate = Path(name_or_path)
    bare_name = candidate.suffix == "" and "/" not in name_or_path and "\\" not in name_or_path
    if bare_name and not candidate.is_file():
        if name_or_path not in builtin_scenarios():
            known = ", ".join(builtin_scenarios())
            raise ScenarioError(
                name_or_path, [Problem("<top level>", f"no built-in scenario of that name (known: {known})")]
            )
        resource = resources.files(_SCENARIO_PACKAGE).joinpath(_SCENARIO_DIR, f"{name_or_path}.yaml")
        return parse_scenario(resource.read_text(encoding="utf-8"), f"{name_or_path}.yaml")
    try:
        text = candidate.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(name_or_path, [Problem("<top level>", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(name_or_path, [Problem("<top level>", f"cannot read the file: {exc}")]) from None
    return parse_scenario(text, name_or_path)


def scenario_clock(scenario: Scenario) -> SandboxClock:
    """A sandbox clock at the scenario's pinned `clock.now`, or at the real current time."""
    return SandboxClock(scenario.clock_start())


@dataclass(frozen=True)
class ResolvedHold:
    """A hold with its times resolved (the ledger's input)."""

    version: str | None
    account: str | None
    by: str
    reason: str
    placed_at: datetime
    until: datetime


def resolved_holds(scenario: Scenario, now: datetime) -> list[ResolvedHold]:
    def resolve(hold: HoldSpec) -> ResolvedHold:
        return ResolvedHold(
            hold.version, hold.account, hold.by, hold.reason, hold.placed_at.resolve(now), hold.until.resolve(now)
        )

    return [resolve(hold) for hold in scenario.holds]


# --------------------------------------------------------------------------------------------------
# Seeding


class ClockLike(Protocol):
    def now(self) -> datetime: ...


class ArmSeedTarget(Protocol):
    """What seeding needs from the ARM store (`custodian.sandbox.arm`)."""

    def add_subscription(self, subscription_id: str, display_name: str = "") -> Any: ...

    def add_resource_group(
        self, subscription_id: str, name: str, location: str = "eastus", tags: dict[str, str] | None = None
    ) -> Any: ...

    def put(self, resource: dict[str, Any]) -> Any: ...


class GithubSeedTarget(Protocol):
    """What seeding needs from the GitHub store (`custodian.sandbox.github`)."""

    def add_org(self, login: str) -> Any: ...

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        type_: str = "User",
        site_admin: bool = False,
        suspended_at: datetime | None = None,
        created_at: datetime | None = None,
        email: str | None = None,
    ) -> Any: ...

    def add_member(self, org: str, login: str, role: str = "member") -> Any: ...

    def add_repo(self, full_name: str, default_branch: str = "main") -> Any: ...

    def add_tag(self, repo: str, name: str, *, date: datetime, sha: str | None = None) -> Any: ...

    def add_release(
        self,
        repo: str,
        tag_name: str,
        *,
        created_at: datetime,
        published_at: datetime | None = None,
        name: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
    ) -> Any: ...

    def add_deployment(
        self,
        repo: str,
        *,
        environment: str,
        ref: str,
        created_at: datetime,
        sha: str | None = None,
        task: str = "deploy",
    ) -> Mapping[str, Any]: ...

    def add_deployment_status(
        self, repo: str, deployment_id: int, *, state: str, created_at: datetime, description: str = ""
    ) -> Any: ...

    def add_impersonation_token(
        self,
        login: str,
        *,
        scopes: list[str],
        created_at: datetime,
        expires_at: datetime | None = None,
        token: str | None = None,
    ) -> Any: ...

    def add_pat_grant(
        self,
        org: str,
        owner: str,
        *,
        token_name: str,
        access_granted_at: datetime,
        token_expires_at: datetime | None = None,
        token_last_used_at: datetime | None = None,
        repository_selection: str = "all",
        permissions: dict[str, dict[str, str]] | None = None,
    ) -> Any: ...

    def add_ssh_key(self, login: str, *, key: str, title: str, created_at: datetime) -> Any: ...


@dataclass
class SeedSummary:
    """How many objects of each kind were seeded (`summary["vms"]`), and which parts were skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def __getitem__(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        parts = [f"{kind}={n}" for kind, n in self.counts.items() if n]
        if self.skipped:
            parts.append(f"skipped: {', '.join(self.skipped)}")
        return ", ".join(parts)


_ARM_KINDS = {
    VM_TYPE: "vms",
    DISK_TYPE: "disks",
    NIC_TYPE: "nics",
    PIP_TYPE: "public_ips",
    NSG_TYPE: "nsgs",
    STORAGE_TYPE: "storage_accounts",
    REGISTRY_TYPE: "registries",
    SCOPE_MAP_TYPE: "scope_maps",
    TOKEN_TYPE: "acr_tokens",
}


def seed_all(
    scenario: Scenario,
    *,
    clock: ClockLike,
    arm_store: ArmSeedTarget | None,
    github_store: GithubSeedTarget | None,
    blob_connection_string: str | None,
) -> SeedSummary:
    """Seed every store from `scenario`, resolving its times against `clock.now()`.

    The stores are added to, not cleared. A `None` target skips that part (listed in `skipped`).
    """
    now = clock.now()
    summary = SeedSummary()
    if arm_store is None:
        summary.skipped.append("azure")
    else:
        seed_arm(scenario, now, arm_store, summary)
    if github_store is None:
        summary.skipped.append("github")
    else:
        seed_github(scenario, now, github_store, summary)
    if blob_connection_string is None:
        summary.skipped.append("storage")
    else:
        seed_blobs(scenario, blob_connection_string, summary)
    return summary


def seed_arm(scenario: Scenario, now: datetime, store: ArmSeedTarget, summary: SeedSummary) -> None:
    plan = build_arm(scenario, now)
    for subscription_id, display_name in plan.subscriptions:
        store.add_subscription(subscription_id, display_name)
        summary.add("subscriptions")
    for group in plan.resource_groups:
        store.add_resource_group(group.subscription_id, group.name, group.location, group.tags or None)
        summary.add("resource_groups")
    for resource in plan.resources:
        store.put(resource)
        summary.add(_ARM_KINDS[resource["type"]])


def _fake_ssh_key(login: str, title: str) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + hashlib.sha256(f"{login}/{title}".encode()).digest()
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


def seed_github(scenario: Scenario, now: datetime, store: GithubSeedTarget, summary: SeedSummary) -> None:
    github = scenario.github

    def at(when: When | None) -> datetime | None:
        return None if when is None else when.resolve(now)

    for org in github.orgs:
        store.add_org(org)
        summary.add("orgs")
    listed = {user.login.lower() for user in github.users}
    admin = github.site_admin.lower() if github.site_admin else None
    if github.site_admin is not None and admin not in listed:
        store.add_user(github.site_admin, site_admin=True)
        summary.add("users")
    for user in github.users:
        store.add_user(
            user.login,
            name=user.name,
            type_=user.type,
            site_admin=user.login.lower() == admin,
            suspended_at=at(user.suspended_at),
            created_at=at(user.created_at),
            email=user.email,
        )
        summary.add("users")
    for user in github.users:
        for membership in user.memberships:
            store.add_member(membership.org, user.login, membership.role)
            summary.add("memberships")
    for repo in github.repos:
        store.add_repo(repo.name, repo.default_branch)
        summary.add("repos")
        for tag in sorted(repo.tags, key=lambda t: t.at.resolve(now)):
            store.add_tag(repo.name, tag.name, date=tag.at.resolve(now), sha=tag.sha)
            summary.add("tags")
        for release in sorted(repo.releases, key=lambda r: r.at.resolve(now)):
            published = None if release.draft else (at(release.published_at) or release.at.resolve(now))
            store.add_release(
                repo.name,
                release.tag,
                created_at=release.at.resolve(now),
                published_at=published,
                name=release.name if release.name is not None else release.tag,
                draft=release.draft,
                prerelease=release.prerelease,
            )
            summary.add("releases")
        for deployment in sorted(repo.deployments, key=lambda d: d.at.resolve(now)):
            created = store.add_deployment(
                repo.name,
                environment=deployment.environment,
                ref=deployment.ref,
                created_at=deployment.at.resolve(now),
                sha=deployment.sha,  # None: the store resolves the ref (a tag's commit)
                task=deployment.task,
            )
            summary.add("deployments")
            for status in sorted(deployment.statuses, key=lambda s: s.at.resolve(now)):
                store.add_deployment_status(
                    repo.name,
                    int(created["id"]),
                    state=status.state,
                    created_at=status.at.resolve(now),
                    description=status.description,
                )
                summary.add("deployment_statuses")
    for user in github.users:
        for token in user.impersonation_tokens:
            store.add_impersonation_token(
                user.login,
                scopes=list(token.scopes),
                created_at=token.created_at.resolve(now),
                expires_at=at(token.expires_at),
                token=token.token,
            )
            summary.add("impersonation_tokens")
        for grant in user.pat_grants:
            store.add_pat_grant(
                grant.org,
                user.login,
                token_name=grant.token_name,
                access_granted_at=grant.granted_at.resolve(now),
                token_expires_at=at(grant.expires_at),
                token_last_used_at=at(grant.last_used_at),
                repository_selection=grant.repository_selection,
                permissions=grant.permissions,
            )
            summary.add("pat_grants")
        for key in user.ssh_keys:
            store.add_ssh_key(
                user.login,
                key=key.key or _fake_ssh_key(user.login, key.title),
                title=key.title,
                created_at=key.created_at.resolve(now),
            )
            summary.add("ssh_keys")


def seed_blobs(scenario: Scenario, connection_string: str, summary: SeedSummary) -> None:
    """Create the containers and upload the blobs (index tags and metadata set at upload)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient, ContentSettings

    service = BlobServiceClient.from_connection_string(connection_string)
    with service:
        for spec in scenario.storage.containers:
            try:
                container = service.create_container(spec.name, metadata=spec.metadata or None)
            except ResourceExistsError:
                container = service.get_container_client(spec.name)
            summary.add("containers")
            for blob in spec.blobs:
                container.upload_blob(
                    blob.name,
                    blob.payload(),
                    overwrite=True,
                    tags=blob.tags or None,
                    metadata=blob.metadata or None,
                    content_settings=ContentSettings(content_type=blob.content_type or "application/octet-stream"),
                )
                summary.add("blobs")
