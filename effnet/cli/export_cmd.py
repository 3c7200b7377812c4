"""``effnet export --backend B --model NAME --format F --out PATH [--check]``: a deployment file
(ONNX, torch.export, TF SavedModel, LiteRT, StableHLO) with its metadata inside, written atomically;
``--check`` loads it back in its own runtime and certifies it against the float64 numpy oracle."""

from __future__ import annotations

import argparse
import importlib
import re
import time
from pathlib import Path
from typing import Any

from effnet import backends, spec
from effnet.weights_convert.export_meta import FORMAT_NAMES, ExportError, export_format, formats_of, options

from .argtypes import positive_int
from .errors import UsageError


def image_size(text: str) -> int | tuple[int, int]:
    """``N`` or ``HxW`` (positive integers)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match or int(match[1]) < 1 or (match[2] is not None and int(match[2]) < 1):
        raise argparse.ArgumentTypeError(f"must be N or HxW with positive integers, got {text!r}")
    return int(match[1]) if match[2] is None else (int(match[1]), int(match[2]))


image_size.__name__ = "size"


def register(sub: argparse._SubParsersAction) -> None:
    table = "; ".join(f"{b}: {', '.join(formats_of(b))}" for b in backends.names() if formats_of(b))
    p = sub.add_parser(
        "export",
        help="write a deployment file (ONNX, torch.export, SavedModel, LiteRT, StableHLO)",
        description=f"Export a model for deployment, metadata inside, written atomically. Formats: {table}.",
    )
    p.add_argument(
        "--backend", required=True, help=f"the backend to export from ({', '.join(backends.names())})"
    )
    p.add_argument("--model", required=True, help="spec model name, e.g. efficientnetv2-s")
    p.add_argument("--format", required=True, choices=list(FORMAT_NAMES), dest="fmt")
    p.add_argument("--weights", type=Path, help="a checkpoint in any supported format (default: spec.init)")
    p.add_argument("--profile", help="resolve the spec with this profile")
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--image-size", type=image_size, help="a fixed input size, N or HxW (default: eval size)"
    )
    size.add_argument("--dynamic", action="store_true", help="any height and width (where the format allows)")
    batch = p.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=positive_int, default=None, help="a fixed batch size (default 1)")
    batch.add_argument("--dynamic-batch", action="store_true", help="any batch size")
    p.add_argument(
        "--include-preprocessing",
        action="store_true",
        help="bake the profile's input scaling into the graph (the file takes RGB pixels in [0, 255])",
    )
    p.add_argument("--out", required=True, type=Path, help="the file (a folder for saved-model) to write")
    p.add_argument(
        "--check",
        action="store_true",
        help="load the file back in its runtime and certify it (L1-L2) against the numpy oracle",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    backend = backends.get(args.backend).name  # UnknownBackend: one line
    ms = spec.resolve(args.model, profile=args.profile)  # an unknown model: SpecError before any work
    request = dict(
        image_size=args.image_size,
        dynamic=args.dynamic,
        batch=args.batch or 1,
        dynamic_batch=args.dynamic_batch,
        include_preprocessing=args.include_preprocessing,
    )
    try:
        options(ms, backend, args.fmt, **request)  # a pair or size the format cannot take: before any import
    except ExportError as err:
        raise UsageError(str(err)) from None
    from effnet.weights_convert import atomic

    if export_format(backend, args.fmt).folder:
        if args.out.exists() and not (args.out / atomic.REPLACEABLE).is_file():
            raise UsageError(
                f"{args.out}: already exists and is not a SavedModel folder; it was left as it is"
            )
        if not args.out.parent.is_dir():
            raise UsageError(f"{args.out}: the folder {args.out.parent} does not exist (create it first)")
    else:
        atomic.check_target(args.out)
    backends.provide(backend, "builder")  # BackendUnavailable with the install hint
    package = importlib.import_module(backends.get(backend).package)
    start = time.perf_counter()
    model = package.build(args.model, profile=args.profile, weights=args.weights)
    package.export(model, args.out, format=args.fmt, **request)
    seconds = time.perf_counter() - start
    exported = package.load_exported(args.out)
    meta = exported.metadata
    size = "dynamic" if meta["image_size"] == "dynamic" else "x".join(map(str, meta["image_size"]))
    print(
        f"wrote {args.out} ({args.fmt}, {_size_of(args.out) / 2**20:.1f} MiB) in {seconds:.1f} s: "
        f"{meta['model']} ({meta['profile']}), {meta['input_layout']} input {size}"
        f"{' >= ' + str(meta['min_image_size']) if meta['min_image_size'] else ''}, batch {meta['batch']}, "
        f"{'RGB [0, 255]' if meta['include_preprocessing'] else 'preprocessed'} input"
    )
    if args.check:
        return _check(args, backend, model, package, exported)
    return 0


def _size_of(path: Path) -> int:
    return (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )


def _print(checks: list) -> bool:
    ok = True
    for fc in checks:
        r = fc.result
        status = "pass" if r.ok else "FAIL"
        line = f"  {fc.level} eval {fc.size[0]}x{fc.size[1]}: {status} max rel {r.max_rel:.2e}"
        print(line + f" (bound {r.bound:g})" + ("" if r.ok else f": {r.first_divergence}"))
        ok &= r.ok
    return ok


def _check(args: argparse.Namespace, backend: str, model: Any, package: Any, exported: Any) -> int:
    from effnet.conformance.adapters.exported import check_export, check_file

    meta, ms = exported.metadata, model.spec
    print(f"check: {args.out} loaded back, against the float64 numpy oracle (the weights it holds):")
    ok = _print(check_file(exported, ms, package.canonical_state(model)))
    print(f"check: the same export with the certifier's calibrated weights ({ms.name}, {ms.profile}):")
    ok &= _print(check_export(backend, args.fmt, ms, meta, include_preprocessing=args.include_preprocessing))
    print("check: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1
