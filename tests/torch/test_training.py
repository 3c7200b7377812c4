"""Progressive-learning training on the torch backend (see tests/training/loop_checks.py)."""

import sys

import pytest

from tests.training import loop_checks


def test_schedule_resume_and_determinism(tmp_path):
    loop_checks.check_schedule_resume_determinism("torch", tmp_path)


def test_resume_refuses_another_model(tmp_path):
    loop_checks.check_resume_refuses_another_model("torch", tmp_path)


def test_two_gloo_processes_match_one(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    errors = loop_checks.check_data_parallel("torch", tmp_path, torchrun)
    print(f"torch DDP 2 processes vs 1: {errors}")


# Four epochs of V2-B0 on the builtin data (15 minutes on a 2-core machine, a quarter of CI's time):
# in the slow session with the JAX and TF runs. CI checks instead that the engine fits a batch (below)
# and that every pair of engines takes the same steps (tests/conformance/test_engines.py).
@pytest.mark.slow
def test_short_run_learns(tmp_path):
    loop_checks.check_accuracy_above_chance("torch", tmp_path)


def test_the_engine_fits_a_batch(tiny):
    loop_checks.check_engine_fits_a_batch("torch", tiny)


def test_starts_from_the_spec_init(tiny):
    loop_checks.check_starts_from_spec_init("torch", tiny)
