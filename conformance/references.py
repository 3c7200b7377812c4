"""The public implementations the backends are compared with (random weights, randomised BN
statistics; nothing is downloaded). Each entry: the spec profile that reproduces it, and a function
(ModelSpec, canonical weights, NHWC batch) -> logits. Frameworks are imported on use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec
from effnet.weights_convert.formats import FORMATS, from_canonical

Weights = dict[str, np.ndarray]


@dataclass(frozen=True)
class ReferenceModel:
    library: str  # "torchvision", "timm", ...
    model: str  # the spec model name
    profile: str
    run: Callable[[ModelSpec, Weights, np.ndarray], np.ndarray]

    @property
    def label(self) -> str:
        return f"{self.model} [{spec.implementation_name(self.model, self.profile)}]"


def _run_torch_module(
    build: Callable[[ModelSpec], object], fmt: str
) -> Callable[[ModelSpec, Weights, np.ndarray], np.ndarray]:
    def run(ms: ModelSpec, weights: Weights, x: np.ndarray) -> np.ndarray:
        import torch

        net = build(ms)
        state = from_canonical(weights, ms, FORMATS[fmt])
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)  # type: ignore[attr-defined]
        net.eval()  # type: ignore[attr-defined]
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()  # type: ignore[operator]

    return run


def _torchvision(ms: ModelSpec) -> object:
    import torchvision

    return torchvision.models.get_model(
        spec.implementation_name(ms.name, "torchvision"), weights=None, num_classes=ms.num_classes
    )


def _timm(ms: ModelSpec) -> object:
    import timm

    return timm.create_model(
        spec.implementation_name(ms.name, ms.profile), pretrained=False, num_classes=ms.num_classes
    )


def assign_keras_applications(
    net: object, ms: ModelSpec, weights: Weights, *, include_top: bool = True
) -> None:
    """Copy canonical weights (and V1's normalization, from the spec) into a keras.applications
    model object, layer by layer with ``set_weights``; the self-named Normalization is found by class."""
    from effnet.weights_convert import keras_applications, keras_io

    state = from_canonical(weights, ms, FORMATS["keras-applications"], include_top=include_top)
    for layer, leaves in keras_io.group_by_layer(state).items():
        if layer == keras_applications.LAYER:
            target = next(t for t in net.layers if type(t).__name__ == "Normalization")  # type: ignore[attr-defined]
        else:
            target = net.get_layer(layer)  # type: ignore[attr-defined]
        target.set_weights(list(leaves.values()))
        if hasattr(target, "finalize_state"):  # Keras 3's Normalization reads its variables only then
            target.finalize_state()


def _keras_applications(ms: ModelSpec, weights: Weights, x: np.ndarray) -> np.ndarray:
    """keras.applications (TensorFlow backend) with ``weights=None``, built for this input size (V1's
    stride-2 padding is static, SOURCES §3.3), weights set layer by layer. ``x`` is the network input: V2
    runs without its preprocessing; V1 always normalises in-model, so it gets the pixels."""
    from effnet import impl_tf  # noqa: F401, I001  (first: it selects keras' TensorFlow backend)
    import keras

    from effnet.weights_convert import keras_applications

    v1 = ms.family == keras_applications.FAMILY
    net = getattr(keras.applications, spec.implementation_name(ms.name, "keras"))(
        weights=None,
        input_shape=x.shape[1:],
        classes=ms.num_classes,
        classifier_activation=None,
        **({} if v1 else {"include_preprocessing": False}),
    )
    assign_keras_applications(net, ms, weights)
    if v1:
        scale, offset = (np.asarray(v, np.float32) for v in (ms.preprocessing.scale, ms.preprocessing.offset))
        x = (x - offset) / scale
    return np.asarray(net(x, training=False))


REFERENCE_MODELS: list[ReferenceModel] = [
    ReferenceModel(
        "torchvision", "efficientnet-b0", "torchvision", _run_torch_module(_torchvision, "torchvision")
    ),
    ReferenceModel(
        "torchvision", "efficientnetv2-s", "torchvision", _run_torch_module(_torchvision, "torchvision")
    ),
    ReferenceModel("timm", "efficientnetv2-b0", "timm_tf", _run_torch_module(_timm, "timm")),
    ReferenceModel("timm", "efficientnet-b0", "timm_tf", _run_torch_module(_timm, "timm")),
    ReferenceModel("timm", "efficientnetv2-s", "timm", _run_torch_module(_timm, "timm")),
    ReferenceModel("keras.applications", "efficientnet-b0", "keras", _keras_applications),
    ReferenceModel("keras.applications", "efficientnetv2-b0", "keras", _keras_applications),
    ReferenceModel("keras.applications", "efficientnetv2-s", "keras", _keras_applications),
]
