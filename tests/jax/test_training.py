"""Progressive-learning training on the JAX backend (see tests/training/loop_checks.py)."""

import sys

import pytest

from tests.training import loop_checks


# On the tiny architecture: XLA compiles the step once per image size in each of the check's runs,
# which for V2-B0 took several minutes on 2 cores. torch runs the same check on V2-B0.
def test_schedule_resume_and_determinism(tmp_path):
    loop_checks.check_schedule_resume_determinism("jax", tmp_path, tiny_net=True)


def test_resume_refuses_another_model(tmp_path):
    loop_checks.check_resume_refuses_another_model("jax", tmp_path, tiny_net=True)


def test_two_devices_match_one(tmp_path):
    errors = loop_checks.check_data_parallel("jax", tmp_path)
    print(f"jax 2 devices vs 1: {errors}")


# Four epochs of V2-B0 on the builtin data (about 7 minutes on 2 cores): in the slow session. CI
# checks instead that this backend's engine takes the same steps as torch's (tests/conformance/
# test_engines.py), and torch's engine fits a batch (tests/torch/test_training.py).
@pytest.mark.slow
def test_short_run_learns(tmp_path):
    loop_checks.check_accuracy_above_chance("jax", tmp_path)


def test_two_jax_distributed_processes_match_one(tmp_path):
    launcher = [sys.executable, "-m", "tests.training.jax_processes", "2"]
    errors = loop_checks.check_data_parallel("jax", tmp_path, launcher)
    print(f"jax.distributed 2 processes vs 1: {errors}")


def test_starts_from_the_spec_init(tiny):
    loop_checks.check_starts_from_spec_init("jax", tiny)
