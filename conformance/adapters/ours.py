"""What this project's own adapters declare under the adapter protocol: the library is effnet-spec,
and each backend builds every spec model (claimed with the spec's own, ``paper``, profile; any other
profile can be certified with ``--profile``)."""

from __future__ import annotations

import effnet
from effnet import spec

from ..protocol import ADAPTER_API


class OursDeclaration:
    adapter_api = ADAPTER_API
    version = "1"
    library = "effnet-spec"
    library_version = effnet.__version__

    def claims(self) -> list[tuple[str, str]]:
        return [(model, spec.DEFAULT_PROFILE) for model in spec.names()]
