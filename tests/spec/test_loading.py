"""Strict loading: every malformed file is a SpecError naming the file, the YAML path and the line."""

import pytest

from effnet import spec
from effnet.spec.registry import load_family

TINY = """\
family: tiny
title: Tiny test net
cite: "test"
defaults:
  rounding: {divisor: 8, min_channels: 8, ten_percent_rule: false, cite: test}
  activation: silu
  se: {activation: silu, gate: sigmoid, width_base: block_in, cite: test}
  bn: {eps: 1.0e-3, decay: 0.9, cite: test}
  padding: tf_same
  stem: {kernel: 3, stride: 2, cite: test}
  head: {channels: 64, scaled: false, cite: test}
  drop_path: {rate: 0.1, denominator: blocks, cite: test}
  preprocessing: {scale: 0.0078125, offset: -1.0, cite: test}
  num_classes: 10
bases:
  tiny:
    cite: test
    stem_channels: 16
    stages:
      - {kind: fused_mbconv, repeats: 1, kernel: 3, stride: 1, expand: 1, channels: 16, se: 0}
      - {kind: mbconv, repeats: 2, kernel: 5, stride: 2, expand: 4, channels: 24, se: 0.25}
variants:
  tiny-net: {base: tiny, width: 1.0, depth: 1.0, image_size: {train: 64, eval: 96}, dropout: 0.1, cite: test}
"""


def test_user_file_resolves(write_yaml):
    path = write_yaml(TINY)
    assert spec.names(path) == ["tiny-net"]
    ms = spec.resolve("tiny-net", file=path)
    assert [b.kind for b in ms.blocks] == ["fused_mbconv", "mbconv", "mbconv"]
    assert ms.num_classes == 10 and ms.head.out_channels == 64


def _error(write_yaml, text):
    path = write_yaml(text)
    with pytest.raises(spec.SpecError) as info:
        load_family(path)
    return path, info.value


def test_unknown_key_names_file_path_and_line(write_yaml):
    path, err = _error(write_yaml, TINY.replace("  num_classes: 10", "  num_clases: 10"))
    assert err.file == str(path)
    assert err.path == "defaults.num_clases"
    assert err.line == 14
    assert "unknown key 'num_clases'" in str(err) and str(path) in str(err) and "line 14" in str(err)


def test_wrong_type_in_a_stage(write_yaml):
    _, err = _error(write_yaml, TINY.replace("repeats: 2, kernel: 5", "repeats: two, kernel: 5"))
    assert err.path == "bases.tiny.stages[1].repeats" and err.line == 21


def test_missing_required_field(write_yaml):
    path = write_yaml(TINY.replace(" dropout: 0.1, cite: test}", " cite: test}"))
    load_family(path)  # a variant may leave fields to the defaults; the resolved config must be complete
    with pytest.raises(spec.SpecError, match="'dropout' is required"):
        spec.resolve("tiny-net", file=path)


def test_duplicate_key(write_yaml):
    doubled = TINY.replace("  activation: silu\n", "  activation: silu\n  activation: relu\n")
    _, err = _error(write_yaml, doubled)
    assert "duplicate key 'activation'" in str(err) and err.line == 7


def test_yaml_syntax_error(write_yaml):
    _, err = _error(write_yaml, TINY.replace('cite: "test"', "cite: [unclosed"))
    assert "invalid YAML" in str(err) and err.line is not None


def test_unknown_base(write_yaml):
    _, err = _error(write_yaml, TINY.replace("{base: tiny,", "{base: huge,"))
    assert err.path == "variants.tiny-net.base" and "unknown base 'huge'" in str(err)


def test_missing_citation_is_an_error(write_yaml):
    _, err = _error(write_yaml, TINY.replace("  tiny:\n    cite: test\n", "  tiny:\n"))
    assert "cite" in str(err) and err.path == "bases.tiny"


def test_number_that_yaml_reads_as_a_string(write_yaml):
    # YAML 1.1 reads 1e-3 (no dot) as a string: the schema catches it instead of a later crash.
    _, err = _error(write_yaml, TINY.replace("eps: 1.0e-3", "eps: 1e-3"))
    assert err.path == "defaults.bn.eps" and "not of type 'number'" in str(err)


def test_empty_and_missing_files(write_yaml, tmp_path):
    _, err = _error(write_yaml, "")
    assert "empty" in str(err)
    with pytest.raises(spec.SpecError, match="cannot read"):
        load_family(tmp_path / "nope.yaml")


def test_builtin_files_load_strictly():
    assert len(spec.names()) == 18
