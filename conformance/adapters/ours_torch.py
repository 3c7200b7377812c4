"""The conformance adapter for this project's PyTorch backend (``effnet.impl_torch``): the shared
torch-module adapter with the model's own named intermediates; it claims every spec model
(``ours.OursDeclaration``)."""

from __future__ import annotations

import numpy as np
import torch

from effnet.impl_torch.build import canonical_state, from_spec, load_canonical_state
from effnet.impl_torch.model import EfficientNet
from effnet.spec import ModelSpec

from ..protocol import Weights
from .ours import OursDeclaration
from .torch_module import SpecRunningVariance, TorchModuleAdapter, nchw, nhwc


class TorchAdapter(OursDeclaration, TorchModuleAdapter):
    name = "torch"
    format = "torch"

    def make(self, ms: ModelSpec) -> EfficientNet:
        return from_spec(ms)

    def spec_of(self, model: EfficientNet) -> ModelSpec:
        return model.spec

    def set_state(self, model: EfficientNet, weights: Weights) -> None:
        load_canonical_state(model, weights)

    def get_state(self, model: EfficientNet) -> Weights:
        return canonical_state(model)

    def forward(self, model: EfficientNet, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        model.train(training)
        with torch.no_grad(), SpecRunningVariance(model, enabled=training):
            out = model.forward_intermediates(nchw(x))
        return {k: nhwc(v) for k, v in out.items()}


ADAPTER = TorchAdapter()
