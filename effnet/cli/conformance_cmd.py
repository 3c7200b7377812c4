"""``effnet conformance report``: the cross-backend report for every installed backend;
``effnet conformance certify``: one implementation, through its adapter, level by level."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conformance", help="cross-framework conformance")
    cmds = p.add_subparsers(dest="conformance_command", required=True, metavar="SUBCOMMAND")
    rep = cmds.add_parser("report", help="run the checks; write Markdown, JSON and a heatmap PNG")
    rep.add_argument(
        "--out", type=Path, default=Path("out/conformance"), help="output folder (default out/conformance)"
    )
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.set_defaults(run=run_report)
    cert = cmds.add_parser(
        "certify",
        help="certify one implementation against the spec (levels L0-L4); writes result.json and result.md",
    )
    cert.add_argument(
        "--impl",
        required=True,
        help="our backend (torch, jax, tf), a built-in library adapter (torchvision, timm, "
        "keras-applications, numpy), an installed plug-in (entry point group "
        "effnet.conformance_adapters), or module:object",
    )
    cert.add_argument(
        "--models",
        default="claimed",
        help="comma-separated spec (or library) model names, or 'claimed' (default: every model the "
        "implementation claims)",
    )
    cert.add_argument("--profile", help="the profile to certify (default: the one the implementation claims)")
    cert.add_argument("--level", choices=LEVEL_CHOICES, default="L4", help="the level to reach (default L4)")
    cert.add_argument("--deviations", type=Path, help="declared deviations (YAML; see conformance/README.md)")
    cert.add_argument("--out", type=Path, required=True, help="folder for result.json and result.md")
    cert.add_argument("--no-progress", action="store_true", help="no progress bar")
    cert.set_defaults(run=run_certify)
    mat = cmds.add_parser(
        "matrix", help="certify every built-in adapter on every model it claims; write the conformance matrix"
    )
    mat.add_argument("--level", choices=LEVEL_CHOICES, default="L4")
    mat.add_argument("--models", help="comma-separated spec models (default: every claimed model)")
    mat.add_argument("--out", type=Path, default=Path("docs"), help="folder (default docs/)")
    mat.add_argument(
        "--parts",
        type=Path,
        default=Path("out/conformance-matrix"),
        help="one result file per (implementation, model, profile); a rerun reuses them "
        "(default out/conformance-matrix)",
    )
    mat.add_argument(
        "--from-parts",
        action="store_true",
        help="certify nothing: assemble the matrix from the stored results "
        "(unfinished rows are listed as pending)",
    )
    mat.add_argument("--only", help=argparse.SUPPRESS)  # one implementation's parts (a child process)
    mat.add_argument("--no-progress", action="store_true")
    mat.set_defaults(run=run_matrix)


LEVEL_CHOICES = ("L0", "L1", "L2", "L3", "L4")


def _selection(adapter: object, models: str, profile: str | None) -> list[tuple[str, str]]:
    from effnet import spec

    claims = list(adapter.claims())  # type: ignore[attr-defined]
    if models == "claimed":
        chosen = [c for c in claims if profile is None or c[1] == profile]
        if not chosen:
            raise UsageError(f"--profile {profile}: {adapter.name} claims no model with that profile")  # type: ignore[attr-defined]
        return chosen
    out = []
    for name in (m.strip() for m in models.split(",") if m.strip()):
        model, named_profile = spec.lookup(name, profile, among=tuple(dict.fromkeys(p for _, p in claims)))
        spec.resolve(model, profile=named_profile)  # an unknown model is a SpecError, one line
        options = [p for m, p in claims if m == model and (named_profile is None or p == named_profile)]
        if not options:
            raise UsageError(
                f"--models {name}: {adapter.name} does not claim {model}"  # type: ignore[attr-defined]
                + (f" with profile {named_profile}" if named_profile else "")
            )
        out.append((model, options[0]))
    return out


def run_certify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from effnet.conformance import adapters, certify_report, deviations
    from effnet.conformance.certify import certify_model

    try:
        adapter = adapters.find(args.impl)
        declared = deviations.load(args.deviations) if args.deviations else deviations.declared_by(adapter)
    except (adapters.AdapterNotFound, deviations.DeviationsError) as err:
        raise UsageError(str(err)) from None
    selected = _selection(adapter, args.models, args.profile)
    results = []
    with tqdm(
        total=len(selected), desc=f"certify {adapter.name}", unit="model", disable=args.no_progress
    ) as bar:
        for model, profile in selected:
            results.append(
                certify_model(adapter, model, profile, args.level, declared, progress=bar.set_postfix_str)
            )
            bar.update()
    doc = certify_report.document(adapter, results, args.level)
    for m in doc["models"]:
        verdict = "pass" if m["passed"] else "FAIL"
        print(f"{m['model']:20s} {m['profile']:12s} reached {m['reached'] or '-':3s} {verdict}")
    for c in doc["checks"]:
        if c["status"] in ("fail", "error", "deviation"):
            what = c["first_divergence"] or c["message"]
            print(f"  {c['status'].upper()} {c['model']} {c['level']} {c['check']}: {what}")
    for kind, path in certify_report.write(args.out, doc).items():
        print(f"{kind}: {path}")
    return 0 if doc["passed"] else 1


def run_report(args: argparse.Namespace) -> int:
    from effnet.conformance.report import run_checks, write

    rows, meta = run_checks(progress=not args.no_progress)
    paths = write(args.out, rows, meta)
    ran = [r for r in rows if r.passed is not None]
    failed = [r for r in ran if not r.passed]
    skipped = len(rows) - len(ran)
    names = ", ".join(meta["backends"])
    print(f"{len(ran)} checks ran, {len(failed)} failed, {skipped} skipped; backends: {names}")
    for r in failed:
        print(f"FAIL {r.subject}: {r.message}")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 1 if failed else 0


def run_matrix(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from effnet import spec
    from effnet.conformance import matrix

    models = [m.strip() for m in args.models.split(",")] if args.models else None
    if unknown := [m for m in models or [] if m not in spec.names()]:
        raise UsageError(f"--models: unknown spec model(s) {', '.join(unknown)}; see 'effnet spec list'")
    parts = matrix.Parts(args.parts)
    if args.only:  # a child process: one implementation, its parts only
        (impl,) = [i for i in matrix.IMPLEMENTATIONS if i.label == args.only]
        failures: dict[str, str] = {}
        matrix.run_here([impl], parts, args.level, models, lambda _: None, failures, isolate_large=False)
        for why in failures.values():
            raise UsageError(why)
        return 0
    if args.from_parts:
        result = matrix.assemble(args.level, parts, matrix.IMPLEMENTATIONS, models, {}, 0.0)
        return _print_matrix(matrix, result, args.out)
    total = matrix.count(matrix.IMPLEMENTATIONS, models)
    with tqdm(desc="conformance matrix", total=total, unit="row", disable=args.no_progress) as bar:

        def progress(what: str) -> None:
            bar.set_postfix_str(what)
            bar.update()

        result = matrix.run(args.level, parts, models=models, progress=progress)
    return _print_matrix(matrix, result, args.out)


def _print_matrix(matrix: Any, result: dict[str, Any], out: Path) -> int:
    for row in result["rows"]:
        cells = " ".join(f"{lv}:{c['status']}" for lv, c in row["levels"].items())
        print(f"{row['implementation']:34s} {row['model']:20s} {row['profile']:12s} {cells}")
    for label, why in result["not_run"].items():
        print(f"NOT RUN {label}: {why}")
    if result["pending"]:
        print(f"PENDING {len(result['pending'])} claimed rows not certified yet")
    for kind, path in matrix.write(out, result).items():
        print(f"{kind}: {path}")
    print(
        f"{len(result['rows'])} rows; certification {result['compute_seconds'] / 60:.1f} minutes "
        f"(summed over rows), this run {result['wall_seconds'] / 60:.1f} minutes"
    )
    return 0
