"""The spec's one exception type: every problem with a spec file, a model name or an override."""

from __future__ import annotations


class SpecError(ValueError):
    """A malformed spec, an unknown model/profile/rule, or an invalid override.

    ``str(err)`` names the file, the YAML path and the line where those are known, e.g.
    ``spec/models/efficientnet_v2.yaml: variants.efficientnetv2-s.dropout (line 97): 'x' is not a number``.
    """

    def __init__(
        self, message: str, *, file: str | None = None, path: str | None = None, line: int | None = None
    ) -> None:
        self.file, self.path, self.line, self.reason = file, path, line, message
        where = file or ""
        if path:
            where += f": {path}" if where else path
        if line is not None:
            where += f" (line {line})"
        super().__init__(f"{where}: {message}" if where else message)
