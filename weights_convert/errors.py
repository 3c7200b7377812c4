"""The converter's exception type: bad checkpoints, unknown formats, mismatched tensors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class WeightsError(ValueError):
    """A checkpoint that cannot be read or does not fit the model (message lists every problem)."""


def mismatch_error(
    what: str,
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, tuple[int, ...]],
    *,
    ignore: Iterable[str] = (),
) -> None:
    """Raise one WeightsError listing every missing, unexpected and misshaped tensor, if any."""
    ignored = set(ignore)
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected and k not in ignored]
    misshaped = [
        f"{k} {tuple(got[k])} (expected {tuple(expected[k])})"
        for k in expected
        if k in got and tuple(got[k]) != tuple(expected[k])
    ]
    problems = [
        f"{len(items)} {label}: {', '.join(items)}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("misshaped", misshaped))
        if items
    ]
    if problems:
        raise WeightsError(f"{what} does not match: " + "; ".join(problems))
