"""Hugging Face transformers' EfficientNet (``EfficientNetForImageClassification``, PyTorch), V1 B0-B7,
profile ``keras``: transformers' model is a port of keras.applications' EfficientNet (its conversion
script reads the keras.applications weights, SOURCES §3.5), and keras V1 resolves to the same spec as
the paper's.

Each model is built from an ``EfficientNetConfig`` holding the spec's coefficients and the values of
the published checkpoints' configs (the conversion script's ``CONFIG_MAP``), ``depthwise_padding``
included, with random weights (nothing is downloaded). What differs from the spec is declared, with
its source line, in ``transformers.deviations.yaml`` (SOURCES §3.5): the stem and the stride-2
depthwise convs pad a fixed amount instead of TF SAME, so inputs whose stride-2 layers see odd sizes
diverge (L2; L3 and L4 run at 64x48, where one stride-2 input is 4x3), and BN momentum is the Keras
value handed to ``torch.nn.BatchNorm2d`` (L3's running statistics). Not checked by any level: the
blocks' drop-connect is an element-wise ``nn.Dropout`` (the spec drops whole samples).

Intermediates: ``efficientnet.embeddings`` is the stem, ``efficientnet.encoder.blocks.{i}`` block
``blocks.{i}``, ``efficientnet.encoder.top_activation`` the head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from effnet.spec import ModelSpec
from effnet.weights_convert.formats import TORCH_LEAVES, Format
from effnet.weights_convert.naming import Unit

from .torch_module import TorchModuleAdapter

PROFILE = "keras"
MODELS = tuple(f"efficientnet-b{i}" for i in range(8))
# the published checkpoints' depthwise_padding (the blocks built with symmetric k // 2 padding instead
# of transformers' fixed (k // 2 - 1, k // 2)): huggingface/transformers@e618a076c75e:
# src/transformers/models/efficientnet/convert_efficientnet_to_pytorch.py:54-119 (CONFIG_MAP dw_padding)
DEPTHWISE_PADDING: dict[str, list[int]] = {
    "efficientnet-b0": [],
    "efficientnet-b1": [16],
    "efficientnet-b2": [5, 8, 16],
    "efficientnet-b3": [5, 18],
    "efficientnet-b4": [6],
    "efficientnet-b5": [13, 27],
    "efficientnet-b6": [31],
    "efficientnet-b7": [18],
}
DEVIATIONS = Path(__file__).with_name("transformers.deviations.yaml")

# module paths in EfficientNetForImageClassification's state dict, per block role: (conv, bn)
BLOCK_LAYERS = {
    "expand": ("expansion.expand_conv", "expansion.expand_bn"),
    "dw": ("depthwise_conv.depthwise_conv", "depthwise_conv.depthwise_norm"),
    "project": ("projection.project_conv", "projection.project_bn"),
}


def transformers_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """efficientnet.embeddings.{convolution,batchnorm}, efficientnet.encoder.blocks.{i}.<layer>,
    efficientnet.encoder.top_{conv,bn}, classifier (blocks numbered through the whole network)."""
    if u.role == "stem":
        return {"conv": "efficientnet.embeddings.convolution", "bn": "efficientnet.embeddings.batchnorm"}
    if u.role == "head":
        return {"conv": "efficientnet.encoder.top_conv", "bn": "efficientnet.encoder.top_bn"}
    if u.role == "classifier":
        return {"dense": "classifier"}
    assert u.block is not None
    p = f"efficientnet.encoder.blocks.{u.block.index}"
    if u.kind == "se":
        return {"reduce": f"{p}.squeeze_excite.reduce", "expand": f"{p}.squeeze_excite.expand"}
    conv, bn = BLOCK_LAYERS[u.role]
    return {"conv": f"{p}.{conv}", "bn": f"{p}.{bn}"}


FORMAT = Format(
    "transformers",
    "transformers EfficientNetForImageClassification state_dict",
    transformers_names,
    TORCH_LEAVES,
    (PROFILE,),
    "torch",
    ("efficientnet.embeddings.",),
    "transformers",
)


class TransformersAdapter(TorchModuleAdapter):
    name = "transformers"
    library = "transformers"
    deviations = str(DEVIATIONS)

    def claims(self) -> list[tuple[str, str]]:
        return [(model, PROFILE) for model in MODELS]

    def weight_format(self) -> Format:
        return FORMAT

    def make(self, ms: ModelSpec) -> nn.Module:
        from transformers import EfficientNetConfig, EfficientNetForImageClassification

        config = EfficientNetConfig(
            image_size=ms.image_size.eval,
            width_coefficient=ms.width,
            depth_coefficient=ms.depth,
            hidden_dim=ms.head.out_channels,
            dropout_rate=ms.dropout,
            drop_connect_rate=ms.drop_path_rate,
            batch_norm_eps=ms.bn_eps,
            # transformers takes the Keras-style value (its default is 0.99) and hands it to torch
            batch_norm_momentum=ms.bn_decay,
            depthwise_padding=DEPTHWISE_PADDING[ms.name],
            num_labels=ms.num_classes,
        )
        return EfficientNetForImageClassification(config)

    def logits_of(self, output: Any) -> torch.Tensor:
        return output.logits

    def taps(self, ms: ModelSpec) -> dict[str, str]:
        blocks = {b.name: f"efficientnet.encoder.blocks.{b.index}" for b in ms.blocks}
        return {"stem": "efficientnet.embeddings", **blocks, "head": "efficientnet.encoder.top_activation"}


ADAPTER = TransformersAdapter()
