"""``effnet conformance report [--out DIR]``: the conformance report for every installed backend."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conformance", help="cross-framework conformance")
    cmds = p.add_subparsers(dest="conformance_command", required=True, metavar="SUBCOMMAND")
    rep = cmds.add_parser("report", help="run the checks; write Markdown, JSON and a heatmap PNG")
    rep.add_argument(
        "--out", type=Path, default=Path("out/conformance"), help="output folder (default out/conformance)"
    )
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.set_defaults(run=run_report)


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
