"""timm's EfficientNets: the PyTorch-native models (``efficientnet_*``, ``efficientnetv2_*``; profile
``timm``) and the TF ports (``tf_efficientnet*``; profile ``timm_tf``: TF SAME padding, BN eps 1e-3).

Intermediates: ``bn1`` (BN + activation) is the stem, ``blocks.{stage - 1}.{repeat}`` block
``blocks.{i}``, ``bn2`` the head, ``global_pool`` the pooled features."""

from __future__ import annotations

from torch import nn

from effnet import spec
from effnet.spec import ModelSpec

from .torch_module import TorchModuleAdapter

PROFILES = ("timm", "timm_tf")


class TimmAdapter(TorchModuleAdapter):
    name = "timm"
    library = "timm"
    format = "timm"

    def claims(self) -> list[tuple[str, str]]:
        return [(model, profile) for profile in PROFILES for model in spec.profile_models(profile)]

    def make(self, ms: ModelSpec) -> nn.Module:
        import timm

        return timm.create_model(
            spec.implementation_name(ms.name, ms.profile),
            pretrained=False,
            num_classes=ms.num_classes,
            drop_rate=ms.dropout,
            drop_path_rate=ms.drop_path_rate,
        )

    def taps(self, ms: ModelSpec) -> dict[str, str]:
        blocks = {b.name: f"blocks.{b.stage - 1}.{b.repeat}" for b in ms.blocks}
        return {"stem": "bn1", **blocks, "head": "bn2", "pre_logits": "global_pool"}


ADAPTER = TimmAdapter()
