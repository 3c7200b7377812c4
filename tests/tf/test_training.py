"""Progressive-learning training on the TensorFlow backend (see tests/training/loop_checks.py)."""

import pytest

from tests.training import loop_checks


# On the tiny architecture: Keras traces the step once per image size in each of the check's runs,
# which for V2-B0 took 6 minutes on 2 cores. torch runs the same check on V2-B0.
def test_schedule_resume_and_determinism(tmp_path):
    loop_checks.check_schedule_resume_determinism("tf", tmp_path, tiny_net=True)


def test_resume_refuses_another_model(tmp_path):
    loop_checks.check_resume_refuses_another_model("tf", tmp_path, tiny_net=True)


def test_two_devices_match_one(tmp_path):
    """Two logical CPU devices (MirroredStrategy, cross-replica BN) against one; each side runs in its
    own process, since TF splits the CPU only before it initialises its devices."""
    errors = loop_checks.check_data_parallel("tf", tmp_path)
    print(f"tf 2 devices vs 1: {errors}")


# Four epochs of V2-B0 on the builtin data (about 7 minutes on 2 cores): in the slow session. CI
# checks instead that this backend's engine takes the same steps as torch's (tests/conformance/
# test_engines.py), and torch's engine fits a batch (tests/torch/test_training.py).
@pytest.mark.slow
def test_short_run_learns(tmp_path):
    loop_checks.check_accuracy_above_chance("tf", tmp_path)


def test_starts_from_the_spec_init(tiny):
    loop_checks.check_starts_from_spec_init("tf", tiny)
