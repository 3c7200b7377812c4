"""Loading and validating the spec files: the built-in families under ``models/``, the profiles,
and users' own architecture files. Validation is the JSON Schema in ``schema.json`` plus the few
cross-references a schema cannot express; every failure is a :class:`SpecError` naming the file,
the YAML path and the line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from .errors import SpecError
from .yaml_loader import Lines, format_path, line_of, load_yaml

SPEC_DIR = Path(__file__).resolve().parent
MODELS_DIR = SPEC_DIR / "models"
PROFILES_FILE = SPEC_DIR / "profiles.yaml"
SCHEMA_FILE = SPEC_DIR / "schema.json"


@dataclass(frozen=True)
class SpecFile:
    """One parsed, validated YAML file and the line of each of its nodes."""

    path: str
    data: dict[str, Any]
    lines: Lines

    def line(self, *at: str | int) -> int | None:
        return line_of(self.lines, at)

    def error(self, message: str, *at: str | int) -> SpecError:
        return SpecError(message, file=self.path, path=format_path(at), line=self.line(*at))


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _is_number(checker: object, instance: object) -> bool:
    """JSON numbers are finite: YAML's .inf and .nan are not numbers here (nor are booleans)."""
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and math.isfinite(instance))


def _is_integer(checker: object, instance: object) -> bool:
    """Only integers written as integers: ``kernel: 3.0`` is refused (JSON Schema would accept it)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"number": _is_number, "integer": _is_integer}
    ),
)


def validate(
    instance: Any,
    definition: str | None,
    *,
    file: str,
    lines: Lines | None = None,
    prefix: tuple[str | int, ...] = (),
) -> None:
    """Check ``instance`` against the schema root (``definition=None``) or one of its ``$defs``."""
    root = schema()
    if definition is not None:
        root = {"$defs": root["$defs"], "$ref": f"#/$defs/{definition}"}
    validator = Validator(root)
    errors = list(validator.iter_errors(instance))
    if not errors:
        return
    # report the problem that comes first in the file; inside a oneOf, its most relevant branch
    err = min(errors, key=lambda e: line_of(lines or {}, (*prefix, *e.absolute_path)) or 0)
    if err.context:
        err = best_match(err.context)
    at, message = _describe(err)
    at = (*prefix, *at)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise SpecError(
        message + more,
        file=file,
        path=format_path(at),
        line=line_of(lines, at) if lines is not None else None,
    )


def _describe(err: ValidationError) -> tuple[tuple[str | int, ...], str]:
    at = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            known = ", ".join(sorted(allowed)) or "none"
            return (*at, extra[0]), f"unknown key {extra[0]!r} (allowed here: {known})"
    if err.validator == "required":
        return at, err.message.replace("is a required property", "is required here")
    value = err.instance
    if err.validator == "type" and isinstance(value, float) and not math.isfinite(value):
        return at, f"{value} is not a finite number"
    if err.validator == "type" and err.validator_value == "integer" and isinstance(value, float):
        return at, f"{value!r} is not an integer (write it without a decimal point)"
    if err.validator in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
        bound = "at most" if err.validator == "maximum" else "at least"
        bound = {"exclusiveMaximum": "below", "exclusiveMinimum": "above"}.get(err.validator, bound)
        return at, f"{_short(value)} is out of range: must be {bound} {err.validator_value:g}"
    return at, err.message.replace(repr(value), _short(value))


def _short(value: object) -> str:
    """``value`` as an error message shows it: itself when short, else what it is."""
    text = repr(value)
    if len(text) <= 40:
        return text
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    return f"a {len(text)}-character {type(value).__name__}"


def load_family(path: Path | str, text: str | None = None) -> SpecFile:
    """Load one family file (built-in or a user's) and check it completely."""
    data, lines = load_yaml(path, text)
    file = SpecFile(str(path), data, lines)
    validate(data, None, file=file.path, lines=lines)
    for name, row in data["variants"].items():
        if row["base"] not in data["bases"]:
            raise file.error(
                f"unknown base {row['base']!r} (defined: {', '.join(data['bases'])})",
                "variants",
                name,
                "base",
            )
    for rule, sched in data.get("schedules", {}).items():
        for name in sched["endpoints"]:
            if name != "all" and name not in data["variants"]:
                raise file.error(
                    f"schedule for unknown variant {name!r}", "schedules", rule, "endpoints", name
                )
    return file


def family_from_document(doc: dict[str, Any], name: str = "<document>") -> SpecFile:
    """Validate an in-memory family document (as a YAML file would be) and return it loaded."""
    return load_family(name, yaml.safe_dump(doc, sort_keys=False))


@lru_cache(maxsize=1)
def builtin_families() -> tuple[SpecFile, ...]:
    files = sorted(MODELS_DIR.glob("*.yaml"))
    return tuple(load_family(p) for p in files)


@lru_cache(maxsize=1)
def profiles() -> SpecFile:
    data, lines = load_yaml(PROFILES_FILE)
    validate(data, "profiles_file", file=str(PROFILES_FILE), lines=lines)
    return SpecFile(str(PROFILES_FILE), data, lines)


def variant_index(families: tuple[SpecFile, ...]) -> dict[str, SpecFile]:
    """Model name -> the file that defines it. A name defined twice is an error."""
    index: dict[str, SpecFile] = {}
    for fam in families:
        for name in fam.data["variants"]:
            if name in index:
                raise fam.error(f"model {name!r} is already defined in {index[name].path}", "variants", name)
            index[name] = fam
    return index
