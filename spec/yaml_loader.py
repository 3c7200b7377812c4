"""Strict YAML loading that remembers the line of every node, so errors can name it.

Duplicate mapping keys are errors (PyYAML silently keeps the last one), and so is anything that is
not plain data (tags, anchors to non-mappings are fine: they are plain YAML).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

Lines = dict[tuple[str | int, ...], int]


def load_yaml(path: Path | str, text: str | None = None) -> tuple[Any, Lines]:
    """Parse one YAML document; return (data, {yaml path tuple: 1-based line})."""
    path = str(path)
    try:
        if text is None:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"cannot read spec file: {err.strerror}", file=path) from err
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise SpecError("the file is empty", file=path)
        lines: Lines = {}
        _walk(node, (), lines, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(f"invalid YAML: {err.problem or err}", file=path, line=line) from err
    except yaml.YAMLError as err:
        raise SpecError(f"invalid YAML: {err}", file=path) from err
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _walk(node: yaml.Node, at: tuple[str | int, ...], lines: Lines, file: str) -> None:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SpecError(
                    f"duplicate key {key!r}",
                    file=file,
                    path=format_path(at),
                    line=key_node.start_mark.line + 1,
                )
            seen.add(key)
            _walk(value_node, (*at, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*at, i), lines, file)


def format_path(at: tuple[str | int, ...] | list[str | int]) -> str:
    """('variants', 'b0', 'stages', 2) -> 'variants.b0.stages[2]'."""
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def line_of(lines: Lines, at: tuple[str | int, ...]) -> int | None:
    """The line of the deepest node of `at` that exists (a missing key reports its parent)."""
    at = tuple(at)
    while at not in lines and at:
        at = at[:-1]
    return lines.get(at)
