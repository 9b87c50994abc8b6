"""Read `hookd.yaml` into plain values, remembering the line of every key, and replace
`${VAR}` / `${VAR:-default}` in scalar values from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Source:
    """The config's plain data, the line (1-based) of each key path, and problems found."""

    filename: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)
    settled: list[tuple[Path, bool]] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Path, message: str) -> None:
        if any(_follows(path, *settled) for settled in self.settled):
            return
        dotted = ".".join(str(part) for part in path)
        where = f"{dotted}: " if dotted else ""
        self.problems.append(f"{self.filename}:{self.line_of(path)}: {where}{message}")

    def settle(self, path: Path, parent: bool = False) -> None:
        """`path` has had its problem (a missing variable, a value of the wrong type): later
        problems at it or inside it follow from that one and are not reported; with `parent`
        (the value was left out, or is a list's item), nor are those of its parent."""
        self.settled.append((path, parent or bool(path and isinstance(path[-1], int))))

    def settled_paths(self) -> list[Path]:
        return list(dict.fromkeys(path for path, _ in self.settled))


def _follows(path: Path, settled: Path, parent: bool) -> bool:
    return path[: len(settled)] == settled or (parent and path == settled[:-1])


def read_yaml(text: str, filename: str, environ: Mapping[str, str]) -> Source:
    """Parse `text`; YAML errors and missing variables become problems, not exceptions."""
    source = Source(filename=filename, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        source.problems.append(f"{filename}:{line}: not valid YAML: {problem}")
        return source
    if node is None:
        source.data = {}
        return source
    source.lines[()] = node.start_mark.line + 1
    source.data = _build(node, (), source, environ)
    return source


def _build(node: yaml.Node, path: Path, source: Source, environ: Mapping[str, str]) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            key = key if isinstance(key, str | int) else str(key)
            # YAML 1.1 reads a bare `on` as True: hooks say `on:` and mean the word.
            key = "on" if key is True else key
            child = (*path, key)
            source.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, source, environ)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            source.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(item, (*path, index), source, environ))
        return items
    value = _scalar(node)
    if isinstance(value, str) and "${" in value:
        return _interpolate(value, path, source, environ)
    return value


def _scalar(node: yaml.Node) -> Any:
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _interpolate(value: str, path: Path, source: Source, environ: Mapping[str, str]) -> str:
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        source.variables.add(name)
        found = environ.get(name)
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        missing.append(name)
        return ""

    result = _VARIABLE.sub(replace, value)
    for name in missing:
        source.problem(path, f"environment variable {name} is not set")
    if missing:
        source.settle(path)  # the value is incomplete: nothing else is said about it
    return result
