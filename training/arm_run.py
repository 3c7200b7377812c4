"""One arm of one seed of an experiment, in its own process: ``python -m effnet.training.arm_run
REQUEST.json``. The request holds :class:`training.loop.RunConfig`'s fields with the arm's stages;
a run interrupted before (a checkpoint in its ``out``) is resumed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from effnet.spec import Stage

from . import checkpoint
from .loop import RunConfig, run


def config_of(request: dict[str, Any]) -> RunConfig:
    fields = dict(request)
    out, data = Path(fields.pop("out")), Path(fields.pop("data"))
    stages = tuple(Stage(**s) for s in fields.pop("stages"))
    spec_file = fields.pop("spec_file", None)
    return RunConfig(
        **fields,
        data=data,
        out=out,
        stages=stages,
        spec_file=Path(spec_file) if spec_file else None,
        resume=checkpoint.latest(out / "checkpoints") is not None,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run(config_of(json.loads(Path(args[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
