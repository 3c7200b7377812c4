"""Keras 3 layers (TensorFlow backend, NHWC) built from a resolved ModelSpec. No architecture
arithmetic happens here: every channel count, stride, residual flag and drop-path rate comes from
the spec.

Classes, in the same order and with the same attribute names in every backend:
``ConvBN``, ``SqueezeExcite``, ``DropPath``, ``MBConv`` / ``FusedMBConv`` (one ``Block`` body: the
spec says which convs a block holds), ``EfficientNet``.

Framework conventions used (SOURCES = spec/SOURCES.md):
- Keras ``padding="same"`` *is* TF SAME (extra pixel bottom/right, from the run-time input size;
  SOURCES §3.3); symmetric padding is an explicit ``ZeroPadding2D`` of ``spec.padding.static_pads`` then
  ``"valid"``.
- Keras ``BatchNormalization(momentum=...)`` is the spec's ``bn_decay`` (weight on the old value) and
  updates the running variance with the biased batch variance, as the spec does (SOURCES §6.1).
- Dropout and drop-path rates live in ``tf.Variable``s read at call time, so ``set_regularization``
  changes them on a built model and inside already traced ``tf.function``s (no retrace). They are
  not Keras weights: ``.weights.h5`` files and parameter counts hold exactly the canonical tensors.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import tensorflow as tf
from keras import layers, ops

from effnet.spec import BlockSpec, ConvSpec, ModelSpec, Preprocessing, SESpec
from effnet.spec.padding import static_pads

from .serialization import spec_from_config, spec_to_config

PACKAGE = "effnet"
ACTIVATIONS = {"silu": "silu", "relu": "relu"}
GATES = {"sigmoid": "sigmoid"}
Pooling = Literal["avg", "max"] | None
Shape = tuple[int | None, ...]


class ConvBN(layers.Layer):
    """Conv (no bias) -> BatchNorm -> optional activation, with the spec's padding."""

    def __init__(self, conv: ConvSpec, ms: ModelSpec, **kwargs: Any) -> None:
        super().__init__(name=conv.name, **kwargs)
        self.kernel, self.stride, self.padding_mode = conv.kernel, conv.stride, ms.padding
        # TF SAME -> Keras "same"; symmetric -> explicit pads (SOURCES §3.3)
        pads = None if ms.padding == "tf_same" else static_pads(ms.padding, conv.kernel, conv.stride)
        self.pad = layers.ZeroPadding2D((pads, pads), name="pad") if pads and any(pads) else None
        args = dict(
            kernel_size=conv.kernel,
            strides=conv.stride,
            padding="same" if ms.padding == "tf_same" else "valid",
            use_bias=False,
            name="conv",
        )
        self.conv = (
            layers.DepthwiseConv2D(**args) if conv.depthwise else layers.Conv2D(conv.out_channels, **args)
        )
        # Keras momentum = the spec's decay (weight on the old running value)
        self.bn = layers.BatchNormalization(momentum=ms.bn_decay, epsilon=ms.bn_eps, name="bn")
        self.act = layers.Activation(ACTIVATIONS[ms.activation], name="act") if conv.act else None

    def build(self, input_shape: Shape) -> None:
        shape = self.pad.compute_output_shape(input_shape) if self.pad is not None else input_shape
        self.conv.build(shape)
        self.bn.build(self.conv.compute_output_shape(shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self.pad.compute_output_shape(input_shape) if self.pad is not None else input_shape
        return self.conv.compute_output_shape(shape)

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if self.pad is not None:
            x = self.pad(x)
        x = self.bn(self.conv(x), training=training)
        return self.act(x) if self.act is not None else x


class SqueezeExcite(layers.Layer):
    """Global mean -> 1x1 conv -> act -> 1x1 conv -> gate -> scale the input."""

    def __init__(self, se: SESpec, ms: ModelSpec, **kwargs: Any) -> None:
        super().__init__(name=se.name, **kwargs)
        self.reduce = layers.Conv2D(se.reduced_channels, 1, name="reduce")
        self.act = layers.Activation(ACTIVATIONS[ms.se_activation], name="act")
        self.expand = layers.Conv2D(se.channels, 1, name="expand")
        self.gate = layers.Activation(GATES[ms.se_gate], name="gate")

    def build(self, input_shape: Shape) -> None:
        self.reduce.build((None, 1, 1, input_shape[-1]))
        self.expand.build(self.reduce.compute_output_shape((None, 1, 1, input_shape[-1])))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, x: tf.Tensor) -> tf.Tensor:
        s = ops.mean(x, axis=(1, 2), keepdims=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class _VariableRate(layers.Layer):
    """A layer whose rate is a ``tf.Variable`` (not a Keras weight), read at call time."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = tf.Variable(float(rate), trainable=False, dtype=tf.float32, name="rate")
        # unseeded: each layer draws its own stream (keras.utils.set_random_seed makes them reproducible)
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape: Shape) -> None:
        pass

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def _keep_mask(self, shape: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """(mask of 0/1 with P(1) = 1 - rate, 1 - rate), in float32."""
        keep = 1.0 - ops.convert_to_tensor(self.rate)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype="float32")
        return ops.floor(keep + noise), keep


class DropPath(_VariableRate):
    """Per-sample stochastic depth in training: drop the branch with probability ``rate`` and scale
    survivors by 1 / (1 - rate). ``rate`` is a ``tf.Variable``, changeable on a built model."""

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training:
            return x
        mask, keep = self._keep_mask((ops.shape(x)[0], 1, 1, 1))
        return x * ops.cast(mask / keep, x.dtype)


class Dropout(_VariableRate):
    """Element-wise dropout before the classifier, with a ``tf.Variable`` rate."""

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training:
            return x
        mask, keep = self._keep_mask(ops.shape(x))
        return x * ops.cast(mask / keep, x.dtype)


class Block(layers.Layer):
    """expand? -> dw? -> se? -> project, plus the residual (with drop-path) when the spec says so."""

    def __init__(self, block: BlockSpec, ms: ModelSpec, **kwargs: Any) -> None:
        super().__init__(name=block.name, **kwargs)
        self.residual = block.residual
        self.roles = [role for role, _ in block.layers]  # the spec's layer order
        self.expand = ConvBN(block.expand, ms) if block.expand else None
        self.dw = ConvBN(block.dw, ms) if block.dw else None
        self.se = SqueezeExcite(block.se, ms) if block.se else None
        self.project = ConvBN(block.project, ms)
        self.drop_path = DropPath(block.drop_path_rate, name="drop_path")

    def _layers_in_order(self) -> list[layers.Layer]:
        return [getattr(self, role) for role in self.roles]

    def build(self, input_shape: Shape) -> None:
        shape = input_shape
        for layer in self._layers_in_order():
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = input_shape
        for layer in self._layers_in_order():
            shape = layer.compute_output_shape(shape)
        return shape

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        h = x
        for layer in self._layers_in_order():
            h = layer(h) if layer is self.se else layer(h, training=training)
        return x + self.drop_path(h, training=training) if self.residual else h


class MBConv(Block):
    """Inverted residual: 1x1 expand, depthwise k x k, SE, 1x1 project (V1; V2 stages 4+)."""


class FusedMBConv(Block):
    """Fused inverted residual: k x k expand (or a single k x k conv when e = 1), SE?, 1x1 project."""


BLOCK_CLASSES = {"mbconv": MBConv, "fused_mbconv": FusedMBConv}


class Preprocess(layers.Layer):
    """RGB pixels in [0, 255] -> network input: ``x * scale + offset`` per channel (the spec's
    ``preprocessing``); built only with ``include_preprocessing=True``."""

    def __init__(self, preprocessing: Preprocessing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale, self.offset = tuple(preprocessing.scale), tuple(preprocessing.offset)

    def build(self, input_shape: Shape) -> None:
        pass

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, x: tf.Tensor) -> tf.Tensor:
        scale = ops.convert_to_tensor(self.scale, dtype=x.dtype)
        return x * scale + ops.convert_to_tensor(self.offset, dtype=x.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class EfficientNet(keras.Model):
    """NHWC float input -> logits (float32). The input is preprocessed as ``spec.preprocessing``
    says, or is raw [0, 255] pixels with ``include_preprocessing=True``.

    ``forward_intermediates(x)`` returns every named intermediate (``stem``, ``blocks.{i}``, ``head``,
    ``pre_logits``, ``logits``). With ``include_top=False`` the model is a feature extractor returning
    the head's feature map, or pooled features with ``pooling``.
    """

    def __init__(
        self,
        ms: ModelSpec,
        *,
        include_top: bool = True,
        include_preprocessing: bool = False,
        pooling: Pooling = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", ms.name)
        super().__init__(**kwargs)
        self.spec, self.include_top, self.pooling = ms, include_top, pooling
        self.include_preprocessing = include_preprocessing
        self.preprocess = Preprocess(ms.preprocessing, name="preprocess") if include_preprocessing else None
        self.stem = ConvBN(ms.stem, ms)
        self.blocks = [BLOCK_CLASSES[b.kind](b, ms) for b in ms.blocks]
        self.head = ConvBN(ms.head, ms)
        self.dropout = Dropout(ms.dropout, name="dropout")
        self.classifier = layers.Dense(ms.num_classes, name="classifier") if include_top else None

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        for layer in (self.stem, *self.blocks, self.head):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        if self.classifier is not None:
            self.classifier.build((None, self.spec.features_channels))

    def set_regularization(
        self, *, dropout: float | None = None, drop_path_rate: float | None = None
    ) -> None:
        """Change the dropout rate and/or the model-level drop-path rate without rebuilding; traced
        ``tf.function``s read the new values (they are variables)."""
        if dropout is not None:
            self.dropout.rate.assign(float(dropout))
        if drop_path_rate is not None:
            for block, rate in zip(self.blocks, self.spec.drop_path_rates(drop_path_rate), strict=True):
                block.drop_path.rate.assign(rate)

    def _check_input(self, x: tf.Tensor) -> None:
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"{self.spec.name}: expected an NHWC batch with 3 channels, got shape {shape}")

    def _stem_input(self, x: tf.Tensor) -> tf.Tensor:
        self._check_input(x)
        return self.preprocess(x) if self.preprocess is not None else x

    def forward_intermediates(self, x: tf.Tensor, training: bool | None = None) -> dict[str, tf.Tensor]:
        out: dict[str, tf.Tensor] = {}
        h = out["stem"] = self.stem(self._stem_input(x), training=training)
        for spec_block, block in zip(self.spec.blocks, self.blocks, strict=True):
            h = out[spec_block.name] = block(h, training=training)
        h = out["head"] = self.head(h, training=training)
        out["pre_logits"] = ops.mean(h, axis=(1, 2))
        if self.classifier is not None:
            out["logits"] = self._logits(out["pre_logits"], training)
        return out

    def _logits(self, pooled: tf.Tensor, training: bool | None) -> tf.Tensor:
        # float32 logits under a mixed-precision policy (Keras' advice for the last layer)
        return ops.cast(self.classifier(self.dropout(pooled, training=training)), "float32")

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        h = self.stem(self._stem_input(x), training=training)
        for block in self.blocks:
            h = block(h, training=training)
        h = self.head(h, training=training)
        if self.classifier is not None:
            return self._logits(ops.mean(h, axis=(1, 2)), training)
        if self.pooling == "avg":
            return ops.cast(ops.mean(h, axis=(1, 2)), "float32")
        if self.pooling == "max":
            return ops.cast(ops.max(h, axis=(1, 2)), "float32")
        return ops.cast(h, "float32")

    def get_config(self) -> dict[str, Any]:
        """The whole resolved spec plus the current regularisation: ``.keras`` files rebuild the
        exact architecture without re-resolving (custom YAML families and overrides included)."""
        return {
            **super().get_config(),
            "spec": spec_to_config(self.spec),
            "include_top": self.include_top,
            "include_preprocessing": self.include_preprocessing,
            "pooling": self.pooling,
            "dropout_rate": float(self.dropout.rate.numpy()),
            "drop_path_rates": [float(b.drop_path.rate.numpy()) for b in self.blocks],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EfficientNet:
        config = dict(config)
        ms = spec_from_config(config.pop("spec"))
        dropout, rates = config.pop("dropout_rate", None), config.pop("drop_path_rates", None)
        model = cls(ms, **config)
        if dropout is not None:
            model.dropout.rate.assign(dropout)
        for block, rate in zip(model.blocks, rates or (), strict=False):
            block.drop_path.rate.assign(rate)
        return model
