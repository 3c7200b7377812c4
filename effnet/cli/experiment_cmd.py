"""``effnet experiment progressive``: the progressive-learning ablation (see ``training.experiment``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from effnet import backends

from .argtypes import comma_list, float_range, int_range, non_negative_int, out_folder
from .errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="experiments built on the trainer")
    cmds = p.add_subparsers(dest="experiment_command", required=True, metavar="EXPERIMENT")
    pr = cmds.add_parser(
        "progressive",
        help="fixed small / fixed large / progressive / progressive + adaptive regularisation, per rule",
    )
    pr.add_argument("--backend", choices=backends.names(trains=True), required=True)
    pr.add_argument("--model", required=True, help="spec model name, e.g. efficientnetv2-b0")
    pr.add_argument("--data", default="builtin", help="an ImageFolder root or 'builtin' (default)")
    pr.add_argument("--epochs", type=int, required=True, help="epochs of every arm")
    pr.add_argument(
        "--seeds", default="1", help="N: seeds 0..N-1; or a comma-separated list, e.g. 0,3 or 2, (default 1)"
    )
    pr.add_argument("--rules", default="paper,code", help="schedule rules, comma-separated (default both)")
    pr.add_argument("--arms", help="arm kinds, comma-separated (default all four)")
    pr.add_argument("--batch-size", type=int, default=32, help="the global batch")
    pr.add_argument(
        "--lr-per-256", type=float, help="peak learning rate per 256 images (default: the spec's)"
    )
    pr.add_argument("--init", choices=("fan_in", "automl"), default="fan_in")
    pr.add_argument("--workers", type=int, help="decoding threads (default: all cores)")
    pr.add_argument("--file", type=Path, help="a user's architecture YAML instead of the built-in spec")
    pr.add_argument("--out", type=Path, default=Path("runs/progressive"))
    pr.add_argument("--progress", action="store_true", help="show each run's progress bars")
    pr.set_defaults(run=run_progressive)

    ae = cmds.add_parser(
        "augment-effect",
        help="a trained run's accuracy on validation images with each RandAugment op applied",
        description="The run's EMA model classifies the validation images clean and with each "
        "RandAugment op (and RandAugment itself) at each magnitude and size: how much of the class "
        "evidence each op leaves. Writes OUT/augment_effect.{json,md,png}.",
    )
    ae.add_argument(
        "--run",
        dest="run_dir",
        metavar="DIR",
        type=Path,
        required=True,
        help="an `effnet train` output folder",
    )
    ae.add_argument("--data", default="builtin", help="the run's ImageFolder root or 'builtin' (default)")
    ae.add_argument(
        "--sizes", type=comma_list(int_range(16, 1024)), default=(128, 192), help="default 128,192"
    )
    ae.add_argument(
        "--magnitudes",
        type=comma_list(float_range(0.0, 30.0)),
        default=(5.0, 10.0, 15.0),
        help="default 5,10,15",
    )
    ae.add_argument("--ops", help="RandAugment ops, comma-separated (default all 13)")
    ae.add_argument(
        "--class-parts", action="store_true", help="also score each '_'-separated part of class names"
    )
    ae.add_argument("--file", type=Path, help="the run's family YAML, if it used one")
    ae.add_argument("--workers", type=non_negative_int, help="decoding threads (default: all cores)")
    ae.add_argument("--out", type=out_folder, required=True, help="where augment_effect.{json,md,png} go")
    ae.add_argument("--no-progress", dest="progress", action="store_false")
    ae.set_defaults(run=run_augment_effect)


def seeds_of(text: str) -> tuple[int, ...]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(
            f"--seeds must be a count or a comma-separated list of integers, got {text!r}"
        ) from None
    if "," not in text:  # a count N: seeds 0..N-1
        if not values or values[0] < 1:
            raise UsageError(
                f"--seeds {text}: a single number is a count of seeds (0..N-1) and must be at least 1;"
                " for one chosen seed give a list, e.g. --seeds 0, or --seeds 3,"
            )
        return tuple(range(values[0]))
    if not values or min(values) < 0:
        raise UsageError(f"--seeds {text}: a list needs at least one seed, every seed >= 0")
    if len(set(values)) != len(values):
        raise UsageError(f"--seeds {text}: a seed is listed twice")
    return tuple(values)


def run_progressive(args: argparse.Namespace) -> int:
    from effnet.spec.progressive import RULES
    from effnet.training.arms import ARMS
    from effnet.training.builtin import data_root
    from effnet.training.experiment import ExperimentConfig, ExperimentError, run_experiment

    rules = tuple(r.strip() for r in args.rules.split(",") if r.strip())
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip()) if args.arms else ARMS
    for values, known, what in ((rules, RULES, "--rules"), (arms, ARMS, "--arms")):
        unknown = [v for v in values if v not in known]
        if unknown or not values:
            raise UsageError(f"{what}: unknown {', '.join(unknown) or '(none)'}; known: {', '.join(known)}")
    data = data_root(args.data)
    cfg = ExperimentConfig(
        backend=args.backend,
        model=args.model,
        data=data,
        out=args.out,
        epochs=args.epochs,
        seeds=seeds_of(args.seeds),
        rules=rules,
        arms=arms,
        batch_size=args.batch_size,
        lr_per_256=args.lr_per_256,
        init=args.init,
        workers=args.workers,
        spec_file=args.file,
        progress=args.progress,
        extra={"command": shlex.join(["effnet", *sys.argv[1:]])},
    )
    try:
        results = run_experiment(cfg)
    except ExperimentError as err:
        print(f"effnet: error: {err}", file=sys.stderr)
        return 1
    print(f"\n{(args.out / 'results.md').read_text()}")
    files = ("results.json", "results.md", "accuracy_vs_time.png")
    print("results: " + ", ".join(str(args.out / f) for f in files))
    return 0 if results["arms"] else 1


def run_augment_effect(args: argparse.Namespace) -> int:
    from effnet.training import augment
    from effnet.training.augment_effect import EffectConfig, measure, to_markdown, write
    from effnet.training.builtin import data_root

    ops = tuple(o.strip() for o in args.ops.split(",") if o.strip()) if args.ops else augment.RANDAUG_OPS
    unknown = [o for o in ops if o not in augment.RANDAUG_OPS]
    if unknown or not ops:
        raise UsageError(
            f"--ops: unknown {', '.join(unknown) or '(none)'}; known: {', '.join(augment.RANDAUG_OPS)}"
        )
    if not args.run_dir.is_dir():
        raise UsageError(f"--run {args.run_dir}: not a folder (expected the output folder of `effnet train`)")
    cfg = EffectConfig(
        run=args.run_dir,
        data=data_root(args.data),
        sizes=args.sizes,
        magnitudes=args.magnitudes,
        ops=ops,
        spec_file=args.file,
        class_parts=args.class_parts,
        workers=args.workers,
        progress=args.progress,
    )
    result = measure(cfg)
    command = shlex.join(["effnet", *sys.argv[1:]])
    paths = write(result, args.out, command)
    print(to_markdown(result, command))
    print("results: " + ", ".join(str(p) for p in paths))
    return 0
