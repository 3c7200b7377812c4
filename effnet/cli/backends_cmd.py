"""``effnet backends``: the backend registry (``effnet.backends``) as a table, with what is installed."""

from __future__ import annotations

import argparse

from effnet import backends


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backends", help="the registered backends: what each provides, and whether it is installed"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(f"{'backend':10s} {'framework':24s} {'weights':8s} {'trains':6s} {'package':20s} installed")
    for b in backends.registry().values():
        trains = "yes" if b.trains else "no"
        installed = "yes" if b.installed() else f"no: {b.install_hint()}"
        print(f"{b.name:10s} {b.framework:24s} {b.weights:8s} {trains:6s} {b.package:20s} {installed}")
    return 0
