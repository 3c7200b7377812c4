"""``effnet`` entry point: builds the argument parser from each command module and runs one.

Every user-facing error (a bad argument, a bad spec, an unknown model, a bad checkpoint, a file the
operating system refuses) is printed as one line ``effnet: error: ...`` with exit status 2, never a
traceback (``errors.describe`` words it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from effnet import malloc
from effnet.backends import BackendUnavailable, UnknownBackend
from effnet.spec import SpecError
from effnet.training.checkpoint import ResumeError
from effnet.training.errors import DataError, TrainError
from effnet.weights_convert import WeightsError
from effnet.weights_convert.export_meta import ExportError

from . import (
    backends_cmd,
    bench_cmd,
    conformance_cmd,
    convert_cmd,
    experiment_cmd,
    export_cmd,
    spec_cmd,
    train_cmd,
)
from .errors import UsageError, describe

COMMANDS = (
    spec_cmd,
    convert_cmd,
    export_cmd,
    conformance_cmd,
    train_cmd,
    experiment_cmd,
    bench_cmd,
    backends_cmd,
)
USER_ERRORS: tuple[type[BaseException], ...] = (
    SpecError,
    WeightsError,
    DataError,
    ResumeError,
    OSError,  # permissions, a folder where a file belongs, a full disk, ...: errors.describe_os_error
    UsageError,
    BackendUnavailable,  # a registered backend whose framework is not installed: the install hint
    UnknownBackend,
    TrainError,
    ExportError,  # an export the format cannot make, an input an exported file cannot take
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``effnet: error: argument --image-size: ...``); subcommands'
    parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"effnet: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="effnet", description="EfficientNet V1/V2 reference spec, backends and conformance.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # run as the command (not called from Python): see malloc.py
        malloc.reexec_with_huge_pages()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, not ours
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        return 0
    except USER_ERRORS as err:
        print(f"effnet: error: {describe(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
