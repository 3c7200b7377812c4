"""``effnet spec list | show | schedule``: the spec as tables (paper Table 4 style) or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from effnet import spec
from effnet.spec import progressive as schedule_mod
from effnet.spec.model_spec import BlockSpec, ModelSpec

from .argtypes import int_range

MAX_IMAGE_SIZE = 8192  # as the schema's image_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spec", help="inspect the architecture spec")
    cmds = p.add_subparsers(dest="spec_command", required=True, metavar="SUBCOMMAND")

    ls = cmds.add_parser("list", help="every model the spec defines")
    ls.add_argument("--file", help="a user's architecture YAML instead of the built-in spec")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=run_list)

    show = cmds.add_parser("show", help="one model's architecture, counts and citations")
    show.add_argument("name")
    show.add_argument("--profile", help=f"implementation profile ({', '.join(spec.profile_names())})")
    show.add_argument(
        "--image-size",
        type=int_range(1, MAX_IMAGE_SIZE),
        help="MACs at this size instead of train/eval",
    )
    show.add_argument("--file", help="a user's architecture YAML, validated like the built-in spec")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(run=run_show)

    sch = cmds.add_parser("schedule", help="the progressive-learning stages")
    sch.add_argument("name")
    sch.add_argument("--rule", choices=schedule_mod.RULES, default="paper")
    sch.add_argument(
        "--epochs", type=int_range(1, 100_000), help="total epochs (default: the spec's training.epochs)"
    )
    sch.add_argument(
        "--size-multiple",
        type=int_range(1, 1024),
        default=1,
        help="round image sizes down to a multiple of this (default 1: as cited)",
    )
    sch.add_argument("--file", help="a user's architecture YAML")
    sch.add_argument("--json", action="store_true", help="machine-readable output")
    sch.set_defaults(run=run_schedule)


def run_list(args: argparse.Namespace) -> int:
    rows = []
    for name in spec.names(args.file):
        ms = spec.resolve(name, file=args.file)
        rows.append(
            {
                "name": name,
                "family": ms.family,
                "params": spec.count(ms).params,
                "image_size": {"train": ms.image_size.train, "eval": ms.image_size.eval},
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<20} {'family':<16} {'params':>13} {'train':>6} {'eval':>5}")
    for r in rows:
        print(
            f"{r['name']:<20} {r['family']:<16} {r['params']:>13,} "
            f"{r['image_size']['train']:>6} {r['image_size']['eval']:>5}"
        )
    return 0


def operator(block: BlockSpec) -> str:
    """Paper-style operator name, e.g. 'MBConv6, k3x3, SE0.25' or 'Fused-MBConv1, k3x3'."""
    kind = "MBConv" if block.kind == "mbconv" else "Fused-MBConv"
    text = f"{kind}{block.expand_ratio:g}, k{block.kernel}x{block.kernel}"
    return text + (f", SE{block.se_ratio:g}" if block.se else "")


def stage_rows(ms: ModelSpec) -> list[dict[str, Any]]:
    rows = [
        {
            "stage": 0,
            "operator": f"Conv{ms.stem.kernel}x{ms.stem.kernel}",
            "kind": "conv",
            "kernel": ms.stem.kernel,
            "stride": ms.stem.stride,
            "expand": None,
            "se": None,
            "channels": ms.stem.out_channels,
            "layers": 1,
        }
    ]
    for blocks in ms.stages:
        first = blocks[0]
        rows.append(
            {
                "stage": first.stage,
                "operator": operator(first),
                "kind": first.kind,
                "kernel": first.kernel,
                "stride": first.stride,
                "expand": first.expand_ratio,
                "se": first.se_ratio or None,
                "channels": first.out_channels,
                "layers": len(blocks),
            }
        )
    rows.append(
        {
            "stage": len(rows),
            "operator": "Conv1x1 & Pooling & FC",
            "kind": "head",
            "kernel": 1,
            "stride": 1,
            "expand": None,
            "se": None,
            "channels": ms.head.out_channels,
            "layers": 1,
        }
    )
    return rows


def describe(ms: ModelSpec, sizes: list[int]) -> dict[str, Any]:
    counts = spec.count(ms)
    return {
        "name": ms.name,
        "family": ms.family,
        "profile": ms.profile,
        "spec_version": ms.spec_version,
        "spec_hash": ms.spec_hash,
        "params": counts.params,
        "bn_stats": counts.bn_stats,
        "macs": {str(s): spec.macs(ms, s) for s in sizes},
        "image_size": {"train": ms.image_size.train, "eval": ms.image_size.eval},
        "settings": {
            "padding": ms.padding,
            "bn_eps": ms.bn_eps,
            "bn_decay": ms.bn_decay,
            "activation": ms.activation,
            "se_gate": ms.se_gate,
            "dropout": ms.dropout,
            "drop_path_rate": ms.drop_path_rate,
            "num_classes": ms.num_classes,
            "preprocessing": {"scale": ms.preprocessing.scale, "offset": ms.preprocessing.offset},
        },
        "stages": stage_rows(ms),
        "blocks": [
            {
                "name": b.name,
                "stage": b.stage,
                "kind": b.kind,
                "in": b.in_channels,
                "mid": b.mid_channels,
                "out": b.out_channels,
                "se": b.se_channels,
                "kernel": b.kernel,
                "stride": b.stride,
                "residual": b.residual,
                "drop_path_rate": round(b.drop_path_rate, 6),
            }
            for b in ms.blocks
        ],
        "citations": dict(ms.citations),
    }


def run_show(args: argparse.Namespace) -> int:
    ms = spec.resolve(args.name, profile=args.profile, file=args.file)
    sizes = [args.image_size] if args.image_size else sorted({ms.image_size.train, ms.image_size.eval})
    info = describe(ms, sizes)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{ms.name}  (family {ms.family}, profile {ms.profile}, spec {ms.spec_version}, "
        f"hash {ms.spec_hash[:12]})\n"
    )
    print(
        f"{'Stage':<6}{'Operator':<26}{'Kind':<13}{'Kernel':>7}{'Stride':>7}{'Expand':>7}"
        f"{'SE':>6}{'#Channels':>11}{'#Layers':>9}"
    )
    for r in info["stages"]:
        expand = f"{r['expand']:g}" if r["expand"] else "-"
        se = f"{r['se']:g}" if r["se"] else "-"
        print(
            f"{r['stage']:<6}{r['operator']:<26}{r['kind']:<13}{r['kernel']:>7}{r['stride']:>7}"
            f"{expand:>7}{se:>6}{r['channels']:>11}{r['layers']:>9}"
        )
    print(f"\ntrainable parameters  {info['params']:>15,}")
    print(f"BN-statistic scalars  {info['bn_stats']:>15,}")
    for size in sizes:
        label = [k for k, v in info["image_size"].items() if v == size and not args.image_size]
        tag = f" ({'/'.join(label)})" if label else ""
        print(f"MACs @{size}{tag:<14}{info['macs'][str(size)] / 1e9:>10.3f} G")
    s = info["settings"]
    print(
        f"\npadding {s['padding']} | BN eps {s['bn_eps']:g} decay {s['bn_decay']:g} | "
        f"act {s['activation']} | dropout {s['dropout']:g} | drop-path {s['drop_path_rate']:g}"
    )
    pre = s["preprocessing"]
    print(
        "preprocessing x*scale+offset: scale "
        + ", ".join(f"{v:.6g}" for v in pre["scale"])
        + " | offset "
        + ", ".join(f"{v:.6g}" for v in pre["offset"])
    )
    print("\nsources:")
    for what, cite in ms.citations:
        print(f"  {what}: {cite}")
    print("  params / BN stats / MACs: computed by spec.counts from the resolved spec")
    return 0


def run_schedule(args: argparse.Namespace) -> int:
    stages = spec.schedule(
        args.name, args.rule, epochs=args.epochs, size_multiple=args.size_multiple, file=args.file
    )
    cite = schedule_mod.citation(args.name, args.rule, file=args.file)
    if args.json:
        print(
            json.dumps(
                {"name": args.name, "rule": args.rule, "stages": [s.to_dict() for s in stages], "cite": cite},
                indent=2,
            )
        )
        return 0
    print(f"{args.name}: progressive learning, rule {args.rule!r}\n")
    print(f"{'stage':<6}{'epochs':>12}{'image':>7}  {'augment':<22}{'mixup':>7}{'CutMix':>8}{'dropout':>9}")
    for s in stages:
        augment = f"RandAugment m={s.randaug_magnitude:.3g}"
        if s.augment == "autoaugment":
            augment = "AutoAugment v0"
        print(
            f"{s.index:<6}{f'{s.epoch_start}-{s.epoch_end - 1}':>12}{s.image_size:>7}  {augment:<22}"
            f"{s.mixup_alpha:>7.3g}{s.cutmix_alpha:>8.3g}{s.dropout:>9.3g}"
        )
    print(f"\nsource: {cite}")
    return 0
