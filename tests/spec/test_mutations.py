"""Hypothesis-generated mutations of valid YAML never raise anything but the spec's own error."""

import contextlib

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effnet import spec
from effnet.spec.registry import load_family

from .test_loading import TINY

BASE_DOC = yaml.safe_load(TINY)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2000),
    st.floats(-2, 2000),
    st.text(max_size=8),
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node, at=()):
    yield at
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*at, i))


PATHS = [p for p in _paths(BASE_DOC) if p]


def _mutate(doc, path, action, value):
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    else:
        parent[last] = value
    return doc


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), action=st.sampled_from(["delete", "rename", "replace"]), value=VALUES)
def test_mutated_yaml_raises_only_spec_error(tmp_path_factory, path, action, value):
    doc = _mutate(yaml.safe_load(TINY), path, action, value)
    file = tmp_path_factory.mktemp("mut") / "m.yaml"
    file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    try:
        load_family(file)
        for name in spec.names(file):
            ms = spec.resolve(name, file=file)
            spec.count(ms)
            spec.macs(ms, 64)
    except spec.SpecError:
        pass


@settings(max_examples=100)
@given(text=st.text(max_size=200))
def test_arbitrary_text_raises_only_spec_error(tmp_path_factory, text):
    file = tmp_path_factory.mktemp("txt") / "t.yaml"
    file.write_text(text, encoding="utf-8")
    with contextlib.suppress(spec.SpecError):
        load_family(file)
