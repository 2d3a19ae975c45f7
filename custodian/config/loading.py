"""Loading a configuration file: strict YAML, `${VAR}` expansion, paths made absolute, line-numbered errors.

The YAML is read by `yaml_strict` (UTF-8 only, duplicate keys and alias bombs refused) before any
of it is walked; every later check is the schema's (`models`), so `config validate` and a run refuse
the same values with the same message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from custodian.config.models import Config
from custodian.config.values import ENV_REF, ConfigError
from custodian.config.yaml_strict import decode_text, load_strict


def _expand_env(node: Any, path: str, missing: list[str]) -> Any:
    if isinstance(node, dict):
        return {key: _expand_env(value, f"{path}.{key}" if path else str(key), missing) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand_env(value, f"{path}[{i}]", missing) for i, value in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                missing.append(f"{path}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return ENV_REF.sub(replace, node)
    return node


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map key paths of the YAML document to 1-based line numbers."""
    try:
        _, root = load_strict(text, "<config>")
    except ConfigError:
        return {}
    return _node_lines(root)


def _node_lines(root: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    index: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                index[child] = key.start_mark.line + 1
                walk(value, child)
                index[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """The 1-based line of every key path of a YAML document (`("enforce", "max_actions_per_run")`)."""
    return _line_index(text)


def nearest_line(lines: dict[tuple[str | int, ...], int], path: tuple[str | int, ...]) -> int | None:
    """The line of `path`, else of its nearest ancestor present in the file (None: not even the top)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


# A whole-config check names the key of each problem: "azure.registries[0].stage: ...; naming: ...".
_PROBLEM = re.compile(r"; (?=[A-Za-z_]\w*(?:\.\w+|\[\d+\])*: )")


def _key_path(dotted: str) -> tuple[str | int, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", dotted))


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str, lines: dict[tuple[str | int, ...], int]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = error["msg"].removeprefix("Value error, ")
        if not loc and error["type"] == "value_error":  # whole-config checks: each problem at its own key
            for problem in _PROBLEM.split(message):
                key, _, _ = problem.partition(": ")
                line = nearest_line(lines, _key_path(key)) if ": " in problem else None
                problems.append(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")
            continue
        line = nearest_line(lines, loc)
        where = f"{source}:{line}" if line else source
        if error["type"] == "extra_forbidden":
            message = "unknown key (not part of the configuration schema; check the spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{where}: {_dotted(loc)}: {message}")
    return problems


# Where a configuration holds file paths: resolved against the configuration file's directory.
_PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("azure", "ca_bundle"),
    ("azure", "credential", "token_file"),
    ("reaper", "policies_dir"),
    ("reaper", "price_table"),
    ("reports", "directory"),
    ("notifications", "templates_dir"),
    ("notifications", "channels", "mailbox", "path"),
    ("notifications", "channels", "email", "ca_bundle"),
)


def _absolute(value: object, base: Path) -> object:
    if isinstance(value, str) and value.strip():
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())
    return value


def _resolve_paths(node: Any, base: Path) -> Any:
    """Relative paths made absolute against `base` (the config file's directory), before validation.

    Covers the keys of `_PATH_KEYS`, every secret's `file`, a SQLite `ledger.url` and the test jobs'
    `marker`: whatever later runs in another working directory (c7n's subprocess, the scheduler) then
    reads the same file.
    """
    if isinstance(node, list):
        return [_resolve_paths(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _resolve_paths(value, base) for key, value in node.items()}
    if set(out) <= {"env", "file"} and "file" in out:  # a SecretRef
        out["file"] = _absolute(out["file"], base)
    if "marker" in out:
        out["marker"] = _absolute(out["marker"], base)
    return out


def resolve_config_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    data = _resolve_paths(data, base)
    for *sections, key in _PATH_KEYS:
        node: Any = data
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            node[key] = _absolute(node[key], base)
    ledger = data.get("ledger")
    if isinstance(ledger, dict) and isinstance(ledger.get("url"), str):
        url: str = ledger["url"]
        prefix = "sqlite:///"
        if url.startswith(prefix) and url[len(prefix) :] and not url[len(prefix) :].startswith(("/", ":memory:")):
            ledger["url"] = prefix + str(_absolute(url[len(prefix) :], base))
    return data


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    data, root = load_strict(text, source)
    if data is None:
        raise ConfigError([f"{source}: the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys, not {type(data).__name__}"])
    missing: list[str] = []
    data = _expand_env(data, "", missing)
    if missing:
        raise ConfigError([f"{source}: {m}" for m in missing])
    if base_dir is not None:
        data = resolve_config_paths(data, base_dir)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, _node_lines(root))) from exc


def load_config(path: Path) -> Config:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration: {exc.strerror}"]) from exc
    return parse_config(decode_text(data, str(path)), str(path), path.resolve().parent)


def config_schema() -> dict[str, Any]:
    return Config.model_json_schema()
