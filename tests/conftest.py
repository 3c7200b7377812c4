"""Hypothesis profiles: ``dev`` (fast, the default) and ``ci`` (derandomised, no deadline: JIT
compiles are slow). The nox sessions select ``ci`` with HYPOTHESIS_PROFILE=ci."""

import os

import pytest
from hypothesis import HealthCheck, settings

from effnet import spec

settings.register_profile("dev", max_examples=10, deadline=None)
settings.register_profile(
    "ci",
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# A tiny architecture file shared by the backend tests (both block kinds, SE, TF SAME, 5 classes).
TINY_YAML = """\
family: tiny
title: Tiny
cite: "test file"
defaults:
  rounding: {divisor: 8, min_channels: 8, ten_percent_rule: false, cite: test}
  activation: silu
  se: {activation: silu, gate: sigmoid, width_base: block_in, cite: test}
  bn: {eps: 1.0e-3, decay: 0.9, cite: test}
  padding: tf_same
  stem: {kernel: 3, stride: 2, cite: test}
  head: {channels: 32, scaled: false, cite: test}
  drop_path: {rate: 0.2, denominator: blocks, cite: test}
  preprocessing: {scale: 0.0078125, offset: -1.0, cite: test}
  num_classes: 5
bases:
  tiny:
    cite: test
    stem_channels: 8
    stages:
      - {kind: fused_mbconv, repeats: 2, kernel: 3, stride: 1, expand: 1, channels: 8, se: 0}
      - {kind: mbconv, repeats: 2, kernel: 5, stride: 2, expand: 4, channels: 16, se: 0.25}
variants:
  tiny-net: {base: tiny, width: 1.0, depth: 1.0, image_size: {train: 32, eval: 32}, dropout: 0.2, cite: test}
"""

TINY_MODEL = "tiny-net"  # the one variant TINY_YAML defines


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML)
    return spec.resolve(TINY_MODEL, file=path)
