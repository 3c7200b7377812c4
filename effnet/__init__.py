"""effnet-spec: EfficientNet V1 / V2 defined once in cited YAML, three backends built from it, and the
suite that proves any implementation computes what the architecture defines.

Everything lives under this one import name. The repository keeps each part in its own top-level
folder (``spec/``, ``impl_torch/``, ...); ``pyproject.toml`` maps them into this namespace:

    effnet.spec             the YAML spec, resolver, counts, canonical weights, numpy oracle
    effnet.weights_convert  canonical weights <-> every weight format (the format table)
    effnet.impl_torch       the PyTorch backend
    effnet.impl_tf          the Keras 3 (TensorFlow) backend
    effnet.impl_jax         the Flax NNX backend
    effnet.training         the framework-neutral progressive-learning loop and input pipeline
    effnet.conformance      the conformance suite (adapters, checks, tolerances, reports)
    effnet.bench            side-by-side speed measurements
    effnet.cli              the ``effnet`` command
    effnet.backends         the one table of backends every layer above reads
"""

__version__ = "0.2.0"
