"""Citations can be followed from inside the repository.

Every ``cite:`` in the spec's YAML names a paper table/section, an ``owner/repo@commit:path:line``
reference, a section of spec/SOURCES.md ("SOURCES §N.M"), or says ``derived:``; every "SOURCES §N.M"
anywhere in the repository is a heading of spec/SOURCES.md; nothing points outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
SOURCES = SPEC / "SOURCES.md"
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".toml", ".cfg", ".json"}
SKIP_DIRS = {".git", ".nox", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist"}

PAPER = re.compile(r"Tan & Le 20(19|21)\b.*(Table \d+|§\d+)|paper Table \d+")
CODE_LINE = re.compile(r"\b[\w.-]+/[\w.-]+@[0-9a-f]{7,40}:[\w./-]+:\d+")
SOURCES_REF = re.compile(r"SOURCES(?:\.md)? §\d+\.\d+")
SECTION = re.compile(r"§(\d+\.\d+)")


def _repo_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            files.append(path)
    return files


def _headings() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^#+ §(\d+(?:\.\d+)?) ", SOURCES.read_text(), re.MULTILINE)}


def _cites(node, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "cite":
                yield path, value
            else:
                yield from _cites(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _cites(value, f"{path}[{i}]")


def _sources_refs(text: str) -> list[str]:
    """Section numbers cited as "SOURCES §a, §b ..." on each line (the § after "SOURCES" on that line)."""
    refs = []
    for line in text.splitlines():
        start = line.find("SOURCES")
        if start != -1:
            refs += SECTION.findall(line[start:])
    return refs


def test_sources_has_the_cited_sections():
    headings = _headings()
    assert {"1.1", "1.2", "1.3", "2.1", "2.2", "3.2", "3.3", "3.4", "4.1", "4.2"} <= headings
    assert {"4.3", "5.1", "5.2", "6.1", "6.2", "6.3", "6.4", "6.5"} <= headings


def test_every_yaml_cite_names_a_followable_source():
    bad = []
    for path in [*sorted((SPEC / "models").glob("*.yaml")), SPEC / "profiles.yaml"]:
        for where, cite in _cites(yaml.safe_load(path.read_text())):
            text = str(cite)
            followable = (
                PAPER.search(text)
                or CODE_LINE.search(text)
                or SOURCES_REF.search(text)
                or text.startswith("derived:")
                or text.startswith("the spec's own definition")
            )
            if not followable:
                bad.append(f"{path.name}:{where}: {text}")
    assert not bad, "\n".join(bad)


def test_every_sources_reference_is_a_heading():
    headings = _headings()
    missing = []
    for path in _repo_files():
        if path == SOURCES:
            continue
        for ref in _sources_refs(path.read_text(errors="replace")):
            if ref not in headings:
                missing.append(f"{path.relative_to(ROOT)}: §{ref}")
    assert not missing, "\n".join(missing)


def test_nothing_points_outside_the_repository():
    # Spelled in pieces so that a grep of the repository for these strings finds nothing here either.
    outside = re.compile(
        "|".join([r"\.\./" + "shared", "shared" + "/reference", "architecture" + "-facts", "A" + "F §"])
    )
    hits = [
        f"{path.relative_to(ROOT)}:{i}"
        for path in _repo_files()
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert not hits, hits
