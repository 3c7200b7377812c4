"""``effnet train``: progressive-learning training on any backend, driven by the spec's schedule."""

from __future__ import annotations

import argparse
from pathlib import Path

from effnet import backends

from .argtypes import non_negative_int, out_folder, positive_float, positive_int, seed
from .errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="progressive-learning training (spec schedule and recipe)")
    p.add_argument("--backend", choices=backends.names(trains=True), required=True)
    p.add_argument("--model", required=True, help="spec model name, e.g. efficientnetv2-b0")
    p.add_argument(
        "--data",
        default="builtin",
        help="an ImageFolder root (train/ and val/, one folder per class) or 'builtin' (default)",
    )
    p.add_argument("--epochs", type=positive_int, help="total epochs (default: the spec's training.epochs)")
    p.add_argument("--schedule", choices=("paper", "code"), default="paper", help="progressive-learning rule")
    p.add_argument(
        "--batch-size", type=positive_int, default=32, help="the global batch (all replicas together)"
    )
    p.add_argument(
        "--devices",
        type=positive_int,
        help="jax/tf: local devices to replicate over (default: all accelerators, else one CPU; on a CPU "
        "host N splits it into N logical devices). torch: launch with torchrun instead",
    )
    p.add_argument(
        "--lr-per-256",
        type=positive_float,
        help="peak learning rate per 256 images (default: the spec's recipe, 0.016 for V2)",
    )
    p.add_argument(
        "--init",
        choices=("fan_in", "automl"),
        default="fan_in",
        help="starting weights (spec.init): fan_in (PyTorch's layer default; default) or automl's",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--workers", type=non_negative_int, help="decoding threads (default: all cores; 0: no threads)"
    )
    p.add_argument("--out", type=out_folder, default=Path("runs/train"))
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its latest checkpoint (without it, an --out that holds a "
        "run is refused)",
    )
    p.add_argument(
        "--keep-checkpoints",
        type=positive_int,
        default=3,
        metavar="N",
        help="keep the last N epoch checkpoints and the best by validation accuracy (default 3)",
    )
    p.add_argument(
        "--file",
        type=Path,
        help="a user's family YAML (with training: and schedules: sections) defining --model",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="compute precision; parameters, BN statistics, optimizer state, EMA and checkpoints stay "
        "float32; fp16 always uses dynamic loss scaling (default: fp32 on a CPU, bf16 on a GPU; the CPU "
        "measurements are in README, Training)",
    )
    p.add_argument(
        "--memory-format",
        choices=("contiguous", "channels_last"),
        help="torch only: the activations' memory layout (default: contiguous on a CPU, channels_last "
        "on a GPU)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch only: torch.compile the model (default: off on a CPU, where compiling each image "
        "size takes minutes; on on a GPU)",
    )
    p.add_argument(
        "--xla",
        action=argparse.BooleanOptionalAction,
        help="tf only: compile the train and eval steps with XLA, jit_compile (default: off on a CPU, "
        "where it is slower; on on a GPU). jax always compiles with XLA",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.execution import Execution
    from effnet.training.builtin import data_root
    from effnet.training.errors import TrainError
    from effnet.training.loop import RunConfig, run

    try:  # an option the backend does not take is refused before anything is done
        Execution(args.precision, args.memory_format, args.compile, args.xla).check(args.backend)
    except TrainError as err:
        raise UsageError(str(err)) from None
    data = data_root(args.data)
    cfg = RunConfig(
        backend=args.backend,
        model=args.model,
        data=data,
        out=args.out,
        epochs=args.epochs,
        rule=args.schedule,
        batch_size=args.batch_size,
        seed=args.seed,
        resume=args.resume,
        progress=not args.no_progress,
        workers=args.workers,
        devices=args.devices,
        lr_per_256=args.lr_per_256,
        init=args.init,
        keep_checkpoints=args.keep_checkpoints,
        spec_file=args.file,
        precision=args.precision,
        memory_format=args.memory_format,
        compile=args.compile,
        xla=args.xla,
    )
    summary = run(cfg)
    print(
        f"final accuracy at {summary['final_eval_image_size']} px: {summary['final_val_accuracy']:.3f} "
        f"(chance {summary['chance']:.3f})"
    )
    print(f"metrics: {args.out / 'metrics.jsonl'}\nplot: {args.out / 'progress.png'}")
    return 0
