"""The ``effnet`` command line: one front for the spec, conversion, conformance, training, benchmarks."""
