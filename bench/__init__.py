"""Benchmarks: training-step and inference speed per backend, measured side by side in one run."""
