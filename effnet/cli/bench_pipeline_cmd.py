"""``effnet bench pipeline``: the input pipeline alone, at each stage of the model's schedule."""

from __future__ import annotations

import argparse
from pathlib import Path

from .argtypes import non_negative_int, positive_int


def register(cmds: argparse._SubParsersAction) -> None:
    """Add ``pipeline`` to ``effnet bench``'s subcommands."""
    c = cmds.add_parser(
        "pipeline",
        help="images/s of the input pipeline alone at each schedule stage's size and augmentation",
    )
    c.add_argument("--model", default="efficientnetv2-b0")
    c.add_argument(
        "--data",
        default="builtin",
        help="an ImageFolder root (train/ and val/, one folder per class) or 'builtin' (default)",
    )
    c.add_argument(
        "--rule", "--schedule", choices=("paper", "code"), default="paper", help="progressive-learning rule"
    )
    c.add_argument(
        "--workers", type=non_negative_int, help="decoding threads (default: all cores, as effnet train)"
    )
    c.add_argument("--batch-size", type=positive_int, default=32)
    c.add_argument("--batches", type=positive_int, default=10, help="batches per pass (default 10)")
    c.add_argument("--repeats", type=positive_int, default=3, help="passes per stage; the median is reported")
    c.add_argument("--out", type=Path, default=Path("out/bench"))
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.bench.pipeline import PipelinePlan, markdown, run, write

    plan = PipelinePlan(
        model=args.model,
        data=args.data,
        rule=args.rule,
        workers=args.workers,
        batch_size=args.batch_size,
        batches=args.batches,
        repeats=args.repeats,
    )
    result = run(plan, progress=not args.no_progress)
    print(markdown(result))
    for kind, path in write(args.out, result).items():
        print(f"{kind}: {path}")
    return 0
