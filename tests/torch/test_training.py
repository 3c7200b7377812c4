"""Progressive-learning training on the torch backend (see tests/training/loop_checks.py)."""

import sys

from tests.training import loop_checks


def test_schedule_resume_and_determinism(tmp_path):
    loop_checks.check_schedule_resume_determinism("torch", tmp_path)


def test_resume_refuses_another_model(tmp_path):
    loop_checks.check_resume_refuses_another_model("torch", tmp_path)


def test_two_gloo_processes_match_one(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    errors = loop_checks.check_data_parallel("torch", tmp_path, torchrun)
    print(f"torch DDP 2 processes vs 1: {errors}")


def test_short_run_learns(tmp_path):
    loop_checks.check_accuracy_above_chance("torch", tmp_path)


def test_starts_from_the_spec_init(tiny):
    loop_checks.check_starts_from_spec_init("torch", tiny)
