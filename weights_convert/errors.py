"""The converter's exception type: bad checkpoints, unknown formats, mismatched tensors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from effnet.spec import canonical

SHOWN_PER_KIND = 25  # longer lists are cut in the message; the exception keeps them whole


class WeightsError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""

    def __init__(
        self, message: str, *, missing: list[str] = (), unexpected: list[str] = (), misshaped: list[str] = ()
    ) -> None:  # type: ignore[assignment]
        super().__init__(message)
        self.missing, self.unexpected, self.misshaped = list(missing), list(unexpected), list(misshaped)


def mismatch_error(
    what: str,
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, tuple[int, ...]],
    *,
    ignore: Iterable[str] = (),
) -> None:
    """Raise one WeightsError naming every missing, unexpected and misshaped tensor, if any."""
    problems = canonical.mismatch(expected, got, ignore=ignore)
    if problems:
        raise WeightsError(
            f"{what} does not match: {problems.describe(SHOWN_PER_KIND)}",
            missing=problems.missing,
            unexpected=problems.unexpected,
            misshaped=problems.misshaped,
        )
