"""``effnet convert SRC DST --model NAME [--from FORMAT] [--to FORMAT] [--check]``."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from effnet.weights_convert import WeightsError, convert
from effnet.weights_convert.formats import FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    formats = ", ".join(f"{f.name} ({f.description})" for f in FORMATS.values())
    p = sub.add_parser(
        "convert",
        help="convert weights between formats",
        description=f"Convert a checkpoint between formats. Formats: {formats}.",
    )
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--model", required=True, help="spec model name, e.g. efficientnetv2-s")
    p.add_argument("--from", dest="from_fmt", choices=list(FORMATS), help="source format (default: detected)")
    p.add_argument(
        "--to",
        dest="to_fmt",
        choices=list(FORMATS),
        default="canonical",
        help="destination format (default: canonical)",
    )
    p.add_argument("--profile", help="resolve the spec with this profile (default: the source format's)")
    p.add_argument(
        "--check", action="store_true", help="build both sides and print the max output difference"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    loaded = convert.convert_file(
        args.src, args.dst, args.model, from_fmt=args.from_fmt, to_fmt=args.to_fmt, profile=args.profile
    )
    seconds = time.perf_counter() - start
    print(
        f"wrote {args.dst} ({args.to_fmt}) from {args.src} ({loaded.format}): {len(loaded.weights)} tensors, "
        f"model {loaded.spec.name}, profile {loaded.spec.profile}, {seconds:.2f} s"
    )
    if args.check:
        from effnet.conformance.convert_check import check

        dst_loaded = convert.load(args.dst, args.model, fmt=args.to_fmt, profile=loaded.spec.profile)
        result = check(args.src, loaded, args.dst, dst_loaded)
        if not (math.isfinite(result.max_abs) and math.isfinite(result.max_rel)):
            raise WeightsError(
                f"check: the outputs of {args.src} and {args.dst} are not finite numbers "
                f"(max |src - dst| = {result.max_abs}): the weights overflow"
            )
        diff = f"max |src - dst| = {result.max_abs:.3g}, relative {result.max_rel:.3g}"
        print(f"check: logits {result.shape}, {diff}")
    return 0
