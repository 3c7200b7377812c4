"""Strict, bounded YAML loading that remembers the line of every node, so errors can name it.

Duplicate mapping keys are errors (PyYAML silently keeps the last one), and so is anything that is
not plain data (tags, anchors to non-mappings are fine: they are plain YAML).

A spec file is a few KB of text; the loader refuses, with the file and line, anything that could
make it use unbounded time or memory: files over ``MAX_FILE_BYTES`` (``/dev/zero`` included), text
that is not UTF-8, nesting deeper than ``MAX_DEPTH``, more than ``MAX_ALIASES`` aliases or a document
that expands (through aliases) to more than ``MAX_NODES`` nodes ("billion laughs"), and integers
longer than ``MAX_INT_DIGITS`` digits. Numbers are then checked by the schema (finite, bounded).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

Lines = dict[tuple[str | int, ...], int]

MAX_FILE_BYTES = 1 << 20  # the built-in family files are ~10 KB
MAX_DEPTH = 32  # a family file nests 6 levels deep
MAX_ALIASES = 256
MAX_NODES = 100_000  # after alias expansion; the built-in files have ~2,000
MAX_INT_DIGITS = 18
_INT_TAG = "tag:yaml.org,2002:int"
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and many aliases while composing (before any recursion
    limit or memory is reached)."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file, self.depth, self.aliases = file, 0, 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise SpecError(f"more than {MAX_ALIASES} aliases", file=self.file, line=_line(event))
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise SpecError(
                    f"nested more than {MAX_DEPTH} levels deep", file=self.file, line=_line(event)
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1


def read_text(path: str) -> str:
    """The file's text: at most ``MAX_FILE_BYTES``, UTF-8 (a UTF-8 byte-order mark is allowed)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise SpecError(f"cannot read spec file: {err.strerror or err}", file=path) from err
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"larger than {MAX_FILE_BYTES >> 20} MiB; a spec file is a few KB of YAML", file=path)
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise SpecError(f"the file is {encoding} text; save it as UTF-8", file=path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        byte = raw[err.start]
        raise SpecError(
            f"not UTF-8 text (byte 0x{byte:02x} cannot be decoded; save the file as UTF-8)",
            file=path,
            line=line,
        ) from None


def load_yaml(path: Path | str, text: str | None = None) -> tuple[Any, Lines]:
    """Parse one YAML document; return (data, {yaml path tuple: 1-based line})."""
    path = str(path)
    if text is None:
        text = read_text(path)
    loader = None
    try:
        loader = _BoundedLoader(text, path)
        node = loader.get_single_node()
        if node is None:
            raise SpecError("the file is empty", file=path)
        lines: Lines = {}
        _walk(node, (), lines, path, [0])
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


_DIGITS = re.compile(r"[0-9a-fA-F]")


def _walk(node: yaml.Node, at: tuple[str | int, ...], lines: Lines, file: str, count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise SpecError(
            f"the document expands to more than {MAX_NODES:,} values (aliases repeating aliases?)",
            file=file,
            line=node.start_mark.line + 1,
        )
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError(
                    "a mapping key must be a plain name",
                    file=file,
                    path=format_path(at),
                    line=key_node.start_mark.line + 1,
                )
            key = key_node.value
            if key in seen:
                raise SpecError(
                    f"duplicate key {key!r}",
                    file=file,
                    path=format_path(at),
                    line=key_node.start_mark.line + 1,
                )
            seen.add(key)
            _walk(value_node, (*at, key), lines, file, count)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*at, i), lines, file, count)
    elif node.tag == _INT_TAG and len(_DIGITS.findall(node.value)) > MAX_INT_DIGITS:
        digits = len(_DIGITS.findall(node.value))
        raise SpecError(
            f"a {digits}-digit integer is out of range",
            file=file,
            path=format_path(at),
            line=node.start_mark.line + 1,
        )


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
