"""A toy backend another distribution registers: effnet's numpy reference, inference-only."""

from effnet.backends import Backend

BACKEND = Backend(
    name="numpy-toy",
    package="effnet.spec.reference",
    framework="numpy",
    extra=None,
    builder="effnet.conformance.adapters.reference_numpy:ADAPTER.build",
    adapter="effnet.conformance.adapters.reference_numpy:ADAPTER",
    weights="canonical",
)
