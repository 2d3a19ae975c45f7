"""Sandbox scenarios: load one YAML file and seed the ARM store, the GitHub store and Azurite from it.

    scenario = load_scenario("seed")                      # the built-in story (scenarios/seed.yaml)
    clock = scenario_clock(scenario)                      # fixed `clock.now` if the file pins one
    summary = seed_all(scenario, clock=clock, arm_store=arm, github_store=gh,
                       blob_connection_string=azurite.connection_string)

A bad file raises `ScenarioError`, never a traceback: its message lists every problem, one per line,
as ``FILE: path.to.field: problem (line N)``; YAML syntax errors carry their line and column.
The schema lives in `scenario_schema`, cross-reference checks in `scenario_checks`, seeding in
`scenario_seed` (re-exported here) and the ARM JSON builders in `scenario_arm`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.scenario_checks import check_scenario
from custodian.sandbox.scenario_schema import HoldSpec, Scenario, yaml_type
from custodian.sandbox.scenario_seed import ArmSeedTarget, GithubSeedTarget, SeedSummary, seed_all

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
