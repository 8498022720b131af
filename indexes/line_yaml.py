"""YAML with line numbers, and the small validators that report a bad field as file:line.

Shared by the tour loader and the lab loader: both read hand-written YAML whose every mistake
must come back as `path:line: [field] message` (a `Problem`), never as a traceback. `Loader` is a SafeLoader
whose mappings and lists remember the line they start on (`.line`) and where each key is
(`.key_lines`); `Bad` carries a line, a field and a message up to the caller, which adds the path.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import yaml


class Map(dict):
    line = 0
    key_lines: dict


class List(list):
    line = 0


class Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: Loader, node: yaml.MappingNode) -> Map:
    out = Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise Bad(key_node.start_mark.line + 1, "", f"a mapping key must be a name, not {key!r}")
        key = str(key)
        if key in out:
            raise Bad(key_node.start_mark.line + 1, key, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: Loader, node: yaml.SequenceNode) -> List:
    out = List(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    return out


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


@dataclass(frozen=True)
class Problem:
    """A malformed file: where, which field, what is wrong. Said the way compilers say it
    (`path:line: [field] message`), so an editor or a terminal can jump to the line; a tour's and
    a lab's problems read alike."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        fld = f" [{self.field}]" if self.field else ""
        return f"{where}:{fld} {self.message}"


class Bad(Exception):
    def __init__(self, line: int, field: str, message: str):
        super().__init__(message)
        self.line, self.field, self.message = line, field, message


def line_of(m: Map, key: str) -> int:
    return getattr(m, "key_lines", {}).get(key, getattr(m, "line", 0))


def unknown(m: Map, allowed: set[str], where: str) -> None:
    for k in m:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(allowed))})"
            raise Bad(line_of(m, k), f"{where}{k}", f"unknown field {k!r}{hint}")


def text(m: Map, key: str, where: str, required: bool = True, empty_ok: bool = False) -> str | None:
    if key not in m or m[key] is None:
        if required:
            raise Bad(getattr(m, "line", 0), f"{where}{key}", f"missing required field {key!r}")
        return None
    v = m[key]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise Bad(line_of(m, key), f"{where}{key}", f"{key!r} must be text, not {type(v).__name__}")
    if not v.strip() and not empty_ok:
        raise Bad(line_of(m, key), f"{where}{key}", f"{key!r} is empty")
    return v


def whole(m: Map, key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
    if key not in m or m[key] is None:
        if default is None:
            raise Bad(getattr(m, "line", 0), f"{where}{key}", f"missing required field {key!r}")
        return default
    v = m[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < minimum:
        raise Bad(line_of(m, key), f"{where}{key}", f"{key!r} must be a whole number >= {minimum}, not {v!r}")
    return int(v)


def str_list(m: Map, key: str, where: str) -> tuple[str, ...]:
    if key not in m or m[key] is None:
        return ()
    v = m[key]
    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v):
        raise Bad(line_of(m, key), f"{where}{key}", f"{key!r} must be a list of text")
    return tuple(str(x) for x in v)


def mapping(v, line: int, fld: str, what: str) -> Map:
    if not isinstance(v, dict):
        raise Bad(getattr(v, "line", line), fld, f"{what} must be a mapping (key: value), not {type(v).__name__}")
    return v




def load(text: str):
    """Parse YAML text into Map/List values; raises Bad (with the line) or yaml.YAMLError."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def yaml_error_line(e: yaml.YAMLError) -> tuple[int, str]:
    """The 1-based line and the message of a YAML syntax error."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return (mark.line + 1 if mark else 0), (getattr(e, "problem", None) or str(e))
