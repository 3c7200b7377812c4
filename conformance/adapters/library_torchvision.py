"""torchvision's EfficientNets (``torchvision.models.efficientnet_*``), profile ``torchvision``.

Intermediates: ``features.0`` is the stem, ``features.{stage}.{repeat}`` block ``blocks.{i}`` (its
output after the residual add), ``features.{S + 1}`` the head conv."""

from __future__ import annotations

from torch import nn

from effnet import spec
from effnet.spec import ModelSpec

from .torch_module import TorchModuleAdapter

PROFILE = "torchvision"


class TorchvisionAdapter(TorchModuleAdapter):
    name = "torchvision"
    library = "torchvision"
    format = "torchvision"

    def claims(self) -> list[tuple[str, str]]:
        return [(model, PROFILE) for model in spec.profile_models(PROFILE)]

    def make(self, ms: ModelSpec) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(
            spec.implementation_name(ms.name, PROFILE),
            weights=None,
            num_classes=ms.num_classes,
            dropout=ms.dropout,
            stochastic_depth_prob=ms.drop_path_rate,
        )

    def taps(self, ms: ModelSpec) -> dict[str, str]:
        blocks = {b.name: f"features.{b.stage}.{b.repeat}" for b in ms.blocks}
        return {"stem": "features.0", **blocks, "head": f"features.{len(ms.stages) + 1}"}


ADAPTER = TorchvisionAdapter()
