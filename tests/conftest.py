"""Hypothesis profiles: ``dev`` (fast, the default) and ``ci`` (derandomised, no deadline: JIT
compiles are slow). The nox sessions select ``ci`` with HYPOTHESIS_PROFILE=ci."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=10, deadline=None)
settings.register_profile(
    "ci",
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
