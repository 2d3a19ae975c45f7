"""Reading a configuration document strictly: UTF-8 text, no duplicate keys, aliases of bounded size.

Plain `yaml.safe_load` keeps the last of two equal keys (`mode: audit` then `mode: enforce` silently
means enforce) and expands aliases without limit (a "billion laughs" file takes minutes and
gigabytes once the tree is walked). Here the document is composed first (aliases stay references
to one node), checked, and only then constructed:

- a key given twice in one mapping is an error at the second one's line, naming the first;
- the document's size with every alias expanded is counted without expanding it (a node's size
  is computed once), and a document larger than `MAX_EXPANDED_NODES` is refused, as is an alias
  of a node that contains itself;
- a file that is not UTF-8 text (a binary file) is refused with the offset of the first bad byte.

Every problem is a `ConfigError` (`FILE:LINE: key.path: problem`).
"""

from __future__ import annotations

from typing import Any, Final

import yaml

from custodian.config.values import ConfigError

#: a configuration has a few hundred nodes; an expansion past this is an alias bomb, not a config
MAX_EXPANDED_NODES: Final = 100_000

KeyPath = tuple[str | int, ...]


def decode_text(data: bytes, source: str) -> str:
    """The file's text, or ConfigError when it is not UTF-8 (a binary file, another encoding)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                f"{source}:{line}: not a UTF-8 text file (byte 0x{data[exc.start]:02x} at offset {exc.start} "
                "cannot be decoded): a configuration is a YAML text file"
            ]
        ) from exc


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _check_duplicates(node: yaml.Node, path: KeyPath, source: str, seen: set[int], problems: list[str]) -> None:
    if id(node) in seen:  # an alias: its node was checked where it was defined
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
            line = key.start_mark.line + 1
            if name is not None and name in first:
                problems.append(
                    f"{source}:{line}: {dotted((*path, name))}: duplicate key (first given at line {first[name]}; "
                    "a key may appear once in a mapping)"
                )
            elif name is not None:
                first[name] = line
            _check_duplicates(value, (*path, name if name is not None else "?"), source, seen, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicates(item, (*path, index), source, seen, problems)


def _expanded_size(root: yaml.Node, source: str) -> int:
    """Nodes in the document with every alias expanded, computed once per node (no expansion happens)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            line = node.start_mark.line + 1
            raise ConfigError([f"{source}:{line}: YAML alias of a node that contains itself (a recursive alias)"])
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def load_strict(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and its composed root node (None for an empty document).

    Raises ConfigError for a syntax error, a duplicate key, or aliases that expand past
    `MAX_EXPANDED_NODES` nodes (or into themselves).
    """
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters (a NUL byte) at once
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            [
                f"{source}:{line}: not a YAML text file: character #x{exc.character:04x} at offset {exc.position} "
                "is not allowed (control characters other than tab and newline)"
            ]
        ) from exc
    try:
        return _load(loader, source)
    except RecursionError as exc:  # thousands of nested brackets: PyYAML's composer recurses per level
        raise ConfigError([f"{source}: YAML nested too deeply to be a configuration"]) from exc
    finally:
        loader.dispose()


def _load(loader: yaml.SafeLoader, source: str) -> tuple[Any, yaml.Node | None]:
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ConfigError([f"{_where(exc, source)}: YAML syntax error: {_problem(exc)}"]) from exc
    if root is None:
        return None, None
    problems: list[str] = []
    _check_duplicates(root, (), source, set(), problems)
    if problems:
        raise ConfigError(problems)
    expanded = _expanded_size(root, source)
    if expanded > MAX_EXPANDED_NODES:
        raise ConfigError(
            [
                f"{source}: YAML aliases expand this document to {expanded:,} nodes (at most "
                f"{MAX_EXPANDED_NODES:,}): refused as an alias bomb; write the values out instead"
            ]
        )
    try:
        return loader.construct_document(root), root
    except yaml.YAMLError as exc:
        raise ConfigError([f"{_where(exc, source)}: YAML error: {_problem(exc)}"]) from exc


def _where(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"{source}:{mark.line + 1}" if mark is not None else source


def _problem(exc: yaml.YAMLError) -> object:
    return getattr(exc, "problem", None) or exc
