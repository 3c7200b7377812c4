"""A tiny architecture (``tests.conftest.TINY_YAML``) with two-stage schedules and a training recipe, so
the trainer and the experiment can run it in seconds."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TINY_YAML

SCHEDULES = """\
schedules:
  paper:
    cite: test
    stages: 2
    size_positions: from_min
    endpoints:
      all: {image_size: [24, 32], randaug_magnitude: [0, 5], mixup_alpha: [0, 0.2], dropout: [0.1, 0.2],
            cite: test}
  code:
    cite: test
    stages: 2
    size_positions: after_min
    endpoints:
      all: {image_size: [16, 32], randaug_magnitude: [0, 0], mixup_alpha: [0, 0.2], cutmix_alpha: [0, 0.2],
            dropout: [0.2, 0.2], augment: autoaugment, cite: test}
training:
  cite: test
  epochs: 2
  optimizer: {name: rmsprop, decay: 0.9, momentum: 0.9, epsilon: 0.001}
  lr: {per_256_images: 0.016, warmup_epochs: 1, decay_rate: 0.97, decay_epochs: 2.4}
  weight_decay: 1.0e-5
  label_smoothing: 0.1
  ema_decay: 0.9999
  randaug_layers: 2
"""


def write_tiny_spec(path: Path) -> Path:
    path.write_text(TINY_YAML + SCHEDULES)
    return path
