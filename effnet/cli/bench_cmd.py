"""``effnet bench train|infer``: speed per implementation and mode, measured side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from effnet import backends

from . import bench_pipeline_cmd
from .errors import UsageError

REFERENCE_IMPLS = ("torchvision", "keras-tf", "keras-jax")  # bench.steps.REFERENCES, bare steps
ENGINE_REFERENCE_IMPLS = ("timm",)  # the references with a training-engine step (timm's train.py)
OURS = tuple(b.name for b in backends.registry().values() if b.bench)
DEFAULT_IMPLS = ",".join((*OURS, *REFERENCE_IMPLS))
DEFAULT_ENGINE_IMPLS = ",".join((*OURS, *ENGINE_REFERENCE_IMPLS))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="speed benchmarks (ratios measured side by side in one run)")
    cmds = p.add_subparsers(dest="bench_command", required=True, metavar="SUBCOMMAND")
    for kind, text in (("train", "SGD training-step speed"), ("infer", "inference speed")):
        c = cmds.add_parser(kind, help=f"{text} per implementation and execution mode")
        c.add_argument(
            "--backends",
            help=f"comma-separated implementations: ours and the references; default {DEFAULT_IMPLS}"
            + (f" ({DEFAULT_ENGINE_IMPLS} with --step engine)" if kind == "train" else "")
            + " (`effnet bench modes` lists each one's modes)",
        )
        if kind == "train":
            c.add_argument(
                "--step",
                choices=("bare", "engine"),
                default="bare",
                help="bare: the minimal SGD step; engine: also the step `effnet train` runs (its "
                "optimizer, EMA, regularization, precision, layout, compilation), side by side",
            )
            c.add_argument(
                "--data",
                help="with --step engine: also time the engine fed by the real input pipeline on this "
                "data ('builtin' or an image folder), end to end; every row then uses its class count",
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
        c.add_argument(
            "--statistic",
            choices=("median", "fastest"),
            default="median",
            help="with --rounds: report each row's median round (default) or its fastest round (on a "
            "noisy machine, interference only slows a step; every round is kept in the JSON)",
        )
        if kind == "train":
            c.add_argument(
                "--paired",
                type=int,
                default=0,
                metavar="N",
                help="with --step engine: also measure each backend's engine / bare and end-to-end / "
                "engine ratios in one process, the steps timed in turn, N samples (steadier on a "
                "shared machine than ratios of rows measured apart)",
            )
        c.add_argument("--timeout", type=float, default=900, help="seconds per measurement process")
        c.add_argument("--out", type=Path, default=Path("out/bench"))
        c.add_argument("--no-progress", action="store_true")
        c.set_defaults(run=run, kind=kind)
    modes = cmds.add_parser("modes", help="every implementation's execution modes (the names --modes takes)")
    modes.set_defaults(run=run_modes)
    bench_pipeline_cmd.register(cmds)


def run_modes(args: argparse.Namespace) -> int:
    from effnet.bench.steps import IMPLS

    for impl in IMPLS.values():
        kind = "ours" if impl.ours else f"reference for {impl.backend}"
        print(f"{impl.name:12s} {kind:22s} {', '.join(repr(m) for m in impl.modes)}")
        if impl.engine_modes:
            modes = ", ".join(repr(m) for m in impl.engine_modes)
            print(f"{'':12s} {'engine step':22s} {modes}")
    return 0


def _class_count(data: str) -> int:
    """The number of classes of ``--data`` (its folder checked before anything is measured)."""
    from effnet.bench.engine_steps import data_folder
    from effnet.training.errors import DataError

    try:
        return len(data_folder(data).classes)
    except DataError as err:
        raise UsageError(f"--data: {err}") from err


def run(args: argparse.Namespace) -> int:
    from effnet.bench.run import Plan, markdown, run, write
    from effnet.bench.steps import IMPLS

    step = getattr(args, "step", "bare")
    data = getattr(args, "data", None)
    if data and step != "engine":
        raise UsageError("--data times the engine fed by the input pipeline: it needs --step engine")
    if getattr(args, "paired", 0) < 0:
        raise UsageError(f"--paired: a number of samples >= 0, got {args.paired}")
    if getattr(args, "paired", 0) and step != "engine":
        raise UsageError("--paired measures the engine's overheads: it needs --step engine")
    default = DEFAULT_ENGINE_IMPLS if step == "engine" else DEFAULT_IMPLS
    impls = tuple(b.strip() for b in (args.backends or default).split(",") if b.strip())
    unknown = [i for i in impls if i not in IMPLS]
    if unknown:
        raise UsageError(f"unknown implementation(s) {unknown}; known: {', '.join(IMPLS)}")
    modes = tuple(m.strip() for m in args.modes.split(",")) if args.modes else None
    if modes:
        known = {m for i in impls for m in IMPLS[i].modes}
        if stray := [m for m in modes if m not in known]:
            raise UsageError(f"--modes: unknown mode(s) {stray}; see `effnet bench modes`")
    for kind in ("bare", "engine") if step == "engine" else ("bare",):  # each asked one, each kind
        unmeasured = [i for i in impls if not set(IMPLS[i].modes_for(kind)) & set(modes or IMPLS[i].modes)]
        if unmeasured and kind == "bare":
            raise UsageError(
                f"--modes selects no mode of {', '.join(unmeasured)} (a figure over fewer "
                "implementations than asked would be partial); see `effnet bench modes`"
            )
        if unmeasured:
            engines = ", ".join(f"{i.name} ({', '.join(i.engine_modes)})" for i in IMPLS.values() if i.engine)
            raise UsageError(
                f"--step engine: no engine step for {', '.join(unmeasured)} in the selected modes (a "
                f"figure over fewer implementations than asked would be partial); engine steps: {engines}"
            )
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
        modes,
        args.rounds,
        step,
        data,
        _class_count(data) if data else None,
        args.statistic,
        getattr(args, "paired", 0),
    )
    result = run(plan, timeout=args.timeout, progress=not args.no_progress)
    print(markdown(result))
    for kind, path in write(args.out, result).items():
        print(f"{kind}: {path}")
    return 1 if any("error" in r for r in result["rows"]) else 0
