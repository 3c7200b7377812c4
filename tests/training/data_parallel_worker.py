"""A few training steps on a fixed global batch, for the data-parallel tests: run once with one
replica and once with two (``--devices 2`` for JAX/TF, two ``torchrun`` processes for torch); the
results must agree (tolerance ``("float32", "data_parallel")``).

``python -m tests.training.data_parallel_worker --backend B --spec FILE --out OUT.npz [--devices N]``
writes, from process 0: the global loss of each step and the EMA weights after the last step.
Dropout and drop path are off so the replicas' random draws cannot differ.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

GLOBAL_BATCH = 8
STEPS = 3
IMAGE = 32


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", required=True)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--devices", type=int)
    args = parser.parse_args()
    if args.backend == "tf":
        import torch  # noqa: F401  (torch/triton before TF: see tests/tf/conftest.py)

    from effnet import spec
    from effnet.spec.recipe import recipe
    from effnet.training.engine import create

    ms = spec.resolve("tiny-net", file=args.spec)
    engine = create(args.backend, ms, recipe("efficientnetv2-b0", batch_size=GLOBAL_BATCH), 0, args.devices)
    engine.model.set_regularization(dropout=0.0, drop_path_rate=0.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH, IMAGE, IMAGE, 3)).astype(np.float32)
    y = rng.dirichlet(np.ones(ms.num_classes), size=GLOBAL_BATCH).astype(np.float32)
    rank, count = engine.process
    rows = slice(rank * GLOBAL_BATCH // count, (rank + 1) * GLOBAL_BATCH // count)
    losses = [engine.train_step(x[rows], y[rows], lr=0.01)[0] for _ in range(STEPS)]
    if rank == 0:
        np.savez(args.out, losses=np.array(losses), replicas=engine.replicas, **engine.canonical_weights())


if __name__ == "__main__":
    main()
