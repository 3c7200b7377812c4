"""The converter's exception type: bad checkpoints, unknown formats, mismatched tensors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SHOWN_PER_KIND = 25  # longer lists are cut in the message; the exception keeps them whole


class WeightsError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""

    def __init__(
        self, message: str, *, missing: list[str] = (), unexpected: list[str] = (), misshaped: list[str] = ()
    ) -> None:  # type: ignore[assignment]
        super().__init__(message)
        self.missing, self.unexpected, self.misshaped = list(missing), list(unexpected), list(misshaped)


def _listing(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN_PER_KIND])
    more = f" ... and {len(items) - SHOWN_PER_KIND} more" if len(items) > SHOWN_PER_KIND else ""
    return f"{len(items)} {label}: {shown}{more}"


def mismatch_error(
    what: str,
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, tuple[int, ...]],
    *,
    ignore: Iterable[str] = (),
) -> None:
    """Raise one WeightsError naming every missing, unexpected and misshaped tensor, if any."""
    ignored = set(ignore)
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected and k not in ignored]
    misshaped = [
        f"{k} {tuple(got[k])} (expected {tuple(expected[k])})"
        for k in expected
        if k in got and tuple(got[k]) != tuple(expected[k])
    ]
    kinds = (("missing", missing), ("unexpected", unexpected), ("misshaped", misshaped))
    problems = [_listing(label, items) for label, items in kinds if items]
    if problems:
        raise WeightsError(
            f"{what} does not match: " + "; ".join(problems),
            missing=missing,
            unexpected=unexpected,
            misshaped=misshaped,
        )
