"""The registry of weight formats and the one engine that maps any of them to and from canonical.

A format is a namer (``naming``: where each unit lives) plus leaf conventions (what the tensors
inside a unit are called and in which layout). Adding a format means adding a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from effnet.spec import ModelSpec, canonical

from . import keras_applications, naming
from .errors import WeightsError, mismatch_error
from .layouts import TO_CANONICAL, TO_FOREIGN, foreign_shape

State = dict[str, np.ndarray]


@dataclass(frozen=True)
class Leaves:
    """Leaf names and layout transforms of one framework's tensors (SOURCES §6.1)."""

    sep: str
    conv: tuple[str, str]  # (leaf, transform)
    depthwise: tuple[str, str]
    bn: dict[str, str]  # canonical leaf -> foreign leaf
    se_conv: tuple[str, str]
    bias: str
    dense: tuple[str, str]
    # foreign-only tensors: leaf -> factory(bn channels); written on export, ignored on import
    bn_extra: dict[str, Callable[[int], np.ndarray]] = field(default_factory=dict)
    # foreign-only tensors outside any unit (keras.applications V1's Normalization weights):
    # spec -> {name: array}, written on export; on import ``check_extra(state, spec, what)`` vets them
    model_extra: Callable[[ModelSpec], State] | None = None
    check_extra: Callable[[State, ModelSpec, str], None] | None = None


TORCH_LEAVES = Leaves(
    sep=".",
    conv=("weight", "oihw"),
    depthwise=("weight", "oihw"),
    bn={"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"},
    se_conv=("weight", "oihw"),
    bias="bias",
    dense=("weight", "dense_t"),
    bn_extra={"num_batches_tracked": lambda _: np.array(0, dtype=np.int64)},
)


# Flax NNX already uses the canonical layouts and leaf names: every transform is the identity.
FLAX_LEAVES = Leaves(
    sep=".",
    conv=("kernel", "none"),
    depthwise=("kernel", "none"),
    bn={"scale": "scale", "bias": "bias", "mean": "mean", "var": "var"},
    se_conv=("kernel", "none"),
    bias="bias",
    dense=("kernel", "none"),
)


# Keras 3 (impl_tf) .weights.h5: variables by index at "<layer path>/vars/<i>", in Keras' creation order
# (BN: gamma, beta, moving_mean, moving_variance); depthwise kernels (kh, kw, C, 1) (SOURCES §6.1).
KERAS_LEAVES = Leaves(
    sep="/",
    conv=("vars/0", "none"),
    depthwise=("vars/0", "khwc1"),
    bn={"scale": "vars/0", "bias": "vars/1", "mean": "vars/2", "var": "vars/3"},
    se_conv=("vars/0", "none"),
    bias="vars/1",
    dense=("vars/0", "none"),
)

# keras.applications files as ``weights_convert.keras_io`` names them: "<layer>/<variable>" (SOURCES §6.4),
# plus V1's in-model Normalization weights (``keras_applications``: the released files' quirk).
KERAS_APPLICATIONS_LEAVES = Leaves(
    sep="/",
    conv=("kernel", "none"),
    depthwise=("depthwise_kernel", "khwc1"),
    bn={"scale": "gamma", "bias": "beta", "mean": "moving_mean", "var": "moving_variance"},
    se_conv=("kernel", "none"),
    bias="bias",
    dense=("kernel", "none"),
    model_extra=keras_applications.normalization_tensors,
    check_extra=keras_applications.check_normalization,
)


@dataclass(frozen=True)
class Format:
    """Everything about one weight format; no decision anywhere depends on a file's name."""

    name: str
    description: str
    namer: naming.Namer | None  # None: the canonical format itself
    leaves: Leaves | None
    # the spec profiles whose outputs this format's library reproduces; () = the file's own metadata
    # (canonical) or whatever profile the caller builds (our backends' native formats). More than one:
    # the file cannot tell which, so the caller must say (``--profile`` or a library model name).
    profiles: tuple[str, ...]
    container: str  # "canonical" (safetensors + metadata) or a row of containers.CONTAINERS
    signatures: tuple[str, ...]  # tensor-name prefixes only this format's files use (detection)
    runner: str  # the implementation that runs such a file (``effnet.conformance.convert_check``)

    def profile_for(self, profile: str | None = None) -> str | None:
        """The profile to resolve the spec with: ``profile`` if given, else the format's only one;
        when the format cannot tell, the error lists the choices (it never guesses)."""
        if profile is not None:
            return profile
        if len(self.profiles) > 1:
            raise WeightsError(
                f"a {self.name} checkpoint does not say which of its models it holds: pass --profile "
                f"({', '.join(self.profiles)}) or the library's model name as --model "
                f"(e.g. tf_efficientnetv2_b3 for timm_tf)"
            )
        return self.profiles[0] if self.profiles else None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "canonical",
            "effnet canonical safetensors (channels-last)",
            None,
            None,
            (),
            "canonical",
            (),  # recognised by its metadata, not its names
            "torch",  # as most sources are torch files: then --check compares within one framework
        ),
        Format(
            "torch",
            "impl_torch state_dict (.pt/.pth/.safetensors)",
            naming.native_names,
            TORCH_LEAVES,
            (),
            "torch",
            ("stem.conv.", "head.conv."),
            "torch",
        ),
        Format(
            "flax",
            "impl_jax NNX state (safetensors)",
            naming.native_names,
            FLAX_LEAVES,
            (),
            "flax",
            ("stem.conv.kernel",),
            "jax",
        ),
        Format(
            "torchvision",
            "torchvision.models.efficientnet_* state_dict",
            naming.torchvision_names,
            TORCH_LEAVES,
            ("torchvision",),
            "torch",
            ("features.",),
            "torchvision",
        ),
        Format(
            "timm",
            "timm efficientnet*/tf_efficientnet* state_dict",
            naming.timm_names,
            TORCH_LEAVES,
            ("timm", "timm_tf"),  # PyTorch-native and TF-ported models share every tensor name
            "torch",
            ("conv_stem.", "conv_head."),
            "timm",
        ),
        Format(
            "keras",
            "impl_tf model .weights.h5 (Keras 3)",
            naming.keras_names,
            KERAS_LEAVES,
            (),
            "keras",
            ("layers/conv_bn/conv/vars/",),  # impl_tf's .weights.h5 paths (naming.keras_names)
            "tf",
        ),
        Format(
            "keras-applications",
            "keras.applications EfficientNet*/EfficientNetV2* weights (.h5 or .weights.h5)",
            naming.keras_applications_names,
            KERAS_APPLICATIONS_LEAVES,
            ("keras",),
            "keras",
            ("stem_conv/", "top_conv/"),  # keras_io's "<layer>/<variable>" names
            "keras-applications",
        ),
    )
}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise WeightsError(f"unknown weights format {name!r}; known formats: {', '.join(FORMATS)}")
    return FORMATS[name]


@dataclass(frozen=True)
class Entry:
    canonical: str
    foreign: str
    transform: str


def entries(ms: ModelSpec, fmt: Format, *, include_top: bool = True) -> list[Entry]:
    """canonical name <-> foreign name (+ layout transform) for every tensor of ``ms``."""
    assert fmt.namer is not None and fmt.leaves is not None
    lv, out = fmt.leaves, []
    for u in naming.units(ms, include_top=include_top):
        names = fmt.namer(ms, u)
        if u.kind == "convbn":
            leaf, transform = lv.depthwise if u.depthwise else lv.conv
            out.append(Entry(f"{u.prefix}.conv.kernel", f"{names['conv']}{lv.sep}{leaf}", transform))
            for ours, theirs in lv.bn.items():
                out.append(Entry(f"{u.prefix}.bn.{ours}", f"{names['bn']}{lv.sep}{theirs}", "none"))
        elif u.kind == "se":
            for part in ("reduce", "expand"):
                out.append(
                    Entry(f"{u.prefix}.{part}.kernel", f"{names[part]}{lv.sep}{lv.se_conv[0]}", lv.se_conv[1])
                )
                out.append(Entry(f"{u.prefix}.{part}.bias", f"{names[part]}{lv.sep}{lv.bias}", "none"))
        else:
            out.append(Entry(f"{u.prefix}.kernel", f"{names['dense']}{lv.sep}{lv.dense[0]}", lv.dense[1]))
            out.append(Entry(f"{u.prefix}.bias", f"{names['dense']}{lv.sep}{lv.bias}", "none"))
    return out


def _extras(ms: ModelSpec, fmt: Format, include_top: bool) -> State:
    assert fmt.namer is not None and fmt.leaves is not None
    out: State = {}
    for u in naming.units(ms, include_top=include_top):
        if u.kind == "convbn":
            bn = fmt.namer(ms, u)["bn"]
            for leaf, make in fmt.leaves.bn_extra.items():
                out[f"{bn}{fmt.leaves.sep}{leaf}"] = make(0)
    if fmt.leaves.model_extra is not None:
        out.update(fmt.leaves.model_extra(ms))
    return out


def has_top(state: State, ms: ModelSpec, fmt: Format) -> bool:
    """Whether a foreign state holds the classifier."""
    top = {e.foreign for e in entries(ms, fmt) if e.canonical.startswith("classifier.")}
    return bool(top & set(state))


def classes_in(state: State, ms: ModelSpec, fmt: Format) -> int | None:
    """The number of classes of a foreign state's classifier, if it has one."""
    bias = next(e.foreign for e in entries(ms, fmt) if e.canonical == "classifier.bias")
    return int(np.shape(state[bias])[0]) if bias in state else None


def to_canonical(
    state: State, ms: ModelSpec, fmt: Format, *, include_top: bool = True, what: str = "checkpoint"
) -> State:
    """Foreign state -> canonical weights; one error lists every missing/unexpected/misshaped tensor."""
    table = entries(ms, fmt, include_top=include_top)
    shapes = canonical.shapes(ms, include_top=include_top)
    expected = {e.foreign: foreign_shape(e.transform, shapes[e.canonical]) for e in table}
    mismatch_error(
        f"{what} ({fmt.name} format, model {ms.name})",
        expected,
        {k: tuple(np.shape(v)) for k, v in state.items()},
        ignore=_extras(ms, fmt, include_top),
    )
    if fmt.leaves.check_extra is not None:
        fmt.leaves.check_extra(state, ms, what)
    return {
        e.canonical: np.asarray(TO_CANONICAL[e.transform](np.asarray(state[e.foreign])), dtype=np.float32)
        for e in table
    }


def from_canonical(weights: State, ms: ModelSpec, fmt: Format, *, include_top: bool = True) -> State:
    """Canonical weights -> foreign state (with the format's foreign-only tensors, e.g. torch's
    ``num_batches_tracked = 0``)."""
    mismatch_error(
        f"canonical state for {ms.name}",
        canonical.shapes(ms, include_top=include_top),
        {k: tuple(np.shape(v)) for k, v in weights.items()},
    )
    out = {
        e.foreign: np.ascontiguousarray(TO_FOREIGN[e.transform](np.asarray(weights[e.canonical])))
        for e in entries(ms, fmt, include_top=include_top)
    }
    out.update(_extras(ms, fmt, include_top))
    return out
