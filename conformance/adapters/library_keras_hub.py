"""keras-hub's EfficientNet (``keras_hub.models.EfficientNetBackbone`` under an
``EfficientNetImageClassifier``), V1 B0-B5, profile ``timm``: keras-hub's V1 backbones are ports of
timm's PyTorch-native ``efficientnet_b*`` (symmetric padding, BN eps 1e-5, momentum 0.9; SOURCES §3.5),
built here from keras-hub's own timm config table with random weights (no preset is downloaded).
keras-hub's V2 configs (``efficientnet2_rw_*``) are timm's own variants, which the spec does not define:
not claimed.

Runs on whichever Keras backend the process uses (TensorFlow by default; ``train_step`` needs it). The
backbone's input size is free and its padding static, so one model serves every input size. Keras BN
follows the spec's conventions (``momentum`` = decay, biased batch variance). Declared in
``keras-hub.deviations.yaml``: the V1 blocks' BNs keep Keras' default momentum 0.99 where the stem and
head use the config's 0.9 (L3's running statistics).

Intermediates: ``stem_activation`` is the stem, the last layer named ``block{stage}{letter}_...`` block
``blocks.{i}``, ``top_activation`` the head, ``pooler`` the pooled features.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from pathlib import Path
from typing import Any

import numpy as np

from effnet.spec import ModelSpec
from effnet.weights_convert import keras_io
from effnet.weights_convert.formats import KERAS_APPLICATIONS_LEAVES, Format, from_canonical, to_canonical
from effnet.weights_convert.naming import Unit

from ..protocol import ADAPTER_API, StepResult, Weights

PROFILE = "timm"
# spec model -> the timm architecture keras-hub's converter knows it as (its VARIANT_MAP: b0-b5)
MODELS = {f"efficientnet-b{i}": f"efficientnet_b{i}" for i in range(6)}
DEVIATIONS = Path(__file__).with_name("keras-hub.deviations.yaml")
SPEC_ATTRIBUTE = "_effnet_spec"

# V1 block layer names (keras_hub/src/models/efficientnet/efficientnet_backbone.py, SOURCES §3.5)
BLOCK_LAYERS = {
    "expand": ("expand_conv", "expand_bn"),
    "dw": ("dwconv", "dwconv_bn"),
    "project": ("project", "project_bn"),
}


def keras_hub_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """stem_conv/stem_bn, block{stage}{letter}_<layer>, top_conv/top_bn, predictions."""
    fixed = {"stem": ("stem_conv", "stem_bn"), "head": ("top_conv", "top_bn")}
    if u.role in fixed:
        return dict(zip(("conv", "bn"), fixed[u.role], strict=True))
    if u.role == "classifier":
        return {"dense": "predictions"}
    b = u.block
    assert b is not None
    p = f"block{b.stage}{chr(ord('a') + b.repeat)}_"
    if u.kind == "se":
        return {"reduce": f"{p}se_reduce", "expand": f"{p}se_expand"}
    conv, bn = BLOCK_LAYERS[u.role]
    return {"conv": p + conv, "bn": p + bn}


# keras.applications' leaves and layouts (Keras 3 names every depthwise kernel "kernel"), without its
# V1 Normalization layer (keras-hub has none)
FORMAT = Format(
    "keras-hub",
    "keras-hub EfficientNetImageClassifier variables (<layer>/<variable>)",
    keras_hub_names,
    dataclasses.replace(
        KERAS_APPLICATIONS_LEAVES, depthwise=("kernel", "khwc1"), model_extra=None, check_extra=None
    ),
    (PROFILE,),
    "keras",
    ("stem_conv/", "top_conv/"),
    "keras-hub",
)


def _keras() -> Any:
    """keras, on the backend the process asks for; on TensorFlow through ``effnet.impl_tf``, which
    orders the imports that TensorFlow and PyTorch need in one process."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import effnet.impl_tf  # noqa: F401
    import keras

    return keras


class KerasHubAdapter:
    adapter_api = ADAPTER_API
    name = "keras-hub"
    version = "1"
    library = "keras-hub"
    deviations = str(DEVIATIONS)

    @property
    def library_version(self) -> str:
        keras, version = _keras(), importlib.metadata.version("keras-hub")
        return f"{version} (keras {keras.__version__}, {keras.backend.backend()} backend)"

    def claims(self) -> list[tuple[str, str]]:
        return [(model, PROFILE) for model in MODELS]

    def build(self, ms: ModelSpec) -> Any:
        keras = _keras()
        import keras_hub
        from keras_hub.src.utils.timm.convert_efficientnet import convert_backbone_config

        keras.utils.set_random_seed(0)
        config = convert_backbone_config({"architecture": MODELS[ms.name]})
        config["dropout"] = ms.drop_path_rate  # the blocks' drop-path rate (timm's default 0)
        backbone = keras_hub.models.EfficientNetBackbone(**config)
        model = keras_hub.models.EfficientNetImageClassifier(
            backbone=backbone, num_classes=ms.num_classes, activation=None, dropout=ms.dropout
        )
        setattr(model, SPEC_ATTRIBUTE, ms)
        return model

    @staticmethod
    def _variables(model: Any) -> dict[str, Any]:
        return {v.path: v for v in model.weights}

    def set_state(self, model: Any, weights: Weights) -> None:
        state = from_canonical(weights, getattr(model, SPEC_ATTRIBUTE), FORMAT)
        for layer, leaves in keras_io.group_by_layer(state).items():
            owner = model if layer == "predictions" else model.backbone
            owner.get_layer(layer).set_weights(list(leaves.values()))

    def get_state(self, model: Any) -> Weights:
        state = {k: np.asarray(v.numpy(), np.float32) for k, v in self._variables(model).items()}
        return to_canonical(state, getattr(model, SPEC_ATTRIBUTE), FORMAT, what="keras-hub model")

    def parameter_count(self, model: Any) -> int:
        return int(sum(np.prod(w.shape) for w in model.trainable_weights))

    def _probe(self, model: Any) -> tuple[list[str], Any]:
        keras, ms, backbone = _keras(), getattr(model, SPEC_ATTRIBUTE), model.backbone
        names = [layer.name for layer in backbone.layers]
        taps = {"stem": "stem_activation"}
        for b in ms.blocks:
            prefix = f"block{b.stage}{chr(ord('a') + b.repeat)}_"
            taps[b.name] = [n for n in names if n.startswith(prefix)][-1]
        taps["head"] = "top_activation"
        inner = keras.Model(backbone.input, [backbone.get_layer(n).output for n in taps.values()])
        x = keras.Input((None, None, 3))
        features = inner(x)
        pooled = model.get_layer("pooler")(features[-1])
        logits = model.get_layer("predictions")(model.get_layer("output_dropout")(pooled))
        return [*taps, "pre_logits"], keras.Model(x, [*features, pooled, logits])

    def forward(self, model: Any, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        names, probe = self._probe(model)
        outputs = probe(np.asarray(x, np.float32), training=training)
        named = {name: np.asarray(out) for name, out in zip(names, outputs[:-1], strict=True)}
        return {**named, "logits": np.asarray(outputs[-1])}

    def train_step(self, model: Any, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        keras = _keras()
        if keras.backend.backend() != "tensorflow":
            raise NotImplementedError("keras-hub adapter: train_step runs on the TensorFlow backend")
        import tensorflow as tf

        variables = self._variables(model)
        trainable = {k: v for k, v in variables.items() if v.trainable}
        with tf.GradientTape() as tape:
            logits = model(tf.constant(x, tf.float32), training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(labels, tf.int64), logits)
            )
        grads = dict(zip(trainable, tape.gradient(loss, list(trainable.values())), strict=True))
        state = {
            k: np.asarray(grads[k] if k in grads else v.numpy(), np.float32) for k, v in variables.items()
        }
        canon = to_canonical(state, getattr(model, SPEC_ATTRIBUTE), FORMAT, what="keras-hub gradients")
        for key, variable in trainable.items():
            variable.assign_sub(lr * grads[key])
        return StepResult(
            float(loss),
            {k: v for k, v in canon.items() if not k.endswith((".bn.mean", ".bn.var"))},
            self.get_state(model),
        )


ADAPTER = KerasHubAdapter()
