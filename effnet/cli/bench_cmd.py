"""``effnet bench train|infer``: speed per implementation and mode, measured side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_IMPLS = "torch,jax,tf,torchvision,keras-tf,keras-jax"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="speed benchmarks (ratios measured side by side in one run)")
    cmds = p.add_subparsers(dest="bench_command", required=True, metavar="SUBCOMMAND")
    for kind, text in (("train", "SGD training-step speed"), ("infer", "inference speed")):
        c = cmds.add_parser(kind, help=f"{text} per implementation and execution mode")
        c.add_argument(
            "--backends",
            default=DEFAULT_IMPLS,
            help=f"comma-separated implementations: ours (torch, jax, tf) and references "
            f"(torchvision, keras-tf, keras-jax); default {DEFAULT_IMPLS}",
        )
        c.add_argument("--model", default="efficientnetv2-b0")
        c.add_argument("--sizes", default="128", help="comma-separated image sizes (default 128)")
        c.add_argument("--batch-size", type=int, default=16)
        c.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
        c.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
        c.add_argument("--modes", help="comma-separated mode names to keep (default: every mode)")
        c.add_argument("--steps", type=int, default=5, help="steps timed between two syncs")
        c.add_argument("--repeats", type=int, default=3, help="repeats; the median is reported")
        c.add_argument(
            "--rounds",
            type=int,
            default=1,
            help="measure the whole table this many times, interleaved, and report each row's median "
            "round (steadier ratios on a shared machine)",
        )
        c.add_argument("--timeout", type=float, default=900, help="seconds per measurement process")
        c.add_argument("--out", type=Path, default=Path("out/bench"))
        c.add_argument("--no-progress", action="store_true")
        c.set_defaults(run=run, kind=kind)


def run(args: argparse.Namespace) -> int:
    from effnet.bench.run import Plan, markdown, run, write
    from effnet.bench.steps import IMPLS

    impls = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = [i for i in impls if i not in IMPLS]
    if unknown:
        raise SystemExit(f"effnet: error: unknown implementation(s) {unknown}; known: {', '.join(IMPLS)}")
    plan = Plan(
        args.kind,
        impls,
        args.model,
        tuple(int(s) for s in args.sizes.split(",")),
        args.batch_size,
        args.precision,
        args.device,
        args.steps,
        args.repeats,
        tuple(m.strip() for m in args.modes.split(",")) if args.modes else None,
        args.rounds,
    )
    result = run(plan, timeout=args.timeout, progress=not args.no_progress)
    print(markdown(result))
    for kind, path in write(args.out, result).items():
        print(f"{kind}: {path}")
    return 1 if any("error" in r for r in result["rows"]) else 0
