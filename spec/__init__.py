"""effnet-spec: EfficientNet V1 / V2 defined once in cited YAML.

Data flows one way: ``models/*.yaml`` --load+validate--> :func:`resolve` --> :class:`ModelSpec`
--> each backend's layers. Public API::

    spec.names()                                   # every model the spec defines
    spec.resolve(name, profile=None, **overrides)  # -> frozen ModelSpec
    spec.schedule(name, rule="paper")              # progressive-learning stages
    spec.count(ms), spec.macs(ms, image_size)      # framework-free counts
    spec.canonical.tensors(ms)                     # canonical weight names, shapes, layouts
    spec.reference.forward(ms, weights, x)         # numpy oracle
"""

from . import canonical, padding
from .counts import Counts, count, macs
from .errors import SpecError
from .model_spec import BlockSpec, ConvSpec, ImageSize, ModelSpec, Preprocessing, SESpec
from .progressive import Stage, schedule
from .resolve import (
    DEFAULT_PROFILE,
    family_of,
    implementation_name,
    lookup,
    model_config,
    names,
    profile_models,
    profile_names,
    resolve,
)
from .version import SPEC_VERSION

__all__ = [
    "DEFAULT_PROFILE",
    "SPEC_VERSION",
    "BlockSpec",
    "ConvSpec",
    "Counts",
    "ImageSize",
    "ModelSpec",
    "Preprocessing",
    "SESpec",
    "SpecError",
    "Stage",
    "canonical",
    "count",
    "family_of",
    "implementation_name",
    "lookup",
    "macs",
    "model_config",
    "names",
    "padding",
    "profile_models",
    "profile_names",
    "resolve",
    "schedule",
]
